"""The EC2 driver end to end against a moto server: plan, apply, change, drift, import, destroy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nubes.cli.main import cli
from tests.helpers import write

STACK = """
nubes: 1
name: aws-web
variables:
  endpoint: {type: string}
  image: {type: string}
  size: {type: string, default: t3.micro}
  replicas: {type: number, default: 2}
  disk_on: {type: number, default: 0}
  ssh_from: {type: string, default: 10.0.0.0/8}
providers:
  aws: {driver: ec2, region: us-east-1, endpoint: "${var.endpoint}"}
resources:
  deploy: {type: key, name: aws-web-deploy}
  web_fw:
    type: firewall
    name: aws-web
    description: web servers
    rules: [{ports: "80"}, {ports: "22", sources: ["${var.ssh_from}"]}]
  web:
    type: instance
    count: ${var.replicas}
    name: web-${count.index}
    image: ${var.image}
    size: ${var.size}
    realm: us-east-1a
    key: ${deploy.name}
    firewalls: ["${web_fw.id}"]
    user_data: "#!/bin/sh\\necho web ${count.index}"
    tags: {role: web}
  disk:
    type: volume
    size_gb: 8
    realm: us-east-1a
    instance: ${web[var.disk_on].id}
    device: /dev/sdf
  backup: {type: snapshot, volume: "${disk.id}", name: data-backup}
  public: {type: address, instance: "${web[var.disk_on].id}"}
  assets: {type: bucket, name: aws-web-assets}
  golden: {type: image, name: web-golden, instance: "${web[0].id}"}
outputs:
  key: ${deploy.name}
