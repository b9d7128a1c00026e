"""Apply progress: a live line per in-flight operation (rich), plain lines, or JSON events."""

from __future__ import annotations

import json
import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from nubes.engine.apply.events import Event, EventHooks
from nubes.engine.apply.hooks import Op, OpKind

VERB = {
    OpKind.CREATE: ("Creating", "created"),
    OpKind.UPDATE: ("Updating", "updated"),
    OpKind.DELETE: ("Destroying", "destroyed"),
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


class JsonProgress(EventHooks):
    """One JSON event per line, for scripts (`--json`): the schema of engine.apply.events."""

    def __init__(self, console: Console) -> None:
        def write(e: Event) -> None:
            console.file.write(json.dumps(e) + "\n")
            console.file.flush()

        super().__init__(write)

    def close(self) -> None:
        pass
