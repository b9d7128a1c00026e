"""Swift (Rackspace Cloud Files): the account, containers and objects, with their metadata
headers, plain-text and JSON listings (prefix, delimiter, marker, limit), and ETags."""

from __future__ import annotations

import hashlib
import re
from email.utils import formatdate
from typing import Any

from nubes.emulators.openstack.calls import Answer, Call
from nubes.emulators.openstack.exceptions import PlainError
from nubes.emulators.openstack.models import Blob, Container

NAME = re.compile(r"^[^/]{1,256}$")


def info(call: Call) -> Answer:
    """GET /object-store/info: what this Swift offers (no token needed)."""
    doc = {
        "swift": {
            "version": "2.33.0",
            "max_file_size": 5368709122,
            "container_listing_limit": 10000,
            "max_meta_count": 90,
            "max_object_name_length": 1024,
        }
    }
    return Answer(200, doc)


def _meta(call: Call, prefix: str) -> dict[str, str]:
    return {k[len(prefix) :]: v for k, v in call.headers.items() if k.startswith(prefix)}


def _headers(kind: str, metadata: dict[str, str]) -> dict[str, str]:
    return {f"X-{kind}-Meta-{k.title()}": v for k, v in metadata.items()}


def _listing(call: Call, entries: list[dict[str, Any]], name_key: str = "name") -> Answer:
    prefix, delimiter = call.arg("prefix") or "", call.arg("delimiter")
    marker, end = call.arg("marker"), call.arg("end_marker")
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in sorted(entries, key=lambda e: e[name_key]):
        name = entry[name_key]
        if not name.startswith(prefix) or (marker and name <= marker) or (end and name >= end):
            continue
        if delimiter:
            rest = name[len(prefix) :]
            if delimiter in rest:
                sub = prefix + rest.split(delimiter, 1)[0] + delimiter
                if sub not in seen:
                    seen.add(sub)
                    found.append({"subdir": sub})
                continue
        found.append(entry)
    try:
        limit = min(int(call.arg("limit", "10000") or "10000"), 10000)
    except ValueError:
        raise PlainError("Invalid limit", 412) from None
    found = found[:limit]
    if (call.arg("format") or "") == "json" or "json" in call.headers.get("accept", ""):
        return Answer(200, found)
    text = "".join(f"{e.get(name_key, e.get('subdir'))}\n" for e in found)
    status = 200 if found else 204
    return Answer(status, raw=text.encode(), content_type="text/plain; charset=utf-8")


def _container(call: Call, name: str) -> Container:
    found = call.project.containers.get(name)
    if found is None:
        raise PlainError("The resource could not be found.", 404)
    return found


# ---- account ------------------------------------------------------------------------------


def _account_headers(call: Call) -> dict[str, str]:
    containers = call.project.containers.values()
    return {
        "X-Account-Container-Count": str(len(containers)),
        "X-Account-Object-Count": str(sum(len(c.objects) for c in containers)),
        "X-Account-Bytes-Used": str(
            sum(len(b.data) for c in containers for b in c.objects.values())
        ),
    }


def list_containers(call: Call, account: str) -> Answer:
    entries = [
        {
            "name": c.name,
            "count": len(c.objects),
            "bytes": sum(len(b.data) for b in c.objects.values()),
            "last_modified": formatdate(c.created, usegmt=True),
        }
        for c in call.project.containers.values()
    ]
    answer = _listing(call, entries)
    answer.headers.update(_account_headers(call))
    return answer


def show_account(call: Call, account: str) -> Answer:
    return Answer(204, headers=_account_headers(call))


# ---- containers ---------------------------------------------------------------------------


def create_container(call: Call, account: str, container: str) -> Answer:
    if not NAME.match(container):
        raise PlainError("Container name must not contain '/' and be 1 to 256 long", 400)
    project = call.project
    existing = project.containers.get(container)
    if existing is None:
        project.containers[container] = Container(container, _meta(call, "x-container-meta-"))
        return Answer(201, raw=b"", content_type="text/html; charset=UTF-8")
    existing.metadata.update(_meta(call, "x-container-meta-"))
    return Answer(202, raw=b"", content_type="text/html; charset=UTF-8")


