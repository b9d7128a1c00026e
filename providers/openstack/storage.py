"""Cinder volumes (attached through Nova) and snapshots, and Swift containers (buckets), one
handler each. Volumes and snapshots carry their owner as metadata, containers as headers, all in
the creating call; Cinder filters volumes by metadata, so a refresh asks for the stack's only."""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from nubes.providers.errors import CreateIncompleteError, InvalidRequestError, NotFoundError
from nubes.providers.kit import checks, ownership
from nubes.providers.kit.handlers import NoChecks, ReplacedOnly
from nubes.providers.openstack import converters as conv
from nubes.providers.openstack.compute import matches
from nubes.providers.openstack.context import OpenStack
from nubes.providers.protocol import CloudObject, Ownership, PlannedChange


class Volumes:
    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        params = {"metadata": json.dumps(dict(filters))} if filters else {}
        docs = self.os.pages("volume", "/volumes/detail", "volumes", params)
        return [v for v in (conv.volume(d) for d in docs) if matches(v, filters)]

    def read(self, id: str) -> CloudObject | None:
        doc = self.os.service("volume").json("GET", f"/volumes/{id}") or {}
        return conv.volume(doc["volume"]) if doc.get("volume") else None

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_realm(
            config,
            self.os.volume_zones,
            self.os.region or "this region",
            change,
            ("availability zone", "zones"),
        )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        body: dict[str, Any] = {
            "size": int(desired["size_gb"]),
            "metadata": {k: str(v) for k, v in tags.items()},
        }
        if desired.get("name"):
            body["name"] = str(desired["name"])
        if desired.get("realm"):
            body["availability_zone"] = str(desired["realm"])

        def post() -> str:
            made = self.os.service("volume").json("POST", "/volumes", json={"volume": body})
            return str(made["volume"]["id"])

        id = self.os.create_once("volume", post, lambda: ownership.earlier(self.list, owner))
        try:
            obj = self.os.wait_volume(id, "available", timeout)
            if desired.get("instance"):
                self.attach(id, str(desired["instance"]), desired.get("device"), timeout)
                obj = self.os.must_read("volume", id)
        except Exception as exc:
            found = self.os.read("volume", id)
            if found is None:
                raise
            raise CreateIncompleteError(str(exc), found) from None
        return obj

    def attach(self, id: str, server: str, device: Any, timeout: float | None = None) -> None:
        body: dict[str, Any] = {"volumeId": id}
        if device:
            body["device"] = str(device)
        self.os.nova(
            "POST", f"/servers/{server}/os-volume_attachments", json={"volumeAttachment": body}
        )
        self.os.wait_volume(id, "in-use", timeout)

    def detach(self, volume: CloudObject) -> None:
        server = volume.attributes.get("instance")
        if not server:
            return
        try:
            self.os.nova("DELETE", f"/servers/{server}/os-volume_attachments/{volume.id}")
        except NotFoundError:
            return
        self.os.wait_volume(volume.id, "available")

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        volume = self.os.service("volume")
        if "name" in changed or "tags" in changed:
            current = self.os.must_read("volume", id)
            owner = {k: v for k, v in current.tags.items() if k.startswith("nubes:")}
            body: dict[str, Any] = {"metadata": {**owner, **(desired.get("tags") or {})}}
            if "name" in changed:
                body["name"] = desired.get("name")
            volume.json("PUT", f"/volumes/{id}", json={"volume": body})
        if "instance" in changed or "device" in changed:
            self.detach(self.os.must_read("volume", id))
            if desired.get("instance"):
                self.attach(id, str(desired["instance"]), desired.get("device"))

    def delete(self, id: str) -> None:
        found = self.os.read("volume", id)
        if found is None:
            return
        self.detach(found)
        try:
            self.os.service("volume").request("DELETE", f"/volumes/{id}")
        except NotFoundError:
            return
        self.os.wait(
            f"volume {id} to be deleted",
            lambda: True if self.os.read("volume", id) is None else None,
        )


class Snapshots(NoChecks, ReplacedOnly):
    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        docs = self.os.pages("volume", "/snapshots/detail", "snapshots")
        return [s for s in (conv.snapshot(d) for d in docs) if matches(s, filters)]

    def read(self, id: str) -> CloudObject | None:
        doc = self.os.service("volume").json("GET", f"/snapshots/{id}") or {}
        return conv.snapshot(doc["snapshot"]) if doc.get("snapshot") else None

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        body: dict[str, Any] = {
            "volume_id": str(desired["volume"]),
            "force": True,
            "metadata": {k: str(v) for k, v in tags.items()},
        }
        if desired.get("name"):
            body["name"] = str(desired["name"])

        def post() -> str:
            made = self.os.service("volume").json("POST", "/snapshots", json={"snapshot": body})
            return str(made["snapshot"]["id"])

        id = self.os.create_once("snapshot", post, lambda: ownership.earlier(self.list, owner))

        def settled() -> CloudObject | None:
            found = self.os.must_read("snapshot", id)
            if found.attributes["state"] == "error":
                raise CreateIncompleteError(f"snapshot {id} failed", found)
            return found if found.attributes["state"] == "completed" else None

        return self.os.wait(f"snapshot {id}", settled, timeout)

    def delete(self, id: str) -> None:
        try:
            self.os.service("volume").request("DELETE", f"/snapshots/{id}")
        except NotFoundError:
            return
        self.os.wait(
            f"snapshot {id} to be deleted",
            lambda: True if self.os.read("snapshot", id) is None else None,
        )


class Buckets(NoChecks, ReplacedOnly):
    """Swift containers. Swift lists containers without their metadata, so a refresh that
    filters by tags reads each container's headers (one HEAD each): the one type whose refresh
    grows with its objects, because Swift offers no other way."""

    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        swift = self.os.service("object-store")
        names: builtins.list[str] = []
        marker = ""
        while True:  # pages end with an empty one: the page size is the server's to choose
            params = {"format": "json", "marker": marker, "limit": 10000}
            page = swift.json("GET", "", params=params) or []
            if not page:
                break
            names += [str(c["name"]) for c in page]
            marker = names[-1]
        found = [self.read(n) for n in names] if filters else [conv.bucket(n, {}) for n in names]
        return [b for b in found if b is not None and matches(b, filters)]

    def read(self, id: str) -> CloudObject | None:
        try:
            answer = self.os.service("object-store").request("HEAD", "/" + quote(id, safe=""))
        except NotFoundError:
            return None
        return conv.bucket(id, dict(answer.headers))

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        name = str(desired["name"])
        existing = self.read(name)
        if existing is not None and existing.token != owner.token:
            raise InvalidRequestError(
                f"a bucket named {name!r} already exists and is not this stack's"
            )
        self.os.service("object-store").request(
            "PUT", "/" + quote(name, safe=""), headers=conv.swift_headers(tags)
        )
        return self.os.must_read("bucket", name)

    def delete(self, id: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.os.service("object-store").request("DELETE", "/" + quote(id, safe=""))
