"""Planning a change from a type's schema, the rule every driver starts from.

For each attribute the user can set: a configured value is wanted as written; an unconfigured
optional+computed attribute keeps what the cloud has (or is unknown on create); computed
attributes keep their prior value unless the object is replaced. A changed force-new attribute
requires replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nubes.providers.protocol import Kind, PlannedChange, TypeSchema
from nubes.providers.values import Unknown


def plan_from_schema(
    schema: TypeSchema, prior: Mapping[str, Any] | None, config: Mapping[str, Any]
) -> PlannedChange:
    planned: dict[str, Any] = {}
    replace: list[str] = []
    for name, attr in schema.attrs.items():
        before = prior.get(name) if prior is not None else None
        if attr.kind is Kind.COMPUTED:
            planned[name] = Unknown if prior is None else before
            continue
        if name in config and config[name] is not None:
            value = attr.normalized(config[name])
            # what the object already holds is kept, not a second equal copy of it
            planned[name] = before if prior is not None and before == value else value
        elif attr.kind is Kind.OPTIONAL_COMPUTED:
            planned[name] = Unknown if prior is None else before
        else:
            planned[name] = None
        if prior is not None and attr.force_new and _differs(before, planned[name]):
            replace.append(name)
    if replace:
        # a replaced object gets new computed values
        for name, attr in schema.attrs.items():
            if attr.computed and (name not in config or config[name] is None):
                planned[name] = Unknown
    return PlannedChange(planned, replace)


def _differs(before: Any, after: Any) -> bool:
    return not same_value(before, after)


def same_value(a: Any, b: Any) -> bool:
    """Equality as planning sees it: an unset value equals an empty one."""
    if a is Unknown or b is Unknown:
        return False
    if _empty(a) and _empty(b):
        return True
    return bool(a == b)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)
