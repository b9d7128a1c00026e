"""Neutron security groups (firewalls) and floating IPs (addresses), one handler each.

Neither takes metadata in its creating call, so the ownership is encoded in the description
(kit.ownership) there, and the user's tags follow as Neutron tags (`key=value`).
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Mapping
from typing import Any

from nubes.providers.errors import ConflictError, InvalidRequestError, NotFoundError
from nubes.providers.kit import checks, ownership
from nubes.providers.openstack import converters as conv
from nubes.providers.openstack.compute import default_name, matches
from nubes.providers.openstack.context import OpenStack
from nubes.providers.protocol import CloudObject, Ownership, PlannedChange


def _set_tags(os: OpenStack, resource: str, id: str, tags: Mapping[str, str]) -> None:
    wanted = conv.tag_strings(tags)
    os.service("network").json("PUT", f"/v2.0/{resource}/{id}/tags", json={"tags": wanted})


class Firewalls:
    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        docs = self.os.pages("network", "/v2.0/security-groups", "security_groups")
        project = self.os.keystone.token.project_id
        found = [
            conv.firewall(d) for d in docs if not project or d.get("project_id", project) == project
        ]
        return [f for f in found if matches(f, filters)]

    def read(self, id: str) -> CloudObject | None:
        doc = self.os.service("network").json("GET", f"/v2.0/security-groups/{id}") or {}
        return conv.firewall(doc["security_group"]) if doc.get("security_group") else None

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_rules_planned(config, change)
        if isinstance(change.planned.get("rules"), list):
            change.planned["rules"] = conv.group_rules(change.planned["rules"])
        if config.get("name") == "default":
            change.problems.append(
                (
                    "name",
                    "SecurityGroupDefaultAlreadyExists: the project's default group exists already",
                )
            )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        name = str(desired.get("name") or default_name(owner))
        body = {
            "name": name,
            "description": conv.owned_description(
                desired.get("description"), ownership.encode(owner)
            ),
        }

        def post() -> str:
            made = self.os.service("network").json(
                "POST", "/v2.0/security-groups", json={"security_group": body}
            )
            return str(made["security_group"]["id"])

        id = self.os.create_once("firewall", post, lambda: ownership.earlier(self.list, owner))
        self._rules(id, [], conv.group_rules(desired.get("rules") or []))
        if conv.tag_strings(tags):
            _set_tags(self.os, "security-groups", id, tags)
        return self.os.must_read("firewall", id)

    def _rules(
        self, id: str, before: builtins.list[dict[str, Any]], after: builtins.list[dict[str, Any]]
    ) -> None:
        network = self.os.service("network")
        found = network.json("GET", f"/v2.0/security-groups/{id}")["security_group"]
        wanted = conv.neutron_rules(id, after)
        key = (
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
        )
        have = {
            tuple(r.get(k) for k in key): r["id"]
            for r in found.get("security_group_rules") or []
            if r.get("direction") == "ingress" and not r.get("remote_group_id")
        }
        want = {tuple(r[k] for k in key): r for r in wanted}
        for rule_key, rule_id in have.items():
            if rule_key not in want:
                with contextlib.suppress(NotFoundError):
                    network.request("DELETE", f"/v2.0/security-group-rules/{rule_id}")
        for rule_key, body in want.items():
            if rule_key not in have:
                # SecurityGroupRuleExists: an earlier attempt made it
                with contextlib.suppress(ConflictError):
                    network.json(
                        "POST", "/v2.0/security-group-rules", json={"security_group_rule": body}
                    )

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "rules" in changed:
            self._rules(id, prior.get("rules") or [], conv.group_rules(desired.get("rules") or []))
        if "tags" in changed:
            _set_tags(self.os, "security-groups", id, desired.get("tags") or {})

    def delete(self, id: str) -> None:
        network = self.os.service("network")

        # a server just deleted may hold its port a moment: SecurityGroupInUse until it is gone
        def gone() -> bool | None:
            try:
                network.request("DELETE", f"/v2.0/security-groups/{id}")
            except NotFoundError:
                return True
            except ConflictError as exc:
                if exc.code != "SecurityGroupInUse":
                    raise
                return None
            return True

        self.os.wait(f"firewall {id} to be free to delete", gone, 120.0)


class Addresses:
    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        docs = self.os.pages("network", "/v2.0/floatingips", "floatingips")
        ports = self._devices()
        found = [conv.address(d, ports.get(str(d.get("port_id")))) for d in docs]
        return [a for a in found if matches(a, filters)]

    def _devices(self) -> dict[str, str]:
        """Port ids to the servers they belong to (one list of the project's ports)."""
        ports = self.os.pages("network", "/v2.0/ports", "ports", {"fields": ["id", "device_id"]})
        return {str(p["id"]): str(p.get("device_id") or "") for p in ports}

    def read(self, id: str) -> CloudObject | None:
        doc = self.os.service("network").json("GET", f"/v2.0/floatingips/{id}") or {}
        found = doc.get("floatingip")
        if not found:
            return None
        device = None
        if found.get("port_id") and not found.get("port_details"):
            device = self._devices().get(str(found["port_id"]))
        return conv.address(found, device)

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        return None

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        network = self.os.network(self.os.settings.floating_network, external=True)
        if network is None:
            raise InvalidRequestError(
                "no external network to take a floating IP from (set floating_network)"
            )
        body = {
            "floating_network_id": network,
            "description": conv.owned_description("", ownership.encode(owner)),
        }

        def post() -> str:
            made = self.os.service("network").json(
                "POST", "/v2.0/floatingips", json={"floatingip": body}
            )
            return str(made["floatingip"]["id"])

        id = self.os.create_once("address", post, lambda: ownership.earlier(self.list, owner))
        if conv.tag_strings(tags):
            _set_tags(self.os, "floatingips", id, tags)
        if desired.get("instance"):
            self._associate(id, str(desired["instance"]))
        return self.os.must_read("address", id)

    def _associate(self, id: str, instance: str | None) -> None:
        port = None
        if instance:
            ports = list(self.os.pages("network", "/v2.0/ports", "ports", {"device_id": instance}))
            if not ports:
                raise InvalidRequestError(f"instance {instance} has no port to take an address")
            port = str(ports[0]["id"])
        self.os.service("network").json(
            "PUT", f"/v2.0/floatingips/{id}", json={"floatingip": {"port_id": port}}
        )

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "instance" in changed:
            self._associate(id, desired.get("instance") and str(desired["instance"]))
        if "tags" in changed:
            _set_tags(self.os, "floatingips", id, desired.get("tags") or {})

    def delete(self, id: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.os.service("network").request("DELETE", f"/v2.0/floatingips/{id}")
