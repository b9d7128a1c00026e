"""Apply re-plans what the plan left unknown, as Terraform does: a value known only at apply is
checked by the driver before anything is sent, and must agree with the saved plan."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nubes.engine.addrs import InstanceAddr
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


def test_an_output_never_names_an_object_the_failed_apply_destroyed(tmp_path: Path) -> None:
    base = """
nubes: 1
name: outs
providers:
  home: {driver: sim}
resources:
  web: {type: instance, image: IMAGE, size: tiny}
  disk: {type: volume, size_gb: 1REALM}
outputs:
  vol: ${disk.id}
  web: ${web.id}
"""
    stack = write(tmp_path / "s.yaml", base.replace("REALM", "").replace("IMAGE", "ubuntu-24.04"))
    first = plan_and_apply(stack, tmp_path / "state")
    assert not first.failed, [d.summary for d in first.diags]
    old = first.state.outputs["vol"].value
    # the new volume's realm is the replaced instance's state, known only at apply, and no
    # realm: the old volume is destroyed first, then its replacement's create fails
    changed = base.replace("REALM", ', realm: "${web.state}"').replace("IMAGE", "debian-12")
    write(tmp_path / "s.yaml", changed)
    second = plan_and_apply(stack, tmp_path / "state")
    assert second.failed
    assert all(rs.id != old for rs in second.state.resources.values())  # it is gone
    assert "vol" not in second.state.outputs  # not the destroyed volume's id
    web = second.state.resources[InstanceAddr("web")].id
    assert second.state.outputs["web"].value == web != first.state.outputs["web"].value


def test_outputs_after_a_failed_apply_read_lookups_and_count_as_the_stack_now_is(
    tmp_path: Path,
) -> None:
    """A resource that became `count` (its old address still in state) and a lookup the output
    reads: the output is worked out from what exists, never an internal error."""
    first = """
nubes: 1
name: later
resources:
  img: {type: image, lookup: {id: img-debian-12}}
  web: {type: instance, image: "${img.id}", size: tiny, lifecycle: {create_before_destroy: true}}
  solo: {type: instance, image: debian-12, size: tiny}
outputs:
  web: "${web.id} on ${img.name}"
"""
    stack = write(tmp_path / "s.yaml", first)
    done = plan_and_apply(stack, tmp_path / "state")
    assert not done.failed, [d.summary for d in done.diags]
    kept = done.state.outputs["web"].value
    # web's replacement fails (its realm is the new helper's state); solo becomes count: 1
    second = (
        first.replace(
            "size: tiny, lifecycle", 'size: tiny, realm: "${helper.state}", lifecycle'
        ).replace(
            "  solo: {type: instance, image: debian-12, size: tiny}",
            "  helper: {type: instance, image: debian-12, size: tiny}\n"
            "  solo: {type: instance, count: 1, image: debian-12, size: tiny, "
            'realm: "${helper.state}"}',
        )
        + "  solos: \"${solo | map(attribute='id') | list}\"\n"
    )
    write(tmp_path / "s.yaml", second)
    again = plan_and_apply(stack, tmp_path / "state")
    assert again.failed
    messages = [d.summary for d in again.diags]
    assert not any("internal error" in m or "AssertionError" in m for m in messages), messages
    assert again.state.outputs["web"].value == kept  # the old web is still there, and img
    assert "solos" not in again.state.outputs  # solo[0] was never made
