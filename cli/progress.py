"""Apply progress: a live line per in-flight operation (rich), plain lines, or JSON events."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from nubes.engine.apply.hooks import Op

VERB = {
    "create": ("Creating", "created"),
    "update": ("Updating", "updated"),
    "delete": ("Destroying", "destroyed"),
}


def _secs(seconds: float) -> str:
    return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.0f}s"


class PlainProgress:
    """One line when an operation starts and one when it ends; used without a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self.lock:
            self.console.print(text, highlight=False)

    def started(self, op: Op) -> None:
        self._say(f"{escape(op.label)}: {VERB[op.kind][0]}...")

    def finished(self, op: Op, seconds: float, id: str | None) -> None:
        ident = f" \\[id={escape(id)}]" if id else ""
        self._say(
            f"{escape(op.label)}: {VERB[op.kind][1].capitalize()} after {_secs(seconds)}{ident}"
        )

    def failed(self, op: Op, seconds: float, message: str) -> None:
        self._say(f"[red]{escape(op.label)}: {op.kind} failed after {_secs(seconds)}[/]")

    def skipped(self, op: Op, because: str) -> None:
        self._say(f"[yellow]{escape(op.label)}: skipped ({escape(because)})[/]")

    def close(self) -> None:
        pass


class LiveProgress(PlainProgress):
    """Finished operations scroll by; in-flight ones stay at the bottom with a timer."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.running: dict[str, tuple[str, float]] = {}
        self.live = Live(
            self._render(),
            console=console,
            refresh_per_second=8,
            transient=True,
            get_renderable=self._render,
        )
        self.live.start()

    def _render(self) -> Group:
        now = time.monotonic()
        rows = [
            Text(f"  {label}: {verb}... {now - since:.0f}s", style="cyan")
            for label, (verb, since) in list(self.running.items())
        ]
        return Group(*rows)

    def started(self, op: Op) -> None:
        with self.lock:
            self.running[op.label] = (VERB[op.kind][0], time.monotonic())

    def _done(self, op: Op) -> None:
        with self.lock:
            self.running.pop(op.label, None)

    def finished(self, op: Op, seconds: float, id: str | None) -> None:
        self._done(op)
        super().finished(op, seconds, id)

    def failed(self, op: Op, seconds: float, message: str) -> None:
        self._done(op)
        super().failed(op, seconds, message)

    def close(self) -> None:
        self.live.stop()


class JsonProgress:
    """One JSON object per line, for scripts (`--json`)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
        with self.lock:
            self.console.file.write(json.dumps(event) + "\n")
            self.console.file.flush()

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

    def close(self) -> None:
        pass
