"""Waiting for a cloud: polling a state with backoff and jitter up to a deadline, and following a
cloud's asynchronous task documents (vCloud's Task, oVirt's jobs, OpenNebula's LCM states).

Every wait can be cancelled: a set `cancel` event ends it at the next pause with CancelledError,
so a stopping run never sits out a 10-minute boot.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from nubes.providers.errors import CancelledError, ProviderError, TimeoutError_

T = TypeVar("T")


@dataclass(frozen=True)
class Pacing:
    """How often to ask: the first pause, its growth, and its ceiling (seconds)."""

    first: float = 2.0
    growth: float = 1.6
    ceiling: float = 15.0


FAST = Pacing(first=0.05)  # emulators and local endpoints answer in milliseconds


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    pacing: Pacing = Pacing(),
    cancel: threading.Event | None = None,
    failed: Callable[[T], str | None] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call `probe` until it returns a value (which `failed` may refuse, with a reason),
    within `timeout` seconds; TimeoutError_ names `what`."""
    deadline = time.monotonic() + timeout
    pause = pacing.first
    while True:
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"stopped waiting for {what}")
        found = probe()
        if found is not None:
            problem = failed(found) if failed is not None else None
            if problem:
                raise ProviderError(problem)
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError_(f"timed out waiting for {what}")
        nap = min(pause * (0.5 + random.random()), left)
        if cancel is not None:
            if cancel.wait(nap):
                raise CancelledError(f"stopped waiting for {what}")
        else:
            sleep(nap)
        pause = min(pause * pacing.growth, pacing.ceiling)


@dataclass(frozen=True)
class TaskStatus:
    """A cloud's task document, read: done, failed (with the cloud's message), or running."""

    done: bool
    error: str | None = None
    progress: float | None = None  # 0..1 where the cloud says


def follow_task(
    what: str,
    read: Callable[[], TaskStatus],
    timeout: float,
    pacing: Pacing = Pacing(),
    cancel: threading.Event | None = None,
) -> TaskStatus:
    """Poll a task until it finishes; a failed task raises ProviderError quoting the cloud."""

    def probe() -> TaskStatus | None:
        status = read()
        return status if status.done or status.error else None

    return wait_until(
        what, probe, timeout, pacing, cancel, failed=lambda s: s.error and f"{what}: {s.error}"
    )
