"""Looking objects up by criteria, the part every driver shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nubes.providers.errors import InvalidRequestError
from nubes.providers.protocol import CloudObject


def check_criteria(type: str, criteria: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(criteria) - allowed
    if unknown or not criteria:
        article = "an" if type[0] in "aeiou" else "a"
        raise InvalidRequestError(
            f"{article} {type} lookup takes {', '.join(sorted(allowed))}"
            + (f", not {', '.join(sorted(unknown))}" if unknown else "")
        )


def by_id(
    type: str, criteria: Mapping[str, Any], read: Callable[[str, str], CloudObject | None]
) -> CloudObject | None:
    check_criteria(type, criteria, {"id"})
    return read(type, str(criteria["id"]))
