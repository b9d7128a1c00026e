"""Refresh lists each type once, keeps the saved state as it was, and copies only what the cloud
changed; a state read from disk holds each repeated short string once."""

from __future__ import annotations

import json
from pathlib import Path

from nubes.engine.addrs import InstanceAddr
from nubes.engine.drivers import Drivers
from nubes.engine.plan.refresh import refresh
from nubes.engine.state import ResourceState, State
from nubes.providers.protocol import DriverContext, Ownership
from nubes.providers.sim import SimDriver


def _seeded(tmp_path: Path, n: int) -> tuple[SimDriver, State]:
    sim = SimDriver()
    sim.configure({}, DriverContext(tmp_path, {}))
    state = State("s")
    for i in range(n):
        obj = sim.create("bucket", {"name": f"b-{i}"}, Ownership("s", f"b{i}", f"b{i}"))
        addr = InstanceAddr(f"b{i}")
        state.resources[addr] = ResourceState(
            addr, "bucket", "home", obj.id, dict(obj.attributes), []
        )
    return sim, state


def test_drift_is_taken_into_a_copy_and_the_rest_is_shared(tmp_path: Path) -> None:
    sim, state = _seeded(tmp_path, 3)
    changed = state.resources[InstanceAddr("b1")]
    sim.update(
        "bucket", changed.id, changed.attributes, {**changed.attributes, "tags": {"env": "x"}}
    )
    gone = state.resources[InstanceAddr("b2")]
    sim.delete("bucket", gone.id)
    saved = json.dumps(state.to_json(), sort_keys=True)

    fresh, drift, diags = refresh(state, Drivers({"home": sim}))

    assert not diags.has_errors
    assert json.dumps(state.to_json(), sort_keys=True) == saved  # the saved state is untouched
    assert {(str(d.addr), d.kind) for d in drift} == {("b1", "changed"), ("b2", "deleted")}
    assert fresh.resources[InstanceAddr("b1")].attributes["tags"] == {"env": "x"}
    assert fresh.resources[InstanceAddr("b1")] is not changed
    assert InstanceAddr("b2") not in fresh.resources
    assert fresh.resources[InstanceAddr("b0")] is state.resources[InstanceAddr("b0")]


def test_one_list_call_per_type(tmp_path: Path) -> None:
    sim, state = _seeded(tmp_path, 20)
    before = sim.calls  # type: ignore[attr-defined]
    _, drift, _ = refresh(state, Drivers({"home": sim}))
    assert drift == [] and sim.calls - before == 1  # type: ignore[attr-defined]


def test_a_read_state_holds_repeated_strings_once() -> None:
    doc = State("s")
    for i in range(2):
        addr = InstanceAddr(f"web{i}")
        attrs = {"size": "small", "tags": {"role": "web"}, "ids": ["sg-" + "1"]}
        doc.resources[addr] = ResourceState(addr, "instance", "home", f"i-{i}", attrs, [])
    read = State.from_json(json.loads(json.dumps(doc.to_json())))
    a, b = (read.resources[InstanceAddr(f"web{i}")] for i in range(2))
    assert a.attributes == b.attributes == doc.resources[InstanceAddr("web0")].attributes
    assert a.attributes["size"] is b.attributes["size"]
    assert a.attributes["tags"]["role"] is b.attributes["tags"]["role"]
    assert a.attributes["ids"][0] is b.attributes["ids"][0]
    assert a.type is b.type