"""


def run(tmp: Path, aws: str, ami: str, *args: str) -> tuple[int, str]:
    argv = [*args, "--state-dir", str(tmp / "state")]
    if args[0] in ("plan", "apply", "destroy", "import", "inventory"):
        argv += ["--var", f"endpoint={aws}", "--var", f"image={ami}"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    return result.exit_code, result.output


def tagged(ec2: Any) -> dict[str, int]:
    f = [{"Name": "tag:nubes:stack", "Values": ["aws-web"]}]
    live = [
        i
        for r in ec2.describe_instances(Filters=f)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    return {
        "instance": len(live),
        "key": len(ec2.describe_key_pairs(Filters=f)["KeyPairs"]),
        "firewall": len(ec2.describe_security_groups(Filters=f)["SecurityGroups"]),
        "volume": len(ec2.describe_volumes(Filters=f)["Volumes"]),
        "snapshot": len(ec2.describe_snapshots(OwnerIds=["self"], Filters=f)["Snapshots"]),
        "address": len(ec2.describe_addresses(Filters=f)["Addresses"]),
        "image": len(ec2.describe_images(Owners=["self"], Filters=f)["Images"]),
    }


def test_every_type_through_plan_apply_change_destroy(
    tmp_path: Path, aws: str, ami: str, ec2: Any
) -> None:
    stack = str(write(tmp_path / "aws.yaml", STACK))
    code, out = run(tmp_path, aws, ami, "plan", stack, "--detailed-exitcode")
    assert code == 2 and "Plan: 9 to add, 0 to change, 0 to destroy." in out, out
    code, out = run(tmp_path, aws, ami, "apply", stack, "--auto-approve")
    assert code == 0, out
    assert tagged(ec2) == {
        "instance": 2,
        "key": 1,
        "firewall": 1,
        "volume": 1,
        "snapshot": 1,
        "address": 1,
        "image": 1,
    }
    code, out = run(tmp_path, aws, ami, "plan", stack, "--detailed-exitcode")
    assert code == 0, out  # nothing to change: what was sent is what EC2 reports

    state = json.loads(run(tmp_path, aws, ami, "show", stack, "--json")[1])
    by_addr = {r["address"]: r for r in state["resources"]}
    web0, web1 = by_addr["web[0]"]["id"], by_addr["web[1]"]["id"]
    desc = ec2.describe_instances(InstanceIds=[web0])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in desc["Tags"]}
    assert tags["nubes:stack"] == "aws-web" and tags["nubes:address"] == "web[0]"
    assert tags["Name"] == "web-0" and tags["role"] == "web" and len(tags["nubes:token"]) == 32
    assert by_addr["deploy"]["attributes"]["private_key"] == "(sensitive)"

    code, out = run(
        tmp_path,
        aws,
        ami,
        "apply",
        stack,
        "--auto-approve",
        "--var",
        "size=t3.large",
        "--var",
        "disk_on=1",
        "--var",
        "ssh_from=192.168.0.0/16",
    )
    assert code == 0, out
    assert "0 added, 5 changed, 0 destroyed" in out, out  # resized in place, volume and ip moved
    desc = ec2.describe_instances(InstanceIds=[web0])["Reservations"][0]["Instances"][0]
    assert desc["InstanceType"] == "t3.large" and desc["State"]["Name"] == "running"
    vol = ec2.describe_volumes(VolumeIds=[by_addr["disk"]["id"]])["Volumes"][0]
    assert vol["Attachments"][0]["InstanceId"] == web1
    eip = ec2.describe_addresses(AllocationIds=[by_addr["public"]["id"]])["Addresses"][0]
    assert eip["InstanceId"] == web1
    group = ec2.describe_security_groups(GroupIds=[by_addr["web_fw"]["id"]])["SecurityGroups"][0]
    cidrs = sorted(r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"])
    assert cidrs == ["0.0.0.0/0", "192.168.0.0/16"]

    code, out = run(
        tmp_path,
        aws,
        ami,
        "destroy",
        stack,
        "--auto-approve",
        "--var",
        "size=t3.large",
        "--var",
        "disk_on=1",
    )
    assert code == 0 and "9 destroyed" in out, out
    assert set(tagged(ec2).values()) == {0}
    code, out = run(tmp_path, aws, ami, "inventory", stack)
    assert "No objects carry the tag" in out


def test_drift_import_and_errors(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    stack = str(
        write(
            tmp_path / "one.yaml",
            f"""
        nubes: 1
        name: aws-web
        variables:
          endpoint: {{type: string}}
          image: {{type: string}}
        providers:
          aws: {{driver: ec2, endpoint: "${{var.endpoint}}"}}
        resources:
          a: {{type: instance, image: "${{var.image}}", size: t3.micro, tags: {{team: x}}}}
          b: {{type: instance, image: "${{var.image}}", size: t3.micro}}
          c: {{type: instance, image: "{ami}", size: t3.micro, realm: us-east-1b}}
    """,
        )
    )
    made = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        Placement={"AvailabilityZone": "us-east-1b"},
    )["Instances"][0]
    code, out = run(tmp_path, aws, ami, "import", stack, "c", made["InstanceId"])
    assert code == 0, out
    code, out = run(tmp_path, aws, ami, "apply", stack, "--auto-approve")
    assert code == 0 and "2 added" in out, out  # c was imported, not created
    state = json.loads(run(tmp_path, aws, ami, "show", stack, "--json")[1])
    ids = {r["address"]: r["id"] for r in state["resources"]}
    assert ids["c"] == made["InstanceId"]

    ec2.terminate_instances(InstanceIds=[ids["a"]])  # behind nubes' back
    ec2.delete_tags(Resources=[ids["b"]], Tags=[{"Key": "nubes:stack"}])  # retagged
    code, out = run(tmp_path, aws, ami, "plan", stack)
    assert f"# a ({ids['a']}) was deleted outside nubes" in out, out
    assert "# a will be created" in out
    assert "# b" not in out and "# c" not in out  # found by id although untagged or imported

    bad = write(tmp_path / "bad.yaml", STACK.replace("size: ${var.size}", "size: t9.galactic"))
    code, out = run(tmp_path, aws, ami, "plan", str(bad))
    assert code == 1 and "InvalidParameterValue: instance type 't9.galactic' does not" in out
    assert "bad.yaml:" in out
    nope = write(tmp_path / "nope.yaml", STACK)
    code, out = run(tmp_path, aws, "ami-0123456789abcdef0", "plan", str(nope))
    assert code == 1 and "InvalidAMIID.NotFound" in out, out


def test_refresh_is_one_call_per_type(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    from nubes.engine.plan import plan
    from nubes.engine.state import LocalBackend
    from tests.helpers import drivers_for, load

    stack_file = write(
        tmp_path / "many.yaml",
        f"""
        nubes: 1
        name: many
        providers:
          aws: {{driver: ec2, endpoint: "{aws}"}}
        resources:
          vm: {{type: instance, count: 12, image: "{ami}", size: t3.micro}}
          disk: {{type: volume, count: 12, size_gb: 1, realm: us-east-1a}}
          fw: {{type: firewall, count: 12, name: "many-${{count.index}}"}}
    """,
    )
    stack, values = load(stack_file)
    drivers = drivers_for(stack, values, tmp_path / "state")
    backend = LocalBackend(tmp_path / "state", "many")
    from nubes.engine.apply import apply

    first, _ = plan(stack, values, None, drivers)
    assert first is not None
    assert not apply(first, drivers, backend).failed
    driver = drivers["aws"]
    before = driver.calls  # type: ignore[attr-defined]
    again, _ = plan(stack, values, backend.read(), drivers)
    assert again is not None and {str(c.action) for c in again.changes} == {"no-op"}
    # three describe calls for 36 objects (plus the cached catalog reads of the first plan)
    assert driver.calls - before == 3  # type: ignore[attr-defined]


def test_the_example_stack_runs(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    example = str(Path(__file__).resolve().parents[3] / "stacks" / "aws-web.yaml")
    variables = ["--var", f"endpoint={aws}"]
    state = ["--state-dir", str(tmp_path / "state")]
    runner = CliRunner()
    for args, wanted in (
        (["apply", example, "--auto-approve"], "8 added"),
        (["plan", example, "--detailed-exitcode"], "No changes."),
        (["destroy", example, "--auto-approve"], "8 destroyed"),
    ):
        result = runner.invoke(cli, [*args, *variables, *state], catch_exceptions=False)
        assert result.exit_code == 0 and wanted in result.output, result.output


def test_portable_images_and_sizes_on_ec2_and_sim(tmp_path: Path, aws: str, ec2: Any) -> None:
    stack = str(
        write(
            tmp_path / "portable.yaml",
            f"""
        nubes: 1
        name: portable
        providers:
          home: {{driver: sim}}
          aws: {{driver: ec2, endpoint: "{aws}"}}
        resources:
          here: {{type: instance, provider: home, image: ubuntu-24.04,
                  size: {{cpus: 2, memory_gb: 4}}}}
          there: {{type: instance, provider: aws, image: ubuntu-16.04,
                   size: {{cpus: 2, memory_gb: 4}}}}
    """,
        )
    )
    state = ["--state-dir", str(tmp_path / "state")]
    runner = CliRunner()
    planned = runner.invoke(cli, ["plan", stack, *state], catch_exceptions=False).output
    assert '+ size             = "medium"  # {cpus: 2, memory_gb: 4}' in planned, planned
    assert "# ubuntu-16.04" in planned and "# ubuntu-24.04" in planned
    applied = runner.invoke(cli, ["apply", stack, "--auto-approve", *state], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    there = json.loads(runner.invoke(cli, ["show", stack, "--json", *state]).output)
    vm = next(r for r in there["resources"] if r["address"] == "there")
    described = ec2.describe_instances(InstanceIds=[vm["id"]])["Reservations"][0]["Instances"][0]
    image = ec2.describe_images(ImageIds=[described["ImageId"]])["Images"][0]
    assert "ubuntu-xenial-16.04" in image["Name"]
    types = ec2.describe_instance_types(InstanceTypes=[described["InstanceType"]])
    info = types["InstanceTypes"][0]
    assert info["VCpuInfo"]["DefaultVCpus"] >= 2 and info["MemoryInfo"]["SizeInMiB"] >= 4096
    again = runner.invoke(cli, ["plan", stack, "--detailed-exitcode", *state])
    assert again.exit_code == 0, again.output

    catalog = json.loads(runner.invoke(cli, ["catalog", stack, "--json", *state]).output)
    assert catalog["images"]["ubuntu-24.04"]["home"]["native"] == "img-ubuntu-2404"
    assert catalog["images"]["ubuntu-16.04"]["aws"]["native"] == described["ImageId"]
    assert catalog["images"]["fedora-40"]["aws"]["problem"].startswith(
        "image 'fedora-40' is not in the catalog for provider 'aws' (ec2)"
    )
    assert catalog["sizes"]["{cpus: 2, memory_gb: 4}"]["home"]["native"] == "medium"
    assert catalog["sizes"]["{cpus: 2, memory_gb: 4}"]["aws"]["native"] == described["InstanceType"]
