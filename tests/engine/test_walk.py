from __future__ import annotations

import threading

from nubes.engine.graph import Outcome, walk


def test_dependencies_run_first_and_in_parallel() -> None:
    log: list[str] = []
    lock = threading.Lock()
    running = 0
    peak = 0
    together = threading.Barrier(3)

    def run(node: str) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if node != "d":  # a, b and c only pass once all three run at once
            together.wait(timeout=30)
        with lock:
            running -= 1
            log.append(node)

    deps = {"a": set(), "b": set(), "c": set(), "d": {"a", "b", "c"}}
    outcome = walk(list(deps), deps, run, parallelism=3)
    assert all(o is Outcome.DONE for o in outcome.values())
    assert log[-1] == "d" and peak == 3


def test_failure_skips_only_dependents() -> None:
    skipped: list[tuple[str, str]] = []

    def run(node: str) -> None:
        if node == "a":
            raise RuntimeError("boom")

    deps = {"a": set(), "b": {"a"}, "c": {"b"}, "x": set(), "y": {"x"}}
    outcome = walk(list(deps), deps, run, 2, on_skip=lambda n, c: skipped.append((n, c)))
    assert outcome == {
        "a": Outcome.FAILED,
        "b": Outcome.SKIPPED,
        "c": Outcome.SKIPPED,
        "x": Outcome.DONE,
        "y": Outcome.DONE,
    }
    assert sorted(skipped) == [("b", "a"), ("c", "a")]


def test_stop_lets_in_flight_work_finish() -> None:
    stop = threading.Event()
    done: list[str] = []

    def run(node: str) -> None:
        if node == "a":
            stop.set()
        done.append(node)

    deps = {"a": set(), "b": {"a"}, "c": {"b"}}
    outcome = walk(list(deps), deps, run, 1, stop)
    assert done == ["a"]
    assert outcome["a"] is Outcome.DONE and outcome["b"] is Outcome.NOT_STARTED
