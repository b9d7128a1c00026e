"""Networks (VPCs), subnets and classic load balancers on EC2, against a moto server: a
three-tier stack through plan, apply, a change, drift and destroy, read back with boto3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from nubes.cli.main import cli
from tests.helpers import write

STACK = """
nubes: 1
name: tiers
variables:
  endpoint: {type: string}
  image: {type: string}
  web_count: {type: number, default: 2}
  port: {type: number, default: 80}
providers:
  aws: {driver: ec2, region: us-east-1, endpoint: "${var.endpoint}"}
resources:
  net: {type: network, name: tiers, address_block: 10.30.0.0/16}
  web_subnet:
    type: subnet
    network: ${net.id}
    address_block: 10.30.1.0/24
    realm: us-east-1a
  app_subnet:
    type: subnet
    network: ${net.id}
    address_block: 10.30.2.0/24
    realm: us-east-1a
  web:
    type: instance
    count: ${var.web_count}
    name: web-${count.index}
    image: ${var.image}
    size: t3.micro
    subnet: ${web_subnet.id}
  app:
    type: instance
    name: app
    image: ${var.image}
    size: t3.micro
    subnet: ${app_subnet.id}
  app_nic:
    type: network_interface
    name: app-web-side
    instance: ${app.id}
    subnet: ${web_subnet.id}
  front:
    type: load_balancer
    name: tiers-front
    realms: [us-east-1a]
    listeners: [{protocol: http, port: "${var.port}", instance_port: 8080}]
    instances: ${web | map(attribute="id") | list}
outputs:
  url: http://${front.public_address}/
