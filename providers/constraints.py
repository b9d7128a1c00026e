"""What values an attribute takes, beyond its type: ranges, choices, patterns, lengths.

Checked by `nubes validate` (for every value known without a cloud) and by every plan, before
state, history or any cloud is touched, so that a value the cloud would refuse never gets as far
as an apply. A driver may tighten the portable checks in its own schema (S3's bucket names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nubes.providers.values import Unknown

# control characters (Unicode's Cc), line and paragraph separators, lone surrogates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def control_character(text: str, multiline: bool = False) -> str | None:
    """The first character of `text` that no name may hold (controls, separators of lines);
    `multiline` text may hold tabs and line breaks."""
    found = (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text)
    return None if found is None else found.group()


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


@dataclass(frozen=True)
class Check:
    """A value's bounds; every field is optional."""

    min: float | None = None
    max: float | None = None
    whole: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    hint: str = ""  # what the pattern means, for the message
    max_length: int | None = None  # characters, or entries of a list or map
    multiline: bool = False  # strings: tabs and line breaks allowed
    items: Check | None = None  # each entry of a list, each value of a map
    keys: Check | None = None  # each key of a map
    custom: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is out of bounds, or None; unknown parts are not judged."""
        if value is None or value is Unknown:
            return None
        if isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            found = self._number(value)
            if found:
                return found
        elif isinstance(value, str):
            found = self._text(value)
            if found:
                return found
        elif (
            isinstance(value, list | dict)
            and self.max_length is not None
            and len(value) > self.max_length
        ):
            return f"has {len(value)} entries, more than the {self.max_length} allowed"
        if isinstance(value, list) and self.items is not None:
            for i, item in enumerate(value):
                found = self.items.problem(item)
                if found:
                    return f"entry {i} {found}"
        if isinstance(value, dict):
            for key, item in value.items():
                found = (self.keys.problem(key) if self.keys else None) or (
                    self.items.problem(item) if self.items else None
                )
                if found:
                    return f"entry {key!r} {found}"
        if self.custom is not None:
            return self.custom(value)
        return None

    def _number(self, value: float) -> str | None:
        if value != value or value in (float("inf"), float("-inf")):
            return "must be a finite number"
        if self.whole and value != int(value):
            return f"must be a whole number, not {value}"
        if self.min is not None and value < self.min:
            return f"must be at least {self.min:g}, not {value:g}"
        if self.max is not None and value > self.max:
            return f"must be at most {self.max:g}, not {value:g}"
        return None

    def _text(self, value: str) -> str | None:
        if self.max_length is not None and len(value) > self.max_length:
            return f"is {len(value):,} characters long, more than the {self.max_length:,} allowed"
        bad = control_character(value, self.multiline)
        if bad is not None:
            return f"holds the control character {bad!r}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, not {_short(value)}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"{_short(value)} is not valid: {self.hint or 'it must match ' + self.pattern}"
        return None


NAME = Check(max_length=255)
ID = Check(max_length=1024)
TAGS = Check(max_length=50, keys=Check(max_length=128), items=Check(max_length=256))


def size_problem(value: Any) -> str | None:
    """A size is a profile name or a requirement {cpus, memory_gb, disk_gb, arch}."""
    if isinstance(value, str):
        return NAME.problem(value)
    if not isinstance(value, Mapping):
        return None  # the type check reports it
    for key in ("cpus", "memory_gb", "disk_gb"):
        amount = value.get(key)
        if amount is None or amount is Unknown:
            continue
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            return f"{key} must be a number"
        lowest = 0 if key == "disk_gb" else 0.001
        if not lowest <= amount <= 1_000_000:
            return f"{key} must be between {lowest:g} and 1,000,000, not {amount:g}"
    arch = value.get("arch")
    if arch is not None and arch is not Unknown and arch not in ("x86_64", "arm64", "i386"):
        return f"arch must be x86_64, arm64 or i386, not {arch!r}"
    return None


def rules_problem(value: Any) -> str | None:
    from nubes.providers.errors import InvalidRequestError
    from nubes.providers.rules import check_rules

    if not isinstance(value, list) or any(v is Unknown for v in value):
        return None
    try:
        check_rules(value)
    except InvalidRequestError as exc:
        return exc.message
    return None


def cidr_problem(value: Any) -> str | None:
    import ipaddress

    if not isinstance(value, str):
        return None
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        return f"{_short(value)} is not a network address block: {exc}"
    return None


def listeners_problem(value: Any) -> str | None:
    from nubes.providers.errors import InvalidRequestError
    from nubes.providers.listeners import check_listeners

    if not isinstance(value, list) or any(v is Unknown for v in value):
        return None
    try:
        check_listeners(value)
    except InvalidRequestError as exc:
        return exc.message
    return None


def listeners_normal(value: Any) -> Any:
    from nubes.providers.listeners import check_listeners

    return check_listeners(value)


def realms_normal(value: Any) -> Any:
    """Realms as clouds list them back: sorted, each once."""
    return sorted({str(r) for r in value}) if isinstance(value, list) else value


S3_BUCKET_NAME = Check(
    pattern=r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
    hint="S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, starting "
    "and ending with a letter or digit",
)
