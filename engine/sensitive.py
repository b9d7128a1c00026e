"""Which values are secret, decided from the stack and the schemas every time values are shown.

An attribute is sensitive when its type's schema says so (a key's private_key), or when the stack
builds it from something sensitive: a sensitive variable, a sensitive attribute of another
resource (transitively), or a whole object holding one. This is found from the expressions'
references alone, so it holds for state written by any earlier run, by `import`, or by an older
nubes: what state stored is only ever added to, never trusted alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nubes.engine.lang import ParseError, Ref, parse_string
from nubes.engine.stack.model import Stack
from nubes.engine.state.model import ResourceState, State
from nubes.providers.protocol import PORTABLE, TypeSchema
from nubes.providers.registry import load_driver

HIDDEN = "(sensitive)"


@dataclass(frozen=True)
class Sensitivity:
    """Sensitive attributes by resource name, sensitive outputs, and each type's own secrets."""

    resources: Mapping[str, frozenset[str]] = field(default_factory=dict)
    outputs: frozenset[str] = frozenset()
    by_type: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def of(self, rs: ResourceState) -> frozenset[str]:
        """Everything to hide of one object in state."""
        return (
            frozenset(rs.sensitive)
            | self.resources.get(rs.address.name, frozenset())
            | self.by_type.get((rs.provider, rs.type), PORTABLE_SECRETS.get(rs.type, frozenset()))
        )

    def output(self, name: str, stored: bool) -> bool:
        return stored or name in self.outputs


PORTABLE_SECRETS = {name: schema.sensitive for name, schema in PORTABLE.items()}


def _strings(raw: Any) -> Iterator[str]:
    if isinstance(raw, str):
        if "${" in raw:
            yield raw
    elif isinstance(raw, dict):
        for v in raw.values():
            yield from _strings(v)
    elif isinstance(raw, list):
        for v in raw:
            yield from _strings(v)


def _refs(raw: Any) -> list[Ref]:
    out: list[Ref] = []
    for text in _strings(raw):
        try:
            out.extend(parse_string(text).refs)
        except ParseError:
            continue  # reported where the expression is checked
    return out


def _touches(ref: Ref, secret: Mapping[str, frozenset[str]]) -> bool:
    hidden = secret.get(ref.root)
    if not hidden:
        return False
    attrs = ref.attrs
    return not attrs or any(a in hidden for a in attrs)


def stack_sensitivity(
    stack: Stack, schemas: Mapping[str, Mapping[str, TypeSchema]] | None = None
) -> Sensitivity:
    """What the stack makes secret, followed through references until nothing more changes.
    Computed once per stack and set of schemas."""
    schemas = schemas or {}
    key = tuple(
        sorted((p, t, s.sensitive) for p, types in schemas.items() for t, s in types.items())
    )
    cached = stack.cache.get("sensitivity")
    if cached is not None and cached[0] == key:
        return cached[1]
    found = _sensitivity(stack, schemas)
    stack.cache["sensitivity"] = (key, found)
    return found


def _sensitivity(stack: Stack, schemas: Mapping[str, Mapping[str, TypeSchema]]) -> Sensitivity:
    secret: dict[str, frozenset[str]] = {
        "var": frozenset(n for n, v in stack.variables.items() if v.sensitive)
    }
    by_type: dict[tuple[str, str], frozenset[str]] = {}
    for name, res in stack.resources.items():
        schema = schemas.get(res.provider, {}).get(res.type) or PORTABLE.get(res.type)
        own = schema.sensitive if schema is not None else frozenset()
        by_type[(res.provider, res.type)] = own
        secret[name] = own
    refs = {
        name: {attr: _refs(raw) for attr, raw in res.attributes.items()}
        for name, res in stack.resources.items()
    }
    each_secret = {
        name
        for name, res in stack.resources.items()
        if any(_touches(r, secret) for r in _refs(res.for_each))
    }
    changed = True
    while changed:
        changed = False
        for name, attrs in refs.items():
            scope = {**secret, "each": frozenset({"value"})} if name in each_secret else secret
            found = {a for a, rs in attrs.items() if any(_touches(r, scope) for r in rs)}
            if not found <= secret[name]:
                secret[name] = secret[name] | found
                changed = True
    outputs = frozenset(
        name
        for name, output in stack.outputs.items()
        if output.sensitive or any(_touches(r, secret) for r in _refs(output.value))
    )
    resources = {name: secret[name] for name in stack.resources}
    return Sensitivity(resources, outputs, by_type)


def declared_schemas(stack: Stack) -> dict[str, Mapping[str, TypeSchema]]:
    """The schemas of the stack's providers, from their drivers unconfigured (a schema needs no
    credentials), for showing state without contacting any cloud."""
    out: dict[str, Mapping[str, TypeSchema]] = {}
    for name, provider in stack.providers.items():
        driver = load_driver(provider.driver)
        if driver is not None:
            out[name] = driver.schema()
    return out


def public_state(state: State, sensitivity: Sensitivity) -> dict[str, Any]:
    """The state document with every sensitive attribute and output shown as (sensitive)."""
    doc = state.to_json()
    ordered = [rs for _, rs in sorted(state.resources.items())] + state.deposed
    for rs, item in zip(ordered, [*doc["resources"], *doc["deposed"]], strict=True):
        hidden = sensitivity.of(rs)
        item["attributes"] = hide(item["attributes"], hidden)
        item["sensitive"] = sorted(hidden & set(rs.attributes))
    for name, output in doc["outputs"].items():
        if sensitivity.output(name, output["sensitive"]):
            output["sensitive"] = True
            output["value"] = HIDDEN
    return doc


def hide(values: dict[str, Any], hidden: frozenset[str] | set[str]) -> dict[str, Any]:
    return {k: (HIDDEN if k in hidden and v is not None else v) for k, v in values.items()}
