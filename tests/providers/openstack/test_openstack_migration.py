"""Migration sim -> OpenStack -> EC2 (a moto server) -> sim, by editing `provider:` alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from tests.emulator_harness import Running
from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto, write

STACK = """
nubes: 1
name: hop
catalog:
  images:
    base:
      sim: img-ubuntu-2204
      openstack: {{os_distro: ubuntu, os_version: "22.04"}}
      ec2: {{owner: "099720109477", name: "*xenial-16.04*"}}
providers:
  home: {{driver: sim}}
  cloud: {{driver: openstack, auth_url: "{auth_url}"}}
  aws: {{driver: ec2, endpoint: "{endpoint}"}}
resources:
  web:
    type: instance
    provider: {where}
    count: 2
    image: base
    size: {{cpus: 1, memory_gb: 1}}
    tags: {{role: web}}
  ip: {{type: address, provider: {where}, instance: "${{web[0].id}}"}}
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    proc, endpoint = start_moto()
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


def run(tmp: Path, emu: Running, aws: str, where: str, *args: str) -> tuple[int, str]:
    stack = write(tmp / "hop.yaml", STACK.format(auth_url=emu.auth_url, endpoint=aws, where=where))
    result = CliRunner().invoke(
        cli,
        [args[0], str(stack), *args[1:], "--state-dir", str(tmp / "state")],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def providers_in_state(tmp: Path) -> dict[str, str]:
    doc = json.loads((tmp / "state" / "hop.json").read_text())
    return {r["address"]: r["provider"] for r in doc["resources"]}


def test_sim_to_openstack_to_ec2_and_back(
    tmp_path: Path, emu: Running, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto)
    assert run(tmp_path, emu, moto, "home", "apply", "--auto-approve")[0] == 0
    assert set(providers_in_state(tmp_path).values()) == {"home"}

    code, out = run(tmp_path, emu, moto, "cloud", "apply", "--auto-approve")
    assert code == 0, out
    assert set(providers_in_state(tmp_path).values()) == {"cloud"}
    servers = emu.project().all_servers()
    assert sorted(s.metadata["nubes:address"] for s in servers) == ["web[0]", "web[1]"]
    assert {s.flavor.name for s in servers} == {"m1.small"}  # the smallest with 1 GB or more
    (fip,) = emu.project().floating.values()
    assert fip.port is not None  # the address followed web[0] to OpenStack
    code, out = run(tmp_path, emu, moto, "cloud", "plan", "--detailed-exitcode")
    assert code == 0, out

    code, out = run(tmp_path, emu, moto, "aws", "apply", "--auto-approve")
    assert code == 0, out
    assert emu.project().all_servers() == [] and not emu.project().floating  # old side gone
    live = [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]
    assert len(live) == 2

    code, out = run(tmp_path, emu, moto, "home", "apply", "--auto-approve")
    assert code == 0, out
    assert set(providers_in_state(tmp_path).values()) == {"home"}
    assert not [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]
