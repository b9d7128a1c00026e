"""What a plan is: a closed set of actions, one Change per resource instance, drift, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nubes.engine.addrs import InstanceAddr
from nubes.engine.plan.recover import Recovered
from nubes.engine.stack.model import Stack
from nubes.engine.state.model import State


class Action(StrEnum):
    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    DELETE_CREATE = "delete-create"
    CREATE_DELETE = "create-delete"
    # an instance moving to another provider: created there first, then its dependents moved,
    # and only then the old one destroyed
    MIGRATE = "migrate"

    @property
    def replaces(self) -> bool:
        return self in (Action.DELETE_CREATE, Action.CREATE_DELETE, Action.MIGRATE)

    @property
    def creates_first(self) -> bool:
        return self in (Action.CREATE_DELETE, Action.MIGRATE)

    @property
    def destroys(self) -> bool:
        return self is Action.DELETE or self.replaces


@dataclass(slots=True)
class Change:
    addr: InstanceAddr
    type: str
    provider: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    id: str | None = None
    reason: str = ""
    requires_replace: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    deposed: bool = False  # deletes an object an earlier create-delete left behind
    # where the object being replaced or deleted lives, when that differs (a provider change)
    before_provider: str | None = None
    before_type: str | None = None
    each_value: Any = None  # the for_each entry of this instance, for evaluating at apply
    notes: dict[str, str] = field(default_factory=dict)  # attribute -> its portable spelling

    @property
    def key(self) -> str:
        return f"{self.addr} (deposed {self.id})" if self.deposed else str(self.addr)


@dataclass(slots=True)
class Drift:
    addr: InstanceAddr
    type: str
    provider: str
    id: str
    kind: str  # "changed" or "deleted"
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class OutputChange:
    name: str
    action: Action
    before: Any
    after: Any
    sensitive: bool = False


@dataclass
class Plan:
    stack: Stack
    variables: dict[str, Any]
    changes: list[Change]
    drift: list[Drift]
    outputs: dict[str, OutputChange]
    prior: State  # the state as refreshed, which apply starts from
    lineage: str | None  # of the stored state the plan was made against (None: no state yet)
    serial: int | None
    destroy: bool = False
    recovered: list[Recovered] = field(default_factory=list)  # an interrupted apply's leftovers
    # whether refreshing or recovery made `prior` differ from the stored state (apply writes it)
    state_changed: bool = True

    @property
    def has_changes(self) -> bool:
        return (
            any(c.action is not Action.NOOP for c in self.changes)
            or any(o.action is not Action.NOOP for o in self.outputs.values())
            or bool(self.recovered)
        )

    def counts(self) -> dict[str, int]:
        add = sum(1 for c in self.changes if c.action in (Action.CREATE,) or c.action.replaces)
        change = sum(1 for c in self.changes if c.action is Action.UPDATE)
        destroy = sum(1 for c in self.changes if c.action.destroys)
        migrate = sum(1 for c in self.changes if c.action is Action.MIGRATE)
        return {"add": add, "change": change, "destroy": destroy, "migrate": migrate}
