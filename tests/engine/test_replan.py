"""Apply re-plans what the plan left unknown, as Terraform does: a value known only at apply is
checked by the driver before anything is sent, and must agree with the saved plan."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.helpers import make_plan, plan_and_apply, write

STACK = """
nubes: 1
name: replan
providers:
  home: {driver: sim}
resources:
  disk: {type: volume, size_gb: 1}
  web:
    type: instance
    image: ubuntu-24.04
    size: ${SIZE}
"""


def sim_instances(state_dir: Path) -> int:
    with sqlite3.connect(state_dir / "sim" / "cloud.sqlite") as db:
        return int(db.execute("select count(*) from objects where type = 'instance'").fetchone()[0])


def test_a_value_known_only_at_apply_is_checked_before_the_cloud_sees_it(tmp_path: Path) -> None:
    # the size comes from the volume's state ("available"), which no plan can know
    stack = write(tmp_path / "s.yaml", STACK.replace("${SIZE}", "${disk.state}"))
    planned, diags = make_plan(stack, tmp_path / "state")
    assert planned is not None, [d.summary for d in diags]
    result = plan_and_apply(stack, tmp_path / "state")
    messages = [d.summary for d in result.diags]
    assert any(
        "web: with the values known at apply, size: hardware profile 'available' does not exist"
        in m
        for m in messages
    ), messages
    assert sim_instances(tmp_path / "state") == 0  # nothing was sent


def test_a_known_value_replans_cleanly(tmp_path: Path) -> None:
    stack = write(tmp_path / "s.yaml", STACK.replace("${SIZE}", '${disk.id and "tiny"}'))
    result = plan_and_apply(stack, tmp_path / "state")
    assert not result.failed, [d.summary for d in result.diags]
    assert sim_instances(tmp_path / "state") == 1
    again, _ = make_plan(stack, tmp_path / "state")
    assert again is not None and not again.has_changes  # converged in one apply
