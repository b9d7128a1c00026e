"""Cinder v3 (and the same under v2): volumes, their metadata and extension, snapshots,
quotas and limits; volumes over quota are refused 413 overLimit, as Cinder does. Below
microversion 2.36 Nova's os-volumes and os-snapshots proxies serve the same volumes."""

from __future__ import annotations

import json
from typing import Any

from nubes.emulators.openstack.calls import Answer, Call, ok, page, proxy_only
from nubes.emulators.openstack.exceptions import BadRequest, ItemNotFound, OverLimit
from nubes.emulators.openstack.models import ZONES, Snapshot, Volume, new_id

MIN_VERSION, MAX_VERSION = (3, 0), (3, 70)


def versions(call: Call) -> Answer:
    return ok({"versions": [_version(call)]}, 300)


def version(call: Call, project_id: str | None = None) -> Answer:
    return ok({"version": _version(call)})


def _version(call: Call) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": f"3.{MAX_VERSION[1]}",
        "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": call.url("/volume/v3/")}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


def _base(call: Call) -> str:
    version = "v2" if "/volume/v2/" in call.path else "v3"
    return f"/volume/{version}/{call.project.id}"


def volume_doc(call: Call, v: Volume, detail: bool = True) -> dict[str, Any]:
    self_link = call.url(f"{_base(call)}/volumes/{v.id}")
    doc: dict[str, Any] = {
        "id": v.id,
        "name": v.name,
        "links": [{"rel": "self", "href": self_link}],
    }
    if not detail:
        return doc
    doc.update(
        {
            "status": v.status,
            "size": v.size,
            "availability_zone": v.zone,
            "created_at": v.created[:-1] + ".000000",
            "updated_at": v.created[:-1] + ".000000",
            "attachments": [
                {
                    "server_id": a.server,
                    "attachment_id": a.id,
                    "volume_id": v.id,
                    "device": a.device,
                    "id": v.id,
                    "host_name": None,
                    "attached_at": v.created[:-1] + ".000000",
                }
                for a in v.attachments
                if v.status in ("in-use", "detaching")
            ],
            "bootable": "false",
            "encrypted": False,
            "description": v.description,
            "volume_type": v.volume_type,
            "snapshot_id": v.snapshot_id,
            "source_volid": None,
            "metadata": dict(v.metadata),
            "multiattach": False,
            "user_id": "",
            "os-vol-tenant-attr:tenant_id": v.project,
            "replication_status": None,
            "consistencygroup_id": None,
        }
    )
    return doc


def snapshot_doc(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "volume_id": s.volume_id,
        "size": s.size,
        "status": s.status,
        "description": s.description,
        "metadata": dict(s.metadata),
        "created_at": s.created[:-1] + ".000000",
        "updated_at": None,
        "os-extended-snapshot-attributes:project_id": s.project,
        "os-extended-snapshot-attributes:progress": "100%" if s.status == "available" else "0%",
    }


def _volume(call: Call, id: str) -> Volume:
    found = call.project.volume(id)
    if found is None:
        raise ItemNotFound(f"Volume {id} could not be found.")
    return found


def _filtered(call: Call, volumes: list[Volume]) -> list[Volume]:
    for name in ("name", "status"):
        value = call.arg(name)
        if value is not None:
            volumes = [v for v in volumes if getattr(v, name) == value]
    metadata = call.arg("metadata")
    if metadata:
        try:
            wanted = json.loads(metadata.replace("'", '"'))
        except ValueError:
            raise BadRequest(f"Invalid filter metadata: {metadata}") from None
        if not isinstance(wanted, dict):
            raise BadRequest(f"Invalid filter metadata: {metadata}")
        volumes = [
            v for v in volumes if all(v.metadata.get(str(k)) == str(x) for k, x in wanted.items())
        ]
    return volumes


def list_volumes(call: Call, project_id: str) -> Answer:
    return _volumes(call, detail=False)


def list_volumes_detailed(call: Call, project_id: str) -> Answer:
    return _volumes(call, detail=True)


