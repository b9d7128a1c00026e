"""The one schema of apply progress events, which every view renders.

The CLI's `--json` lines and the server's job events (and its server-sent events) are these
dicts: `type` and `time` first, then the fields of the type. Types: `job_start`, `planned`,
`apply_start`, `apply_complete`, `apply_errored`, `apply_skipped`, `change_summary`, `outputs`,
`job_end`. Fields are only ever added.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from nubes.engine.apply.hooks import Op

Event = dict[str, Any]


def event(kind: str, **fields: Any) -> Event:
    return {"type": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}


class EventHooks:
    """Apply hooks that turn each operation's progress into events for `sink` (called from the
    executor's threads, one at a time)."""

    def __init__(self, sink: Callable[[Event], None]) -> None:
        self.sink = sink
        self._lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> None:
        with self._lock:
            self.sink(event(kind, **fields))

    def started(self, op: Op) -> None:
        self.emit("apply_start", address=op.label, action=op.kind)

    def finished(self, op: Op, seconds: float, id: str | None) -> None:
        self.emit(
            "apply_complete",
            address=op.label,
            action=op.kind,
            id=id,
            elapsed_seconds=round(seconds, 3),
        )

    def failed(self, op: Op, seconds: float, message: str) -> None:
        self.emit(
            "apply_errored",
            address=op.label,
            action=op.kind,
            message=message,
            elapsed_seconds=round(seconds, 3),
        )

    def skipped(self, op: Op, because: str) -> None:
        self.emit("apply_skipped", address=op.label, action=op.kind, reason=because)
