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
from nubes.providers.protocol import STACK_TAG, TypeSchema


def refresh(
    state: State, drivers: Drivers, extra_groups: Iterable[tuple[str, str]] = ()
) -> tuple[State, list[Drift], Diagnostics]:
    """A copy of `state` updated from the clouds, and the drift found. One provider's type is
    listed, compared and let go before the next is listed; an entry is copied only when the
    cloud changed it, so a refresh that finds no drift holds one copy of the state."""
    diags = Diagnostics()
    fresh = state.shallow_copy()
    drift: list[Drift] = []
    groups: dict[tuple[str, str], list[ResourceState]] = defaultdict(list)
    for rs in [*fresh.resources.values(), *fresh.deposed]:
        groups[(rs.provider, rs.type)].append(rs)
    for group in extra_groups:
        groups.setdefault(group, [])
    for (provider, type_), members in groups.items():
        if members and provider not in drivers:
            diags.error(
                f"state holds {len(members)} {type_} object(s) of provider {provider!r}, "
                "which the stack no longer declares",
                "keep the provider block until they are destroyed, or `nubes state rm` them",
            )
    if diags.has_errors:
        return fresh, drift, diags
    for (provider, type_), members in groups.items():
        if not members:
            continue
        driver = drivers[provider]
        try:
            listed = {o.id: o for o in driver.list(type_, {STACK_TAG: state.stack})}
        except ProviderError as exc:
            diags.error(f"refreshing {type_} objects of provider {provider!r} failed: {exc}")
            continue
        schema = driver.schema().get(type_)
        for rs in members:
            obj = listed.pop(rs.id, None)
            if obj is None:
                try:
                    obj = driver.read(type_, rs.id)
                except ProviderError as exc:
                    diags.error(f"reading {rs.address} ({rs.id}) failed: {exc}")
                    continue
            if obj is None:
                drift.append(Drift(rs.address, type_, provider, rs.id, "deleted"))
                _replace(fresh, rs, None)
                continue
            changes, taken = _merge(rs, obj.attributes, schema)
            if taken:
                changed = rs.copy()
                changed.attributes.update(taken)
                _replace(fresh, rs, changed)
            if changes:
                drift.append(Drift(rs.address, type_, provider, rs.id, "changed", changes))
        del listed
    return fresh, drift, diags


def _replace(state: State, old: ResourceState, new: ResourceState | None) -> None:
    """Put `new` where `old` is in `state` (a current entry or a deposed one); None: drop it."""
    if state.resources.get(old.address) is old:
        if new is None:
            del state.resources[old.address]
        else:
            state.resources[old.address] = new
        return
    for i, rs in enumerate(state.deposed):
        if rs is old:
            if new is None:
                del state.deposed[i]
            else:
                state.deposed[i] = new
            return


def _merge(
    rs: ResourceState, reported: dict[str, Any], schema: TypeSchema | None
) -> tuple[dict[str, tuple[Any, Any]], dict[str, Any]]:
    """What of the cloud's values differ from `rs`: (what changed that the user sets, attribute
    -> before, after; every value to take). Computed values (an instance's public IP once an
    address is associated) are taken quietly: they are the cloud's to change, and reporting
    them would only be noise."""
    changes: dict[str, tuple[Any, Any]] = {}
    taken: dict[str, Any] = {}
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
            taken[name] = value
    return changes, taken
