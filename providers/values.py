"""The `Unknown` sentinel: a value that will only be known after apply (shared by the engine
and the drivers, which never import the engine).

It is distinct from `None` (which means "not set"). Anything computed from an unknown value is
unknown too; plans print it as `(known after apply)`.
"""

from __future__ import annotations

from typing import Any, Final


class UnknownType:
    """The type of the single `Unknown` value."""

    _instance: UnknownType | None = None

    def __new__(cls) -> UnknownType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unknown"

    def __str__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "Unknown"

    def __copy__(self) -> UnknownType:
        return self

    def __deepcopy__(self, memo: object) -> UnknownType:
        return self


Unknown: Final = UnknownType()


def contains_unknown(value: Any) -> bool:
    """True if `value` is unknown or holds an unknown anywhere inside it."""
    if value is Unknown:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


def unknown_mask(value: Any) -> Any:
    """The shape of `value` with True where it is unknown; False when fully known.

    Used for a plan's `after_unknown`, as Terraform does.
    """
    if value is Unknown:
        return True
    if isinstance(value, dict):
        inner = {k: unknown_mask(v) for k, v in value.items()}
        return {k: v for k, v in inner.items() if v is not False} or False
    if isinstance(value, list):
        items = [unknown_mask(v) for v in value]
        return items if any(i is not False for i in items) else False
    return False
