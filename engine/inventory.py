"""What really exists: every object in a stack's clouds that carries the stack's tag, set beside
the state. Each is managed (in state), an orphan (tagged, not in state) or missing (in state,
gone from the cloud)."""

from __future__ import annotations

from dataclasses import dataclass

from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers
from nubes.engine.state.model import ResourceState, State
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import STACK_TAG


@dataclass(frozen=True)
class Item:
    status: str  # managed, orphan, missing
    address: str
    type: str
    provider: str
    id: str


def inventory(stack: str, state: State | None, drivers: Drivers) -> tuple[list[Item], Diagnostics]:
    diags = Diagnostics()
    known: dict[str, ResourceState] = {}
    if state is not None:
        known = {rs.id: rs for rs in [*state.resources.values(), *state.deposed]}
    items: list[Item] = []
    seen: set[str] = set()
    for provider, driver in drivers.by_provider.items():
        for type_ in driver.schema():
            try:
                objects = driver.list(type_, {STACK_TAG: stack})
            except ProviderError as exc:
                diags.error(f"listing {type_} objects of provider {provider!r} failed: {exc}")
                continue
            for obj in objects:
                seen.add(obj.id)
                mine = known.get(obj.id)
                if mine is not None and mine.provider == provider:
                    items.append(Item("managed", str(mine.address), type_, provider, obj.id))
                else:
                    items.append(Item("orphan", obj.address or "?", type_, provider, obj.id))
    for id_, rs in known.items():
        if id_ in seen:
            continue
        present = False
        if rs.provider in drivers:
            try:  # imported objects carry no tag: look for them by id
                present = drivers[rs.provider].read(rs.type, id_) is not None
            except ProviderError as exc:
                diags.error(f"reading {rs.address} ({id_}) failed: {exc}")
                continue
        status = "managed" if present else "missing"
        items.append(Item(status, str(rs.address), rs.type, rs.provider, id_))
    order = {"orphan": 0, "missing": 1, "managed": 2}
    items.sort(key=lambda i: (order[i.status], i.address, i.id))
    return items, diags