def _volumes(call: Call, detail: bool) -> Answer:
    volumes = sorted(call.project.all_volumes(), key=lambda v: (v.created, v.id), reverse=True)
    chunk, links = page(
        call,
        _filtered(call, volumes),
        "volumes",
        f"{_base(call)}/volumes" + ("/detail" if detail else ""),
        ident=lambda v: v.id,
    )
    doc: dict[str, Any] = {"volumes": [volume_doc(call, v, detail) for v in chunk]}
    if links:
        doc["volumes_links"] = links
    return ok(doc)


def show_volume(call: Call, project_id: str, volume_id: str) -> Answer:
    return ok({"volume": volume_doc(call, _volume(call, volume_id))})


def create_volume(call: Call, project_id: str) -> Answer:
    body = call.json("volume")
    project = call.project
    snapshot = None
    if body.get("snapshot_id"):
        snapshot = project.snapshots.get(str(body["snapshot_id"]))
        if snapshot is None:
            raise ItemNotFound(f"Snapshot {body['snapshot_id']} could not be found.")
    size = body.get("size", snapshot.size if snapshot else None)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise BadRequest(
            f"Invalid input received: 'size' parameter must be an integer and "
            f"greater than 0, not {size!r}."
        )
    zone = body.get("availability_zone") or ZONES[0]
    if zone not in ZONES:
        raise BadRequest(f"Invalid input received: Availability zone '{zone}' is invalid.")
    limit = call.cloud.knobs.max_volumes
    if len(project.all_volumes()) >= limit:
        raise OverLimit(
            f"VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) "
            "exceeded for quota 'volumes'."
        )
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("Invalid input received: metadata must be a dict")
    volume = Volume(
        new_id(),
        body.get("name"),
        size,
        zone,
        project.id,
        description=body.get("description"),
        snapshot_id=snapshot.id if snapshot else None,
        metadata={str(k): str(v) for k, v in metadata.items()},
    )
    volume.ready_at = project.now() + call.cloud.knobs.boot_seconds / 2
    volume.settle(project.now())
    project.volumes[volume.id] = volume
    return ok({"volume": volume_doc(call, volume)}, 202)


def update_volume(call: Call, project_id: str, volume_id: str) -> Answer:
    volume = _volume(call, volume_id)
    body = call.json("volume")
    for name in ("name", "description"):
        if name in body:
            setattr(volume, name, body[name])
    if isinstance(body.get("metadata"), dict):
        volume.metadata = {str(k): str(v) for k, v in body["metadata"].items()}
    return ok({"volume": volume_doc(call, volume)})


def delete_volume(call: Call, project_id: str, volume_id: str) -> Answer:
    project = call.project
    volume = _volume(call, volume_id)
    has_snapshots = any(s.volume_id == volume.id for s in project.snapshots.values())
    if volume.status not in ("available", "error") or volume.attachments or has_snapshots:
        raise BadRequest(
            "Invalid volume: Volume status must be available or error or error_restoring or "
            "error_extending or error_managing and must not be migrating, attached, belong to "
            "a group, have snapshots or be disassociated from snapshots after volume transfer."
        )
    volume.status, volume.then = "deleting", "deleted"
    volume.ready_at = project.now() + call.cloud.knobs.boot_seconds / 4
    volume.settle(project.now())
    if volume.status == "deleted":
        del project.volumes[volume.id]
    return ok(None, 202)


def volume_action(call: Call, project_id: str, volume_id: str) -> Answer:
    volume = _volume(call, volume_id)
    body = call.json()
    if isinstance(body, dict) and isinstance(body.get("os-extend"), dict):
        new_size = body["os-extend"].get("new_size")
        if not isinstance(new_size, int) or new_size <= volume.size:
            raise BadRequest(
                "Invalid input received: New size for extend must be greater than "
                f"current size. (current: {volume.size}, extended: {new_size})."
            )
        if volume.status != "available":
            raise BadRequest(
                f"Invalid volume: Volume {volume.id} status must be available, "
                f"but current status is: {volume.status}."
            )
        volume.size = new_size
        return ok(None, 202)
    raise BadRequest("There is no such action: " + ",".join(body or {}))


def list_volume_metadata(call: Call, project_id: str, volume_id: str) -> Answer:
    return ok({"metadata": dict(_volume(call, volume_id).metadata)})


