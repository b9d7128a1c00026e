"""Every CLI error path: exit code 1, a diagnostic, no traceback, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from tests.helpers import write

STACK = """
nubes: 1
name: errs
variables:
  n: {type: number, default: 1}
resources:
  b: {type: bucket, count: "${var.n}", name: "errs-${count.index}"}
  k: {type: key, name: errs-key}
"""


def setup_applied(tmp: Path) -> None:
    CliRunner().invoke(
        cli,
        ["apply", str(tmp / "s.yaml"), "--auto-approve", "--state-dir", str(tmp / "state")],
        catch_exceptions=False,
    )


def corrupt_state(tmp: Path) -> None:
    setup_applied(tmp)
    (tmp / "state" / "errs.json").write_text('{"format": 1, "serial": ')


def applied_without_key(tmp: Path) -> None:
    setup_applied(tmp)
    argv = ["state", "rm", str(tmp / "s.yaml"), "k", "--state-dir", str(tmp / "state")]
    assert CliRunner().invoke(cli, argv).exit_code == 0


def managed_twice(tmp: Path) -> None:
    setup_applied(tmp)
    path = tmp / "state" / "errs.json"
    doc = json.loads(path.read_text())
    twin = next(r for r in doc["resources"] if r["address"] == "b[0]")
    doc["resources"].append({**twin, "address": "b[1]"})
    path.write_text(json.dumps(doc))


def other_stack_applied(tmp: Path) -> None:
    write(
        tmp / "other.yaml", "nubes: 1\nname: other\nresources:\n  x: {type: bucket, name: theirs}\n"
    )
    CliRunner().invoke(
        cli,
        ["apply", str(tmp / "other.yaml"), "--auto-approve", "--state-dir", str(tmp / "state")],
        catch_exceptions=False,
    )


def imported_by_other(tmp: Path) -> None:
    """An object made outside any stack (through the API), imported by another stack."""
    write(tmp / "other.yaml", "nubes: 1\nname: other\nresources:\n  x: {type: bucket, name: x}\n")
    from nubes.providers.protocol import DriverContext, Ownership
    from nubes.providers.sim import SimDriver

    sim = SimDriver()
    sim.configure({}, DriverContext(tmp / "state", {}))
    sim.create("bucket", {"name": "theirs"}, Ownership("api", "theirs", "t-1"))
    argv = ["import", str(tmp / "other.yaml"), "x", "theirs", "--state-dir", str(tmp / "state")]
    assert CliRunner().invoke(cli, argv).exit_code == 0


def corrupt_plan(tmp: Path) -> None:
    (tmp / "p.plan").write_text('{"nubes_plan": 1, "stack": ')


def cycle_stack(tmp: Path) -> None:
    write(
        tmp / "s.yaml",
        """
        nubes: 1
        name: errs
        resources:
          a: {type: address, instance: "${b.id}"}
          b: {type: instance, image: debian-12, size: tiny, depends_on: [a]}
    """,
    )


CASES: list[tuple[str, Callable[[Path], None] | None, list[str], str]] = [
    ("missing stack", None, ["plan", "{tmp}/nope.yaml"], "no stack file at"),
    ("stack is a folder", None, ["plan", "{tmp}"], "is a directory"),
    ("unknown option", None, ["plan", "{tmp}/s.yaml", "--frobnicate"], "No such option"),
    (
        "bad parallelism",
        None,
        ["apply", "{tmp}/s.yaml", "--parallelism", "0"],
        "Invalid value for '--parallelism'",
    ),
    ("corrupt state", corrupt_state, ["plan", "{tmp}/s.yaml"], "corrupt or truncated"),
    ("corrupt plan file", corrupt_plan, ["apply", "{tmp}/p.plan"], "cannot read plan file"),
    ("cycle", cycle_stack, ["graph", "{tmp}/s.yaml"], "dependency cycle: "),
    ("not locked", None, ["force-unlock", "{tmp}/s.yaml", "L-1"], "the state is not locked"),
    ("unlock without id", None, ["force-unlock", "{tmp}/s.yaml"], "Missing argument 'LOCK_ID'"),
    ("rm unknown", setup_applied, ["state", "rm", "{tmp}/s.yaml", "b[7]"], "not in state: b[7]"),
    (
        "bad address",
        setup_applied,
        ["state", "show", "{tmp}/s.yaml", "b[x"],
        "is not a resource address",
    ),
    ("show missing", setup_applied, ["state", "show", "{tmp}/s.yaml", "c"], "c is not in state"),
    ("mv missing", setup_applied, ["state", "mv", "{tmp}/s.yaml", "c", "d"], "c is not in state"),
    (
        "import shape",
        None,
        ["import", "{tmp}/s.yaml", "b", "errs-0"],
        "does not match how b is declared",
    ),
    (
        "import unknown resource",
        None,
        ["import", "{tmp}/s.yaml", "zzz", "x"],
        "the stack has no resource 'zzz'",
    ),
    (
        "import twice",
        setup_applied,
        ["import", "{tmp}/s.yaml", "b[0]", "errs-0"],
        "already in state",
    ),
    (
        "import managed elsewhere",
        setup_applied,
        ["import", "{tmp}/s.yaml", "b[1]", "errs-0", "--var", "n=2"],
        "bucket errs-0 is already managed as b[0]",
    ),
    (
        "destroy of one object at two addresses",
        managed_twice,
        ["destroy", "{tmp}/s.yaml", "--auto-approve"],
        "state manages bucket errs-0 twice, as b[0] and b[1]",
    ),
    (
        "import of another stack's object",
        other_stack_applied,
        ["import", "{tmp}/s.yaml", "b[0]", "theirs"],
        "belongs to stack 'other'",
    ),
    (
        "import of an object another stack imported",
        lambda tmp: imported_by_other(tmp),
        ["import", "{tmp}/s.yaml", "b[0]", "theirs"],
        "belongs to stack 'other'",
    ),
    (
        "mv onto another type",
        applied_without_key,
        ["state", "mv", "{tmp}/s.yaml", "b[0]", "k"],
        "k is a key, not a bucket",
    ),
    (
        "mv to an undeclared resource",
        setup_applied,
        ["state", "mv", "{tmp}/s.yaml", "b[0]", "zzz[0]"],
        "the stack has no resource 'zzz'",
    ),
    (
        "mv to the wrong shape",
        setup_applied,
        ["state", "mv", "{tmp}/s.yaml", "b[0]", 'b["x"]'],
        "does not match how b is declared",
    ),
    (
        "state list of nothing",
        None,
        ["state", "show", "{tmp}/s.yaml", "b[0]"],
        "nothing applied yet",
    ),
]


@pytest.mark.parametrize(("name", "prepare", "args", "wanted"), CASES, ids=[c[0] for c in CASES])
def test_cli_error(
    tmp_path: Path, name: str, prepare: Callable[[Path], None] | None, args: list[str], wanted: str
) -> None:
    write(tmp_path / "s.yaml", STACK)
    if prepare is not None:
        prepare(tmp_path)
    state_file = tmp_path / "state" / "errs.json"
    before = state_file.read_bytes() if state_file.exists() else None
    argv = [a.format(tmp=tmp_path) for a in args] + ["--state-dir", str(tmp_path / "state")]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert wanted in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.output
    after = state_file.read_bytes() if state_file.exists() else None
    assert after == before


def test_saved_plan_refuses_new_variables(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", STACK)
    state = ["--state-dir", str(tmp_path / "state")]
    plan_file = str(tmp_path / "p.plan")
    CliRunner().invoke(cli, ["plan", str(tmp_path / "s.yaml"), "--out", plan_file, *state])
    result = CliRunner().invoke(cli, ["apply", plan_file, "--var", "n=3", *state])
    assert result.exit_code == 1 and "a saved plan already holds its variables" in result.stderr
    assert not (tmp_path / "state" / "errs.json").exists()


def test_an_index_past_count_is_said_once(tmp_path: Path) -> None:
    write(
        tmp_path / "s.yaml",
        """
nubes: 1
name: past
resources:
  web: {type: instance, count: 2, image: debian-12, size: small}
  ip: {type: address, instance: "${web[5].id}"}
""",
    )
    for command in ("validate", "plan"):
        result = CliRunner().invoke(
            cli, [command, str(tmp_path / "s.yaml"), "--state-dir", str(tmp_path / "state")]
        )
        assert result.exit_code == 1
        assert result.output.count("error:") == 1, result.output
        assert "web[5].id refers to an instance that does not exist" in result.output
