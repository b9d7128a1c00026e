"""The CLI in-process: output, exit codes, and that bad input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from nubes.cli import main as cli_main
from nubes.cli import run_cmds
from nubes.cli.main import cli
from nubes.engine import operations
from tests.helpers import write

STACK = """
nubes: 1
name: web
variables:
  replicas: {type: number, default: 2}
  image: {type: string, default: ubuntu-24.04}
  secret: {type: string, default: s3cr3t-value, sensitive: true}
resources:
  deploy:
    type: key
    name: web-deploy
  web:
    type: instance
    count: ${var.replicas}
    image: ${var.image}
    size: small
    key: ${deploy.name}
    user_data: "password=${var.secret}"
outputs:
  ips: ${web | map(attribute="private_ip") | list}
  secret:
    value: ${var.secret}
    sensitive: true
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    stack = write(tmp_path / "web.yaml", STACK)
    return {"stack": str(stack), "state": str(tmp_path / "state"), "dir": tmp_path}


def run(env: dict[str, Any], *args: str, input: str | None = None) -> Result:
    runner = CliRunner()
    argv = [*args, "--state-dir", env["state"]]
    return runner.invoke(cli, argv, input=input, catch_exceptions=False)


def sim_objects(env: dict[str, Any]) -> list[str]:
    import sqlite3

    db = Path(env["state"]) / "sim" / "cloud.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return sorted(r[0] for r in conn.execute("SELECT type FROM objects"))


