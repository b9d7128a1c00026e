"""What Nova and Neutron share: a server's ports and addresses, floating IPs, security groups
as Nova shows them, images a project can see, and generated key pairs."""

from __future__ import annotations

from typing import Any

from nubes.emulators.openstack.calls import Call
from nubes.emulators.openstack.exceptions import BadRequest, ItemNotFound, NeutronError
from nubes.emulators.openstack.models import (
    FloatingIp,
    Image,
    Port,
    Project,
    SecurityGroup,
    Server,
    new_id,
)


def visible_image(call: Call, id: str) -> Image | None:
    project = call.project
    found = call.cloud.regional(project.region).images.get(id)
    if found is None or (found.visibility != "public" and found.owner != project.id):
        return None
    found.settle(project.now())
    return found


def plug(project: Project, server: Server, network: str) -> Port:
    regional = project.cloud.regional(project.region)
    net = regional.networks[network]
    port = Port(
        new_id(),
        net.id,
        project.id,
        server.id,
        "compute:" + server.zone,
        regional.next_ip(net),
        net.subnet_id,
    )
    port.security_groups = [
        g.id for g in (project.group_by_name(n) for n in server.security_groups) if g
    ]
    regional.ports[port.id] = port
    return port


def unplug(project: Project, server: Server) -> None:
    regional = project.cloud.regional(project.region)
    for port in [p for p in regional.ports.values() if p.device_id == server.id]:
        for fip in project.floating.values():
            if fip.port == port.id:
                fip.port, fip.fixed_ip = None, None
        del regional.ports[port.id]


def server_ports(project: Project, server: Server) -> list[Port]:
    regional = project.cloud.regional(project.region)
    return [p for p in regional.ports.values() if p.device_id == server.id]


def server_addresses(project: Project, server: Server) -> dict[str, list[dict[str, Any]]]:
    if server.status == "BUILD":
        return {}
    regional = project.cloud.regional(project.region)
    found: dict[str, list[dict[str, Any]]] = {}
    for port in server_ports(project, server):
        name = regional.networks[port.network].name
        entries = found.setdefault(name, [])
        entries.append(
            {
                "version": 4,
                "addr": port.ip,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": port.mac,
            }
        )
        for fip in project.floating.values():
            if fip.port == port.id:
                entries.append(
                    {
                        "version": 4,
                        "addr": fip.ip,
                        "OS-EXT-IPS:type": "floating",
                        "OS-EXT-IPS-MAC:mac_addr": port.mac,
                    }
                )
    return found


def allocate_address(project: Project, network: str | None = None) -> FloatingIp:
    regional = project.cloud.regional(project.region)
    net = regional.networks.get(network or regional.public.id)
    if net is None or not net.external:
        raise NeutronError(
            "ExternalGatewayForFloatingIPNotFound",
            f"External network {network} is not reachable from subnet.",
            404,
        )
    if len(project.floating) >= 50:
        raise NeutronError("OverQuota", "Quota exceeded for resources: ['floatingip'].", 409)
    fip = FloatingIp(new_id(), regional.next_ip(net), net.id, project.id)
    project.floating[fip.id] = fip
    return fip


def associate(project: Project, fip: FloatingIp, port_id: str | None) -> None:
    if port_id is None:
        fip.port, fip.fixed_ip = None, None
        return
    regional = project.cloud.regional(project.region)
    port = regional.ports.get(port_id)
    if port is None or port.project != project.id:
        raise NeutronError("PortNotFound", f"Port {port_id} could not be found.", 404)
    other = next((f for f in project.floating.values() if f.port == port.id and f is not fip), None)
    if other is not None:
        raise NeutronError(
            "FloatingIPPortAlreadyAssociated",
            f"Cannot associate floating IP {fip.ip} ({fip.id}) with port {port.id} using fixed "
            f"IP {port.ip}, as that fixed IP already has a floating IP on external network "
            f"{fip.network}.",
            409,
        )
    fip.port, fip.fixed_ip = port.id, port.ip


def associate_address(project: Project, server: Server, address: str) -> None:
    fip = next((f for f in project.floating.values() if f.ip == address), None)
    if fip is None:
        raise ItemNotFound(f"floating IP not found: {address}")
    ports = server_ports(project, server)
    if not ports:
        raise BadRequest("No nw_info cache associated with instance")
    associate(project, fip, ports[0].id)


def disassociate_address(project: Project, address: str) -> None:
    fip = next((f for f in project.floating.values() if f.ip == address), None)
    if fip is None:
        raise ItemNotFound(f"floating IP not found: {address}")
    fip.port, fip.fixed_ip = None, None


def nova_group(g: SecurityGroup) -> dict[str, Any]:
    """A security group as Nova's proxy and its server listing show it."""
    return {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "tenant_id": g.project,
        "rules": [
            {
                "id": r.id,
                "parent_group_id": g.id,
                "ip_protocol": r.protocol,
                "from_port": r.port_min,
                "to_port": r.port_max,
                "ip_range": {"cidr": r.remote_ip_prefix} if r.remote_ip_prefix else {},
                "group": {"name": g.name, "tenant_id": g.project} if r.remote_group else {},
            }
            for r in g.rules
            if r.direction == "ingress" and r.ethertype == "IPv4"
        ],
    }


def generate_key(name: str) -> tuple[str, str]:
    """A new key pair (public in OpenSSH's form, private in PEM), as Nova generates one."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:  # pragma: no cover - cryptography comes with the test tools
        raise BadRequest("Key generation is not available here: give public_key") from None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{public} Generated-by-Nova", private
