"""Refresh: what the clouds really hold, in one batched list call per provider and type.

Objects are listed by the stack's tag; a state entry the list did not return (an imported or
retagged object) is read by id, once. Differences from the saved state are drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers
from nubes.engine.plan.model import Drift
from nubes.engine.state.model import ResourceState, State
from nubes.providers.errors import ProviderError
from nubes.providers.planning import same_value
from nubes.providers.protocol import STACK_TAG, CloudObject, TypeSchema


def refresh(
    state: State, drivers: Drivers, extra_groups: Iterable[tuple[str, str]] = ()
) -> tuple[State, list[Drift], Diagnostics]:
    """A copy of `state` updated from the clouds, and the drift found."""
    diags = Diagnostics()
    fresh = state.copy()
    drift: list[Drift] = []
    groups: dict[tuple[str, str], list[ResourceState]] = defaultdict(list)
    for rs in [*fresh.resources.values(), *fresh.deposed]:
        groups[(rs.provider, rs.type)].append(rs)
    for group in extra_groups:
        groups.setdefault(group, [])
    listed: dict[tuple[str, str], dict[str, CloudObject]] = {}
    for (provider, type_), members in groups.items():
        if not members or provider not in drivers:
            if members:
                diags.error(
                    f"state holds {len(members)} {type_} object(s) of provider {provider!r}, "
                    "which the stack no longer declares",
                    "keep the provider block until they are destroyed, or `nubes state rm` them",
                )
            continue
        try:
            objects = drivers[provider].list(type_, {STACK_TAG: state.stack})
        except ProviderError as exc:
            diags.error(f"refreshing {type_} objects of provider {provider!r} failed: {exc}")
            continue
        listed[(provider, type_)] = {o.id: o for o in objects}
    if diags.has_errors:
        return fresh, drift, diags
    gone: list[ResourceState] = []
    for (provider, type_), members in groups.items():
        if provider not in drivers:
            continue
        driver = drivers[provider]
        schema = driver.schema().get(type_)
        for rs in members:
            obj = listed.get((provider, type_), {}).get(rs.id)
            if obj is None:
                try:
                    obj = driver.read(type_, rs.id)
                except ProviderError as exc:
                    diags.error(f"reading {rs.address} ({rs.id}) failed: {exc}")
                    continue
            if obj is None:
                drift.append(Drift(rs.address, type_, provider, rs.id, "deleted"))
                gone.append(rs)
                continue
            changes = _merge(rs, obj.attributes, schema)
            if changes:
                drift.append(Drift(rs.address, type_, provider, rs.id, "changed", changes))
    for rs in gone:
        if fresh.resources.get(rs.address) is rs:
            del fresh.resources[rs.address]
        elif rs in fresh.deposed:
            fresh.deposed.remove(rs)
    return fresh, drift, diags


def _merge(
    rs: ResourceState, reported: dict[str, Any], schema: TypeSchema | None
) -> dict[str, tuple[Any, Any]]:
    """Take the cloud's values into `rs`; returns what changed that the user sets (attribute ->
    before, after). Computed values (an instance's public IP once an address is associated) are
    taken quietly: they are the cloud's to change, and reporting them would only be noise."""
    changes: dict[str, tuple[Any, Any]] = {}
    names = schema.attrs if schema is not None else reported
    for name in names:
        if name not in reported:
            continue
        attr = schema.attrs.get(name) if schema is not None else None
        value = reported[name]
        if value is None and attr is not None and attr.sensitive:
            continue  # clouds return secrets once, at create; keep what state has
        before = rs.attributes.get(name)
        if not same_value(before, value):
            if attr is None or attr.settable:
                changes[name] = (before, value)
            rs.attributes[name] = value
    return changes