def test_help_is_complete() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    for command in [
        "validate",
        "plan",
        "apply",
        "destroy",
        "show",
        "output",
        "graph",
        "state",
        "import",
        "history",
        "force-unlock",
    ]:
        assert command in top.output
        sub = runner.invoke(cli, [command, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output
    for command in ["list", "show", "rm", "mv"]:
        assert runner.invoke(cli, ["state", command, "--help"]).exit_code == 0


def test_validate(env: dict[str, Any]) -> None:
    good = run(env, "validate", env["stack"])
    assert good.exit_code == 0 and "The stack is valid" in good.output
    bad = write(
        env["dir"] / "bad.yaml",
        "nubes: 1\nname: web\nresources:\n  w:\n    type: instance\n    imag: x\n",
    )
    result = run(env, "validate", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:6:5: error: instance has no attribute 'imag'" in result.stderr
    assert "    6 |     imag: x" in result.stderr and "^" in result.stderr
    assert "did you mean 'image'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_apply_change_destroy(env: dict[str, Any]) -> None:
    plan = run(env, "plan", env["stack"], "--detailed-exitcode")
    assert plan.exit_code == 2
    assert '+ instance "web[0]"' in plan.output
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in plan.output
    assert "s3cr3t-value" not in plan.output and "(sensitive)" in plan.output

    refused = run(env, "apply", env["stack"])
    assert refused.exit_code == 1 and "needs a terminal" in refused.stderr
    assert sim_objects(env) == []  # refused means nothing was changed

    applied = run(env, "apply", env["stack"], "--auto-approve")
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in applied.output
    assert "web[1]: Created after" in applied.output
    assert sim_objects(env) == ["instance", "instance", "key"]

    again = run(env, "plan", env["stack"], "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes." in again.output

    changed = run(env, "plan", env["stack"], "--var", "image=debian-12", "--var", "replicas=1")
    assert "# web[0] must be replaced" in changed.output
    assert (
        '~ image            = "img-ubuntu-2404" -> "img-debian-12"  # debian-12, forces replacement'
        in changed.output
    )
    assert "# web[1] will be destroyed" in changed.output
    assert "Plan: 1 to add, 0 to change, 2 to destroy." in changed.output

    destroyed = run(env, "destroy", env["stack"], "--auto-approve")
    assert destroyed.exit_code == 0
    assert "Destroy complete! Resources: 0 added, 0 changed, 3 destroyed." in destroyed.output
    assert sim_objects(env) == []
    assert run(env, "state", "list", env["stack"]).output == ""


def test_plan_json(env: dict[str, Any]) -> None:
    result = run(env, "plan", env["stack"], "--json")
    doc = json.loads(result.output)
    assert doc["format_version"] == 1
    changes = {c["address"]: c for c in doc["resource_changes"]}
    assert {a: c["action"] for a, c in changes.items()} == {
        "deploy": "create",
        "web[0]": "create",
        "web[1]": "create",
    }
    web = changes["web[0]"]
    assert set(web) >= {
        "address",
        "type",
        "provider",
        "action",
        "before",
        "after",
        "after_unknown",
        "reason",
    }
    assert web["after"]["user_data"] == "(sensitive)"
    assert web["after_unknown"]["id"] is True and web["after"]["id"] is None
    assert doc["output_changes"]["secret"]["after"] == "(sensitive)"
    assert doc["drift"] == []


def test_saved_plan_and_staleness(env: dict[str, Any]) -> None:
    plan_file = str(env["dir"] / "p.plan")
    assert run(env, "plan", env["stack"], "--out", plan_file).exit_code == 0
    assert Path(plan_file).stat().st_mode & 0o777 == 0o600
    shown = run(env, "show", plan_file)
    assert "Plan: 3 to add" in shown.output
    applied = run(env, "apply", plan_file)
    assert applied.exit_code == 0 and "3 added" in applied.output
    stale = run(env, "apply", plan_file)
    assert stale.exit_code == 1 and "the saved plan is stale: the state changed" in stale.stderr

    run(env, "plan", env["stack"], "--var", "replicas=3", "--out", plan_file)
    Path(env["stack"]).write_text(STACK.replace("size: small", "size: medium"))
    edited = run(env, "apply", plan_file)
    assert edited.exit_code == 1 and "changed since it was made" in edited.stderr
    assert sim_objects(env).count("instance") == 2


def test_reading_commands(env: dict[str, Any]) -> None:
    run(env, "apply", env["stack"], "--auto-approve")
    listed = run(env, "state", "list", env["stack"])
    assert listed.output.split() == ["deploy", "web[0]", "web[1]"]
    shown = run(env, "state", "show", env["stack"], "web[0]")
    assert 'instance "web[0]"' in shown.output and "(sensitive)" in shown.output
    as_json = json.loads(run(env, "show", env["stack"], "--json").output)
    assert "s3cr3t" not in json.dumps(as_json)
    outputs = run(env, "output", env["stack"])
    assert "secret = (sensitive)" in outputs.output
    assert json.loads(run(env, "output", env["stack"], "ips", "--json").output)[0].startswith("10.")
    assert json.loads(run(env, "output", env["stack"], "secret", "--json").output) == "s3cr3t-value"
    missing = run(env, "output", env["stack"], "nope")
    assert missing.exit_code == 1 and "no output named 'nope'" in missing.stderr
    dot = run(env, "graph", env["stack"]).output
    assert dot.startswith('digraph "web"') and '"web[0]" -> "deploy";' in dot
    history = run(env, "history", env["stack"])
    assert "3 added, 0 changed, 0 destroyed" in history.output
    entries = json.loads(run(env, "history", env["stack"], "--json").output)
    assert Path(entries[0]["stack_copy"]).read_text() == Path(env["stack"]).read_text()


def test_state_mv_rm_and_import(env: dict[str, Any]) -> None:
    run(env, "apply", env["stack"], "--auto-approve")
    state = json.loads(run(env, "show", env["stack"], "--json").output)
    web1 = next(r["id"] for r in state["resources"] if r["address"] == "web[1]")
    removed = run(env, "state", "rm", env["stack"], "web[1]")
    assert removed.exit_code == 0 and f"Removed web[1] (instance {web1})" in removed.output
    assert "web[1]" not in run(env, "state", "list", env["stack"]).output
    imported = run(env, "import", env["stack"], "web[1]", web1)
    assert imported.exit_code == 0, imported.stderr
    plan = run(env, "plan", env["stack"], "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # the imported object matches the stack
    bad = run(env, "import", env["stack"], "web[2]", "i-doesnotexist")
    assert bad.exit_code == 1 and "has no instance with id 'i-doesnotexist'" in bad.stderr
    moved = run(env, "state", "mv", env["stack"], "web[1]", "web[5]")
    assert moved.exit_code == 0
    assert run(env, "state", "list", env["stack"]).output.split() == ["deploy", "web[0]", "web[5]"]
    clash = run(env, "state", "mv", env["stack"], "web[0]", "web[5]")
    assert clash.exit_code == 1 and "already in state" in clash.stderr


def test_apply_json_events(env: dict[str, Any]) -> None:
    result = run(env, "apply", env["stack"], "--auto-approve", "--json")
    events = [json.loads(line) for line in result.output.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "planned" and kinds[-2:] == ["change_summary", "outputs"]
    assert kinds.count("apply_start") == 3 and kinds.count("apply_complete") == 3
    assert events[-1]["outputs"]["secret"]["value"] == "(sensitive)"
    assert "s3cr3t-value" not in result.output


def test_prompt_on_a_terminal(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_cmds, "stdin_is_tty", lambda: True)
    no = run(env, "apply", env["stack"], input="no\n")
    assert no.exit_code == 1 and "cancelled" in no.stderr and sim_objects(env) == []
    yes = run(env, "apply", env["stack"], input="yes\n")
    assert yes.exit_code == 0 and "Apply complete!" in yes.output


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["--var", "replicas=many"], "'many' is not a number"),
        (["--var", "nothing=1"], "this stack has no variable 'nothing'"),
        (["--var", "novalue"], "must be written NAME=VALUE"),
    ],
)
def test_bad_variables_change_nothing(env: dict[str, Any], args: list[str], wanted: str) -> None:
    result = run(env, "apply", env["stack"], "--auto-approve", *args)
    assert result.exit_code == 1 and wanted in result.stderr
    assert "Traceback" not in result.stderr
    assert not (Path(env["state"]) / "web.json").exists() and sim_objects(env) == []


def test_failures_skip_dependents_and_exit_1(env: dict[str, Any]) -> None:
    quota = write(
        env["dir"] / "q.yaml",
        """
        nubes: 1
        name: q
        providers:
          home: {driver: sim, max_instances: 1}
        resources:
          a: {type: instance, image: ubuntu-24.04, size: small}
          b: {type: instance, image: ubuntu-24.04, size: small, depends_on: [a]}
          ip: {type: address, instance: "${b.id}"}
          bucket: {type: bucket, name: q-bucket}
    """,
    )
    result = run(env, "apply", str(quota), "--auto-approve")
    assert result.exit_code == 1
    assert "InstanceLimitExceeded: instance quota of 1 reached" in result.stderr
    assert "Apply failed. 2 added, 0 changed, 0 destroyed; 1 failed, 1 skipped" in result.output
    assert "skipped: ip (create)" in result.output
    listed = run(env, "state", "list", str(quota)).output.split()
    assert listed == ["a", "bucket"]


def test_internal_errors_have_no_traceback(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("something impossible")

    monkeypatch.setattr(operations, "plan_from_backend", broken)
    monkeypatch.setattr("sys.argv", ["nubes", "plan", env["stack"], "--state-dir", env["state"]])
    monkeypatch.delenv("NUBES_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: something impossible" in err
    assert "Traceback" not in err
    monkeypatch.setenv("NUBES_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli_main.main()
