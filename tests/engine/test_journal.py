"""The intent journal and what the next run does with an interrupted apply's leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.engine.state import LocalBackend, StateError
from nubes.engine.state.journal import Journal
from nubes.providers.protocol import DriverContext, Ownership
from nubes.providers.sim import SimDriver
from tests.helpers import make_plan, plan_and_apply, write

STACK = """
nubes: 1
name: j
resources:
  b: {type: bucket, count: 3, name: "j-${count.index}"}
"""


def test_journal_folds_records_and_ignores_a_torn_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "x.journal")
    journal.will_create("a", "home", "bucket", "t1", ["k"], [])
    journal.created("t1", "id-1")
    journal.will_create("b", "home", "bucket", "t2", [], [])
    journal.will_delete("c", "home", "key", "id-3")
    journal.settled("create:t1")
    with (tmp_path / "x.journal").open("a") as f:
        f.write('{"intent": "create", "address": "d", "pro')  # the process died here
    intents = journal.intents()
    assert [(i.kind, i.address, i.id) for i in intents] == [
        ("create", "b", None),
        ("delete", "c", "id-3"),
    ]
    journal.clear()
    assert journal.intents() == []


def test_a_record_after_a_torn_line_is_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    Journal(path).will_create("a", "home", "bucket", "t1", [], [])
    with path.open("a") as f:
        f.write('{"created": "t1", "id": "i-')  # a full disk cut this line short
    Journal(path).will_create("b", "home", "bucket", "t2", [], [])  # the next run, disk freed
    assert [(i.address, i.token) for i in Journal(path).intents()] == [("a", "t1"), ("b", "t2")]


def test_a_damaged_journal_record_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    path.write_text('{"intent": "create", "address": 7}\n')
    with pytest.raises(StateError, match=r"line 1 is not a nubes journal record"):
        Journal(path).intents()


def interrupted(tmp_path: Path) -> tuple[Path, Path]:
    """Apply b[0] only, then leave the journal as a run killed while creating b[1], b[2] and
    deleting an object would: b[1] reached the cloud, b[2] did not."""
    stack_file = write(tmp_path / "s.yaml", STACK.replace("count: 3", "count: 1"))
    state_dir = tmp_path / "state"
    plan_and_apply(stack_file, state_dir)
    write(stack_file, STACK)
    sim = SimDriver()
    sim.configure({}, DriverContext(state_dir, {}))
    journal = LocalBackend(state_dir, "j").journal
    journal.will_create("b[1]", "sim", "bucket", "tok-1", [], [])
    sim.create("bucket", {"name": "j-1"}, Ownership("j", "b[1]", "tok-1"))
    journal.will_create("b[2]", "sim", "bucket", "tok-2", [], [])
    journal.will_delete("old", "sim", "bucket", "j-gone")
    return stack_file, state_dir


def test_plan_shows_and_apply_records_what_was_left(tmp_path: Path) -> None:
    stack_file, state_dir = interrupted(tmp_path)
    result, _ = make_plan(stack_file, state_dir)
    assert result is not None
    outcomes = {(n.address, n.outcome) for n in result.recovered}
    assert outcomes == {("b[1]", "adopted"), ("b[2]", "dropped"), ("old", "deleted")}
    assert {str(c.addr): str(c.action) for c in result.changes} == {
        "b[0]": "no-op",
        "b[1]": "no-op",
        "b[2]": "create",
    }  # adopted, not created twice
    runner = CliRunner()
    shown = runner.invoke(cli, ["plan", str(stack_file), "--state-dir", str(state_dir)])
    assert "Finishing an interrupted apply" in shown.output
    assert "# b[1]: bucket j-1 was created by an interrupted apply; it is adopted" in shown.output
    applied = runner.invoke(
        cli, ["apply", str(stack_file), "--auto-approve", "--state-dir", str(state_dir)]
    )
    assert applied.exit_code == 0, applied.stderr
    assert "1 added" in applied.output
    assert LocalBackend(state_dir, "j").journal.intents() == []
    assert not (state_dir / "j.journal").exists()
    state = LocalBackend(state_dir, "j").read()
    assert state is not None and sorted(r.id for r in state.resources.values()) == [
        "j-0",
        "j-1",
        "j-2",
    ]


def test_plan_alone_changes_nothing(tmp_path: Path) -> None:
    stack_file, state_dir = interrupted(tmp_path)
    before = (state_dir / "j.json").read_bytes(), (state_dir / "j.journal").read_bytes()
    make_plan(stack_file, state_dir)
    assert ((state_dir / "j.json").read_bytes(), (state_dir / "j.journal").read_bytes()) == before
