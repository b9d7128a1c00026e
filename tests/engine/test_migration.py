"""Migration between clouds by changing `provider:`: new first, dependents moved, old last."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from nubes.cli.main import cli
from tests.helpers import write

STACK = """
nubes: 1
name: mig
providers:
  home: {driver: sim}
  lab: {driver: sim, region: sim-2, max_instances: LIMIT}
resources:
  deploy: {type: key, name: mig-key}
  fw: {type: firewall, name: mig-fw, rules: [{ports: "80"}]}
  web:
    type: instance
    provider: WHERE
    count: 2
    image: ubuntu-24.04
    size: {cpus: 1, memory_gb: 2}
    key: ${deploy.name}
    firewalls: ["${fw.id}"]
  disk: {type: volume, size_gb: 5, instance: "${web[0].id}", realm: "${web[0].realm}"}
  ip: {type: address, instance: "${web[0].id}"}
outputs:
  where: ${web[0].realm}
"""


def stack(tmp: Path, where: str, limit: int = 10) -> str:
    text = STACK.replace("WHERE", where).replace("LIMIT", str(limit))
    return str(write(tmp / "mig.yaml", text))


def run(tmp: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, [*args, "--state-dir", str(tmp / "state")], catch_exceptions=False
    )
    return result.exit_code, result.output


def cloud(tmp: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(tmp / "state" / "sim" / "cloud.sqlite") as db:
        rows = db.execute("SELECT type, region, id, attrs FROM objects ORDER BY type, id")
        return [(t, r, i, json.loads(a).get("data", "")) for t, r, i, a in rows]


def state_ids(tmp: Path) -> dict[str, str]:
    doc = json.loads((tmp / "state" / "mig.json").read_text())
    return {r["address"]: r["id"] for r in doc["resources"]}


def write_volume_data(tmp: Path, text: str) -> None:
    with sqlite3.connect(tmp / "state" / "sim" / "cloud.sqlite") as db:
        for id_, attrs in db.execute("SELECT id, attrs FROM objects WHERE type = 'volume'"):
            doc = json.loads(attrs)
            doc["data"] = text
            db.execute("UPDATE objects SET attrs = ? WHERE id = ?", (json.dumps(doc), id_))


def test_moving_a_stack_to_another_region(tmp_path: Path) -> None:
    assert run(tmp_path, "apply", stack(tmp_path, "home"), "--auto-approve")[0] == 0
    write_volume_data(tmp_path, "the database")
    code, out = run(tmp_path, "plan", stack(tmp_path, "lab"), "--detailed-exitcode")
    assert code == 2
    assert '⇄ instance "web[0]" from home to lab {' in out
    assert "# (moves from home to lab; its data is copied)" in out
    assert "instances migrate" in out
    plan = json.loads(run(tmp_path, "plan", stack(tmp_path, "lab"), "--json")[1])
    actions = {c["address"]: c["action"] for c in plan["resource_changes"]}
    assert actions == {
        "deploy": "create-delete",
        "fw": "create-delete",
        "web[0]": "migrate",
        "web[1]": "migrate",
        "disk": "create-delete",
        "ip": "create-delete",
    }
    code, out = run(tmp_path, "apply", stack(tmp_path, "lab"), "--auto-approve")
    assert code == 0, out
    # the order: the new web[0], its dependents moved to it, the old web[0]; then web[1]
    lines = [
        line.split(":")[0] + ":" + line.split(":")[1].split()[0]
        for line in out.splitlines()
        if "Created after" in line or "Destroyed after" in line
    ]
    assert (
        lines.index("web[0]:Created")
        < lines.index("ip:Created")
        < lines.index("web[0]:Destroyed")
        < lines.index("web[1]:Created")
    )
    assert lines.index("disk:Destroyed") < lines.index("web[0]:Destroyed")
    assert {region for _, region, _, _ in cloud(tmp_path)} == {"sim-2"}
    assert [data for t, _, _, data in cloud(tmp_path) if t == "volume"] == ["the database"]
    assert set(state_ids(tmp_path).values()) == {i for _, _, i, _ in cloud(tmp_path)}
    assert run(tmp_path, "plan", stack(tmp_path, "lab"), "--detailed-exitcode")[0] == 0


def test_a_failure_on_the_target_leaves_the_source_in_service(tmp_path: Path) -> None:
    assert run(tmp_path, "apply", stack(tmp_path, "home"), "--auto-approve")[0] == 0
    before = state_ids(tmp_path)
    old = {i for t, r, i, _ in cloud(tmp_path) if r == "sim-1"}
    code, out = run(tmp_path, "apply", stack(tmp_path, "lab", limit=0), "--auto-approve")
    assert code == 1 and "InstanceLimitExceeded" in out
    assert "skipped: web[0] (delete)" in out
    ids = state_ids(tmp_path)
    for addr in ("web[0]", "web[1]", "ip", "disk"):
        assert ids[addr] == before[addr]  # still the source's, still in state
    assert old <= {i for _, _, i, _ in cloud(tmp_path)}  # nothing of the source was destroyed
    code, out = run(tmp_path, "apply", stack(tmp_path, "lab"), "--auto-approve")
    assert code == 0, out
    assert {region for _, region, _, _ in cloud(tmp_path)} == {"sim-2"}
    code, out = run(tmp_path, "inventory", stack(tmp_path, "lab"))
    assert "0 orphan, 0 missing" in out
