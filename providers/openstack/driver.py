"""The OpenStack driver (`driver: openstack`) and Rackspace (`driver: rackspace`): servers, key
pairs, security groups, floating IPs, Cinder volumes and snapshots, images from servers, and
Swift containers with their objects, on httpx.

Layers: `auth` (credentials, Keystone v3 and v2.0, the catalog), `errors` (the services' fault
documents to typed errors), `converters` (documents to the portable model), one handler per type
(`compute`, `network`, `storage`), `blobs`. This module configures them and dispatches each
protocol call to its type's handler, once.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from nubes.providers import features
from nubes.providers.errors import InvalidRequestError, NotFoundError, ProviderError
from nubes.providers.kit.choose import newest_image
from nubes.providers.kit.handlers import Handler, Handlers
from nubes.providers.lookup import by_id, check_criteria
from nubes.providers.openstack import converters as conv
from nubes.providers.openstack import settings as os_settings
from nubes.providers.openstack.auth import Keystone, gather
from nubes.providers.openstack.blobs import SwiftBlobs
from nubes.providers.openstack.compute import Images, Instances, Keys
from nubes.providers.openstack.context import OpenStack
from nubes.providers.openstack.network import Addresses, Firewalls
from nubes.providers.openstack.storage import Buckets, Snapshots, Volumes
from nubes.providers.planning import plan_from_schema
from nubes.providers.protocol import (
    PORTABLE,
    Blob,
    CloudObject,
    DriverContext,
    DriverInfo,
    HardwareProfile,
    Image,
    Ownership,
    PlannedChange,
    Realm,
    TypeSchema,
)

TYPES = ("instance", "key", "firewall", "volume", "snapshot", "address", "image", "bucket")
SCHEMA = {t: PORTABLE[t] for t in TYPES}
FEATURES = {
    "instances": (
        features.USER_DATA,
        features.AUTHENTICATION_KEY,
        features.FIREWALLS,
        features.REALM_FILTER,
    ),
}
ACTIONS = ("start", "stop", "reboot")


class OpenStackDriver:
    name = "openstack"

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client
        self._os: OpenStack | None = None
        self._handlers: Handlers | None = None

    @property
    def os(self) -> OpenStack:
        if self._os is None:
            raise ProviderError(f"the {self.name} driver is not configured")
        return self._os

    @property
    def handlers(self) -> Handlers:
        if self._handlers is None:
            raise ProviderError(f"the {self.name} driver is not configured")
        return self._handlers

    @property
    def calls(self) -> int:
        return self.os.calls

    def info(self) -> DriverInfo:
        try:
            location = self.os.region or self.os.keystone.credentials.auth_url
        except ProviderError:  # no credentials yet: say what the settings say
            location = self.os.settings.region or ""
        return DriverInfo(
            name=self.name,
            api_name=self.name,
            location=location,
            types=frozenset(self.schema()),
            features=FEATURES,
            actions={"instances": features.INSTANCE_ACTIONS},
        )

    def schema(self) -> Mapping[str, TypeSchema]:
        return SCHEMA

    def configure(self, config: Mapping[str, Any], context: DriverContext) -> list[tuple[str, str]]:
        settings, problems = os_settings.parse(config, self.name)
        if settings is None:
            return problems
        if self.name == "rackspace" and settings.region:
            settings = settings.model_copy(update={"region": settings.region.upper()})
        client = self._client or httpx.Client(timeout=60.0, follow_redirects=False)
        name, environ, stored = self.name, dict(context.environ), dict(context.credentials)
        keystone = Keystone(lambda: gather(settings, name, environ, stored), client)
        os = OpenStack(self.name, settings, keystone, client, context.cancel)
        table: dict[str, Handler] = {
            "instance": Instances(os),
            "key": Keys(os),
            "firewall": Firewalls(os),
            "volume": Volumes(os),
            "snapshot": Snapshots(os),
            "address": Addresses(os),
            "image": Images(os),
            "bucket": Buckets(os),
        }
        os.handlers = Handlers(self.name, table)
        self._os, self._handlers = os, os.handlers
        self._blobs = SwiftBlobs(os)
        return []

    # ---- reads -----------------------------------------------------------------------------

    def list(self, type: str, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return self.handlers[type].list(filters)

    def read(self, type: str, id: str) -> CloudObject | None:
        _ = self.handlers[type]
        return self.os.read(type, id)

    def lookup(self, type: str, criteria: Mapping[str, Any]) -> CloudObject | None:
        """An image by name and Glance properties (`os_distro`, `os_version`, any other), the
        newest active one winning; anything else by id."""
        if type != "image" or "id" in criteria:
            return by_id(type, criteria, self.read)
        allowed = {
            "name",
            "os_distro",
            "os_version",
            "architecture",
            "visibility",
            "owner",
            "image_type",
        }
        check_criteria("image", criteria, allowed)
        params = {k: str(v) for k, v in criteria.items()}
        params["status"] = "active"
        docs = [
            d
            for d in self.os.pages("image", "/v2/images", "images", params)
            # a server's snapshot inherits its base image's properties: never the catalog's
            if d.get("image_type") != "snapshot" or criteria.get("image_type") == "snapshot"
        ]
        by_image = {str(d["id"]): d for d in docs}
        newest = newest_image(conv.image_info(d) for d in docs)
        return None if newest is None else conv.image(by_image[newest.id])

    def realms(self) -> builtins.list[Realm]:
        return [Realm(z, z) for z in self.os.zone_names()]

    def hardware_profiles(self) -> builtins.list[HardwareProfile]:
        return self.os.profiles()

    def hardware_profile(self, id: str) -> HardwareProfile | None:
        return next((p for p in self.os.profiles() if p.id == id), None)

    def images(self) -> builtins.list[Image]:
        return [conv.image_info(d) for d in self.os.pages("image", "/v2/images", "images")]

    def image(self, id: str) -> Image | None:
        try:
            doc = self.os.service("image").json("GET", f"/v2/images/{id}")
        except NotFoundError:
            return None
        return conv.image_info(doc) if doc else None

    # ---- planning --------------------------------------------------------------------------

    def plan_change(
        self, type: str, prior: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> PlannedChange:
        handler = self.handlers[type]
        change = plan_from_schema(PORTABLE[type], prior, config)
        handler.plan(prior, config, change)
        return change

    # ---- changes ---------------------------------------------------------------------------

    def create(
        self,
        type: str,
        desired: Mapping[str, Any],
        owner: Ownership,
        timeout: float | None = None,
    ) -> CloudObject:
        handler = self.handlers[type]
        tags = {**{str(k): str(v) for k, v in (desired.get("tags") or {}).items()}, **owner.tags()}
        return handler.create(desired, owner, tags, timeout)

    def update(
        self, type: str, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> CloudObject:
        handler = self.handlers[type]
        changed = {k for k, v in desired.items() if prior.get(k) != v}
        if type in ("instance", "snapshot") and changed & {"tags", "name"}:
            self._retag(type, id, desired)
        if type == "bucket" and "tags" in changed:
            self._retag_bucket(id, prior, desired)
        handler.update(id, prior, desired, changed)
        return self.os.must_read(type, id)

    def _retag(self, type: str, id: str, desired: Mapping[str, Any]) -> None:
        current = self.os.must_read(type, id)
        owner = {k: v for k, v in current.tags.items() if k in conv.OWNER_KEYS}
        metadata = {**{str(k): str(v) for k, v in (desired.get("tags") or {}).items()}, **owner}
        if type == "instance":
            self.os.nova("PUT", f"/servers/{id}/metadata", json={"metadata": metadata})
            if desired.get("name") and desired["name"] != current.attributes.get("name"):
                self.os.nova("PUT", f"/servers/{id}", json={"server": {"name": desired["name"]}})
        else:
            # Cinder's snapshot update takes names only; metadata has its own resource
            self.os.service("volume").json(
                "PUT", f"/snapshots/{id}/metadata", json={"metadata": metadata}
            )

    def _retag_bucket(self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]) -> None:
        old = conv.swift_headers(prior.get("tags") or {})
        new = conv.swift_headers(desired.get("tags") or {})
        headers = {
            **{
                k.replace("X-Container-Meta-", "X-Remove-Container-Meta-"): "x"
                for k in old
                if k not in new
            },
            **new,
        }
        self.os.service("object-store").request("POST", "/" + quote(id, safe=""), headers=headers)

    def delete(self, type: str, id: str) -> None:
        self.handlers[type].delete(id)

    def act(self, type: str, id: str, action: str) -> CloudObject:
        if type != "instance" or action not in ACTIONS:
            raise InvalidRequestError(f"no action {action!r} on {type}")
        instances = self.handlers["instance"]
        assert isinstance(instances, Instances)
        return instances.act(id, action)

    def claim(self, type: str, id: str, owner: Ownership) -> None:
        """Give an imported object its ownership, where the type keeps metadata."""
        _ = self.handlers[type]
        if type == "instance":
            self.os.nova("POST", f"/servers/{id}/metadata", json={"metadata": owner.tags()})
        elif type == "volume":
            self.os.service("volume").json(
                "POST", f"/volumes/{id}/metadata", json={"metadata": owner.tags()}
            )
        elif type == "bucket":
            self.os.service("object-store").request(
                "POST", "/" + quote(id, safe=""), headers=conv.swift_headers(owner.tags())
            )

    def unclaim(self, type: str, id: str) -> None:
        _ = self.handlers[type]
        if type == "instance":
            for key in conv.OWNER_KEYS:
                with contextlib.suppress(NotFoundError):
                    self.os.nova("DELETE", f"/servers/{id}/metadata/{key}")
        elif type == "volume":
            current = self.os.must_read("volume", id)
            kept = {k: v for k, v in current.tags.items() if k not in conv.OWNER_KEYS}
            self.os.service("volume").json(
                "PUT", f"/volumes/{id}/metadata", json={"metadata": kept}
            )
        elif type == "bucket":
            headers = {
                k.replace("X-Container-Meta-", "X-Remove-Container-Meta-"): "x"
                for k in conv.swift_headers({k: "" for k in conv.OWNER_KEYS})
            }
            self.os.service("object-store").request(
                "POST", "/" + quote(id, safe=""), headers=headers
            )

    def quotas(self) -> dict[str, int | None]:
        doc = (self.os.nova("GET", "/limits") or {}).get("limits") or {}
        absolute = doc.get("absolute") or {}

        def limit(name: str) -> int | None:
            value = absolute.get(name)
            return int(value) if isinstance(value, int) and value >= 0 else None

        return {"instances": limit("maxTotalInstances"), "cores": limit("maxTotalCores")}

    # ---- blobs (Swift objects) -------------------------------------------------------------

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        return self._blobs.list_blobs(bucket)

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        return self._blobs.put_blob(bucket, key, data, content_type, metadata)

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> Blob | None:
        return self._blobs.set_blob_metadata(bucket, key, metadata)

    def blob_info(self, bucket: str, key: str) -> Blob | None:
        return self._blobs.blob_info(bucket, key)

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        return self._blobs.open_blob(bucket, key)

    def delete_blob(self, bucket: str, key: str) -> None:
        self._blobs.delete_blob(bucket, key)


class RackspaceDriver(OpenStackDriver):
    """Rackspace's cloud: the same driver, with Rackspace's identity (v2.0, API keys), catalog
    names (cloudServersOpenStack, cloudFiles, cloudBlockStorage) and regions."""

    name = "rackspace"
