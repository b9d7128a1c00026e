"""A driver's provider-block settings as a pydantic model, its problems as (setting, problem).

Each field's `description` finishes the sentence "<setting> must be ...", so that a problem reads
as a person would write it (`latency_ms must be a number of at least 0`), not as pydantic's.
Settings left unset (`None`, from `${var.x or none}`) are dropped first. Models are strict: a
bool is not a number and "5" is not 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def parse_settings(
    model: type[M], driver: str, config: Mapping[str, Any]
) -> tuple[M | None, list[tuple[str, str]]]:
    """The settings, or None and one problem per wrong setting (in the block's own order)."""
    given = {k: v for k, v in config.items() if v is not None}
    try:
        return model.model_validate(given), []
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for err in exc.errors():
            setting = ".".join(str(p) for p in err["loc"]) or "settings"
            top = str(err["loc"][0]) if err["loc"] else setting
            if err["type"] == "extra_forbidden":
                names = ", ".join(f.alias or n for n, f in model.model_fields.items())
                problems.setdefault(top, f"unknown {driver} setting {top!r} (settings: {names})")
                continue
            field = model.model_fields.get(top)
            wanted = field.description if field is not None and field.description else None
            text = f"{top} must be {wanted}" if wanted else f"{setting}: {err['msg']}"
            problems.setdefault(top, text)
        order = list(config)
        return None, sorted(
            problems.items(), key=lambda p: order.index(p[0]) if p[0] in order else len(order)
        )
