"""Planner cases as data: each file in cases/ holds a stack applied first (`before`), edits to
the state and to the cloud behind nubes' back, the stack to plan, and the expected plan.

    before: <stack text>          # applied first (optional); before_vars: {...}
    state_edits: {addr: {tainted: true} | {attributes: {...}}}
    cloud_edits: {addr: deleted | {attr: value}}   # changes made in the sim cloud directly
    stack: <stack text>           # planned; vars: {...}; destroy: true
    expect:
      actions: {addr: action}     # every change of the plan, exactly
      reasons: {addr: substring}
      requires_replace: {addr: [attr]}
      drift: {addr: deleted | changed}
      outputs: {name: action}
      unknown: {addr: [attr]}     # planned values that must be unknown
      after: {addr: {attr: value}}  # planned values, exactly
      errors: [substring]         # the plan must fail with these diagnostics

Every plan that succeeds is then applied, and the next plan must have nothing to do: an apply
converges in one run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nubes.engine.apply import apply
from nubes.engine.lang.unknown import Unknown
from nubes.engine.state import LocalBackend
from nubes.providers.sim.cloud import SimCloud
from nubes.providers.sim.config import SimConfig
from nubes.providers.sim.driver import _store
from tests.helpers import drivers_for, load, make_plan, plan_and_apply, write

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _edit_cloud(state_dir: Path, stack_name: str, edits: dict[str, Any]) -> None:
    state = LocalBackend(state_dir, stack_name).read()
    assert state is not None
    store = _store(state_dir / "sim" / "cloud.sqlite")
    for text, edit in edits.items():
        rs = next(r for r in state.resources.values() if str(r.address) == text)
        if edit == "deleted":  # as a user would, in the cloud's console
            SimCloud(store, SimConfig()).delete(rs.type, rs.id)
            continue
        row = store.get(rs.id)
        assert row is not None
        for key, value in edit.items():
            if key == "tags":
                row.tags = {
                    **{k: v for k, v in row.tags.items() if k.startswith("nubes:")},
                    **value,
                }
            else:
                row.attrs[key] = value
        store.save(row)


def _edit_state(state_dir: Path, stack_name: str, edits: dict[str, Any]) -> None:
    backend = LocalBackend(state_dir, stack_name)
    state = backend.read()
    assert state is not None
    for text, edit in edits.items():
        rs = next(r for r in state.resources.values() if str(r.address) == text)
        rs.tainted = bool(edit.get("tainted", rs.tainted))
        rs.attributes.update(edit.get("attributes", {}))
    backend.write(state)


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_planner_case(case_file: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text())
    state_dir = tmp_path / "state"
    stack_file = tmp_path / "stack.yaml"
    if "before" in case:
        write(stack_file, case["before"])
        done = plan_and_apply(stack_file, state_dir, case.get("before_vars"))
        assert not done.failed, [d.summary for d in done.diags]
        name = done.state.stack
        if "state_edits" in case:
            _edit_state(state_dir, name, case["state_edits"])
        if "cloud_edits" in case:
            _edit_cloud(state_dir, name, case["cloud_edits"])
    write(stack_file, case["stack"])
    result, diags = make_plan(stack_file, state_dir, case.get("vars"), case.get("destroy", False))
    expect = case["expect"]
    if "errors" in expect:
        assert result is None
        summaries = [f"{d.summary} {d.detail}" for d in diags]
        for wanted in expect["errors"]:
            assert any(wanted in s for s in summaries), (wanted, summaries)
        assert all(d.where is not None for d in diags if d.severity == "error"), summaries
        return
    assert result is not None, [d.summary for d in diags]
    got = {c.key: str(c.action) for c in result.changes}
    assert got == expect["actions"]
    by_addr = {c.key: c for c in result.changes}
    for addr, text in expect.get("reasons", {}).items():
        assert text in by_addr[addr].reason
    for addr, attrs in expect.get("requires_replace", {}).items():
        assert sorted(by_addr[addr].requires_replace) == sorted(attrs)
    for addr, values in expect.get("after", {}).items():
        after = by_addr[addr].after
        assert after is not None
        for attr, value in values.items():
            assert after[attr] == value, (addr, attr, after[attr])
    for addr, attrs in expect.get("unknown", {}).items():
        after = by_addr[addr].after
        assert after is not None
        for attr in attrs:
            assert after[attr] is Unknown, (addr, attr, after[attr])
    if "drift" in expect:
        assert {str(d.addr): d.kind for d in result.drift} == expect["drift"]
    else:
        assert result.drift == []
    for name, action in expect.get("outputs", {}).items():
        assert str(result.outputs[name].action) == action
    # every plan converges in one apply: the next plan has nothing left to do
    stack, values = load(stack_file, case.get("vars"))
    drivers = drivers_for(stack, values, state_dir)
    done = apply(result, drivers, LocalBackend(state_dir, stack.name))
    assert not done.failed, [d.summary for d in done.diags]
    again, diags = make_plan(stack_file, state_dir, case.get("vars"), case.get("destroy", False))
    assert again is not None, [d.summary for d in diags]
    left = {c.key: str(c.action) for c in again.changes if str(c.action) != "no-op"}
    assert not again.has_changes and not again.drift, (left, again.drift, again.recovered)
