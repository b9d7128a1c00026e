"""Reviews a server keeps for a while (reviewed plans, migrations): at most `most`, each for
`seconds`, oldest dropped first; `dropped` is told of each one dropped unused (to remove what it
left on disk). Taking one removes it, so a review is applied once."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Review(Protocol):
    id: str
    made_at: float


T = TypeVar("T", bound=Review)


class Kept(Generic[T]):
    def __init__(
        self, seconds: float, most: int, dropped: Callable[[T], None] = lambda item: None
    ) -> None:
        self.seconds = seconds
        self.most = most
        self.dropped = dropped
        self._by_id: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, item: T) -> None:
        with self._lock:
            self._sweep()
            self._by_id[item.id] = item
            while len(self._by_id) > self.most:
                self.dropped(self._by_id.popitem(last=False)[1])

    def get(self, id: str) -> T | None:
        with self._lock:
            self._sweep()
            return self._by_id.get(id)

    def take(self, id: str) -> T | None:
        with self._lock:
            self._sweep()
            return self._by_id.pop(id, None)

    def _sweep(self) -> None:
        now = time.time()
        for key, item in list(self._by_id.items()):
            if now - item.made_at > self.seconds:
                self.dropped(self._by_id.pop(key))
