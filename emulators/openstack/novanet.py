"""Nova's network proxies below microversion 2.36 (os-security-groups, os-security-group-rules,
os-floating-ips, os-floating-ip-pools), over the same Neutron state, as older clients call them."""

from __future__ import annotations

from typing import Any

from nubes.emulators.openstack import netops
from nubes.emulators.openstack.calls import Answer, Call, ok, proxy_only
from nubes.emulators.openstack.exceptions import BadRequest, ItemNotFound
from nubes.emulators.openstack.models import FloatingIp, Rule, SecurityGroup, new_id


def list_security_groups(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    return ok({"security_groups": [netops.nova_group(g) for g in call.project.groups.values()]})


def show_security_group(call: Call, project_id: str, group_id: str) -> Answer:
    proxy_only(call)
    found = call.project.groups.get(group_id)
    if found is None:
        raise ItemNotFound(f"Security group {group_id} not found.")
    return ok({"security_group": netops.nova_group(found)})


def create_security_group(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    body = call.json("security_group")
    name, description = body.get("name"), body.get("description")
    if not isinstance(name, str) or not name or not isinstance(description, str):
        raise BadRequest("Security group name and description are required")
    project = call.project
    if project.group_by_name(name) is not None:
        raise BadRequest(f"Security group {name} already exists")
    group = SecurityGroup(new_id(), name, project.id, description)
    group.rules = [
        Rule(new_id(), group.id, "egress", "IPv4"),
        Rule(new_id(), group.id, "egress", "IPv6"),
    ]
    project.groups[group.id] = group
    return ok({"security_group": netops.nova_group(group)})


def delete_security_group(call: Call, project_id: str, group_id: str) -> Answer:
    proxy_only(call)
    project = call.project
    group = project.groups.get(group_id)
    if group is None:
        raise ItemNotFound(f"Security group {group_id} not found.")
    if group.name == "default" or any(
        group.name in s.security_groups for s in project.all_servers()
    ):
        raise BadRequest(f"Security group {group.name} is in use or is the default group")
    del project.groups[group.id]
    return ok(None, 202)


def create_security_group_rule(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    body = call.json("security_group_rule")
    group = call.project.groups.get(str(body.get("parent_group_id", "")))
    if group is None:
        raise ItemNotFound(f"Security group {body.get('parent_group_id')} not found.")
    protocol = body.get("ip_protocol")
    if protocol not in ("tcp", "udp", "icmp"):
        raise BadRequest(f"Invalid IP protocol {protocol}.")
    try:
        low, high = int(body.get("from_port")), int(body.get("to_port"))
    except (TypeError, ValueError):
        raise BadRequest("Invalid port range.") from None
    rule = Rule(
        new_id(),
        group.id,
        "ingress",
        "IPv4",
        protocol,
        low,
        high,
        body.get("cidr") or (None if body.get("group_id") else "0.0.0.0/0"),
        body.get("group_id"),
    )
    group.rules.append(rule)
    doc = next(r for r in netops.nova_group(group)["rules"] if r["id"] == rule.id)
    return ok({"security_group_rule": doc})


def delete_security_group_rule(call: Call, project_id: str, rule_id: str) -> Answer:
    proxy_only(call)
    for group in call.project.groups.values():
        for rule in group.rules:
            if rule.id == rule_id:
                group.rules.remove(rule)
                return ok(None, 202)
    raise ItemNotFound(f"Rule ({rule_id}) not found")


def _fip_doc(call: Call, f: FloatingIp) -> dict[str, Any]:
    regional = call.cloud.regional(call.project.region)
    port = regional.ports.get(f.port or "")
    return {
        "id": f.id,
        "ip": f.ip,
        "fixed_ip": f.fixed_ip,
        "pool": regional.networks[f.network].name,
        "instance_id": port.device_id if port else None,
    }


def list_floating_ip_pools(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    regional = call.cloud.regional(call.project.region)
    pools = [{"name": n.name} for n in regional.networks.values() if n.external]
    return ok({"floating_ip_pools": pools})


def list_floating_ips(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    return ok({"floating_ips": [_fip_doc(call, f) for f in call.project.floating.values()]})


def show_floating_ip(call: Call, project_id: str, address_id: str) -> Answer:
    proxy_only(call)
    found = call.project.floating.get(address_id)
    if found is None:
        raise ItemNotFound(f"Floating IP not found for ID {address_id}")
    return ok({"floating_ip": _fip_doc(call, found)})


def create_floating_ip(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    body = call.json() or {}
    regional = call.cloud.regional(call.project.region)
    pool = body.get("pool") if isinstance(body, dict) else None
    network = next(
        (n for n in regional.networks.values() if n.external and n.name == (pool or n.name)), None
    )
    if network is None:
        raise ItemNotFound(f"Floating IP pool not found: {pool}")
    fip = netops.allocate_address(call.project, network.id)
    return ok({"floating_ip": _fip_doc(call, fip)})


def delete_floating_ip(call: Call, project_id: str, address_id: str) -> Answer:
    proxy_only(call)
    if call.project.floating.pop(address_id, None) is None:
        raise ItemNotFound(f"Floating IP not found for ID {address_id}")
    return ok(None, 202)
