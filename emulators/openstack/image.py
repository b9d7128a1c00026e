"""Glance v2: images a project can see (public and its own), with property filters, sorting,
`next` paging as Glance writes it (relative to the endpoint), tags, create and delete; and the
Nova image proxy below microversion 2.36."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from nubes.emulators.openstack.calls import Answer, Call, ok, proxy_only
from nubes.emulators.openstack.exceptions import BadRequest, ItemNotFound, PlainError
from nubes.emulators.openstack.models import Image, new_id

CORE = {
    "id",
    "name",
    "status",
    "visibility",
    "owner",
    "size",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "checksum",
    "tags",
    "protected",
    "created_at",
    "updated_at",
    "virtual_size",
    "os_hidden",
}


def versions(call: Call) -> Answer:
    """GET /image: Glance answers 300 with its versions."""
    found = [
        {
            "id": f"v2.{n}",
            "status": "CURRENT" if n == 9 else "SUPPORTED",
            "links": [{"rel": "self", "href": call.url("/image/v2/")}],
        }
        for n in (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
    ]
    return ok({"versions": found}, 300)


def image_doc(i: Image) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "visibility": i.visibility,
        "owner": i.owner or "admin",
        "size": i.size if i.status == "active" else None,
        "min_disk": i.min_disk,
        "min_ram": i.min_ram,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "checksum": i.checksum or None,
        "os_hash_algo": "sha512" if i.checksum else None,
        "os_hidden": False,
        "protected": False,
        "tags": list(i.tags),
        "created_at": i.created,
        "updated_at": i.created,
        "virtual_size": None,
        "self": f"/v2/images/{i.id}",
        "file": f"/v2/images/{i.id}/file",
        "schema": "/v2/schemas/image",
    }
    doc.update(i.properties)
    return doc


def _visible(call: Call) -> list[Image]:
    project = call.project
    now = project.now()
    found = []
    for image in call.cloud.regional(project.region).images.values():
        if image.visibility == "public" or image.owner == project.id:
            image.settle(now)
            found.append(image)
    return found


def _image(call: Call, id: str) -> Image:
    found = next((i for i in _visible(call) if i.id == id), None)
    if found is None:
        raise PlainError(f"No image found with ID {id}")
    return found


def list_images(call: Call) -> Answer:
    docs = [image_doc(i) for i in _visible(call)]
    for name, value in call.query:
        if name in ("limit", "marker", "sort_key", "sort_dir", "sort", "member_status"):
            continue
        if name == "tag":
            docs = [d for d in docs if value in d["tags"]]
        elif name == "visibility" and value == "all":
            continue
        else:
            docs = [d for d in docs if str(d.get(name)) == value]
    key = call.arg("sort_key", "created_at") or "created_at"
    reverse = (call.arg("sort_dir", "desc") or "desc") == "desc"
    docs.sort(key=lambda d: (str(d.get(key) or ""), d["id"]), reverse=reverse)
    marker, start = call.arg("marker"), 0
    if marker is not None:
        ids = [d["id"] for d in docs]
        if marker not in ids:
            raise PlainError(f"marker {marker} could not be found.", 400)
        start = ids.index(marker) + 1
    try:
        limit = int(call.arg("limit", "25") or "25")
    except ValueError:
        raise PlainError("limit param must be an integer", 400) from None
    chunk = docs[start : start + limit]
    doc: dict[str, Any] = {"images": chunk, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if chunk and start + limit < len(docs):
        rest = [(k, v) for k, v in call.query if k != "marker"]
        doc["next"] = "/v2/images?" + urlencode([*rest, ("marker", chunk[-1]["id"])])
    return ok(doc)


def show_image(call: Call, image_id: str) -> Answer:
    return ok(image_doc(_image(call, image_id)))


def create_image(call: Call) -> Answer:
    body = call.json()
    if not isinstance(body, dict):
        raise PlainError("Body must be a JSON object", 400)
    project = call.project
    image = Image(
        str(body.get("id") or new_id()),
        str(body.get("name") or ""),
        project.id,
        visibility=str(body.get("visibility", "shared")),
        status="queued",
    )
    image.disk_format = str(body.get("disk_format") or "qcow2")
    image.container_format = str(body.get("container_format") or "bare")
    image.tags = [str(t) for t in body.get("tags") or []]
    image.properties = {k: str(v) for k, v in body.items() if k not in CORE}
    call.cloud.regional(project.region).images[image.id] = image
    return ok(image_doc(image), 201)


def update_image(call: Call, image_id: str) -> Answer:
    """PATCH /image/v2/images/{id}: a JSON patch of replace/add/remove on top-level names."""
    image = _image(call, image_id)
    if image.owner != call.project.id:
        raise PlainError("You are not permitted to modify this image.", 403)
    ops = call.json()
    if not isinstance(ops, list):
        raise PlainError("Request body must be a JSON array of operation objects.", 400)
    for op in ops:
        name = str(op.get("path", "")).lstrip("/")
        if op.get("op") in ("add", "replace"):
            if name == "name":
                image.name = str(op.get("value"))
            elif name == "tags":
                image.tags = [str(t) for t in op.get("value") or []]
            elif name not in CORE:
                image.properties[name] = str(op.get("value"))
        elif op.get("op") == "remove":
            image.properties.pop(name, None)
    return ok(image_doc(image))


def delete_image(call: Call, image_id: str) -> Answer:
    image = _image(call, image_id)
    if image.owner != call.project.id:
        raise PlainError("You are not permitted to delete this image.", 403)
    del call.cloud.regional(call.project.region).images[image.id]
    return ok(None, 204)


def add_image_tag(call: Call, image_id: str, tag: str) -> Answer:
    image = _image(call, image_id)
    if tag not in image.tags:
        image.tags.append(tag)
    return ok(None, 204)


def delete_image_tag(call: Call, image_id: str, tag: str) -> Answer:
    image = _image(call, image_id)
    if tag not in image.tags:
        raise PlainError(f"Tag {tag} not found")
    image.tags.remove(tag)
    return ok(None, 204)


# ---- the Nova proxy (microversions below 2.36) ------------------------------------------------


def nova_image_doc(call: Call, i: Image, detail: bool = True) -> dict[str, Any]:
    base = f"/compute/v2.1/{call.project.id}/images/{i.id}"
    doc: dict[str, Any] = {
        "id": i.id,
        "name": i.name,
        "links": [
            {"rel": "self", "href": call.url(base)},
            {"rel": "bookmark", "href": call.url(base.replace("/v2.1", ""))},
        ],
    }
    if detail:
        status = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING"}.get(i.status, "ERROR")
        doc.update(
            {
                "status": status,
                "progress": 100 if status == "ACTIVE" else 50,
                "minDisk": i.min_disk,
                "minRam": i.min_ram,
                "created": i.created,
                "updated": i.created,
                "metadata": dict(i.properties),
                "OS-EXT-IMG-SIZE:size": i.size,
            }
        )
        if "instance_uuid" in i.properties:
            doc["server"] = {"id": i.properties["instance_uuid"]}
    return doc


def nova_list_images(call: Call, project_id: str, detail: str | None = None) -> Answer:
    proxy_only(call)
    images = sorted(_visible(call), key=lambda i: (i.created, i.id), reverse=True)
    return ok({"images": [nova_image_doc(call, i, detail is not None) for i in images]})


def nova_show_image(call: Call, project_id: str, image_id: str) -> Answer:
    proxy_only(call)
    found = next((i for i in _visible(call) if i.id == image_id), None)
    if found is None:
        raise ItemNotFound("Image not found.")
    return ok({"image": nova_image_doc(call, found)})


def nova_delete_image(call: Call, project_id: str, image_id: str) -> Answer:
    proxy_only(call)
    found = next((i for i in _visible(call) if i.id == image_id), None)
    if found is None:
        raise ItemNotFound("Image not found.")
    if found.owner != call.project.id:
        raise BadRequest("You are not permitted to delete this image.")
    del call.cloud.regional(call.project.region).images[found.id]
    return ok(None, 204)