def update_volume_metadata(call: Call, project_id: str, volume_id: str) -> Answer:
    volume = _volume(call, volume_id)
    body = call.json()
    metadata = body.get("metadata") if isinstance(body, dict) else None
    if not isinstance(metadata, dict):
        raise BadRequest("Malformed request body")
    if call.method == "PUT":
        volume.metadata = {}
    volume.metadata.update({str(k): str(v) for k, v in metadata.items()})
    return ok({"metadata": dict(volume.metadata)})


# ---- snapshots --------------------------------------------------------------------------------


def _snapshots(call: Call) -> list[Snapshot]:
    now = call.project.now()
    found = sorted(call.project.snapshots.values(), key=lambda s: (s.created, s.id), reverse=True)
    for s in found:
        s.settle(now)
    return found


def list_snapshots(call: Call, project_id: str, detail: str | None = None) -> Answer:
    snapshots = _snapshots(call)
    value = call.arg("volume_id")
    if value:
        snapshots = [s for s in snapshots if s.volume_id == value]
    chunk, links = page(
        call, snapshots, "snapshots", f"{_base(call)}/snapshots", ident=lambda s: s.id
    )
    doc: dict[str, Any] = {"snapshots": [snapshot_doc(s) for s in chunk]}
    if links:
        doc["snapshots_links"] = links
    return ok(doc)


def show_snapshot(call: Call, project_id: str, snapshot_id: str) -> Answer:
    found = next((s for s in _snapshots(call) if s.id == snapshot_id), None)
    if found is None:
        raise ItemNotFound(f"Snapshot {snapshot_id} could not be found.")
    return ok({"snapshot": snapshot_doc(found)})


