"""Routing only: (method, path pattern, handler, service) for every API action the emulator
serves. `{name}` matches one path segment, `{name:path}` the rest of the path (Swift's object
names hold slashes). A service other than `open` needs a valid token; one whose path has
`{project_id}` or `{account}` needs the token's own project there."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nubes.emulators.openstack import (
    compute,
    identity,
    image,
    network,
    novanet,
    objects,
    volume,
)

Handler = Callable[..., Any]

C = "/compute/v2.1/{project_id}"
V = "/volume/{version}/{project_id}"
N = "/network/v2.0"
S = "/object-store/v1/{account}"

ROUTES: list[tuple[str, str, Handler, str]] = [
    ("GET", "/identity", identity.versions, "open"),
    ("GET", "/identity/v3", identity.version_v3, "open"),
    ("GET", "/identity/v2.0", identity.version_v2, "open"),
    ("POST", "/identity/v3/auth/tokens", identity.create_token, "open"),
    ("POST", "/identity/v2.0/tokens", identity.create_token_v2, "open"),
    ("GET", "/identity/v3/auth/tokens", identity.validate_token, "identity"),
    ("DELETE", "/identity/v3/auth/tokens", identity.revoke_token, "identity"),
    ("GET", "/identity/v3/auth/projects", identity.list_projects_for_token, "identity"),
    (
        "POST",
        "/identity/v3/users/{user_id}/application_credentials",
        identity.create_application_credential,
        "identity",
    ),
    # Nova
    ("GET", "/compute", compute.versions, "open"),
    ("GET", "/compute/v2.1", compute.version, "open"),
    ("GET", C, compute.version, "compute"),
    ("GET", C + "/servers", compute.list_servers, "compute"),
    ("GET", C + "/servers/detail", compute.list_servers_detailed, "compute"),
    ("POST", C + "/servers", compute.create_server, "compute"),
    ("GET", C + "/servers/{server_id}", compute.show_server, "compute"),
    ("PUT", C + "/servers/{server_id}", compute.update_server, "compute"),
    ("DELETE", C + "/servers/{server_id}", compute.delete_server, "compute"),
    ("POST", C + "/servers/{server_id}/action", compute.server_action, "compute"),
    ("GET", C + "/servers/{server_id}/metadata", compute.list_metadata, "compute"),
    ("PUT", C + "/servers/{server_id}/metadata", compute.replace_metadata, "compute"),
    ("POST", C + "/servers/{server_id}/metadata", compute.update_metadata, "compute"),
    ("GET", C + "/servers/{server_id}/metadata/{key}", compute.show_metadata_item, "compute"),
    ("PUT", C + "/servers/{server_id}/metadata/{key}", compute.set_metadata_item, "compute"),
    ("DELETE", C + "/servers/{server_id}/metadata/{key}", compute.delete_metadata_item, "compute"),
    (
        "GET",
        C + "/servers/{server_id}/os-security-groups",
        compute.list_server_security_groups,
        "compute",
    ),
    (
        "GET",
        C + "/servers/{server_id}/os-volume_attachments",
        compute.list_volume_attachments,
        "compute",
    ),
    ("POST", C + "/servers/{server_id}/os-volume_attachments", compute.attach_volume, "compute"),
    ("GET", C + "/servers/{server_id}/os-interface", compute.list_interfaces, "compute"),
    (
        "GET",
        C + "/servers/{server_id}/os-volume_attachments/{volume_id}",
        compute.show_volume_attachment,
        "compute",
    ),
    (
        "DELETE",
        C + "/servers/{server_id}/os-volume_attachments/{volume_id}",
        compute.detach_volume,
        "compute",
    ),
    ("GET", C + "/flavors", compute.list_flavors, "compute"),
    ("GET", C + "/flavors/detail", compute.list_flavors_detailed, "compute"),
    ("GET", C + "/flavors/{flavor_id}", compute.show_flavor, "compute"),
    ("GET", C + "/flavors/{flavor_id}/os-extra_specs", compute.list_flavor_extra_specs, "compute"),
    ("GET", C + "/os-availability-zone", compute.list_availability_zones, "compute"),
    ("GET", C + "/os-availability-zone/{detail}", compute.list_availability_zones, "compute"),
    ("GET", C + "/limits", compute.show_limits, "compute"),
    ("GET", C + "/os-quota-sets/{tenant_id}", compute.show_quota_set, "compute"),
    ("GET", C + "/os-keypairs", compute.list_keypairs, "compute"),
    ("POST", C + "/os-keypairs", compute.create_keypair, "compute"),
    ("GET", C + "/os-keypairs/{name}", compute.show_keypair, "compute"),
    ("DELETE", C + "/os-keypairs/{name}", compute.delete_keypair, "compute"),
    # Nova's proxies, below microversion 2.36
    ("GET", C + "/images", image.nova_list_images, "compute"),
    ("GET", C + "/images/{detail:detail}", image.nova_list_images, "compute"),
    ("GET", C + "/images/{image_id}", image.nova_show_image, "compute"),
    ("DELETE", C + "/images/{image_id}", image.nova_delete_image, "compute"),
    ("GET", C + "/os-volumes", volume.nova_list_volumes, "compute"),
    ("GET", C + "/os-volumes/{detail:detail}", volume.nova_list_volumes, "compute"),
    ("POST", C + "/os-volumes", volume.nova_create_volume, "compute"),
    ("GET", C + "/os-volumes/{volume_id}", volume.nova_show_volume, "compute"),
    ("DELETE", C + "/os-volumes/{volume_id}", volume.nova_delete_volume, "compute"),
    ("GET", C + "/os-snapshots", volume.nova_list_snapshots, "compute"),
    ("GET", C + "/os-snapshots/{detail:detail}", volume.nova_list_snapshots, "compute"),
    ("POST", C + "/os-snapshots", volume.nova_create_snapshot, "compute"),
    ("DELETE", C + "/os-snapshots/{snapshot_id}", volume.nova_delete_snapshot, "compute"),
    ("GET", C + "/os-security-groups", novanet.list_security_groups, "compute"),
    ("POST", C + "/os-security-groups", novanet.create_security_group, "compute"),
    ("GET", C + "/os-security-groups/{group_id}", novanet.show_security_group, "compute"),
    ("DELETE", C + "/os-security-groups/{group_id}", novanet.delete_security_group, "compute"),
    ("POST", C + "/os-security-group-rules", novanet.create_security_group_rule, "compute"),
    (
        "DELETE",
        C + "/os-security-group-rules/{rule_id}",
        novanet.delete_security_group_rule,
        "compute",
    ),
    ("GET", C + "/os-floating-ip-pools", novanet.list_floating_ip_pools, "compute"),
    ("GET", C + "/os-floating-ips", novanet.list_floating_ips, "compute"),
    ("POST", C + "/os-floating-ips", novanet.create_floating_ip, "compute"),
    ("GET", C + "/os-floating-ips/{address_id}", novanet.show_floating_ip, "compute"),
    ("DELETE", C + "/os-floating-ips/{address_id}", novanet.delete_floating_ip, "compute"),
    # Glance
    ("GET", "/image", image.versions, "open"),
    ("GET", "/image/v2", image.versions, "open"),
    ("GET", "/image/v2/images", image.list_images, "image"),
    ("POST", "/image/v2/images", image.create_image, "image"),
    ("GET", "/image/v2/images/{image_id}", image.show_image, "image"),
    ("PATCH", "/image/v2/images/{image_id}", image.update_image, "image"),
    ("DELETE", "/image/v2/images/{image_id}", image.delete_image, "image"),
    ("PUT", "/image/v2/images/{image_id}/tags/{tag}", image.add_image_tag, "image"),
    ("DELETE", "/image/v2/images/{image_id}/tags/{tag}", image.delete_image_tag, "image"),
    # Cinder
    ("GET", "/volume", volume.versions, "open"),
    ("GET", "/volume/{version:v3|v2}", volume.version, "open"),
    ("GET", V, volume.version, "volume"),
    ("GET", V + "/volumes", volume.list_volumes, "volume"),
    ("GET", V + "/volumes/detail", volume.list_volumes_detailed, "volume"),
    ("POST", V + "/volumes", volume.create_volume, "volume"),
    ("GET", V + "/volumes/{volume_id}", volume.show_volume, "volume"),
    ("PUT", V + "/volumes/{volume_id}", volume.update_volume, "volume"),
    ("DELETE", V + "/volumes/{volume_id}", volume.delete_volume, "volume"),
    ("POST", V + "/volumes/{volume_id}/action", volume.volume_action, "volume"),
    ("GET", V + "/volumes/{volume_id}/metadata", volume.list_volume_metadata, "volume"),
    ("POST", V + "/volumes/{volume_id}/metadata", volume.update_volume_metadata, "volume"),
    ("PUT", V + "/volumes/{volume_id}/metadata", volume.update_volume_metadata, "volume"),
    ("GET", V + "/snapshots", volume.list_snapshots, "volume"),
    ("GET", V + "/snapshots/{detail:detail}", volume.list_snapshots, "volume"),
    ("POST", V + "/snapshots", volume.create_snapshot, "volume"),
    ("GET", V + "/snapshots/{snapshot_id}", volume.show_snapshot, "volume"),
    ("PUT", V + "/snapshots/{snapshot_id}", volume.update_snapshot, "volume"),
    ("DELETE", V + "/snapshots/{snapshot_id}", volume.delete_snapshot, "volume"),
    ("PUT", V + "/snapshots/{snapshot_id}/metadata", volume.update_snapshot_metadata, "volume"),
    ("POST", V + "/snapshots/{snapshot_id}/metadata", volume.update_snapshot_metadata, "volume"),
    ("GET", V + "/os-quota-sets/{tenant_id}", volume.show_quota_set, "volume"),
    ("GET", V + "/limits", volume.show_limits, "volume"),
    ("GET", V + "/os-availability-zone", volume.list_availability_zones, "volume"),
    # Neutron
    ("GET", "/network", network.versions, "open"),
    ("GET", N, network.versions, "open"),
    ("GET", N + "/extensions", network.list_extensions, "network"),
    ("GET", N + "/networks", network.list_networks, "network"),
    ("GET", N + "/networks/{network_id}", network.show_network, "network"),
    ("GET", N + "/subnets", network.list_subnets, "network"),
    ("GET", N + "/ports", network.list_ports, "network"),
    ("GET", N + "/ports/{port_id}", network.show_port, "network"),
    ("GET", N + "/security-groups", network.list_security_groups, "network"),
    ("POST", N + "/security-groups", network.create_security_group, "network"),
    ("GET", N + "/security-groups/{group_id}", network.show_security_group, "network"),
    ("PUT", N + "/security-groups/{group_id}", network.update_security_group, "network"),
    ("DELETE", N + "/security-groups/{group_id}", network.delete_security_group, "network"),
    ("GET", N + "/security-group-rules", network.list_security_group_rules, "network"),
    ("POST", N + "/security-group-rules", network.create_security_group_rule, "network"),
    ("GET", N + "/security-group-rules/{rule_id}", network.show_security_group_rule, "network"),
    (
        "DELETE",
        N + "/security-group-rules/{rule_id}",
        network.delete_security_group_rule,
        "network",
    ),
    ("GET", N + "/floatingips", network.list_floatingips, "network"),
    ("POST", N + "/floatingips", network.create_floatingip, "network"),
    ("GET", N + "/floatingips/{floatingip_id}", network.show_floatingip, "network"),
    ("PUT", N + "/floatingips/{floatingip_id}", network.update_floatingip, "network"),
    ("DELETE", N + "/floatingips/{floatingip_id}", network.delete_floatingip, "network"),
    ("GET", N + "/{resource}/{id}/tags", network.list_tags, "network"),
    ("PUT", N + "/{resource}/{id}/tags", network.replace_tags, "network"),
    ("PUT", N + "/{resource}/{id}/tags/{tag}", network.add_tag, "network"),
    ("DELETE", N + "/{resource}/{id}/tags/{tag}", network.delete_tag, "network"),
    ("GET", N + "/quotas/{project_id}", network.show_quota, "network"),
    # Swift
    ("GET", "/object-store/info", objects.info, "open"),
    ("GET", S, objects.list_containers, "object"),
    ("HEAD", S, objects.show_account, "object"),
    ("PUT", S + "/{container}", objects.create_container, "object"),
    ("POST", S + "/{container}", objects.update_container, "object"),
    ("HEAD", S + "/{container}", objects.show_container, "object"),
    ("GET", S + "/{container}", objects.list_objects, "object"),
    ("DELETE", S + "/{container}", objects.delete_container, "object"),
    ("PUT", S + "/{container}/{object:path}", objects.put_object, "object"),
    ("GET", S + "/{container}/{object:path}", objects.get_object, "object"),
    ("HEAD", S + "/{container}/{object:path}", objects.show_object, "object"),
    ("POST", S + "/{container}/{object:path}", objects.update_object, "object"),
    ("DELETE", S + "/{container}/{object:path}", objects.delete_object, "object"),
]


def _compile(pattern: str) -> re.Pattern[str]:
    def part(match: re.Match[str]) -> str:
        name, _, kind = match.group(1).partition(":")
        body = {"": "[^/]+", "path": ".+"}.get(kind, kind)
        return f"(?P<{name}>{body})"

    return re.compile("^" + re.sub(r"\{([^}]+)\}", part, pattern) + "/?$")


COMPILED = [(method, _compile(p), handler, service) for method, p, handler, service in ROUTES]


def route(method: str, path: str) -> tuple[Handler, str, dict[str, str]] | str | None:
    """The handler, service and path parts; "405" when the path is known but not the method;
    None when nothing serves the path."""
    known = False
    for wanted, pattern, handler, service in COMPILED:
        found = pattern.match(path)
        if found is None:
            continue
        if wanted == method or (method == "HEAD" and wanted == "GET" and service != "object"):
            return handler, service, found.groupdict()
        known = True
    return "405" if known else None
