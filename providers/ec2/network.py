"""EC2 security groups (firewalls) and elastic IPs (addresses), one handler each."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.context import Ec2, default_name
from nubes.providers.errors import ConflictError
from nubes.providers.kit import checks, ownership
from nubes.providers.kit.handlers import NoChecks
from nubes.providers.protocol import TOKEN_TAG, CloudObject, Ownership, PlannedChange
from nubes.providers.rules import check_rules


class Firewalls:
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        groups = self.ec2.described("describe_security_groups", "SecurityGroups", filters)
        return [conv.firewall(g) for g in groups]

    def read(self, id: str) -> CloudObject | None:
        return conv.firewall(self._raw(id))

    def _raw(self, id: str) -> Any:
        return self.ec2.describe_one("describe_security_groups", "SecurityGroups", GroupIds=[id])

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_rules_planned(config, change)

    def _authorize(self, id: str, rules: Any) -> None:
        checked = check_rules(rules or [])
        if checked:
            self.ec2.t.call(
                self.ec2.t.ec2,
                "authorize_security_group_ingress",
                GroupId=id,
                IpPermissions=conv.rules_to_permissions(checked),
            )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        name = str(desired.get("name") or default_name(owner))
        try:
            made = t.call(
                t.ec2,
                "create_security_group",
                GroupName=name,
                TagSpecifications=conv.tag_spec("security-group", tags),
                Description=str(desired.get("description") or "managed by nubes"),
            )
        except ConflictError:
            return ownership.adopt(
                "firewall",
                owner,
                lambda: self.list({TOKEN_TAG: owner.token}),
                name,
                "InvalidGroup.Duplicate",
            )
        self._authorize(made["GroupId"], desired.get("rules"))
        return self.ec2.must_read("firewall", made["GroupId"])

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "rules" not in changed:
            return
        t = self.ec2.t
        current = self._raw(id)
        if current.get("IpPermissions"):
            t.call(
                t.ec2,
                "revoke_security_group_ingress",
                GroupId=id,
                IpPermissions=current["IpPermissions"],
            )
        self._authorize(id, desired.get("rules"))

    def delete(self, id: str) -> None:
        self.ec2.t.call(self.ec2.t.ec2, "delete_security_group", GroupId=id)


class Addresses(NoChecks):
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return [
            conv.address(a) for a in self.ec2.described("describe_addresses", "Addresses", filters)
        ]

    def _raw(self, id: str) -> Any:
        return self.ec2.describe_one("describe_addresses", "Addresses", AllocationIds=[id])

    def read(self, id: str) -> CloudObject | None:
        return conv.address(self._raw(id))

    def _associate(self, id: str, instance: Any) -> None:
        if instance:
            self.ec2.t.call(
                self.ec2.t.ec2, "associate_address", AllocationId=id, InstanceId=str(instance)
            )

    def _disassociate(self, id: str) -> None:
        current = self._raw(id)
        if current.get("AssociationId"):
            self.ec2.t.call(
                self.ec2.t.ec2, "disassociate_address", AssociationId=current["AssociationId"]
            )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        made = t.call(
            t.ec2,
            "allocate_address",
            Domain="vpc",
            TagSpecifications=conv.tag_spec("elastic-ip", tags),
        )
        self._associate(made["AllocationId"], desired.get("instance"))
        return self.ec2.must_read("address", made["AllocationId"])

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "instance" in changed:
            self._disassociate(id)
            self._associate(id, desired.get("instance"))

    def delete(self, id: str) -> None:
        self._disassociate(id)
        self.ec2.t.call(self.ec2.t.ec2, "release_address", AllocationId=id)