def create_snapshot(call: Call, project_id: str) -> Answer:
    body = call.json("snapshot")
    volume = _volume(call, str(body.get("volume_id", "")))
    force = str(body.get("force", "false")).lower() in ("true", "1")
    if volume.status != "available" and not (force and volume.status == "in-use"):
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} status must be available, but "
            f"current status is: {volume.status}."
        )
    project = call.project
    snapshot = Snapshot(
        new_id(),
        volume.id,
        body.get("name"),
        volume.size,
        project.id,
        description=body.get("description"),
        metadata={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
    )
    snapshot.ready_at = project.now() + call.cloud.knobs.boot_seconds / 2
    snapshot.settle(project.now())
    project.snapshots[snapshot.id] = snapshot
    return ok({"snapshot": snapshot_doc(snapshot)}, 202)


def update_snapshot(call: Call, project_id: str, snapshot_id: str) -> Answer:
    found = call.project.snapshots.get(snapshot_id)
    if found is None:
        raise ItemNotFound(f"Snapshot {snapshot_id} could not be found.")
    body = call.json("snapshot")
    for name in ("name", "description"):
        if name in body:
            setattr(found, name, body[name])
    if isinstance(body.get("metadata"), dict):
        found.metadata = {str(k): str(v) for k, v in body["metadata"].items()}
    return ok({"snapshot": snapshot_doc(found)})


def update_snapshot_metadata(call: Call, project_id: str, snapshot_id: str) -> Answer:
    """PUT (replace) or POST (merge) /snapshots/{id}/metadata"""
    found = call.project.snapshots.get(snapshot_id)
    if found is None:
        raise ItemNotFound(f"Snapshot {snapshot_id} could not be found.")
    body = call.json()
    metadata = body.get("metadata") if isinstance(body, dict) else None
    if not isinstance(metadata, dict):
        raise BadRequest("Malformed request body")
    if call.method == "PUT":
        found.metadata = {}
    found.metadata.update({str(k): str(v) for k, v in metadata.items()})
    return ok({"metadata": dict(found.metadata)})


def delete_snapshot(call: Call, project_id: str, snapshot_id: str) -> Answer:
    if call.project.snapshots.pop(snapshot_id, None) is None:
        raise ItemNotFound(f"Snapshot {snapshot_id} could not be found.")
    return ok(None, 202)


def show_quota_set(call: Call, project_id: str, tenant_id: str) -> Answer:
    volumes = call.project.all_volumes()
    limits = {"volumes": call.cloud.knobs.max_volumes, "gigabytes": 1000, "snapshots": 10}
    if (call.arg("usage") or "").lower() in ("true", "1"):
        used = {
            "volumes": len(volumes),
            "gigabytes": sum(v.size for v in volumes),
            "snapshots": len(call.project.snapshots),
        }
        doc = {k: {"limit": n, "in_use": used[k], "reserved": 0} for k, n in limits.items()}
        return ok({"quota_set": {"id": tenant_id, **doc}})
    return ok(
        {
            "quota_set": {
                "id": tenant_id,
                **limits,
                "backups": 10,
                "backup_gigabytes": 1000,
                "per_volume_gigabytes": -1,
            }
        }
    )


def list_availability_zones(call: Call, project_id: str) -> Answer:
    zones = [{"zoneName": z, "zoneState": {"available": True}} for z in ZONES]
    return ok({"availabilityZoneInfo": zones})


def show_limits(call: Call, project_id: str) -> Answer:
    volumes = call.project.all_volumes()
    absolute = {
        "maxTotalVolumes": call.cloud.knobs.max_volumes,
        "maxTotalVolumeGigabytes": 1000,
        "maxTotalSnapshots": 10,
        "totalVolumesUsed": len(volumes),
        "totalGigabytesUsed": sum(v.size for v in volumes),
        "totalSnapshotsUsed": len(call.project.snapshots),
    }
    return ok({"limits": {"rate": [], "absolute": absolute}})


# ---- Nova's proxies (microversions below 2.36) -------------------------------------------------


def _nova_volume(v: Volume) -> dict[str, Any]:
    return {
        "id": v.id,
        "displayName": v.name,
        "displayDescription": v.description,
        "size": v.size,
        "status": v.status,
        "availabilityZone": v.zone,
        "createdAt": v.created[:-1] + ".000000",
        "volumeType": v.volume_type,
        "snapshotId": v.snapshot_id,
        "metadata": dict(v.metadata),
        "attachments": [
            {"id": a.id, "serverId": a.server, "volumeId": v.id, "device": a.device}
            for a in v.attachments
        ]
        or [{}],
    }


def nova_list_volumes(call: Call, project_id: str, detail: str | None = None) -> Answer:
    proxy_only(call)
    return ok({"volumes": [_nova_volume(v) for v in call.project.all_volumes()]})


def nova_show_volume(call: Call, project_id: str, volume_id: str) -> Answer:
    proxy_only(call)
    return ok({"volume": _nova_volume(_volume(call, volume_id))})


def nova_create_volume(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    body = call.json("volume")
    translated = {
        "size": body.get("size"),
        "name": body.get("display_name"),
        "description": body.get("display_description"),
        "availability_zone": body.get("availability_zone"),
        "snapshot_id": body.get("snapshot_id"),
        "metadata": body.get("metadata"),
    }
    call.body = json.dumps({"volume": translated}).encode()
    made = create_volume(call, project_id)
    volume = _volume(call, made.doc["volume"]["id"])
    return ok({"volume": _nova_volume(volume)})


def nova_delete_volume(call: Call, project_id: str, volume_id: str) -> Answer:
    proxy_only(call)
    delete_volume(call, project_id, volume_id)
    return ok(None, 202)


def _nova_snapshot(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "volumeId": s.volume_id,
        "displayName": s.name,
        "displayDescription": s.description,
        "size": s.size,
        "status": s.status,
        "createdAt": s.created[:-1] + ".000000",
    }


def nova_list_snapshots(call: Call, project_id: str, detail: str | None = None) -> Answer:
    proxy_only(call)
    return ok({"snapshots": [_nova_snapshot(s) for s in _snapshots(call)]})


def nova_create_snapshot(call: Call, project_id: str) -> Answer:
    proxy_only(call)
    body = call.json("snapshot")
    translated = {
        "volume_id": body.get("volume_id"),
        "name": body.get("display_name"),
        "description": body.get("display_description"),
        "force": body.get("force"),
    }
    call.body = json.dumps({"snapshot": translated}).encode()
    made = create_snapshot(call, project_id)
    found = call.project.snapshots[made.doc["snapshot"]["id"]]
    return ok({"snapshot": _nova_snapshot(found)})


def nova_delete_snapshot(call: Call, project_id: str, snapshot_id: str) -> Answer:
    proxy_only(call)
    delete_snapshot(call, project_id, snapshot_id)
    return ok(None, 202)
