"""Migration between the sim cloud and EC2 (a moto server), both ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nubes.cli.main import cli
from tests.helpers import write

STACK = """
nubes: 1
name: hop
catalog:
  images:
    base: {{sim: img-ubuntu-2204, ec2: {{owner: "099720109477", name: "*xenial-16.04*"}}}}
providers:
  home: {{driver: sim}}
  aws: {{driver: ec2, endpoint: "{endpoint}"}}
resources:
  web:
    type: instance
    provider: {where}
    count: 2
    image: base
    size: {{cpus: 1, memory_gb: 1}}
  ip: {{type: address, instance: "${{web[0].id}}"}}
  disk: {{type: volume, size_gb: 2, realm: "${{web[1].realm}}", instance: "${{web[1].id}}"}}
"""


def run(tmp: Path, aws: str, where: str, *args: str) -> tuple[int, str]:
    stack = write(tmp / "hop.yaml", STACK.format(endpoint=aws, where=where))
    result = CliRunner().invoke(
        cli,
        [args[0], str(stack), *args[1:], "--state-dir", str(tmp / "state")],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def providers_in_state(tmp: Path) -> dict[str, str]:
    doc = json.loads((tmp / "state" / "hop.json").read_text())
    return {r["address"]: r["provider"] for r in doc["resources"]}


def test_sim_to_ec2_and_back(tmp_path: Path, aws: str, ec2: Any) -> None:
    assert run(tmp_path, aws, "home", "apply", "--auto-approve")[0] == 0
    code, out = run(tmp_path, aws, "aws", "plan")
    assert code == 1 and "disk moves from home to aws and would start empty" in out
    assert "provider 'aws' cannot export or import volume data" in out
    code, out = run(tmp_path, aws, "aws", "apply", "--auto-approve", "--allow-data-loss")
    assert code == 0, out
    assert set(providers_in_state(tmp_path).values()) == {"aws"}
    live = [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]
    assert len(live) == 2
    assert len(ec2.describe_addresses()["Addresses"]) == 1
    assert run(tmp_path, aws, "aws", "plan", "--detailed-exitcode")[0] == 0

    code, out = run(tmp_path, aws, "home", "apply", "--auto-approve", "--allow-data-loss")
    assert code == 0, out
    assert set(providers_in_state(tmp_path).values()) == {"home"}
    assert not [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    assert ec2.describe_addresses()["Addresses"] == []
    assert run(tmp_path, aws, "home", "plan", "--detailed-exitcode")[0] == 0
