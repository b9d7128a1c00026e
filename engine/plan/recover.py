"""Resolving what an interrupted apply left unfinished, before anything else is planned.

For each unfinished create in the journal, the object that carries its token is adopted into
state (one tag-filtered list call per provider and type finds them all); if no object carries it,
the create never reached the cloud and the intent is dropped. For each unfinished delete, the
object is looked up: gone means the delete happened, and it leaves state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from nubes.engine.addrs import parse_instance_addr
from nubes.engine.diag import Diagnostics, warning
from nubes.engine.drivers import Drivers
from nubes.engine.state.journal import Intent
from nubes.engine.state.model import ResourceState, State
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import STACK_TAG, CloudObject


@dataclass(frozen=True)
class Recovered:
    """What became of one unfinished intent."""

    address: str
    type: str
    provider: str
    outcome: str  # adopted, dropped, deleted, still-exists, already-recorded
    id: str | None
    intent: str  # the journal key the outcome settles

    def describe(self) -> str:
        return {
            "adopted": f"{self.type} {self.id} was created by an interrupted apply; "
            "it is adopted into state",
            "dropped": "an interrupted apply was about to create it, but it never reached the "
            "cloud; nothing to adopt",
            "deleted": f"an interrupted apply deleted {self.id}; it leaves state",
            "still-exists": f"an interrupted apply was deleting {self.id}, which still exists",
            "already-recorded": f"{self.id} was already recorded",
        }[self.outcome]


def recover(
    state: State, intents: list[Intent], drivers: Drivers
) -> tuple[State, list[Recovered], Diagnostics]:
    diags = Diagnostics()
    fresh = state.copy()
    notes: list[Recovered] = []
    tokens: dict[tuple[str, str], dict[str, list[CloudObject]]] = {}
    for intent in intents:
        if intent.provider not in drivers:
            diags.error(
                f"an interrupted apply left a {intent.kind} of {intent.address} on provider "
                f"{intent.provider!r}, which the stack no longer declares",
                "restore the provider block so nubes can finish it",
            )
            continue
        driver = drivers[intent.provider]
        try:
            if intent.kind == "create":
                group = (intent.provider, intent.type)
                if group not in tokens:
                    tokens[group] = defaultdict(list)
                    for obj in driver.list(intent.type, {STACK_TAG: state.stack}):
                        if obj.token:
                            tokens[group][obj.token].append(obj)
                found = tokens[group].get(intent.token or "", [])
                if not found and intent.id is not None:
                    seen = driver.read(intent.type, intent.id)
                    found = [seen] if seen is not None else []
                notes.append(_adopt(fresh, intent, found, diags))
            else:
                assert intent.id is not None
                exists = driver.read(intent.type, intent.id) is not None
                if not exists:
                    _forget(fresh, intent.id)
                notes.append(
                    Recovered(
                        intent.address,
                        intent.type,
                        intent.provider,
                        "still-exists" if exists else "deleted",
                        intent.id,
                        intent.key,
                    )
                )
        except ProviderError as exc:
            diags.error(f"finishing an interrupted {intent.kind} of {intent.address} failed: {exc}")
    return fresh, notes, diags


def _adopt(state: State, intent: Intent, found: list[CloudObject], diags: Diagnostics) -> Recovered:
    addr = parse_instance_addr(intent.address)
    assert addr is not None
    if not found:
        return Recovered(intent.address, intent.type, intent.provider, "dropped", None, intent.key)
    obj = found[0]
    for extra in found[1:]:
        diags.add(
            warning(
                f"{extra.id} carries the same creation token as {obj.id} ({intent.address})",
                "the cloud ignored the idempotency token; `nubes inventory` lists it as an orphan",
            )
        )
    current = state.resources.get(addr)
    if current is not None and current.id == obj.id:
        return Recovered(
            intent.address, intent.type, intent.provider, "already-recorded", obj.id, intent.key
        )
    if current is not None:
        state.deposed.append(current)  # the adopted object was meant to replace it
    state.resources[addr] = ResourceState(
        addr,
        intent.type,
        intent.provider,
        obj.id,
        obj.attributes,
        list(intent.dependencies),
        sensitive=list(intent.sensitive),
        token=intent.token,
    )
    return Recovered(intent.address, intent.type, intent.provider, "adopted", obj.id, intent.key)


def _forget(state: State, id: str) -> None:
    for addr, rs in list(state.resources.items()):
        if rs.id == id:
            del state.resources[addr]
    state.deposed = [r for r in state.deposed if r.id != id]
