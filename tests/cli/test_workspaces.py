"""Backend blocks, --backend-config, workspaces and state push | pull through the CLI, on the
local folder (the other stores' CLI runs are in tests/backends/test_cli_backends.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nubes.cli.main import cli
from tests.helpers import write

STACK = """
nubes: 1
name: site
resources:
  files: {type: bucket, name: "site-${workspace}"}
outputs:
  bucket: ${files.name}
"""


def run(tmp: Path, *argv: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli, [*argv, "--state-dir", str(tmp / "state")], env=env, catch_exceptions=False
    )


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return write(tmp_path / "site.yaml", STACK)


def test_workspaces_keep_states_apart_and_name_things(tmp_path: Path, stack: Path) -> None:
    assert run(tmp_path, "apply", str(stack), "--auto-approve").exit_code == 0
    made = run(tmp_path, "workspace", "new", str(stack), "staging")
    assert made.exit_code == 0, made.output
    assert run(tmp_path, "workspace", "show", str(stack)).output.strip() == "staging"
    assert run(tmp_path, "apply", str(stack), "--auto-approve").exit_code == 0
    assert run(tmp_path, "output", str(stack), "bucket").output.strip() == "site-staging"
    listed = run(tmp_path, "workspace", "list", str(stack)).output.splitlines()
    assert listed == ["  default", "* staging"]
    # NUBES_WORKSPACE and --workspace choose without selecting
    got = run(tmp_path, "output", str(stack), "bucket", env={"NUBES_WORKSPACE": "default"})
    assert got.output.strip() == "site-default"
    got = run(tmp_path, "output", str(stack), "bucket", "--workspace", "default")
    assert got.output.strip() == "site-default"
    assert (tmp_path / "state" / "workspaces" / "staging" / "site.json").is_file()
    # both buckets exist in the one sim cloud: each workspace manages its own
    inv = run(tmp_path, "state", "list", str(stack), "--json", "--workspace", "default")
    ids = {json.loads(inv.output)[0]["id"]}
    inv = run(tmp_path, "state", "list", str(stack), "--json")
    ids.add(json.loads(inv.output)[0]["id"])
    assert len(ids) == 2


def test_a_workspace_in_use_or_managing_objects_is_not_deleted(tmp_path: Path, stack: Path) -> None:
    run(tmp_path, "workspace", "new", str(stack), "dev")
    run(tmp_path, "apply", str(stack), "--auto-approve")
    in_use = run(tmp_path, "workspace", "delete", str(stack), "dev")
    assert in_use.exit_code == 1 and "is the one in use" in in_use.output
    run(tmp_path, "workspace", "select", str(stack), "default")
    managing = run(tmp_path, "workspace", "delete", str(stack), "dev")
    assert managing.exit_code == 1 and "still manages 1 object" in managing.output
    assert (tmp_path / "state" / "workspaces" / "dev" / "site.json").is_file()
    assert (
        run(tmp_path, "destroy", str(stack), "--workspace", "dev", "--auto-approve").exit_code == 0
    )
    gone = run(tmp_path, "workspace", "delete", str(stack), "dev")
    assert gone.exit_code == 0, gone.output
    assert run(tmp_path, "workspace", "list", str(stack)).output.split() == ["*", "default"]
    default = run(tmp_path, "workspace", "delete", str(stack), "default")
    assert default.exit_code == 1 and "cannot be deleted" in default.output


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["plan", "--workspace", "nope"], {}, "workspace 'nope' does not exist"),
        (["plan"], {"NUBES_WORKSPACE": "ghost"}, "chosen by NUBES_WORKSPACE"),
        (["plan", "--workspace", "../x"], {}, "must be 1 to 63 lower-case"),
        (["workspace", "select", "STACK", "nope"], {}, "does not exist"),
        (["workspace", "new", "STACK", "Bad Name"], {}, "must be 1 to 63 lower-case"),
    ],
)
def test_bad_workspaces_are_clear_errors(
    tmp_path: Path, stack: Path, argv: list[str], env: dict[str, str], says: str
) -> None:
    argv = [a if a != "STACK" else str(stack) for a in argv]
    if "STACK" not in argv and str(stack) not in argv:
        argv.insert(1, str(stack))
    result = run(tmp_path, *argv, env=env)
    assert result.exit_code == 1
    assert says in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "state" / "site.json").exists()
    assert not (tmp_path / "state" / "workspaces").exists()


@pytest.mark.parametrize(
    ("block", "line", "col", "says"),
    [
        ("backend: {type: ftp}", 3, 17, "backend type must be one of local, s3, postgres"),
        ("backend: {type: s3}", 3, 10, "a s3 backend needs 'bucket'"),
        ("backend: {type: s3, bucket: b-1, secret_key: x}", 3, 34, "credentials never go"),
        ("backend: {type: postgres, dsn: 'postgres://u:p@h/d'}", 3, 27, "credentials never go"),
        ("backend: {type: s3, bucket: '${var.b}'}", 3, 29, "cannot hold an expression"),
        ("backend: {type: s3, bucket: b-1, buckets: x}", 3, 34, "unknown key 'buckets'"),
        ("backend: {type: s3, bucket: B_1}", 3, 29, "backend.bucket"),
        ("backend: {type: postgres, schema: 'x; drop'}", 3, 35, "lower-case SQL name"),
        ("backend: [s3]", 3, 10, "backend must be a mapping"),
    ],
)
def test_a_bad_backend_block_is_positioned(
    tmp_path: Path, block: str, line: int, col: int, says: str
) -> None:
    stack = write(tmp_path / "b.yaml", f"nubes: 1\nname: b\n{block}\n")
    result = run(tmp_path, "validate", str(stack))
    assert result.exit_code == 1
    assert f"b.yaml:{line}:{col}: error: " in result.output, result.output
    assert says in result.output
    assert "postgres://u:p" not in result.output  # a secret written there is never echoed
    assert "Traceback" not in result.output


def test_a_backend_config_file_wins_and_is_positioned(tmp_path: Path, stack: Path) -> None:
    write(tmp_path / "be.yaml", f"type: local\npath: {tmp_path / 'elsewhere'}\n")
    applied = run(
        tmp_path,
        "apply",
        str(stack),
        "--auto-approve",
        "--backend-config",
        str(tmp_path / "be.yaml"),
    )
    assert applied.exit_code == 0, applied.output
    assert (tmp_path / "elsewhere" / "site.json").is_file()
    assert not (tmp_path / "state" / "site.json").exists()
    bad = write(tmp_path / "bad.yaml", "type: s3\nbucket: ok-name\nregion: mars\n")
    result = run(tmp_path, "plan", str(stack), "--backend-config", str(bad))
    assert result.exit_code == 1
    assert "bad.yaml:3:9: error: backend.region" in result.output
    missing = run(tmp_path, "plan", str(stack), "--backend-config", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 1 and "no such backend config file" in missing.output


def test_state_pull_and_push_round_trip_and_refuse_what_would_lose(
    tmp_path: Path, stack: Path
) -> None:
    assert run(tmp_path, "apply", str(stack), "--auto-approve").exit_code == 0
    pulled = run(tmp_path, "state", "pull", str(stack))
    doc = json.loads(pulled.output)
    assert doc["stack"] == "site" and len(doc["resources"]) == 1
    saved = write(tmp_path / "pulled.json", pulled.output)
    run(tmp_path, "workspace", "new", str(stack), "copy")
    other = run(tmp_path, "state", "push", str(stack), str(saved))
    assert other.exit_code == 1 and "another state, not a version of this one" in other.output
    forced = run(tmp_path, "state", "push", str(stack), str(saved), "--force")
    assert forced.exit_code == 0, forced.output
    assert run(tmp_path, "state", "list", str(stack)).output.split() == ["files"]
    # an older version of the same lineage would lose what came after it
    older = {**doc, "serial": doc["serial"] - 1}
    write(tmp_path / "old.json", json.dumps(older))
    refused = run(tmp_path, "state", "push", str(stack), str(tmp_path / "old.json"))
    assert refused.exit_code == 1 and "pushing it would lose changes" in refused.output
    junk = write(tmp_path / "junk.json", "{not json")
    bad = run(tmp_path, "state", "push", str(stack), str(junk))
    assert bad.exit_code == 1 and "corrupt or truncated" in bad.output
    theirs = write(tmp_path / "theirs.json", json.dumps({**doc, "stack": "other"}))
    wrong = run(tmp_path, "state", "push", str(stack), str(theirs))
    assert wrong.exit_code == 1 and "not 'site'" in wrong.output


def test_no_excerpt_echoes_a_secret_written_in_the_stack(tmp_path: Path) -> None:
    """The class of the backend's credential keys: any diagnostic's quoted line masks values
    beside secret-named keys and passwords in URLs, with the caret where it was."""
    stack = write(
        tmp_path / "p.yaml",
        "nubes: 1\nname: p\nproviders: {p: {driver: nosuch, password: hunter2, "
        "url: 'postgres://me:pa55@db/x'}}\n",
    )
    result = run(tmp_path, "validate", str(stack))
    assert result.exit_code == 1
    assert "hunter2" not in result.output and "pa55" not in result.output
    assert "password: *******" in result.output and "me:****@db" in result.output