def update_container(call: Call, account: str, container: str) -> Answer:
    found = _container(call, container)
    found.metadata.update(_meta(call, "x-container-meta-"))
    for name in [k for k in call.headers if k.startswith("x-remove-container-meta-")]:
        found.metadata.pop(name[len("x-remove-container-meta-") :], None)
    return Answer(204)


def _container_headers(found: Container) -> dict[str, str]:
    return {
        "X-Container-Object-Count": str(len(found.objects)),
        "X-Container-Bytes-Used": str(sum(len(b.data) for b in found.objects.values())),
        "X-Timestamp": f"{found.created:.5f}",
        **_headers("Container", found.metadata),
    }


def show_container(call: Call, account: str, container: str) -> Answer:
    return Answer(204, headers=_container_headers(_container(call, container)))


def list_objects(call: Call, account: str, container: str) -> Answer:
    found = _container(call, container)
    entries = [
        {
            "name": k,
            "hash": b.etag,
            "bytes": len(b.data),
            "content_type": b.content_type,
            "last_modified": _modified(b.modified),
        }
        for k, b in found.objects.items()
    ]
    answer = _listing(call, entries)
    answer.headers.update(_container_headers(found))
    return answer


def delete_container(call: Call, account: str, container: str) -> Answer:
    found = _container(call, container)
    if found.objects:
        raise PlainError("There was a conflict when trying to complete your request.", 409)
    del call.project.containers[container]
    return Answer(204)


# ---- objects ------------------------------------------------------------------------------


def _modified(when: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def put_object(call: Call, account: str, container: str, object: str) -> Answer:
    found = _container(call, container)
    if len(object) > 1024:
        raise PlainError("Object name length of 1024 longer than 1024", 400)
    wanted = call.headers.get("etag")
    if wanted and wanted.strip('"') != hashlib.md5(call.body, usedforsecurity=False).hexdigest():
        raise PlainError("Unprocessable Entity", 422)
    blob = Blob(
        call.body,
        call.headers.get("content-type") or "application/octet-stream",
        _meta(call, "x-object-meta-"),
    )
    found.objects[object] = blob
    return Answer(
        201,
        raw=b"",
        headers={"ETag": blob.etag, "Last-Modified": formatdate(blob.modified, usegmt=True)},
        content_type="text/html; charset=UTF-8",
    )


def _object(call: Call, container: str, object: str) -> Blob:
    found = _container(call, container).objects.get(object)
    if found is None:
        raise PlainError("The resource could not be found.", 404)
    return found


def _object_headers(blob: Blob) -> dict[str, str]:
    return {
        "ETag": blob.etag,
        "Last-Modified": formatdate(blob.modified, usegmt=True),
        "X-Timestamp": f"{blob.modified:.5f}",
        "Accept-Ranges": "bytes",
        **_headers("Object", blob.metadata),
    }


def get_object(call: Call, account: str, container: str, object: str) -> Answer:
    blob = _object(call, container, object)
    return Answer(200, raw=blob.data, headers=_object_headers(blob), content_type=blob.content_type)


def show_object(call: Call, account: str, container: str, object: str) -> Answer:
    blob = _object(call, container, object)
    headers = {**_object_headers(blob), "Content-Length": str(len(blob.data))}
    return Answer(200, raw=b"", headers=headers, content_type=blob.content_type)


def update_object(call: Call, account: str, container: str, object: str) -> Answer:
    blob = _object(call, container, object)
    blob.metadata = _meta(call, "x-object-meta-")
    if call.headers.get("content-type"):
        blob.content_type = call.headers["content-type"]
    return Answer(202, raw=b"", content_type="text/html; charset=UTF-8")


def delete_object(call: Call, account: str, container: str, object: str) -> Answer:
    _object(call, container, object)
    del call.project.containers[container].objects[object]
    return Answer(204)
