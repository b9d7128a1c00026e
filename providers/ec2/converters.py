"""Pure conversions between EC2's documents and the portable model. No I/O here.

EC2 state names map onto the portable instance states through one table; a name it does not list
is `unknown`, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from nubes.providers.kit.states import StateMap
from nubes.providers.protocol import CloudObject, HardwareProfile, Image

INSTANCE_STATES = StateMap(
    {
        "pending": "pending",
        "running": "running",
        "stopping": "stopping",
        "stopped": "stopped",
        "shutting-down": "stopping",
        "terminated": "terminated",
    }
)
VOLUME_STATES = StateMap(
    {
        "creating": "creating",
        "available": "available",
        "in-use": "in-use",
        "deleting": "deleting",
        "deleted": "deleted",
        "error": "error",
    }
)
SNAPSHOT_STATES = StateMap(
    {
        "pending": "pending",
        "completed": "completed",
        "error": "error",
        "recoverable": "error",
    }
)
IMAGE_STATES = StateMap(
    {
        "pending": "pending",
        "available": "available",
        "invalid": "error",
        "deregistered": "deleted",
        "failed": "error",
        "error": "error",
    }
)
NAME_TAG = "Name"


def instance_state(name: str | None) -> str:
    return INSTANCE_STATES(name)


def tags_of(item: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or [] if "Key" in t}


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("nubes:") and k != NAME_TAG}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]


def tag_spec(resource_type: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]


def iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def make(type_: str, id_: str, attrs: dict[str, Any], tags: dict[str, str]) -> CloudObject:
    """An object of the portable model: its attributes, its id, and its user and own tags."""
    attrs["id"] = id_
    attrs["tags"] = user_tags(tags)
    return CloudObject(type_, id_, attrs, tags)


def instance(item: Mapping[str, Any]) -> CloudObject:
    tags = tags_of(item)
    attrs = {
        "name": tags.get(NAME_TAG),
        "image": item.get("ImageId"),
        "size": item.get("InstanceType"),
        "realm": (item.get("Placement") or {}).get("AvailabilityZone"),
        "key": item.get("KeyName"),
        "firewalls": [g["GroupId"] for g in item.get("SecurityGroups") or []],
        "state": instance_state((item.get("State") or {}).get("Name")),
        "public_ip": item.get("PublicIpAddress"),
        "private_ip": item.get("PrivateIpAddress"),
        "hardware_profile": item.get("InstanceType"),
        "subnet": item.get("SubnetId"),
        "launched_at": iso(item.get("LaunchTime")),
    }
    return make("instance", item["InstanceId"], attrs, tags)


def instances(reservations: Iterable[Mapping[str, Any]]) -> list[CloudObject]:
    return [instance(i) for r in reservations for i in r.get("Instances") or []]


def key(item: Mapping[str, Any]) -> CloudObject:
    attrs = {"name": item["KeyName"], "fingerprint": item.get("KeyFingerprint")}
    return make("key", item.get("KeyPairId") or item["KeyName"], attrs, tags_of(item))


def rules_to_permissions(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Portable rules (already normalized) as EC2 IpPermissions."""
    out = []
    for rule in rules:
        protocol = "-1" if rule["protocol"] == "all" else rule["protocol"]
        perm: dict[str, Any] = {
            "IpProtocol": protocol,
            "IpRanges": [{"CidrIp": s} for s in rule["sources"] if ":" not in s],
            "Ipv6Ranges": [{"CidrIpv6": s} for s in rule["sources"] if ":" in s],
        }
        if protocol != "-1":
            low, _, high = (rule["ports"] or ("-1" if protocol == "icmp" else "0-65535")).partition(
                "-"
            )
            perm["FromPort"] = int(low)
            perm["ToPort"] = int(high or low)
        out.append(perm)
    return out


def permissions_to_rules(perms: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for perm in perms:
        protocol = perm.get("IpProtocol", "-1")
        protocol = "all" if protocol in ("-1", -1) else str(protocol)
        low, high = perm.get("FromPort"), perm.get("ToPort")
        if protocol == "all" or low is None or (low in (0, -1) and high in (65535, -1)):
            ports = ""
        else:
            ports = str(low) if low == high else f"{low}-{high}"
        sources = [r["CidrIp"] for r in perm.get("IpRanges") or []]
        sources += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges") or []]
        out.append({"protocol": protocol, "ports": ports, "sources": sources or ["0.0.0.0/0"]})
    return out


def firewall(item: Mapping[str, Any]) -> CloudObject:
    attrs = {
        "name": item.get("GroupName"),
        "description": item.get("Description") or "",
        "rules": permissions_to_rules(item.get("IpPermissions") or []),
    }
    return make("firewall", item["GroupId"], attrs, tags_of(item))


def volume(item: Mapping[str, Any]) -> CloudObject:
    tags = tags_of(item)
    attached = [
        a for a in item.get("Attachments") or [] if a.get("State") in ("attaching", "attached")
    ]
    attrs = {
        "name": tags.get(NAME_TAG),
        "size_gb": item.get("Size"),
        "realm": item.get("AvailabilityZone"),
        "instance": attached[0]["InstanceId"] if attached else None,
        "device": attached[0].get("Device") if attached else None,
        "state": VOLUME_STATES(item.get("State")),
    }
    return make("volume", item["VolumeId"], attrs, tags)


def snapshot(item: Mapping[str, Any]) -> CloudObject:
    tags = tags_of(item)
    attrs = {
        "volume": item.get("VolumeId"),
        "name": tags.get(NAME_TAG) or item.get("Description"),
        "state": SNAPSHOT_STATES(item.get("State")),
        "size_gb": item.get("VolumeSize"),
    }
    return make("snapshot", item["SnapshotId"], attrs, tags)


def address(item: Mapping[str, Any]) -> CloudObject:
    attrs = {"instance": item.get("InstanceId") or None, "ip": item.get("PublicIp")}
    return make("address", item.get("AllocationId") or item["PublicIp"], attrs, tags_of(item))


def image(item: Mapping[str, Any]) -> CloudObject:
    tags = tags_of(item)
    attrs = {
        "name": item.get("Name"),
        "instance": tags.get("nubes:source-instance"),
        "state": IMAGE_STATES(item.get("State")),
    }
    return make("image", item["ImageId"], attrs, tags)


def bucket(name: str, tags: Mapping[str, str]) -> CloudObject:
    return make("bucket", name, {"name": name}, dict(tags))


def image_info(item: Mapping[str, Any]) -> Image:
    """An AMI as the portable catalog entry (what GET /api/images lists)."""
    return Image(
        item["ImageId"],
        item.get("Name") or item["ImageId"],
        item.get("Description") or "",
        item.get("Architecture", "x86_64"),
        IMAGE_STATES(item.get("State")),
        item.get("OwnerId", ""),
        str(item.get("CreationDate") or ""),
    )


def hardware_profile(item: Mapping[str, Any]) -> HardwareProfile:
    """An instance type as a fixed hardware profile."""
    storage = (item.get("InstanceStorageInfo") or {}).get("TotalSizeInGB", 0)
    archs = (item.get("ProcessorInfo") or {}).get("SupportedArchitectures") or ["x86_64"]
    if "x86_64" in archs:  # i386-and-x86_64 types (t2) run 64-bit images too
        archs = ["x86_64"]
    return HardwareProfile(
        item["InstanceType"],
        item["InstanceType"],
        item["VCpuInfo"]["DefaultVCpus"],
        item["MemoryInfo"]["SizeInMiB"] / 1024,
        storage,
        archs[0],
    )
