"""One schema of apply events for every view: the CLI's --json lines and the server's jobs."""

from __future__ import annotations

from nubes.engine.addrs import InstanceAddr
from nubes.engine.apply import EventHooks, Op, OpKind
from nubes.engine.plan.model import Action, Change


def test_every_operation_event_names_its_address_action_and_time() -> None:
    events: list[dict[str, object]] = []
    hooks = EventHooks(events.append)
    change = Change(InstanceAddr("web", 0), "instance", "home", Action.CREATE, None, {})
    op = Op(OpKind.CREATE, change)
    hooks.started(op)
    hooks.finished(op, 1.23456, "i-1")
    hooks.failed(op, 0.5, "quota")
    hooks.skipped(op, "db failed")
    assert [e["type"] for e in events] == [
        "apply_start",
        "apply_complete",
        "apply_errored",
        "apply_skipped",
    ]
    assert all(e["address"] == "web[0]" and e["action"] == "create" for e in events)
    assert all(isinstance(e["time"], str) and str(e["time"]).endswith("Z") for e in events)
    assert events[1]["elapsed_seconds"] == 1.235 and events[1]["id"] == "i-1"
    # errors carry their duration too: the server's copy once left it out
    assert events[2]["elapsed_seconds"] == 0.5 and events[2]["message"] == "quota"
    assert events[3]["reason"] == "db failed"