"""


def run(tmp: Path, aws: str, ami: str, *args: str) -> tuple[int, str]:
    argv = [*args, "--state-dir", str(tmp / "state")]
    if args[0] in ("plan", "apply", "destroy"):
        argv += ["--var", f"endpoint={aws}", "--var", f"image={ami}"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    return result.exit_code, result.output


def test_three_tiers_on_ec2(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    elb = boto3.client("elb", region_name="us-east-1", endpoint_url=aws)
    stack = str(write(tmp_path / "tiers.yaml", STACK))
    code, out = run(tmp_path, aws, ami, "apply", stack, "--auto-approve")
    assert code == 0, out
    state = json.loads(run(tmp_path, aws, ami, "show", stack, "--json")[1])
    got = {r["address"]: r for r in state["resources"]}
    vpc = ec2.describe_vpcs(VpcIds=[got["net"]["id"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.30.0.0/16"
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]}["Name"] == "tiers"
    subnet = ec2.describe_subnets(SubnetIds=[got["web_subnet"]["id"]])["Subnets"][0]
    assert subnet["VpcId"] == vpc["VpcId"] and subnet["AvailabilityZone"] == "us-east-1a"
    web0 = ec2.describe_instances(InstanceIds=[got["web[0]"]["id"]])["Reservations"][0]
    assert web0["Instances"][0]["SubnetId"] == subnet["SubnetId"]

    lb = elb.describe_load_balancers(LoadBalancerNames=["tiers-front"])["LoadBalancerDescriptions"][
        0
    ]
    assert sorted(i["InstanceId"] for i in lb["Instances"]) == sorted(
        got[k]["id"] for k in ("web[0]", "web[1]")
    )
    listener = lb["ListenerDescriptions"][0]["Listener"]
    assert (listener["Protocol"], listener["LoadBalancerPort"], listener["InstancePort"]) == (
        "HTTP",
        80,
        8080,
    )
    tags = elb.describe_tags(LoadBalancerNames=["tiers-front"])["TagDescriptions"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["nubes:address"] == "front"
    assert got["front"]["attributes"]["public_address"] == lb["DNSName"]
    nic = ec2.describe_network_interfaces(NetworkInterfaceIds=[got["app_nic"]["id"]])[
        "NetworkInterfaces"
    ][0]
    assert nic["SubnetId"] == subnet["SubnetId"]
    assert nic["Attachment"]["InstanceId"] == got["app"]["id"]
    assert nic["Attachment"]["DeviceIndex"] == 1
    assert got["app_nic"]["attributes"]["ip_address"] == nic["PrivateIpAddress"]

    code, out = run(tmp_path, aws, ami, "plan", stack, "--detailed-exitcode")
    assert code == 0, out  # what was sent is what EC2 reports back

    code, out = run(
        tmp_path,
        aws,
        ami,
        "apply",
        stack,
        "--auto-approve",
        "--var",
        "web_count=1",
        "--var",
        "port=8000",
    )
    assert code == 0, out
    lb = elb.describe_load_balancers(LoadBalancerNames=["tiers-front"])["LoadBalancerDescriptions"][
        0
    ]
    assert [i["InstanceId"] for i in lb["Instances"]] == [got["web[0]"]["id"]]
    assert [d["Listener"]["LoadBalancerPort"] for d in lb["ListenerDescriptions"]] == [8000]

    # drift: an instance registered outside the stack is taken off again
    elb.register_instances_with_load_balancer(
        LoadBalancerName="tiers-front", Instances=[{"InstanceId": got["app"]["id"]}]
    )
    code, out = run(
        tmp_path,
        aws,
        ami,
        "plan",
        stack,
        "--detailed-exitcode",
        "--var",
        "web_count=1",
        "--var",
        "port=8000",
    )
    assert code == 2 and "front" in out and "1 to change" in out, out

    code, out = run(
        tmp_path,
        aws,
        ami,
        "destroy",
        stack,
        "--auto-approve",
        "--var",
        "web_count=1",
        "--var",
        "port=8000",
    )
    assert code == 0, out
    assert elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    f = [{"Name": "tag:nubes:stack", "Values": ["tiers"]}]
    assert ec2.describe_vpcs(Filters=f)["Vpcs"] == []
    assert ec2.describe_subnets(Filters=f)["Subnets"] == []


def test_balancer_plans_retries_and_listener_changes(tmp_path: Path, aws: str, ami: str) -> None:
    import pytest

    from nubes.providers.ec2 import Ec2Driver
    from nubes.providers.errors import ConflictError
    from nubes.providers.protocol import DriverContext, Ownership

    driver = Ec2Driver()
    assert driver.configure({"endpoint": aws}, DriverContext(tmp_path, {})) == []
    config = {
        "name": "retry-lb",
        "realms": ["us-east-1b", "us-east-1a"],
        "listeners": [{"protocol": "tcp", "port": 443}, {"port": 80, "instance_port": 8080}],
    }
    mine = Ownership("s", "lb", "token-lb")
    made = driver.create("load_balancer", config, mine)
    again = driver.create("load_balancer", config, mine)  # a retried create adopts it
    assert again.id == made.id == "retry-lb"
    with pytest.raises(ConflictError):
        driver.create("load_balancer", config, Ownership("other", "lb", "token-other"))
    change = driver.plan_change("load_balancer", made.attributes, config)
    assert change.requires_replace == []  # written in another order than EC2 lists them
    assert change.planned["listeners"] == made.attributes["listeners"]
    assert change.planned["realms"] == made.attributes["realms"] == ["us-east-1a", "us-east-1b"]

    wanted = {**config, "listeners": [{"protocol": "tcp", "port": 443}, {"port": 80}]}
    updated = driver.update("load_balancer", made.id, made.attributes, wanted)
    assert updated.attributes["listeners"] == [
        {"protocol": "http", "port": 80, "instance_port": 80},
        {"protocol": "tcp", "port": 443, "instance_port": 443},
    ]
    https = driver.plan_change(
        "load_balancer", None, {"listeners": [{"protocol": "https", "port": 443}]}
    )
    assert https.problems and "certificate" in https.problems[0][1]
    driver.delete("load_balancer", made.id)
    assert driver.read("load_balancer", made.id) is None
