"""Checking resources against their provider's schema before anything is planned."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from nubes.engine.diag import Diagnostics
from nubes.engine.lang.unknown import Unknown, contains_unknown
from nubes.engine.stack.model import Resource, Stack
from nubes.providers.protocol import PORTABLE, Attr, TypeSchema


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def value_type_problem(attr: Attr, value: Any) -> str | None:
    """Why `value` does not fit `attr`, or None. Unknown and unset values always fit."""
    if (
        value is None
        or value is Unknown
        or (contains_unknown(value) and attr.type in ("list", "map"))
    ):
        return None
    kind = attr.type
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list),
        "map": isinstance(value, dict),
    }.get(kind, True)
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return None  # numbers read fine as strings (ports, sizes)
    return None if ok else f"must be a {kind}, not {type(value).__name__}"


def value_problem(attr: Attr, value: Any) -> str | None:
    """Why `value` does not fit `attr`'s type or bounds, or None."""
    return value_type_problem(attr, value) or attr.problem(value)


def conform(attr: Attr, value: Any) -> Any:
    """A value as the attribute's type wants it: numbers become strings for string attributes,
    as Terraform converts them (`ports: 22`, `name: ${2 * 3}`)."""
    if attr.type == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return False


def check_resource(
    res: Resource, stack: Stack, schemas: Mapping[str, Mapping[str, TypeSchema]], diags: Diagnostics
) -> TypeSchema | None:
    if res.provider not in schemas:
        return None  # the provider's own diagnostic was already given
    schema = schemas[res.provider].get(res.type)
    if schema is None:
        if res.type in PORTABLE:
            driver = stack.providers[res.provider].driver
            diags.error(
                f"provider {res.provider!r} ({driver}) does not support {res.type} resources",
                where=stack.at((*res.path, "type")),
                address=res.name,
            )
        else:
            known = sorted(PORTABLE)
            diags.error(
                f"unknown resource type {res.type!r}",
                f"{_suggest(res.type, known)}types: {', '.join(known)}",
                where=stack.at((*res.path, "type")),
                address=res.name,
            )
        return None
    settable = list(schema.settable)
    if res.lookup is not None:
        for name in res.attributes:
            diags.error(
                f"{res.name} looks an object up; it takes no attribute like {name!r}",
                "put the criteria under lookup:",
                where=stack.positions.key_at((*res.path, name)),
                address=res.name,
            )
        return schema
    for name, value in res.attributes.items():
        attr = schema.attrs.get(name)
        if attr is None:
            diags.error(
                f"{res.type} has no attribute {name!r}",
                f"{_suggest(name, settable)}attributes: {', '.join(settable)}",
                where=stack.positions.key_at((*res.path, name)),
                address=res.name,
            )
        elif not attr.settable:
            diags.error(
                f"{res.type}.{name} is computed by the cloud and cannot be set",
                where=stack.positions.key_at((*res.path, name)),
                address=res.name,
            )
        elif not has_expression(value):
            problem = value_problem(attr, value)
            if problem:
                diags.error(
                    f"{res.type}.{name} {problem}",
                    where=stack.at((*res.path, name)),
                    address=res.name,
                )
    for name, attr in schema.attrs.items():
        if attr.kind == "required" and res.attributes.get(name) is None:
            diags.error(
                f"{res.type} {res.name!r} is missing required attribute {name!r}",
                where=stack.positions.key_at(res.path),
                address=res.name,
            )
    ignored = res.lifecycle.ignore_changes
    if not isinstance(ignored, str):
        for i, name in enumerate(ignored):
            if name not in settable:
                diags.error(
                    f"ignore_changes names {name!r}, which {res.type} cannot set",
                    f"{_suggest(name, settable)}attributes: {', '.join(settable)}",
                    where=stack.at((*res.path, "lifecycle", "ignore_changes", i)),
                    address=res.name,
                )
    return schema
