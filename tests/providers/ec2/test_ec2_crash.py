"""Crash safety on EC2: a killed apply's instances are found by their tags and adopted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from nubes.engine.state import LocalBackend
from tests.helpers import FAKE_AWS_CREDENTIALS, kill_after_creates, make_plan, write

ROOT = Path(__file__).resolve().parents[3]


def stack_text(endpoint: str, ami: str) -> str:
    return f"""
        nubes: 1
        name: crash
        providers:
          aws: {{driver: ec2, endpoint: "{endpoint}"}}
        resources:
          fw: {{type: firewall, name: crash-fw}}
          vm:
            type: instance
            count: 6
            image: {ami}
            size: t3.micro
            firewalls: ["${{fw.id}}"]
          disk: {{type: volume, count: 6, size_gb: 1, realm: us-east-1a}}
    """


def test_an_interrupted_create_is_adopted_not_duplicated(
    tmp_path: Path, aws: str, ami: str, ec2: Any
) -> None:
    stack = write(tmp_path / "s.yaml", stack_text(aws, ami).replace("count: 6", "count: 1"))
    state_dir = tmp_path / "state"
    journal = LocalBackend(state_dir, "crash").journal
    # as a run killed right after EC2 answered RunInstances, before state recorded it
    journal.will_create("vm[0]", "aws", "instance", "tok-vm0", [], [])
    tags = [
        {"Key": "nubes:stack", "Value": "crash"},
        {"Key": "nubes:address", "Value": "vm[0]"},
        {"Key": "nubes:token", "Value": "tok-vm0"},
    ]
    made = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        ClientToken="tok-vm0",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    result, diags = make_plan(stack, state_dir)
    assert result is not None, [d.summary for d in diags]
    adopted = [(n.address, n.outcome, n.id) for n in result.recovered]
    assert adopted == [("vm[0]", "adopted", made["Instances"][0]["InstanceId"])]
    assert {str(c.addr): str(c.action) for c in result.changes}["vm[0]"] != "create"


def live_objects(ec2: Any) -> Counter[str]:
    f = [{"Name": "tag:nubes:stack", "Values": ["crash"]}]
    found: Counter[str] = Counter()
    for r in ec2.describe_instances(Filters=f)["Reservations"]:
        for i in r["Instances"]:
            if i["State"]["Name"] != "terminated":
                found[{t["Key"]: t["Value"] for t in i["Tags"]}["nubes:address"]] += 1
    for v in ec2.describe_volumes(Filters=f)["Volumes"]:
        found[{t["Key"]: t["Value"] for t in v["Tags"]}["nubes:address"]] += 1
    for g in ec2.describe_security_groups(Filters=f)["SecurityGroups"]:
        found[{t["Key"]: t["Value"] for t in g["Tags"]}["nubes:address"]] += 1
    return found


def test_sigkill_then_apply_converges_on_ec2(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    env = {
        **os.environ,
        **FAKE_AWS_CREDENTIALS,
        "PYTHONPATH": str(ROOT),
        "NUBES_CREDENTIALS_FILE": str(tmp_path / "none.yaml"),
    }
    write(tmp_path / "s.yaml", stack_text(aws, ami))
    args = [
        sys.executable,
        "-m",
        "nubes",
        "apply",
        "s.yaml",
        "--auto-approve",
        "--parallelism",
        "2",
    ]
    kill_after_creates(args, tmp_path, env, 3)  # in the middle, once a few objects exist
    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    counts = live_objects(ec2)
    wanted = {"fw", *(f"vm[{i}]" for i in range(6)), *(f"disk[{i}]" for i in range(6))}
    assert set(counts) == wanted and set(counts.values()) == {1}  # no orphan, no duplicate
    state = json.loads((tmp_path / "state" / "crash.json").read_text())
    assert len(state["resources"]) == 13
