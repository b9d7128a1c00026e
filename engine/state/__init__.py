"""State: the model, its file format and upgrades, the `Backend` protocol and its local store,
locks and the intent journal.

Guarantees: every write is atomic and bumps `serial`; the previous version is kept; a state of
another lineage is never overwritten; one writer per stack holds the lock.
"""

from nubes.engine.state.backend import Backend, HistoryEntry
from nubes.engine.state.local import LocalBackend
from nubes.engine.state.lock import LockHeld, LockInfo
from nubes.engine.state.model import OutputState, ResourceState, State, StateError

__all__ = [
    "Backend",
    "HistoryEntry",
    "LocalBackend",
    "LockHeld",
    "LockInfo",
    "OutputState",
    "ResourceState",
    "State",
    "StateError",
]
