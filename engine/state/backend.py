"""The state `Backend` protocol: what the engine and the front ends may ask of a stack's state.

Every backend (a local folder, an S3 bucket, a PostgreSQL database) keeps the same promises: a write
is atomic and bumps the serial; a state of another lineage is never overwritten; one writer per
stack holds the lock (`lock(shared=True)` for plans); the intent journal outlives a killed apply;
history keeps each applied stack file once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from nubes.engine.state.journal import Intent, IntentKind
from nubes.engine.state.lock import LockInfo
from nubes.engine.state.model import State


@dataclass(frozen=True)
class HistoryEntry:
    serial: int
    applied_at: str
    digest: str
    file: str
    who: str
    summary: str
    location: str  # where the backend keeps the stack file as it was applied
    reader: Callable[[], str] = field(repr=False, compare=False)

    def stack_text(self) -> str:
        """The stack file as it was applied; StateError when the backend cannot give it."""
        return self.reader()

    def to_json(self) -> dict[str, Any]:
        """The entry as `nubes history --json` and the API show it (without the stored copy,
        which only the CLI's reader can open)."""
        return {
            "serial": self.serial,
            "applied_at": self.applied_at,
            "digest": self.digest,
            "file": self.file,
            "who": self.who,
            "summary": self.summary,
        }


class JournalStore(Protocol):
    """Intents written before each create and delete, so a killed apply loses nothing."""

    def will_create(
        self,
        address: str,
        provider: str,
        type: str,
        token: str,
        dependencies: list[str],
        sensitive: list[str],
    ) -> None: ...

    def created(self, token: str, id: str) -> None: ...

    def will_delete(self, address: str, provider: str, type: str, id: str) -> None: ...

    def deleted(self, id: str) -> None: ...

    def settled(self, key: str) -> None: ...

    def intents(self) -> list[Intent]: ...

    def close(self) -> None: ...

    def clear(self) -> None: ...


class Lock(AbstractContextManager[Any], Protocol):
    info: LockInfo | None

    def release(self) -> None: ...


class Backend(Protocol):
    """One stack's state in one store."""

    @property
    def stack(self) -> str: ...

    @property
    def journal(self) -> JournalStore: ...

    workspace: str

    def describe(self) -> str:
        """Where this state is kept, for messages (never a credential)."""
        ...

    def delete(self) -> None:
        """Remove this state, its history and journal (`nubes workspace delete`)."""
        ...

    def read(self) -> State | None:
        """The current state, None when nothing was ever applied; StateError when unusable."""
        ...

    def write(self, state: State) -> None:
        """Write `state` with its serial bumped; refuses to overwrite another lineage."""
        ...

    def stage(self, state: State) -> bytes:
        """Bump the serial and encode, for `commit` (the executor stages under its own lock)."""
        ...

    def commit(self, data: bytes) -> None: ...

    def lock(self, operation: str, timeout: float = 0.0, shared: bool = False) -> Lock: ...

    def force_unlock(self, lock_id: str) -> LockInfo: ...

    def lock_holder(self) -> LockInfo | None:
        """Who holds the lock to write now (None: nobody)."""
        ...

    def record_apply(
        self,
        state: State,
        text: str,
        digest: str,
        file: str,
        who: str,
        summary: str,
        applied_at: str | None = None,
    ) -> None: ...

    def history(self) -> list[HistoryEntry]: ...

    def sibling(self, stack: str) -> Backend:
        """Another stack's state in the same store (import checks every stack's claims)."""
        ...

    def stack_names(self) -> list[str]:
        """The stacks this store holds a state for."""
        ...


__all__ = ["Backend", "HistoryEntry", "Intent", "IntentKind", "JournalStore", "Lock"]
