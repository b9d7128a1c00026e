"""Nova v2.1: servers and their actions, flavors, key pairs, availability zones, volume
attachments, limits; and, below microversion 2.36, the image, volume and security-group proxies
older clients (Libcloud's OpenStack 1.1 driver) still call. Documents are shaped by the
microversion asked for (flavors embedded in servers from 2.47, networks required from 2.37).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from nubes.emulators.openstack import netops
from nubes.emulators.openstack.calls import Answer, Call, ok, page
from nubes.emulators.openstack.exceptions import BadRequest, Conflict, Forbidden, ItemNotFound
from nubes.emulators.openstack.models import (
    ZONES,
    Attachment,
    Flavor,
    Image,
    Keypair,
    Server,
    new_id,
)

MIN_VERSION, MAX_VERSION = (2, 1), (2, 79)
VM_STATES = {
    "BUILD": "building",
    "ACTIVE": "active",
    "SHUTOFF": "stopped",
    "REBOOT": "active",
    "HARD_REBOOT": "active",
    "RESIZE": "active",
    "VERIFY_RESIZE": "resized",
    "REVERT_RESIZE": "resized",
    "PAUSED": "paused",
    "SUSPENDED": "suspended",
    "ERROR": "error",
}
KEY_NAME = re.compile(r"^[\w\- .@]{1,255}$")


def versions(call: Call) -> Answer:
    """GET /compute/"""
    return ok({"versions": [_version(call, "v2.0"), _version(call, "v2.1")]})


def version(call: Call, project_id: str | None = None) -> Answer:
    """GET /compute/v2.1/"""
    return ok({"version": _version(call, "v2.1")})


def _version(call: Call, id: str) -> dict[str, Any]:
    current = id == "v2.1"
    return {
        "id": id,
        "status": "CURRENT" if current else "SUPPORTED",
        "version": f"2.{MAX_VERSION[1]}" if current else "",
        "min_version": "2.1" if current else "",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": call.url(f"/compute/{id.replace('v2.0', 'v2')}/")}],
    }


def _link(call: Call, kind: str, id: str) -> list[dict[str, str]]:
    base = f"/compute/v2.1/{call.project.id}/{kind}/{id}"
    return [
        {"rel": "self", "href": call.url(base)},
        {"rel": "bookmark", "href": call.url(base.replace("/v2.1", ""))},
    ]


def _server(call: Call, project_id: str, id: str) -> Server:
    found = call.project.server(id)
    if found is None:
        raise ItemNotFound(f"Instance {id} could not be found.")
    return found


# ---- documents --------------------------------------------------------------------------------


def flavor_doc(call: Call, f: Flavor, detail: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": f.id, "name": f.name, "links": _link(call, "flavors", f.id)}
    if not detail:
        return doc
    doc.update(
        {
            "ram": f.ram,
            "disk": f.disk,
            "vcpus": f.vcpus,
            "swap": 0 if call.at_least(2, 75) else "",
            "OS-FLV-EXT-DATA:ephemeral": 0,
            "OS-FLV-DISABLED:disabled": False,
            "os-flavor-access:is_public": True,
            "rxtx_factor": 1.0,
        }
    )
    if call.at_least(2, 55):
        doc["description"] = None
    if call.at_least(2, 61):
        doc["extra_specs"] = dict(f.extra_specs)
    return doc


def server_doc(call: Call, s: Server, detail: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": s.id, "name": s.name, "links": _link(call, "servers", s.id)}
    if not detail:
        return doc
    project = call.project
    if call.at_least(2, 47):
        flavor: dict[str, Any] = {
            "original_name": s.flavor.name,
            "vcpus": s.flavor.vcpus,
            "ram": s.flavor.ram,
            "disk": s.flavor.disk,
            "ephemeral": 0,
            "swap": 0,
            "extra_specs": dict(s.flavor.extra_specs),
        }
    else:
        flavor = {"id": s.flavor.id, "links": _link(call, "flavors", s.flavor.id)[1:]}
    doc.update(
        {
            "status": s.status,
            "tenant_id": s.project,
            "user_id": s.user,
            "metadata": dict(s.metadata),
            "hostId": s.host_id,
            "image": {"id": s.image_id, "links": _link(call, "images", s.image_id)[1:]},
            "flavor": flavor,
            "created": s.created,
            "updated": s.updated,
            "addresses": netops.server_addresses(project, s),
            "accessIPv4": "",
            "accessIPv6": "",
            "OS-DCF:diskConfig": "MANUAL",
            "progress": 0 if s.status == "BUILD" else 100,
            "OS-EXT-AZ:availability_zone": s.zone,
            "config_drive": "",
            "key_name": s.key_name,
            "OS-SRV-USG:launched_at": None if s.status == "BUILD" else s.created[:-1] + ".000000",
            "OS-SRV-USG:terminated_at": None,
            "OS-EXT-STS:task_state": s.task_state,
            "OS-EXT-STS:vm_state": VM_STATES.get(s.status, "active"),
            "OS-EXT-STS:power_state": s.power_state,
            "os-extended-volumes:volumes_attached": [
                {"id": v.id, "delete_on_termination": False}
                for v in project.all_volumes()
                if any(a.server == s.id for a in v.attachments)
            ],
        }
    )
    if s.security_groups and s.status != "BUILD":
        doc["security_groups"] = [{"name": n} for n in s.security_groups]
    if call.at_least(2, 9):
        doc["locked"] = False
    if call.at_least(2, 19):
        doc["description"] = s.description
    if call.at_least(2, 26):
        doc["tags"] = list(s.tags)
    if call.at_least(2, 73):
        doc["locked_reason"] = None
    return doc


# ---- servers ----------------------------------------------------------------------------------


def list_servers(call: Call, project_id: str) -> Answer:
    return _servers(call, detail=False)


def list_servers_detailed(call: Call, project_id: str) -> Answer:
    return _servers(call, detail=True)


def _servers(call: Call, detail: bool) -> Answer:
    servers = sorted(call.project.all_servers(), key=lambda s: (s.created, s.id), reverse=True)
    name = call.arg("name")
    if name:
        try:
            pattern = re.compile(name)
        except re.error:
            raise BadRequest(f"Invalid filter: name {name}") from None
        servers = [s for s in servers if pattern.search(s.name)]
    status = call.arg("status")
    if status:
        servers = [s for s in servers if s.status == status.upper()]
    for field_name, value in (("image", call.arg("image")), ("flavor", call.arg("flavor"))):
        if value:
            servers = [
                s
                for s in servers
                if (s.image_id if field_name == "image" else s.flavor.id) == value
            ]
    tags = call.arg("tags")
    if tags and call.at_least(2, 26):
        wanted = set(tags.split(","))
        servers = [s for s in servers if wanted <= set(s.tags)]
    chunk, links = page(
        call,
        servers,
        "servers",
        f"/compute/v2.1/{call.project.id}/servers" + ("/detail" if detail else ""),
        ident=lambda s: s.id,
    )
    doc: dict[str, Any] = {"servers": [server_doc(call, s, detail) for s in chunk]}
    if links:
        doc["servers_links"] = links
    return ok(doc)


def show_server(call: Call, project_id: str, server_id: str) -> Answer:
    return ok({"server": server_doc(call, _server(call, project_id, server_id))})


def create_server(call: Call, project_id: str) -> Answer:
    body = call.json("server")
    project, cloud = call.project, call.cloud
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise BadRequest("Invalid input for field/attribute name.")
    flavor = _flavor_ref(call, body.get("flavorRef"))
    image_ref = str(body.get("imageRef") or "")
    if not image_ref:
        raise BadRequest("Missing imageRef attribute")
    image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
    image = netops.visible_image(call, image_id)
    if image is None or image.status != "active":
        raise BadRequest("Can not find requested image")
    if flavor.disk and image.min_disk > flavor.disk:
        raise BadRequest("Flavor's disk is too small for requested image.")
    key_name = body.get("key_name")
    if key_name is not None and key_name not in project.keypairs:
        raise BadRequest("Invalid key_name provided.")
    user_data = body.get("user_data")
    if user_data is not None:
        try:
            base64.b64decode(str(user_data), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.") from None
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255 for k, v in metadata.items()
    ):
        raise BadRequest("Invalid input for field/attribute metadata.")
    groups = []
    for spec in body.get("security_groups") or [{"name": "default"}]:
        group = project.group_by_name(str((spec or {}).get("name", "")))
        if group is None:
            raise BadRequest(f"Unable to find security_group with name or id '{spec}'")
        groups.append(group.name)
    zone = body.get("availability_zone") or ZONES[0]
    if zone not in ZONES:
        raise BadRequest("The requested availability zone is not available")
    networks = _networks(call, body.get("networks"))
    used = project.all_servers()
    limit = cloud.knobs.max_instances
    if len(used) + 1 > limit:
        raise Forbidden(
            f"Quota exceeded for instances: Requested 1, but already used {len(used)} of "
            f"{limit} instances"
        )
    now = project.now()
    server = Server(
        new_id(),
        name,
        project.id,
        call.token.user.id if call.token else "",
        flavor,
        image.id,
        zone,
        key_name,
        user_data,
        {str(k): v for k, v in metadata.items()},
        groups,
        networks,
    )
    if call.at_least(2, 19):
        server.description = body.get("description")
    if call.at_least(2, 52) and isinstance(body.get("tags"), list):
        server.tags = [str(t) for t in body["tags"]]
    server.ready_at = now + cloud.knobs.boot_seconds
    server.settle(now)
    project.servers[server.id] = server
    for network in networks:
        netops.plug(project, server, network)
    doc: dict[str, Any] = {
        "id": server.id,
        "links": _link(call, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": g} for g in groups],
        "adminPass": server.admin_pass,
    }
    return ok({"server": doc}, 202, Location=doc["links"][0]["href"])


def _flavor_ref(call: Call, ref: Any) -> Flavor:
    if ref is None or ref == "":
        raise BadRequest("Missing flavorRef attribute.")
    id = str(ref).rstrip("/").rsplit("/", 1)[-1]
    found = call.cloud.flavors.get(id)
    if found is None:
        raise BadRequest(f"Flavor {id} could not be found.")
    return found


def _networks(call: Call, spec: Any) -> list[str]:
    project = call.project
    if spec is None:
        if call.at_least(2, 37):
            raise BadRequest(
                "Invalid input for field/attribute server. Value: 'networks' is a required property"
            )
        spec = "auto"
    if spec == "auto":
        # Rackspace plugs a server into PublicNet and ServiceNet unless told otherwise
        if call.cloud.knobs.style == "rackspace":
            return [call.cloud.regional(project.region).public.id, project.network.id]
        return [project.network.id]
    if spec == "none":
        return []
    if not isinstance(spec, list):
        raise BadRequest("Invalid input for field/attribute networks.")
    found = []
    regional = call.cloud.regional(project.region)
    for item in spec:
        uuid = str((item or {}).get("uuid") or "")
        port = (item or {}).get("port")
        if port:
            existing = regional.ports.get(str(port))
            if existing is None:
                raise BadRequest(f"Port {port} could not be found.")
            uuid = existing.network
        net = regional.networks.get(uuid)
        if net is None or (net.project not in (None, project.id) and not net.shared):
            raise BadRequest(f"Network {uuid} could not be found.")
        found.append(net.id)
    return found


def update_server(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    body = call.json("server")
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise BadRequest("Invalid input for field/attribute name.")
        server.name = body["name"]
    if "description" in body and call.at_least(2, 19):
        server.description = body["description"]
    return ok({"server": server_doc(call, server)})


def delete_server(call: Call, project_id: str, server_id: str) -> Answer:
    project = call.project
    server = _server(call, project_id, server_id)
    for volume in project.all_volumes():
        volume.attachments = [a for a in volume.attachments if a.server != server.id]
        if not volume.attachments and volume.status == "in-use":
            volume.status = "available"
    netops.unplug(project, server)
    del project.servers[server.id]
    return ok(None, 204)


def server_action(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    body = call.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    ((action, args),) = body.items()
    handler = ACTIONS.get(action)
    if handler is None:
        raise BadRequest(f"There is no such action: {action}")
    return handler(call, server, args if isinstance(args, dict) else {})


def _busy(server: Server, action: str, allowed: tuple[str, ...]) -> None:
    if server.task_state is not None:
        raise Conflict(
            f"Cannot '{action}' instance {server.id} while it is in task_state {server.task_state}"
        )
    if server.status not in allowed:
        raise Conflict(
            f"Cannot '{action}' instance {server.id} while it is in vm_state "
            f"{VM_STATES.get(server.status, 'active')}"
        )


def _seconds(call: Call) -> float:
    return call.cloud.knobs.boot_seconds / 2


def _start(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    _busy(server, "start", ("SHUTOFF",))
    server.begin("SHUTOFF", "powering-on", "ACTIVE", _seconds(call), call.project.now())
    return ok(None, 202)


def _stop(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    _busy(server, "stop", ("ACTIVE", "ERROR", "PAUSED", "SUSPENDED"))
    server.begin(server.status, "powering-off", "SHUTOFF", _seconds(call), call.project.now())
    return ok(None, 202)


def _reboot(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    kind = str(args.get("type", "")).upper()
    if kind not in ("SOFT", "HARD"):
        raise BadRequest("Invalid input for field/attribute type.")
    _busy(server, "reboot", ("ACTIVE",) if kind == "SOFT" else ("ACTIVE", "SHUTOFF", "ERROR"))
    status = "REBOOT" if kind == "SOFT" else "HARD_REBOOT"
    server.begin(
        status,
        "rebooting" if kind == "SOFT" else "rebooting_hard",
        "ACTIVE",
        _seconds(call),
        call.project.now(),
    )
    return ok(None, 202)


def _resize(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    flavor = _flavor_ref(call, args.get("flavorRef"))
    _busy(server, "resize", ("ACTIVE", "SHUTOFF"))
    if flavor.id == server.flavor.id:
        raise BadRequest("When resizing, instances must change flavor!")
    server.old_flavor, server.flavor = server.flavor, flavor
    back = "VERIFY_RESIZE"
    server.after_resize = "SHUTOFF" if server.power_state == 4 else "ACTIVE"
    server.begin("RESIZE", "resize_migrating", back, _seconds(call), call.project.now())
    return ok(None, 202)


def _confirm_resize(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    _busy(server, "confirmResize", ("VERIFY_RESIZE",))
    server.status = server.after_resize
    server.old_flavor = None
    return ok(None, 204)


def _revert_resize(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    _busy(server, "revertResize", ("VERIFY_RESIZE",))
    assert server.old_flavor is not None
    server.flavor, server.old_flavor = server.old_flavor, None
    server.begin(
        "REVERT_RESIZE", "resize_reverting", server.after_resize, _seconds(call), call.project.now()
    )
    return ok(None, 202)


def _create_image(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    name = args.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Invalid input for field/attribute name.")
    _busy(server, "createImage", ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"))
    project = call.project
    base = call.cloud.regional(project.region).images.get(server.image_id)
    image = Image(new_id(), name, project.id, visibility="private", status="queued")
    image.ready_at = project.now() + call.cloud.knobs.boot_seconds
    image.size = base.size if base else 0
    image.min_disk = server.flavor.disk
    image.properties = {
        **(base.properties if base else {}),
        **{str(k): str(v) for k, v in (args.get("metadata") or {}).items()},
        "instance_uuid": server.id,
        "image_type": "snapshot",
        "base_image_ref": server.image_id,
        "owner_user_name": call.token.user.name if call.token else "",
    }
    call.cloud.regional(project.region).images[image.id] = image
    location = call.url(f"/image/v2/images/{image.id}")
    if call.at_least(2, 45):
        return ok({"image_id": image.id}, 202)
    return ok(None, 202, Location=location)


def _add_security_group(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    group = call.project.group_by_name(str(args.get("name", "")))
    if group is None:
        raise ItemNotFound(
            f"Security group {args.get('name')} not found for project {call.project.id}."
        )
    if group.name in server.security_groups:
        raise BadRequest(
            f"Security group {group.name} is already associated with the instance {server.id}"
        )
    server.security_groups.append(group.name)
    return ok(None, 202)


def _remove_security_group(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    name = str(args.get("name", ""))
    if name not in server.security_groups:
        raise BadRequest(f"Security group {name} not associated with the instance {server.id}")
    server.security_groups.remove(name)
    return ok(None, 202)


def _add_floating_ip(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    if call.at_least(2, 44):
        raise ItemNotFound("The resource could not be found.")
    netops.associate_address(call.project, server, str(args.get("address", "")))
    return ok(None, 202)


def _remove_floating_ip(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    if call.at_least(2, 44):
        raise ItemNotFound("The resource could not be found.")
    netops.disassociate_address(call.project, str(args.get("address", "")))
    return ok(None, 202)


def _console_output(call: Call, server: Server, args: dict[str, Any]) -> Answer:
    lines = [f"[    0.000000] Linux version 6.8.0 ({server.name})", "cloud-init: done"]
    return ok({"output": "\n".join(lines) + "\n"})


ACTIONS = {
    "os-start": _start,
    "os-stop": _stop,
    "reboot": _reboot,
    "resize": _resize,
    "confirmResize": _confirm_resize,
    "revertResize": _revert_resize,
    "createImage": _create_image,
    "addSecurityGroup": _add_security_group,
    "removeSecurityGroup": _remove_security_group,
    "addFloatingIp": _add_floating_ip,
    "removeFloatingIp": _remove_floating_ip,
    "os-getConsoleOutput": _console_output,
}


def list_metadata(call: Call, project_id: str, server_id: str) -> Answer:
    return ok({"metadata": dict(_server(call, project_id, server_id).metadata)})


def replace_metadata(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    server.metadata = _metadata(
        call.json().get("metadata") if isinstance(call.json(), dict) else None
    )
    return ok({"metadata": dict(server.metadata)})


def update_metadata(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    body = call.json()
    server.metadata.update(_metadata(body.get("metadata") if isinstance(body, dict) else None))
    return ok({"metadata": dict(server.metadata)})


def show_metadata_item(call: Call, project_id: str, server_id: str, key: str) -> Answer:
    server = _server(call, project_id, server_id)
    if key not in server.metadata:
        raise ItemNotFound("Metadata item was not found")
    return ok({"meta": {key: server.metadata[key]}})


def set_metadata_item(call: Call, project_id: str, server_id: str, key: str) -> Answer:
    server = _server(call, project_id, server_id)
    body = call.json()
    meta = _metadata(body.get("meta") if isinstance(body, dict) else None)
    if list(meta) != [key]:
        raise BadRequest("Request body and URI mismatch")
    server.metadata[key] = meta[key]
    return ok({"meta": meta})


def delete_metadata_item(call: Call, project_id: str, server_id: str, key: str) -> Answer:
    server = _server(call, project_id, server_id)
    if server.metadata.pop(key, None) is None:
        raise ItemNotFound("Metadata item was not found")
    return ok(None, 204)


def _metadata(doc: Any) -> dict[str, str]:
    if not isinstance(doc, dict) or not all(
        isinstance(v, str) and 0 < len(str(k)) <= 255 and len(v) <= 255 for k, v in doc.items()
    ):
        raise BadRequest("Invalid input for field/attribute metadata.")
    return {str(k): v for k, v in doc.items()}


def list_server_security_groups(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    project = call.project
    groups = [project.group_by_name(n) for n in server.security_groups]
    return ok({"security_groups": [netops.nova_group(g) for g in groups if g is not None]})


def list_interfaces(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    found = [
        {
            "port_state": p.status,
            "port_id": p.id,
            "net_id": p.network,
            "mac_addr": p.mac,
            "fixed_ips": [{"subnet_id": p.subnet_id, "ip_address": p.ip}],
        }
        for p in netops.server_ports(call.project, server)
    ]
    return ok({"interfaceAttachments": found})


# ---- volume attachments -----------------------------------------------------------------------


def list_volume_attachments(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    found = [
        _attachment_doc(a)
        for v in call.project.all_volumes()
        for a in v.attachments
        if a.server == server.id
    ]
    return ok({"volumeAttachments": found})


def attach_volume(call: Call, project_id: str, server_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    body = call.json("volumeAttachment")
    volume = call.project.volume(str(body.get("volumeId", "")))
    if volume is None:
        raise ItemNotFound(f"Volume {body.get('volumeId')} could not be found.")
    if volume.status != "available":
        raise BadRequest(
            f"Invalid volume: volume {volume.id} status must be 'available'. Currently in "
            f"'{volume.status}'"
        )
    if volume.zone != server.zone:
        raise BadRequest("Invalid volume: Instance and volume not in same availability_zone")
    used = {
        a.device for v in call.project.all_volumes() for a in v.attachments if a.server == server.id
    }
    device = body.get("device") or next(
        f"/dev/vd{c}" for c in "bcdefghijklmnop" if f"/dev/vd{c}" not in used
    )
    attachment = Attachment(volume.id, server.id, volume.id, str(device))
    volume.attachments.append(attachment)
    volume.status, volume.then = "attaching", "in-use"
    volume.ready_at = call.project.now() + _seconds(call)
    return ok({"volumeAttachment": _attachment_doc(attachment)})


def show_volume_attachment(call: Call, project_id: str, server_id: str, volume_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    volume = call.project.volume(volume_id)
    found = next((a for a in (volume.attachments if volume else []) if a.server == server.id), None)
    if found is None:
        raise ItemNotFound(f"volume_id not found: {volume_id}")
    return ok({"volumeAttachment": _attachment_doc(found)})


def detach_volume(call: Call, project_id: str, server_id: str, volume_id: str) -> Answer:
    server = _server(call, project_id, server_id)
    volume = call.project.volume(volume_id)
    if volume is None or not any(a.server == server.id for a in volume.attachments):
        raise ItemNotFound(f"volume_id not found: {volume_id}")
    if volume.status != "in-use":
        raise BadRequest(f"Invalid volume: Volume status must be in-use, not {volume.status}")
    volume.attachments = [a for a in volume.attachments if a.server != server.id]
    volume.status, volume.then = "detaching", "available"
    volume.ready_at = call.project.now() + _seconds(call)
    return ok(None, 202)


def _attachment_doc(a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "serverId": a.server, "volumeId": a.volume, "device": a.device}


# ---- flavors, zones, limits -------------------------------------------------------------------


def list_flavors(call: Call, project_id: str) -> Answer:
    return _flavors(call, detail=False)


def list_flavors_detailed(call: Call, project_id: str) -> Answer:
    return _flavors(call, detail=True)


def _flavors(call: Call, detail: bool) -> Answer:
    flavors = sorted(call.cloud.flavors.values(), key=lambda f: f.id)
    for name, attr in (("minRam", "ram"), ("minDisk", "disk")):
        value = call.arg(name)
        if value is not None:
            try:
                least = int(value)
            except ValueError:
                raise BadRequest(f"Invalid {name} filter [{value}]") from None
            flavors = [f for f in flavors if getattr(f, attr) >= least]
    chunk, links = page(
        call, flavors, "flavors", f"/compute/v2.1/{call.project.id}/flavors", ident=lambda f: f.id
    )
    doc: dict[str, Any] = {"flavors": [flavor_doc(call, f, detail) for f in chunk]}
    if links:
        doc["flavors_links"] = links
    return ok(doc)


def show_flavor(call: Call, project_id: str, flavor_id: str) -> Answer:
    found = call.cloud.flavors.get(flavor_id)
    if found is None:
        raise ItemNotFound(f"Flavor {flavor_id} could not be found.")
    return ok({"flavor": flavor_doc(call, found)})


def list_flavor_extra_specs(call: Call, project_id: str, flavor_id: str) -> Answer:
    found = call.cloud.flavors.get(flavor_id)
    if found is None:
        raise ItemNotFound(f"Flavor {flavor_id} could not be found.")
    return ok({"extra_specs": dict(found.extra_specs)})


def list_availability_zones(call: Call, project_id: str, detail: str | None = None) -> Answer:
    zones = [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in ZONES]
    return ok({"availabilityZoneInfo": zones})


def show_limits(call: Call, project_id: str) -> Answer:
    project = call.project
    servers = project.all_servers()
    absolute = {
        "maxTotalInstances": call.cloud.knobs.max_instances,
        "maxTotalCores": 20,
        "maxTotalRAMSize": 51200,
        "maxTotalKeypairs": 100,
        "maxServerMeta": 128,
        "maxImageMeta": 128,
        "maxPersonality": 5,
        "maxPersonalitySize": 10240,
        "maxServerGroups": 10,
        "maxServerGroupMembers": 10,
        "totalInstancesUsed": len(servers),
        "totalCoresUsed": sum(s.flavor.vcpus for s in servers),
        "totalRAMUsed": sum(s.flavor.ram for s in servers),
        "totalServerGroupsUsed": 0,
    }
    if not call.at_least(2, 36):
        absolute.update(
            {
                "maxTotalFloatingIps": 50,
                "totalFloatingIpsUsed": len(project.floating),
                "maxSecurityGroups": 10,
                "totalSecurityGroupsUsed": len(project.groups),
                "maxSecurityGroupRules": 20,
            }
        )
    return ok({"limits": {"rate": [], "absolute": absolute}})


def show_quota_set(call: Call, project_id: str, tenant_id: str) -> Answer:
    doc = {
        "id": tenant_id,
        "instances": call.cloud.knobs.max_instances,
        "cores": 20,
        "ram": 51200,
        "key_pairs": 100,
        "metadata_items": 128,
        "server_groups": 10,
        "server_group_members": 10,
    }
    return ok({"quota_set": doc})


# ---- key pairs --------------------------------------------------------------------------------


def _keypair_doc(call: Call, k: Keypair, full: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint}
    if call.at_least(2, 2):
        doc["type"] = k.type
    if full:
        doc.update(
            {
                "user_id": k.user,
                "created_at": k.created,
                "deleted": False,
                "deleted_at": None,
                "updated_at": None,
                "id": k.id,
            }
        )
    return doc


def list_keypairs(call: Call, project_id: str) -> Answer:
    keys = sorted(call.project.keypairs.values(), key=lambda k: k.name)
    if call.at_least(2, 35):
        keys, links = page(
            call,
            keys,
            "keypairs",
            f"/compute/v2.1/{call.project.id}/os-keypairs",
            ident=lambda k: k.name,
        )
    else:
        links = []
    doc: dict[str, Any] = {"keypairs": [{"keypair": _keypair_doc(call, k)} for k in keys]}
    if links:
        doc["keypairs_links"] = links
    return ok(doc)


def show_keypair(call: Call, project_id: str, name: str) -> Answer:
    found = call.project.keypairs.get(name)
    if found is None:
        raise ItemNotFound(
            f"Keypair {name} not found for user {call.token.user.id if call.token else ''}"
        )
    return ok({"keypair": _keypair_doc(call, found, full=True)})


def create_keypair(call: Call, project_id: str) -> Answer:
    body = call.json("keypair")
    project = call.project
    name = body.get("name")
    if not isinstance(name, str) or not KEY_NAME.match(name):
        raise BadRequest(
            "Keypair data is invalid: Keypair name contains unsafe characters"
            if isinstance(name, str) and name
            else "Invalid input for field/attribute name."
        )
    if name in project.keypairs:
        raise Conflict(f"Key pair '{name}' already exists.")
    if len(project.keypairs) >= 100:
        raise Forbidden("Quota exceeded, too many key pairs.")
    public = body.get("public_key")
    private = None
    if public is None:
        if call.at_least(2, 92):
            raise BadRequest(
                "Invalid input for field/attribute keypair. Value: 'public_key' "
                "is a required property"
            )
        public, private = netops.generate_key(name)
    elif not isinstance(public, str) or len(public.split()) < 2:
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint")
    key_type = str(body.get("type", "ssh")) if call.at_least(2, 2) else "ssh"
    if key_type not in ("ssh", "x509"):
        raise BadRequest("Invalid input for field/attribute type.")
    keypair = Keypair(
        name,
        public.strip(),
        call.token.user.id if call.token else "",
        key_type,
        id=len(project.keypairs) + 1,
    )
    project.keypairs[name] = keypair
    doc = _keypair_doc(call, keypair)
    doc["user_id"] = keypair.user
    if private is not None:
        doc["private_key"] = private
    return ok({"keypair": doc}, 201 if call.at_least(2, 2) else 200)


def delete_keypair(call: Call, project_id: str, name: str) -> Answer:
    if call.project.keypairs.pop(name, None) is None:
        raise ItemNotFound(
            f"Keypair {name} not found for user {call.token.user.id if call.token else ''}"
        )
    return ok(None, 204 if call.at_least(2, 2) else 202)
