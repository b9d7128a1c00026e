"""`nubes` as a user runs it with the state in S3 (moto) or PostgreSQL: apply, a SIGKILLed apply
that the next one finishes from the remote journal with nothing lost or made twice, workspaces,
and `nubes backend migrate` between all three stores."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from nubes.engine.state.settings import BackendConfig
from nubes.engine.state.stores import open_store
from tests.backends.conftest import Stores
from tests.helpers import kill_after_creates, write

ROOT = Path(__file__).resolve().parents[2]

STACK = """
nubes: 1
name: team
backend: BACKEND
providers:
  home: {driver: sim, latency_ms: 20}
resources:
  key: {type: key, name: "team-${workspace}"}
  web:
    type: instance
    count: 6
    name: "web-${workspace}-${count.index}"
    image: ubuntu-24.04
    size: small
    key: ${key.name}
  disk: {type: volume, count: 3, size_gb: 1, realm: sim-1a}
outputs:
  key: ${key.name}
"""


def flow(config: BackendConfig) -> str:
    return json.dumps(config.to_json())


def nubes(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nubes", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def cloud(work: Path) -> Counter[str]:
    with sqlite3.connect(work / "state" / "sim" / "cloud.sqlite") as db:
        rows = db.execute("SELECT tags FROM objects").fetchall()
    found: Counter[str] = Counter()
    for (tags,) in rows:
        t = json.loads(tags)
        if t.get("nubes:stack") == "team":
            found[t["nubes:address"]] += 1
    return found


@pytest.fixture
def env(stores: Stores, tmp_path: Path) -> dict[str, str]:
    return {
        **stores.environ,
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "NUBES_CREDENTIALS_FILE": str(tmp_path / "none.yaml"),
    }


@pytest.mark.parametrize("kind", ["s3", "s3-dynamodb", "postgres"])
def test_a_killed_apply_converges_through_a_remote_backend(
    stores: Stores, kind: str, tmp_path: Path
) -> None:
    config = stores.config(kind)
    env = {
        **stores.environ,
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "NUBES_CREDENTIALS_FILE": str(tmp_path / "none.yaml"),
        "NUBES_LOCK_LEASE_SECONDS": "2",  # the killed run's S3 lease lapses quickly
    }
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(config)))
    args = [sys.executable, "-m", "nubes", "apply", "team.yaml", "--auto-approve",
            "--parallelism", "2"]  # fmt: skip
    kill_after_creates(args, tmp_path, env, 4)
    again = nubes(tmp_path, env, "apply", "team.yaml", "--auto-approve", "--lock-timeout", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    wanted = {"key", *(f"web[{i}]" for i in range(6)), *(f"disk[{i}]" for i in range(3))}
    counts = cloud(tmp_path)
    assert set(counts) == wanted and set(counts.values()) == {1}  # no orphan, no duplicate
    stores.environ = env
    state = stores.open(config).backend("team").read()
    assert state is not None and len(state.resources) == 10
    assert not (tmp_path / "state" / "team.json").exists()  # nothing went to the local folder
    plan = nubes(tmp_path, env, "plan", "team.yaml")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout


def test_migrate_between_every_store_loses_nothing(
    stores: Stores, env: dict[str, str], tmp_path: Path
) -> None:
    configs = [stores.config(kind) for kind in ("local", "s3", "postgres")]
    env = {**env, **stores.environ}
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(configs[0])))
    assert nubes(tmp_path, env, "apply", "team.yaml", "--auto-approve").returncode == 0
    assert nubes(tmp_path, env, "workspace", "new", "team.yaml", "qa").returncode == 0
    assert nubes(tmp_path, env, "apply", "team.yaml", "--auto-approve").returncode == 0
    before = open_store(configs[0], tmp_path / "state", env)
    expected = {
        ws: before.backend("team", ws).read().to_json()  # type: ignore[union-attr]
        for ws in ("default", "qa")
    }
    for source, target in zip(configs, [*configs[1:], configs[0]], strict=True):
        write(tmp_path / "to.yaml", flow(target))
        write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(source)))
        moved = nubes(tmp_path, env, "backend", "migrate", "team.yaml", "--to", "to.yaml",
                      "--force")  # fmt: skip
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert "Copied workspace qa" in moved.stdout
        there = open_store(target, tmp_path / "state", env)
        assert there.workspaces("team") == ["default", "qa"]
        for ws, doc in expected.items():
            assert there.backend("team", ws).read().to_json() == doc  # type: ignore[union-attr]
            assert len(there.backend("team", ws).history()) == 1
    # then the stack runs from the new home with nothing to do
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(configs[1])))
    plan = nubes(tmp_path, env, "plan", "team.yaml", "--workspace", "qa")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    # a destination holding another state is refused without --force, and keeps it
    write(tmp_path / "to.yaml", flow(configs[2]))
    other = configs[0]
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(other)))
    target_backend = open_store(configs[2], tmp_path / "state", env).backend("team")
    with target_backend.lock("test"):
        current = target_backend.read()
        assert current is not None
        current.lineage = "another-lineage"
        target_backend.delete()
        target_backend.write(current)
    refused = nubes(tmp_path, env, "backend", "migrate", "team.yaml", "--to", "to.yaml")
    assert refused.returncode == 1 and "already holds another state" in refused.stderr
    kept = open_store(configs[2], tmp_path / "state", env).backend("team").read()
    assert kept is not None and kept.lineage == "another-lineage"


@pytest.mark.parametrize("kind", ["s3", "postgres"])
def test_an_unreachable_backend_is_a_clear_error_and_touches_no_cloud(
    stores: Stores, env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    config = stores.config(kind)
    if kind == "s3":
        config = BackendConfig("s3", {**config.settings, "bucket": "no-such-bucket-here"})
    env = {**env, **stores.environ}
    if kind == "postgres":
        env["PGPASSWORD"] = "wrong-password"
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(config)))
    result = nubes(tmp_path, env, "apply", "team.yaml", "--auto-approve")
    assert result.returncode == 1
    says = "bucket does not exist" if kind == "s3" else "password authentication failed"
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "wrong-password" not in result.stderr
    assert not (tmp_path / "state" / "sim" / "cloud.sqlite").exists() or not cloud(tmp_path)


def test_credentials_never_reach_a_remote_state(
    stores: Stores, env: dict[str, str], tmp_path: Path
) -> None:
    config = stores.config("postgres")
    env = {**env, **stores.environ}
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(config)))
    assert nubes(tmp_path, env, "apply", "team.yaml", "--auto-approve").returncode == 0
    pulled = nubes(tmp_path, env, "state", "pull", "team.yaml").stdout
    assert env["PGPASSWORD"] not in pulled
    assert "web-default-0" in pulled


@pytest.mark.parametrize("kind", ["s3", "postgres"])
def test_a_stack_reads_another_stacks_outputs_from_any_backend(
    kind: str, stores: Stores, env: dict[str, str], tmp_path: Path
) -> None:
    config = stores.config(kind)
    env = {**env, **stores.environ}
    write(tmp_path / "team.yaml", STACK.replace("BACKEND", flow(config)))
    made = nubes(tmp_path, env, "apply", "--auto-approve", "team.yaml")
    assert made.returncode == 0, made.stderr
    write(
        tmp_path / "app.yaml",  # its own state in the local folder; the team's read from `kind`
        f"""
        nubes: 1
        name: app
        stack_outputs:
          team: {{stack: team, backend: {flow(config)}}}
        resources:
          deploy: {{type: key, name: "app-${{stack_outputs.team.key}}"}}
        outputs:
          team_key: ${{stack_outputs.team.key}}
        """,
    )
    plan = nubes(tmp_path, env, "plan", "app.yaml")
    assert plan.returncode == 0, plan.stderr
    assert "Read stack_outputs.team: stack team, workspace default, serial" in plan.stdout
    assert '+ name        = "app-team-default"' in plan.stdout
    graph = nubes(tmp_path, env, "graph", "app.yaml")
    assert '"deploy" -> "stack_outputs.team";' in graph.stdout
    assert "stack team (default, " in graph.stdout
    applied = nubes(tmp_path, env, "apply", "--auto-approve", "app.yaml")
    assert applied.returncode == 0, applied.stderr
    shown = nubes(tmp_path, env, "output", "app.yaml", "team_key")
    assert shown.stdout.strip().strip('"') == "team-default"

    # a workspace the other stack has no state in: a diagnostic at the entry, nothing planned
    app = (tmp_path / "app.yaml").read_text()
    app = app.replace("{stack: team,", "{stack: team, workspace: staging,")
    (tmp_path / "app.yaml").write_text(app)
    missing = nubes(tmp_path, env, "plan", "app.yaml")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "app.yaml:4:" in missing.stderr  # the entry's `stack:`
    assert "stack team has no state in workspace staging" in missing.stderr
