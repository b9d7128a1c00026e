from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.providers.protocol import DriverContext, Ownership
from nubes.providers.sim import SimDriver
from tests.helpers import write


def test_inventory_marks_managed_orphan_and_missing(tmp_path: Path) -> None:
    stack = str(
        write(
            tmp_path / "s.yaml",
            """
        nubes: 1
        name: inv
        resources:
          a: {type: bucket, name: inv-a}
          b: {type: bucket, name: inv-b}
    """,
        )
    )
    state = ["--state-dir", str(tmp_path / "state")]
    runner = CliRunner()
    assert runner.invoke(cli, ["apply", stack, "--auto-approve", *state]).exit_code == 0
    sim = SimDriver()
    sim.configure({}, DriverContext(tmp_path / "state", {}))
    sim.create("bucket", {"name": "inv-stray"}, Ownership("inv", "c", "tok"))  # tagged, unknown
    sim.create("bucket", {"name": "someone-else"}, Ownership("other", "x", "t2"))
    sim.delete("bucket", "inv-b")  # gone behind nubes' back
    result = runner.invoke(cli, ["inventory", stack, "--json", *state])
    assert result.exit_code == 0, result.stderr
    rows = {(r["status"], r["address"], r["id"]) for r in json.loads(result.output)}
    assert rows == {
        ("managed", "a", "inv-a"),
        ("orphan", "c", "inv-stray"),
        ("missing", "b", "inv-b"),
    }
    text = runner.invoke(cli, ["inventory", stack, *state]).output
    assert "1 managed, 1 orphan, 1 missing." in text
