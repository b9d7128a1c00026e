"""Transient faults, failed boots and timeouts: retried, or recorded as tainted, never lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from nubes.engine.apply import apply
from nubes.engine.plan import plan
from nubes.engine.state import LocalBackend
from nubes.providers.errors import QuotaError
from nubes.providers.protocol import STACK_TAG, DriverContext, Ownership
from nubes.providers.sim import SimDriver
from tests.helpers import drivers_for, load, make_plan, plan_and_apply, write


def test_fifty_resources_converge_in_one_run_at_fail_rate_0_3(tmp_path: Path) -> None:
    stack_file = write(
        tmp_path / "s.yaml",
        """
        nubes: 1
        name: flaky
        providers:
          home: {driver: sim, fail_rate: 0.3, seed: 42}
        resources:
          b: {type: bucket, count: 20, name: "flaky-${count.index}"}
          k: {type: key, count: 10, name: "flaky-${count.index}"}
          fw: {type: firewall, count: 10, name: "flaky-${count.index}"}
          vm:
            type: instance
            count: 10
            image: alpine-3.20
            size: tiny
            key: ${k[count.index].name}
            firewalls: ["${fw[count.index].id}"]
    """,
    )
    stack, values = load(stack_file)
    drivers = drivers_for(stack, values, tmp_path / "state")
    backend = LocalBackend(tmp_path / "state", "flaky")
    result, _ = plan(stack, values, None, drivers)
    assert result is not None
    done = apply(result, drivers, backend)
    assert not done.failed, [d.summary for d in done.diags]
    assert len(done.state.resources) == 50
    sim = drivers["home"]
    assert sim.faults > 10  # type: ignore[attr-defined]
    counts = {
        t: len(sim.list(t, {STACK_TAG: "flaky"})) for t in ("bucket", "key", "firewall", "instance")
    }
    assert counts == {"bucket": 20, "key": 10, "firewall": 10, "instance": 10}  # no duplicates


def test_lost_responses_never_duplicate(tmp_path: Path) -> None:
    sim = SimDriver()
    sim.configure({"fail_rate": 0.6, "seed": 3, "max_retries": 30}, DriverContext(tmp_path, {}))
    made = {
        sim.create("bucket", {"name": f"bucket-{i}"}, Ownership("s", f"b{i}", f"t{i}")).id
        for i in range(20)
    }
    assert len(made) == 20 and sim.faults > 10
    assert len(sim.list("bucket", {})) == 20
    again = sim.create("bucket", {"name": "bucket-0"}, Ownership("s", "b0", "t0"))
    assert again.id == "bucket-0"  # the same token is the same object, as with EC2's ClientToken


def test_refusals_are_not_retried(tmp_path: Path) -> None:
    sim = SimDriver()
    sim.configure({"max_instances": 0}, DriverContext(tmp_path, {}))
    before = sim.calls
    with pytest.raises(QuotaError, match="instance quota of 0 reached"):
        sim.create("instance", {"image": "alpine-3.20", "size": "tiny"}, Ownership("s", "a", "t"))
    assert sim.calls - before == 1


@pytest.mark.parametrize(
    ("settings", "lifecycle", "wanted"),
    [
        ("boot_fail_rate: 0.99, seed: 1", "", "failed to boot"),
        ("boot_seconds: 5", "timeouts: {create: 0.3}", "did not reach running in time"),
    ],
)
def test_an_object_that_never_works_is_tainted_then_replaced(
    tmp_path: Path, settings: str, lifecycle: str, wanted: str
) -> None:
    stack_file = write(
        tmp_path / "s.yaml",
        f"""
        nubes: 1
        name: sick
        providers:
          home: {{driver: sim, {settings}}}
        resources:
          vm:
            type: instance
            image: alpine-3.20
            size: tiny
            {lifecycle}
          ip: {{type: address, instance: "${{vm.id}}"}}
    """,
    )
    done = plan_and_apply(stack_file, tmp_path / "state")
    assert [op.label for op in done.failed] == ["vm"]
    assert [op.label for op in done.skipped] == ["ip"]
    assert any(wanted in d.summary for d in done.diags), [d.summary for d in done.diags]
    vm = next(iter(done.state.resources.values()))
    assert vm.tainted and vm.id.startswith("i-")
    again, _ = make_plan(stack_file, tmp_path / "state")
    assert again is not None
    change = next(c for c in again.changes if str(c.addr) == "vm")
    assert str(change.action) == "delete-create" and "tainted" in change.reason
