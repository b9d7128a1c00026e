"""Progress hooks: the executor reports each operation here; views render them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from nubes.engine.plan.model import Change


class OpKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"  # costs nothing: the object stays as it is


@dataclass(frozen=True)
class Op:
    """One operation of an apply: create, update or delete one object."""

    kind: OpKind
    change: Change

    @property
    def label(self) -> str:
        return self.change.key

    def __hash__(self) -> int:
        return hash((self.kind, self.change.key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and (self.kind, self.change.key) == (
            other.kind,
            other.change.key,
        )


class Hooks(Protocol):
    def started(self, op: Op) -> None: ...

    def finished(self, op: Op, seconds: float, id: str | None) -> None: ...

    def failed(self, op: Op, seconds: float, message: str) -> None: ...

    def skipped(self, op: Op, because: str) -> None: ...


class NoHooks:
    def started(self, op: Op) -> None:
        pass

    def finished(self, op: Op, seconds: float, id: str | None) -> None:
        pass

    def failed(self, op: Op, seconds: float, message: str) -> None:
        pass

    def skipped(self, op: Op, because: str) -> None:
        pass
