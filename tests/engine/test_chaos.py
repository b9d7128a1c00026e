"""SIGKILL an apply at exact steps; the next apply converges with no orphan and no duplicate.

The deterministic version of bench/chaos.py (a hundred random instants): each kill lands at a
journal record of the apply (tests/nubes_child.py arms it inside the process), so every point
interrupts real work on any machine, however busy. The points cover a kill right after a create
was announced (the call may not have been sent), right before its outcome was noted (the object
exists, the run never learned its id), after a delete was announced, and between operations,
one of them under injected throttling faults. The check reads the sim cloud's own store, and one
apply after the kill must converge.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos_harness import KillPoint, run_kill_point

POINTS = {
    "create": [
        KillPoint("after", "intent-create", 1),
        KillPoint("before", "created", 3),
        KillPoint("before", "settled", 6),
    ],
    "change": [
        KillPoint("after", "intent-delete", 1),
        KillPoint("before", "created", 2),
        KillPoint("after", "intent-create", 5),
    ],
}


@pytest.mark.parametrize(
    ("scenario", "point"),
    [(s, p) for s, points in POINTS.items() for p in points],
    ids=[f"{s}-{p}".replace(" ", "-") for s, points in POINTS.items() for p in points],
)
def test_kill_at_a_journal_record_then_converge(
    tmp_path: Path, scenario: str, point: KillPoint
) -> None:
    faults = 0.15 if point == POINTS[scenario][-1] else 0.0
    outcome = run_kill_point(tmp_path, scenario, point, fail_rate=faults, seed=7)
    assert outcome.killed, outcome  # the kill interrupted the apply at that step
    assert outcome.ok, outcome
    if point.kind in ("intent-create", "created", "intent-delete"):
        assert outcome.recovered >= 1, outcome  # the next run had unfinished work to resolve
