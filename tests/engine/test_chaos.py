"""SIGKILL an apply at random instants; the next apply converges with no orphan and no duplicate.

The quick version of bench/chaos.py (100 kill points): a few kill points per scenario, spread
over the apply's whole length, checked against the sim cloud's own store.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from chaos_harness import full_apply_seconds, run_kill_point


@pytest.mark.parametrize("scenario", ["create", "change"])
def test_kill_anywhere_then_converge(tmp_path: Path, scenario: str) -> None:
    window = full_apply_seconds(tmp_path / "measure", scenario)
    rng = random.Random(2026)
    points = [rng.uniform(0.25, window) for _ in range(3)]
    outcomes = [
        run_kill_point(tmp_path / f"k{i}", scenario, at, fail_rate=0.15 if i == 2 else 0.0, seed=i)
        for i, at in enumerate(points)
    ]
    for o in outcomes:
        assert o.ok, o
    assert any(o.killed and o.recovered for o in outcomes)  # the kills did interrupt work
