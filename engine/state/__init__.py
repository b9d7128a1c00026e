"""State: the model, its file format and upgrades, the local backend, and locks.

Guarantees: every write is atomic and bumps `serial`; the previous version is kept; a state of
another lineage is never overwritten; one writer per stack holds the lock.
"""

from nubes.engine.state.local import HistoryEntry, LocalBackend
from nubes.engine.state.lock import LockHeld, LockInfo
from nubes.engine.state.model import OutputState, ResourceState, State, StateError

__all__ = [
    "HistoryEntry",
    "LocalBackend",
    "LockHeld",
    "LockInfo",
    "OutputState",
    "ResourceState",
    "State",
    "StateError",
]
