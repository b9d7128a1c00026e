"""Neutron v2.0: networks, subnets and ports (what servers plug into), security groups and
their rules, floating IPs, tags, quotas; filters on any attribute, `fields`, and paging."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from nubes.emulators.openstack import netops
from nubes.emulators.openstack.calls import Answer, Call, ok, page
from nubes.emulators.openstack.exceptions import NeutronError
from nubes.emulators.openstack.models import (
    FloatingIp,
    Network,
    Port,
    Rule,
    SecurityGroup,
    new_id,
)

PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6", None}


def versions(call: Call) -> Answer:
    """GET /network"""
    return ok(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": call.url("/network/v2.0/")}],
                }
            ]
        }
    )


def list_extensions(call: Call) -> Answer:
    names = [
        "security-group",
        "router",
        "external-net",
        "standard-attr-tag",
        "quotas",
        "pagination",
        "sorting",
        "standard-attr-description",
    ]
    return ok(
        {
            "extensions": [
                {
                    "alias": n,
                    "name": n,
                    "description": n,
                    "links": [],
                    "updated": "2013-01-01T00:00:00-00:00",
                }
                for n in names
            ]
        }
    )


def _listing(call: Call, key: str, docs: list[dict[str, Any]]) -> Answer:
    """Neutron's list answer: filters on any attribute the documents have, `tags` (all of),
    `fields`, then `limit`/`marker` paging with `<key>_links`."""
    for name in {k for k, _ in call.query} - {
        "fields",
        "limit",
        "marker",
        "page_reverse",
        "sort_key",
        "sort_dir",
        "tags",
        "tags-any",
    }:
        wanted = call.args(name)
        docs = [d for d in docs if name not in d or _text(d[name]) in wanted]
    tags = call.arg("tags")
    if tags:
        need = set(tags.split(","))
        docs = [d for d in docs if need <= set(d.get("tags", []))]
    chunk, links = page(call, docs, key, f"/network/v2.0/{key.replace('_', '-')}")
    fields = call.args("fields")
    if fields:
        chunk = [{k: v for k, v in d.items() if k in fields} for d in chunk]
    doc: dict[str, Any] = {key: chunk}
    if links:
        doc[f"{key}_links"] = links
    return ok(doc)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)


def _common(project: str | None, tags: list[str], created: str = "") -> dict[str, Any]:
    return {
        "tenant_id": project or "",
        "project_id": project or "",
        "tags": list(tags),
        "created_at": created,
        "updated_at": created,
        "revision_number": 1,
        "description": "",
    }


# ---- networks, subnets, ports -----------------------------------------------------------------


def _visible_networks(call: Call) -> list[Network]:
    project = call.project
    regional = call.cloud.regional(project.region)
    return [n for n in regional.networks.values() if n.project in (None, project.id) or n.shared]


def network_doc(n: Network) -> dict[str, Any]:
    return {
        **_common(n.project, []),
        "id": n.id,
        "name": n.name,
        "status": "ACTIVE",
        "subnets": [n.subnet_id],
        "admin_state_up": True,
        "shared": n.shared,
        "router:external": n.external,
        "mtu": 1450,
        "port_security_enabled": True,
        "availability_zones": ["nova"],
        "is_default": n.external,
    }


def subnet_doc(n: Network) -> dict[str, Any]:
    hosts = ipaddress.ip_network(n.cidr).hosts()
    gateway, first = str(next(hosts)), str(next(hosts))
    last = str(ipaddress.ip_network(n.cidr).broadcast_address - 1)
    return {
        **_common(n.project, []),
        "id": n.subnet_id,
        "name": f"{n.name}-subnet",
        "network_id": n.id,
        "cidr": n.cidr,
        "ip_version": 4,
        "gateway_ip": gateway,
        "enable_dhcp": not n.external,
        "dns_nameservers": [],
        "host_routes": [],
        "allocation_pools": [{"start": first, "end": last}],
    }


def port_doc(p: Port) -> dict[str, Any]:
    return {
        **_common(p.project, []),
        "id": p.id,
        "name": "",
        "network_id": p.network,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "status": p.status,
        "mac_address": p.mac,
        "admin_state_up": True,
        "security_groups": p.security_groups,
        "fixed_ips": [{"subnet_id": p.subnet_id, "ip_address": p.ip}],
        "binding:vnic_type": "normal",
        "allowed_address_pairs": [],
    }


def list_networks(call: Call) -> Answer:
    return _listing(call, "networks", [network_doc(n) for n in _visible_networks(call)])


def show_network(call: Call, network_id: str) -> Answer:
    found = next((n for n in _visible_networks(call) if n.id == network_id), None)
    if found is None:
        raise NeutronError("NetworkNotFound", f"Network {network_id} could not be found.", 404)
    return ok({"network": network_doc(found)})


def list_subnets(call: Call) -> Answer:
    return _listing(call, "subnets", [subnet_doc(n) for n in _visible_networks(call)])


def _ports(call: Call) -> list[Port]:
    project = call.project
    return [
        p for p in call.cloud.regional(project.region).ports.values() if p.project == project.id
    ]


def list_ports(call: Call) -> Answer:
    return _listing(call, "ports", [port_doc(p) for p in _ports(call)])


def show_port(call: Call, port_id: str) -> Answer:
    found = next((p for p in _ports(call) if p.id == port_id), None)
    if found is None:
        raise NeutronError("PortNotFound", f"Port {port_id} could not be found.", 404)
    return ok({"port": port_doc(found)})


# ---- security groups --------------------------------------------------------------------------


def rule_doc(g: SecurityGroup, r: Rule) -> dict[str, Any]:
    return {
        **_common(g.project, [], g.created),
        "id": r.id,
        "security_group_id": g.id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_min,
        "port_range_max": r.port_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": r.remote_group,
        "description": r.description,
    }


def group_doc(g: SecurityGroup) -> dict[str, Any]:
    return {
        **_common(g.project, g.tags, g.created),
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "stateful": True,
        "security_group_rules": [rule_doc(g, r) for r in g.rules],
    }


def _group(call: Call, id: str) -> SecurityGroup:
    found = call.project.groups.get(id)
    if found is None:
        raise NeutronError("SecurityGroupNotFound", f"Security group {id} does not exist", 404)
    return found


def list_security_groups(call: Call) -> Answer:
    groups = sorted(call.project.groups.values(), key=lambda g: g.created + g.id)
    return _listing(call, "security_groups", [group_doc(g) for g in groups])


def show_security_group(call: Call, group_id: str) -> Answer:
    return ok({"security_group": group_doc(_group(call, group_id))})


def create_security_group(call: Call) -> Answer:
    body = _body(call, "security_group")
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 255:
        raise NeutronError("HTTPBadRequest", "Invalid input for name.")
    if name == "default":
        raise NeutronError(
            "SecurityGroupDefaultAlreadyExists", "Default security group already exists.", 409
        )
    project = call.project
    if len(project.groups) >= call.cloud.knobs.max_security_groups:
        raise NeutronError("OverQuota", "Quota exceeded for resources: ['security_group'].", 409)
    group = SecurityGroup(new_id(), name, project.id, str(body.get("description") or ""))
    group.rules = [
        Rule(new_id(), group.id, "egress", "IPv4"),
        Rule(new_id(), group.id, "egress", "IPv6"),
    ]
    project.groups[group.id] = group
    return ok({"security_group": group_doc(group)}, 201)


def update_security_group(call: Call, group_id: str) -> Answer:
    group = _group(call, group_id)
    body = _body(call, "security_group")
    if "name" in body:
        group.name = str(body["name"])
    if "description" in body:
        group.description = str(body["description"] or "")
    return ok({"security_group": group_doc(group)})


def delete_security_group(call: Call, group_id: str) -> Answer:
    project = call.project
    group = _group(call, group_id)
    if group.name == "default":
        raise NeutronError(
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
            409,
        )
    users = [s for s in project.all_servers() if group.name in s.security_groups]
    if users:
        raise NeutronError("SecurityGroupInUse", f"Security Group {group.id} in use.", 409)
    del project.groups[group.id]
    return ok(None, 204)


def list_security_group_rules(call: Call) -> Answer:
    docs = [rule_doc(g, r) for g in call.project.groups.values() for r in g.rules]
    return _listing(call, "security_group_rules", docs)


def create_security_group_rule(call: Call) -> Answer:
    body = _body(call, "security_group_rule")
    group = _group(call, str(body.get("security_group_id", "")))
    direction = body.get("direction")
    if direction not in ("ingress", "egress"):
        raise NeutronError(
            "HTTPBadRequest",
            f"Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress'].",
        )
    protocol = body.get("protocol")
    protocol = None if protocol in (None, "any") else str(protocol).lower()
    if protocol not in PROTOCOLS:
        raise NeutronError(
            "SecurityGroupRuleInvalidProtocol",
            f"Security group rule protocol {protocol} not supported. Only "
            "protocol values [None, 'tcp', 'udp', 'icmp'] and integer "
            "representations [0 to 255] are supported.",
        )
    low, high = body.get("port_range_min"), body.get("port_range_max")
    for value in (low, high):
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 65535):
            raise NeutronError("SecurityGroupInvalidPortValue", f"Invalid value for port {value}.")
    if low is not None and high is not None and low > high:
        raise NeutronError(
            "SecurityGroupInvalidPortRange",
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        )
    if (low is not None or high is not None) and protocol is None:
        raise NeutronError(
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        )
    rule = Rule(
        new_id(),
        group.id,
        direction,
        str(body.get("ethertype") or "IPv4"),
        protocol,
        low,
        high,
        body.get("remote_ip_prefix"),
        body.get("remote_group_id"),
        str(body.get("description") or ""),
    )
    for other in group.rules:
        if (
            other.direction,
            other.ethertype,
            other.protocol,
            other.port_min,
            other.port_max,
            other.remote_ip_prefix,
            other.remote_group,
        ) == (
            rule.direction,
            rule.ethertype,
            rule.protocol,
            rule.port_min,
            rule.port_max,
            rule.remote_ip_prefix,
            rule.remote_group,
        ):
            raise NeutronError(
                "SecurityGroupRuleExists",
                f"Security group rule already exists. Rule id is {other.id}.",
                409,
            )
    group.rules.append(rule)
    return ok({"security_group_rule": rule_doc(group, rule)}, 201)


def show_security_group_rule(call: Call, rule_id: str) -> Answer:
    for group in call.project.groups.values():
        for rule in group.rules:
            if rule.id == rule_id:
                return ok({"security_group_rule": rule_doc(group, rule)})
    raise NeutronError(
        "SecurityGroupRuleNotFound", f"Security group rule {rule_id} does not exist", 404
    )


def delete_security_group_rule(call: Call, rule_id: str) -> Answer:
    for group in call.project.groups.values():
        for rule in group.rules:
            if rule.id == rule_id:
                group.rules.remove(rule)
                return ok(None, 204)
    raise NeutronError(
        "SecurityGroupRuleNotFound", f"Security group rule {rule_id} does not exist", 404
    )


# ---- floating IPs -----------------------------------------------------------------------------


def floating_doc(call: Call, f: FloatingIp) -> dict[str, Any]:
    port = call.cloud.regional(call.project.region).ports.get(f.port or "")
    details = None
    if port is not None:
        details = {
            "name": "",
            "network_id": port.network,
            "mac_address": port.mac,
            "admin_state_up": True,
            "status": port.status,
            "device_id": port.device_id,
            "device_owner": port.device_owner,
        }
    return {
        "port_details": details,
        **_common(f.project, f.tags, f.created),
        "id": f.id,
        "floating_ip_address": f.ip,
        "floating_network_id": f.network,
        "port_id": f.port,
        "fixed_ip_address": f.fixed_ip,
        "status": f.status,
        "router_id": new_id() if f.port else None,
        "description": f.description,
        "dns_name": "",
        "dns_domain": "",
    }


def _floating(call: Call, id: str) -> FloatingIp:
    found = call.project.floating.get(id)
    if found is None:
        raise NeutronError("FloatingIPNotFound", f"Floating IP {id} could not be found", 404)
    return found


def list_floatingips(call: Call) -> Answer:
    items = sorted(call.project.floating.values(), key=lambda f: f.created + f.id)
    return _listing(call, "floatingips", [floating_doc(call, f) for f in items])


def show_floatingip(call: Call, floatingip_id: str) -> Answer:
    return ok({"floatingip": floating_doc(call, _floating(call, floatingip_id))})


def create_floatingip(call: Call) -> Answer:
    body = _body(call, "floatingip")
    network = body.get("floating_network_id")
    if not network:
        raise NeutronError(
            "HTTPBadRequest", "Invalid input for operation: floating_network_id is required."
        )
    fip = netops.allocate_address(call.project, str(network))
    fip.description = str(body.get("description") or "")
    if body.get("port_id"):
        netops.associate(call.project, fip, str(body["port_id"]))
    return ok({"floatingip": floating_doc(call, fip)}, 201)


def update_floatingip(call: Call, floatingip_id: str) -> Answer:
    fip = _floating(call, floatingip_id)
    body = _body(call, "floatingip")
    if "port_id" in body:
        netops.associate(call.project, fip, body["port_id"] and str(body["port_id"]))
    if "description" in body:
        fip.description = str(body["description"] or "")
    return ok({"floatingip": floating_doc(call, fip)})


def delete_floatingip(call: Call, floatingip_id: str) -> Answer:
    fip = _floating(call, floatingip_id)
    del call.project.floating[fip.id]
    return ok(None, 204)


# ---- tags (standard-attr-tag) and quotas ------------------------------------------------------


def _tagged(call: Call, resource: str, id: str) -> list[str]:
    holders: dict[str, Callable[[], Any]] = {
        "security-groups": lambda: call.project.groups.get(id),
        "floatingips": lambda: call.project.floating.get(id),
    }
    getter = holders.get(resource)
    found = getter() if getter else None
    if found is None:
        raise NeutronError("NotFound", f"{resource} {id} could not be found.", 404)
    tags: list[str] = found.tags
    return tags


def list_tags(call: Call, resource: str, id: str) -> Answer:
    return ok({"tags": list(_tagged(call, resource, id))})


def replace_tags(call: Call, resource: str, id: str) -> Answer:
    tags = _tagged(call, resource, id)
    body = call.json()
    wanted = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(wanted, list) or not all(
        isinstance(t, str) and 0 < len(t) <= 255 for t in wanted
    ):
        raise NeutronError("HTTPBadRequest", "Invalid input for tags.")
    tags[:] = list(dict.fromkeys(wanted))
    return ok({"tags": list(tags)})


def add_tag(call: Call, resource: str, id: str, tag: str) -> Answer:
    tags = _tagged(call, resource, id)
    if len(tag) > 255:
        raise NeutronError("HTTPBadRequest", "Invalid input for tag.")
    if tag not in tags:
        tags.append(tag)
    return ok(None, 201)


def delete_tag(call: Call, resource: str, id: str, tag: str) -> Answer:
    tags = _tagged(call, resource, id)
    if tag not in tags:
        raise NeutronError("TagNotFound", f"Tag {tag} could not be found.", 404)
    tags.remove(tag)
    return ok(None, 204)


def show_quota(call: Call, project_id: str) -> Answer:
    return ok(
        {
            "quota": {
                "floatingip": 50,
                "network": 100,
                "port": 500,
                "router": 10,
                "security_group": 10,
                "security_group_rule": 100,
                "subnet": 100,
            }
        }
    )


def _body(call: Call, key: str) -> dict[str, Any]:
    doc = call.json()
    if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
        raise NeutronError("HTTPBadRequest", f"Resource body required: '{key}'")
    body: dict[str, Any] = doc[key]
    return body
