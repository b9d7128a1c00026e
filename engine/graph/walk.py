"""A parallel walk of a DAG: each node runs once all it depends on has succeeded.

A failure skips everything that depends on it, transitively, while independent branches go on.
Setting `stop` starts nothing new; what is running finishes and is recorded.
"""

from __future__ import annotations

import contextvars
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from enum import StrEnum
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_STARTED = "not started"


def walk(
    nodes: Sequence[K],
    deps: Mapping[K, set[K]],
    run: Callable[[K], None],
    parallelism: int,
    stop: threading.Event | None = None,
    on_skip: Callable[[K, K], None] | None = None,
) -> dict[K, Outcome]:
    """Run `run(node)` for every node in dependency order; returns each node's outcome.

    `run` signals failure by raising. `on_skip(node, failed_dependency)` reports each skip.
    """
    stop = stop or threading.Event()
    dependents: dict[K, list[K]] = defaultdict(list)
    waiting = {n: len(deps.get(n, ())) for n in nodes}
    for n in nodes:
        for d in deps.get(n, ()):
            dependents[d].append(n)
    outcome: dict[K, Outcome] = {}
    ready = deque(n for n in nodes if waiting[n] == 0)

    def skip(node: K, cause: K) -> None:
        pending = [node]
        while pending:
            n = pending.pop()
            if n in outcome:
                continue
            outcome[n] = Outcome.SKIPPED
            if on_skip is not None:
                on_skip(n, cause)
            pending.extend(dependents[n])

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        running: dict[Future[None], K] = {}
        while ready or running:
            while ready and len(running) < parallelism and not stop.is_set():
                node = ready.popleft()
                if node not in outcome:
                    # each task sees the caller's context (the apply's expression budget)
                    context = contextvars.copy_context()
                    running[pool.submit(context.run, run, node)] = node
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                node = running.pop(future)
                if future.exception() is not None:
                    outcome[node] = Outcome.FAILED
                    for d in dependents[node]:
                        skip(d, node)
                    continue
                outcome[node] = Outcome.DONE
                for d in dependents[node]:
                    waiting[d] -= 1
                    if waiting[d] == 0 and d not in outcome:
                        ready.append(d)
    for n in nodes:
        outcome.setdefault(n, Outcome.NOT_STARTED)
    return outcome
