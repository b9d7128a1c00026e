"""The one channel of server-sent events every open page listens to: inventory changes and job
progress, each event numbered. A client that reconnects sends the last number it saw
(`Last-Event-ID`, which browsers send by themselves) and gets what it missed, as long as the
server still holds it (the newest `KEEP` events); one that fell further behind is told to reload.

Publishing is thread-safe (jobs and refreshes run in threads); listeners wait on the event loop
and hold no thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

KEEP = 5000
HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str  # "instances", "cloud", "job" (and "hello", "reload" to one listener)
    data: dict[str, Any]

    def frame(self) -> bytes:
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {json.dumps(self.data)}\n\n".encode()


class Bus:
    def __init__(self) -> None:
        self._events: deque[Event] = deque(maxlen=KEEP)
        self._seq = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    @property
    def last(self) -> int:
        return self._seq

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop listeners wait on (the server's)."""
        if self._loop is not loop:
            self._loop = loop
            self._changed = asyncio.Event()

    def publish(self, kind: str, data: dict[str, Any]) -> Event:
        with self._lock:
            self._seq += 1
            event = Event(self._seq, kind, data)
            self._events.append(event)
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                changed.set()
            else:
                loop.call_soon_threadsafe(changed.set)
        return event

    def since(self, seq: int) -> list[Event] | None:
        """The events after `seq`, or None when some of them are no longer held."""
        with self._lock:
            if seq > self._seq:
                return []  # a number from another run of the server: nothing to replay
            if self._events and seq < self._events[0].seq - 1:
                return None
            return [e for e in self._events if e.seq > seq]

    async def stream(self, after: int | None) -> AsyncIterator[bytes]:
        """Frames for one listener, from after `after` (None: from now), until it goes."""
        assert self._changed is not None, "bind the bus to the server's loop first"
        sent = self.last if after is None or after > self.last else after
        yield f"retry: 2000\nid: {sent}\nevent: hello\ndata: {{}}\n\n".encode()
        while True:
            events = self.since(sent)
            if events is None:
                yield f"id: {self.last}\nevent: reload\ndata: {{}}\n\n".encode()
                sent = self.last
                continue
            for event in events:
                yield event.frame()
                sent = event.seq
            changed = self._changed
            changed.clear()
            if self.last > sent:
                continue
            try:
                await asyncio.wait_for(changed.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
