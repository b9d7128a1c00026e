"""The EC2 driver's converters and error map against real EC2 responses.

moto is more lenient than AWS (it accepts a missing AMI, ignores ClientToken, has instant
transitions); these tests feed recorded AWS responses (../shared/reference/ec2, Apache-2.0) through
botocore's own EC2 parser and then through the driver's converters and error map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.session import get_session

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.errors import translate
from nubes.providers.errors import ConflictError, NotFoundError, QuotaError, TransientError

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "reference" / "ec2" / "libcloud"
pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"recorded EC2 responses not found at {FIXTURES}"
)
MODEL = get_session().get_service_model("ec2")


def parsed(fixture: str, operation: str, status: int = 200) -> dict[str, Any]:
    body = (FIXTURES / fixture).read_bytes()
    shape = MODEL.operation_model(operation).output_shape
    return dict(
        create_parser("ec2").parse({"body": body, "headers": {}, "status_code": status}, shape)
    )


def test_describe_instances() -> None:
    doc = parsed("describe_instances.xml", "DescribeInstances")
    found = {o.id: o for o in conv.instances(doc["Reservations"])}
    first = found["i-4382922a"].attributes
    assert first["state"] == "stopped" and first["size"] == "m1.small"
    assert first["realm"] == "us-east-1d" and first["key"] == "fauxkey"
    assert first["firewalls"] == ["sg-42916629", "sg-42916628"]
    assert first["public_ip"] == "1.2.3.4" and first["private_ip"] == "10.211.11.211"
    assert first["launched_at"] == "2013-12-02T11:58:11Z"
    assert all(o.attributes["state"] in ("running", "stopped", "pending") for o in found.values())


@pytest.mark.parametrize(
    ("ec2_state", "portable"),
    [
        ("pending", "pending"),
        ("running", "running"),
        ("stopping", "stopping"),
        ("stopped", "stopped"),
        ("shutting-down", "stopping"),
        ("terminated", "terminated"),
        ("hibernating", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_state_table(ec2_state: str | None, portable: str) -> None:
    assert conv.instance_state(ec2_state) == portable


def test_volumes_groups_addresses_keys_images() -> None:
    volumes = [conv.volume(v) for v in parsed("describe_volumes.xml", "DescribeVolumes")["Volumes"]]
    states = {v.id: v.attributes["state"] for v in volumes}
    # a status EC2 may add later maps to unknown, never a crash
    assert states == {
        "vol-10ae5e2b": "available",
        "vol-v24bfh75": "in-use",
        "vol-b6c851ec": "unknown",
    }
    attached = next(v for v in volumes if v.id == "vol-b6c851ec").attributes
    assert (attached["instance"], attached["device"]) == ("i-d334b4b3", "/dev/sda1")
    # (describe_snapshots.xml is left out: botocore's parser reads its items as empty)
    groups = [
        conv.firewall(g)
        for g in parsed("describe_security_groups.xml", "DescribeSecurityGroups")["SecurityGroups"]
    ]
    rules = [r for g in groups for r in g.attributes["rules"]]
    assert rules and all(set(r) == {"protocol", "ports", "sources"} for r in rules)
    assert all(r["protocol"] in ("tcp", "udp", "icmp", "all") for r in rules)
    addresses = [
        conv.address(a) for a in parsed("describe_addresses.xml", "DescribeAddresses")["Addresses"]
    ]
    assert addresses[0].attributes["ip"]
    keys = [conv.key(k) for k in parsed("describe_key_pairs.xml", "DescribeKeyPairs")["KeyPairs"]]
    assert keys[0].attributes["fingerprint"]
    images = [conv.image(i) for i in parsed("describe_images.xml", "DescribeImages")["Images"]]
    assert len(images) >= 2 and all(i.id.startswith("ami-") for i in images)


def test_rules_round_trip_through_ec2_permissions() -> None:
    rules = [
        {"protocol": "tcp", "ports": "22", "sources": ["10.0.0.0/8"]},
        {"protocol": "udp", "ports": "8000-8080", "sources": ["0.0.0.0/0", "::/0"]},
        {"protocol": "all", "ports": "", "sources": ["192.168.0.0/16"]},
    ]
    assert conv.permissions_to_rules(conv.rules_to_permissions(rules)) == rules


def error(fixture: str, operation: str) -> ClientError:
    body = parsed(fixture, operation, status=400)
    return ClientError({**body, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def test_recorded_errors_map_to_typed_errors() -> None:
    translated = translate(error("describe_key_pairs_doesnt_exist.xml", "DescribeKeyPairs"))
    assert isinstance(translated, NotFoundError)
    assert str(translated) == (
        "InvalidKeyPair.NotFound: The key pair 'test-key-pair' does not exist"
    )


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("InvalidAMIID.NotFound", 400, NotFoundError),
        ("InsufficientInstanceCapacity", 500, QuotaError),
        ("RequestLimitExceeded", 503, TransientError),
        ("DependencyViolation", 400, ConflictError),
        ("InstanceLimitExceeded", 400, QuotaError),
        ("SomethingNew", 500, TransientError),
    ],
)
def test_codes_map(code: str, status: int, kind: type) -> None:
    exc = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "RunInstances",
    )
    mapped = translate(exc)
    assert isinstance(mapped, kind) and mapped.code == code and str(mapped) == f"{code}: m"


def test_client_token_makes_run_instances_idempotent() -> None:
    # AWS answers a repeated RunInstances with the same ClientToken with the same instance;
    # moto ignores ClientToken, so the recorded pair shows what the driver relies on
    first = parsed("run_instances.xml", "RunInstances")
    again = parsed("run_instances_idem.xml", "RunInstances")
    assert again["Instances"][0]["ClientToken"]
    assert conv.instance(again["Instances"][0]).id.startswith("i-")
    assert first["Instances"][0]["InstanceId"].startswith("i-")
    mismatch = error("run_instances_idem_mismatch.xml", "RunInstances")
    assert isinstance(translate(mismatch), ConflictError)  # IdempotentParameterMismatch
