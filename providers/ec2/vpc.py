"""EC2 VPCs (networks) and their subnets, one handler each."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.context import Ec2
from nubes.providers.errors import QuotaError
from nubes.providers.kit import checks, ownership
from nubes.providers.kit.handlers import NoChecks, ReplacedOnly
from nubes.providers.protocol import CloudObject, Ownership, PlannedChange
from nubes.providers.values import Unknown

MAX_INTERFACES = 64  # device indexes; an instance type's own limit is lower, and EC2 says so


def network(item: Mapping[str, Any]) -> CloudObject:
    tags = conv.tags_of(item)
    attrs = {
        "name": tags.get(conv.NAME_TAG),
        "address_block": item.get("CidrBlock"),
        "state": item.get("State") or "available",
    }
    return conv.make("network", item["VpcId"], attrs, tags)


def subnet(item: Mapping[str, Any]) -> CloudObject:
    tags = conv.tags_of(item)
    attrs = {
        "name": tags.get(conv.NAME_TAG),
        "network": item.get("VpcId"),
        "address_block": item.get("CidrBlock"),
        "realm": item.get("AvailabilityZone"),
        "state": item.get("State") or "available",
    }
    return conv.make("subnet", item["SubnetId"], attrs, tags)


class Networks(NoChecks, ReplacedOnly):
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return [network(v) for v in self.ec2.described("describe_vpcs", "Vpcs", filters)]

    def read(self, id: str) -> CloudObject | None:
        return network(self.ec2.describe_one("describe_vpcs", "Vpcs", VpcIds=[id]))

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        # CreateVpc takes no client token: a retry first adopts what an earlier attempt made
        mine = ownership.earlier(self.list, owner)
        if mine is not None:
            return mine
        t = self.ec2.t
        made = t.call(
            t.ec2,
            "create_vpc",
            CidrBlock=str(desired["address_block"]),
            TagSpecifications=conv.tag_spec("vpc", tags),
        )["Vpc"]
        return network(made)

    def delete(self, id: str) -> None:
        self.ec2.t.call(self.ec2.t.ec2, "delete_vpc", VpcId=id)


class Subnets(ReplacedOnly):
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return [subnet(s) for s in self.ec2.described("describe_subnets", "Subnets", filters)]

    def read(self, id: str) -> CloudObject | None:
        return subnet(self.ec2.describe_one("describe_subnets", "Subnets", SubnetIds=[id]))

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_realm(config, self.ec2.zone_names, f"region {self.ec2.region}", change)

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        mine = ownership.earlier(self.list, owner)
        if mine is not None:
            return mine
        params: dict[str, Any] = {
            "VpcId": str(desired["network"]),
            "CidrBlock": str(desired["address_block"]),
            "TagSpecifications": conv.tag_spec("subnet", tags),
        }
        if desired.get("realm") not in (None, Unknown):
            params["AvailabilityZone"] = str(desired["realm"])
        t = self.ec2.t
        return subnet(t.call(t.ec2, "create_subnet", **params)["Subnet"])

    def delete(self, id: str) -> None:
        self.ec2.t.call(self.ec2.t.ec2, "delete_subnet", SubnetId=id)


def interface(item: Mapping[str, Any]) -> CloudObject:
    tags = conv.tags_of({"Tags": item.get("TagSet") or item.get("Tags") or []})
    attachment = item.get("Attachment") or {}
    attrs = {
        "name": tags.get(conv.NAME_TAG),
        "instance": attachment.get("InstanceId"),
        "subnet": item.get("SubnetId"),
        "ip_address": item.get("PrivateIpAddress"),
    }
    return conv.make("network_interface", item["NetworkInterfaceId"], attrs, tags)


class Interfaces(NoChecks, ReplacedOnly):
    """Elastic network interfaces, each attached to its instance at the next free device
    index (an instance's own first interface is not one of these)."""

    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        found = self.ec2.described("describe_network_interfaces", "NetworkInterfaces", filters)
        return [interface(n) for n in found]

    def read(self, id: str) -> CloudObject | None:
        return interface(
            self.ec2.describe_one(
                "describe_network_interfaces", "NetworkInterfaces", NetworkInterfaceIds=[id]
            )
        )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        made = ownership.earlier(self.list, owner)
        if made is not None and made.attributes.get("instance"):
            return made  # made and attached by an earlier attempt
        if made is None:
            made = interface(
                t.call(
                    t.ec2,
                    "create_network_interface",
                    SubnetId=str(desired["subnet"]),
                    TagSpecifications=conv.tag_spec("network-interface", tags),
                )["NetworkInterface"]
            )
        instance = str(desired["instance"])
        found = t.call(t.ec2, "describe_instances", InstanceIds=[instance])
        used = {
            n.get("Attachment", {}).get("DeviceIndex", 0)
            for r in found.get("Reservations") or []
            for i in r.get("Instances") or []
            for n in i.get("NetworkInterfaces") or []
        }
        t.call(
            t.ec2,
            "attach_network_interface",
            NetworkInterfaceId=made.id,
            InstanceId=instance,
            DeviceIndex=_free_index(used, instance),
        )
        return self.ec2.must_read("network_interface", made.id)

    def delete(self, id: str) -> None:
        t = self.ec2.t
        current = self.ec2.describe_one(
            "describe_network_interfaces", "NetworkInterfaces", NetworkInterfaceIds=[id]
        )
        attachment = (current.get("Attachment") or {}).get("AttachmentId")
        if attachment:
            t.call(t.ec2, "detach_network_interface", AttachmentId=attachment, Force=True)

            def detached() -> bool | None:  # a detach takes a while; deleting before is InUse
                found = self.ec2.read("network_interface", id)
                return True if found is None or not found.attributes.get("instance") else None

            t.wait(f"network interface {id} to detach", detached)
        t.call(t.ec2, "delete_network_interface", NetworkInterfaceId=id)


def _free_index(used: set[int], instance: str) -> int:
    free = next((i for i in range(1, MAX_INTERFACES) if i not in used), None)
    if free is None:
        raise QuotaError(
            f"instance {instance} has no free network interface slot",
            "AttachmentLimitExceeded",
        )
    return free
