"""What the OpenStack handlers share: a transport per service found in the token's catalog,
Nova's microversion, lookups cached per driver (flavors, zones, groups, networks), and waits."""

from __future__ import annotations

import builtins
import ipaddress
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from nubes.providers.errors import (
    CancelledError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    TransientError,
)
from nubes.providers.kit.handlers import Handlers
from nubes.providers.kit.http import HttpTransport, Retries
from nubes.providers.kit.waits import FAST, Pacing, wait_until
from nubes.providers.openstack import converters as conv
from nubes.providers.openstack.auth import Keystone, choose_endpoint
from nubes.providers.openstack.errors import fault
from nubes.providers.openstack.settings import Settings
from nubes.providers.protocol import CloudObject, HardwareProfile

PINNED = (2, 79)  # Nova's microversion nubes speaks where the cloud offers it
CACHE_SECONDS = 60.0
PAGE = 1000
# (service, catalog types in order of preference, OpenStack's names, Rackspace's names)
SERVICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "compute": (("compute",), ("nova", "cloudServersOpenStack")),
    "image": (("image",), ("glance", "cloudImages")),
    "volume": (
        ("block-storage", "volumev3", "volume", "volumev2"),
        ("cinderv3", "cinder", "cloudBlockStorage"),
    ),
    "network": (("network",), ("neutron", "cloudNetworks")),
    "object-store": (("object-store",), ("swift", "cloudFiles")),
}


class OpenStack:
    def __init__(
        self,
        driver: str,
        settings: Settings,
        keystone: Keystone,
        client: httpx.Client,
        cancel: threading.Event | None = None,
    ) -> None:
        self.driver = driver
        self.settings = settings
        self.keystone = keystone
        self.client = client
        self.cancel = cancel
        self.retries = Retries(max_attempts=settings.max_attempts)
        self.handlers: Handlers | None = None
        self._services: dict[str, HttpTransport] = {}
        self._lock = threading.Lock()
        self._microversion: str | None = None
        self._flavors: tuple[float, builtins.list[dict[str, Any]]] | None = None
        self._zones: tuple[float, builtins.list[str]] | None = None
        self._networks: dict[str, str] = {}
        self._images: dict[str, tuple[float, bool]] = {}
        self._volume_zones: tuple[float, builtins.list[str]] | None = None

    # ---- transports ------------------------------------------------------------------------

    @property
    def region(self) -> str | None:
        return self.settings.region or self.keystone.credentials.region

    def service(self, name: str) -> HttpTransport:
        with self._lock:
            found = self._services.get(name)
            if found is None:
                found = self._services[name] = self._transport(name)
            return found

    def _transport(self, name: str) -> HttpTransport:
        url = self.settings.endpoints.get(name)
        if url is None:
            types, names = SERVICES[name]
            url = choose_endpoint(
                self.keystone.token.catalog, types, names, self.region, self.settings.interface
            )
        if url is None:
            where = f" in region {self.region}" if self.region else ""
            raise ProviderError(
                f"the cloud's catalog has no {name} service{where} on the "
                f"{self.settings.interface} interface (set endpoints.{name} to give one)",
                "EndpointNotFound",
            )
        return HttpTransport(
            url,
            auth=self.keystone,
            errors=fault,
            retries=self.retries,
            client=self.client,
            cancel=self.cancel,
            headers={"Accept": "application/json"},
        )

    @property
    def calls(self) -> int:
        return self.keystone.calls + sum(t.calls for t in self._services.values())

    @property
    def local(self) -> bool:
        host = httpx.URL(self.keystone.credentials.auth_url).host
        try:
            return host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    # ---- Nova, with its microversion ---------------------------------------------------------

    def microversion(self) -> str | None:
        """The microversion to ask for: nubes's pinned one, or the cloud's newest when that is
        older; none where the cloud has none (Rackspace)."""
        if self._microversion is None:
            compute = self.service("compute")
            root = compute.base_url
            project = self.keystone.token.project_id
            if project and root.endswith("/" + project):
                root = root[: -len(project) - 1]  # the version document is above the project
            try:
                doc = compute.json("GET", root + "/") or {}
            except ProviderError:
                doc = {}
            newest = str((doc.get("version") or {}).get("version") or "")
            if not newest:
                self._microversion = ""
            else:
                major, minor = (int(n) for n in newest.split("."))
                best = min((major, minor), PINNED)
                self._microversion = f"{best[0]}.{best[1]}"
        return self._microversion or None

    def _versioned(self) -> dict[str, str]:
        version = self.microversion()
        return {"OpenStack-API-Version": f"compute {version}"} if version else {}

    def nova(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **self._versioned()}
        return self.service("compute").json(method, path, headers=headers, **kwargs)

    def pages(
        self, service: str, path: str, key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        """Every item of a list paged by `limit`/`marker` with `<key>_links` (Nova, Cinder,
        Neutron) or Glance's `next`; Nova's pages at the driver's microversion."""
        transport = self.service(service)
        headers = self._versioned() if service == "compute" else {}
        url: str | None = path
        query: Mapping[str, Any] | None = {"limit": PAGE, **(params or {})}
        while url is not None:
            doc = transport.json("GET", url, params=query, headers=headers) or {}
            yield from doc.get(key) or []
            url = doc.get("next") if service == "image" else next_link(doc, f"{key}_links")
            query = None

    # ---- reads and lookups -------------------------------------------------------------------

    def read(self, type: str, id: str) -> CloudObject | None:
        assert self.handlers is not None
        try:
            return self.handlers[type].read(id)
        except NotFoundError:
            return None

    def must_read(self, type: str, id: str) -> CloudObject:
        found = self.read(type, id)
        if found is None:
            raise NotFoundError(f"{type} {id} vanished right after it was changed")
        return found

    def flavors(self) -> builtins.list[dict[str, Any]]:
        if self._flavors is None or _stale(self._flavors[0]):
            found = list(self.pages("compute", "/flavors/detail", "flavors"))
            self._flavors = (time.monotonic(), found)
        return self._flavors[1]

    def profiles(self) -> builtins.list[HardwareProfile]:
        return sorted(
            (conv.hardware_profile(f) for f in self.flavors()),
            key=lambda p: (p.cpus, p.memory_gb, p.id),
        )

    def image_exists(self, image: str) -> bool:
        """Asked once a minute per image, not once per instance of a plan."""
        seen = self._images.get(image)
        if seen is None or _stale(seen[0]):
            seen = (time.monotonic(), self.read("image", image) is not None)
            self._images[image] = seen
        return seen[1]

    def flavor_id(self, size: str) -> str | None:
        for flavor in self.flavors():
            if size in (flavor.get("name"), str(flavor.get("id"))):
                return str(flavor["id"])
        return None

    def flavor_names(self) -> dict[str, str]:
        return {str(f["id"]): str(f.get("name") or f["id"]) for f in self.flavors()}

    def zone_names(self) -> builtins.list[str]:
        if self._zones is None or _stale(self._zones[0]):
            self._zones = (time.monotonic(), zones(self.nova("GET", "/os-availability-zone")))
        return self._zones[1]

    def volume_zones(self) -> builtins.list[str]:
        """Cinder's own zones (often not Nova's); Nova's where Cinder does not list its own."""
        if self._volume_zones is None or _stale(self._volume_zones[0]):
            try:
                names = zones(self.service("volume").json("GET", "/os-availability-zone"))
            except NotFoundError:
                names = self.zone_names()
            self._volume_zones = (time.monotonic(), names)
        return self._volume_zones[1]

    def group_ids(self) -> dict[str, str]:
        """Security group names to ids (servers name their groups; the stack holds ids)."""
        try:
            groups = list(
                self.pages(
                    "network",
                    "/v2.0/security-groups",
                    "security_groups",
                    {"fields": ["id", "name"]},
                )
            )
        except NotFoundError:
            return {}  # a cloud whose network service keeps no groups (Rackspace's): by name
        return {str(g["name"]): str(g["id"]) for g in groups}

    def network(self, setting: str | None, external: bool) -> str | None:
        """The id of the network a setting names (by name or id), or the default: the one
        external network for addresses, none (Nova's choice) for servers."""
        if setting is None and not external:
            return None  # Nova picks (and clouds without Neutron, as Rackspace's, need no ask)
        key = f"{setting}:{external}"
        if key not in self._networks:
            params: dict[str, Any] = {"router:external": "True"} if external else {}
            nets = list(self.pages("network", "/v2.0/networks", "networks", params))
            if setting is not None:
                found = [n for n in nets if setting in (n.get("id"), n.get("name"))]
                if not found:
                    raise InvalidRequestError(f"no network named {setting!r} in this project")
            else:
                found = nets if external else []
            self._networks[key] = str(found[0]["id"]) if found else ""
        return self._networks[key] or None

    # ---- creates that survive a lost answer ---------------------------------------------------

    def create_once(
        self, what: str, post: Callable[[], str], earlier: Callable[[], CloudObject | None]
    ) -> str:
        """The id of what `post` creates. OpenStack takes no idempotency token, so a create
        whose answer was lost (a 5xx, a dropped connection) is looked for by the owner's token
        (`earlier`) before it is sent again: never two objects for one address."""
        found = earlier()
        if found is not None:
            return found.id
        pause = self.retries.first_pause
        for attempt in range(1, self.retries.max_attempts + 1):
            try:
                return post()
            except TransientError:
                found = earlier()
                if found is not None:
                    return found.id
                if attempt == self.retries.max_attempts:
                    raise
            nap = random.uniform(0, pause)
            if self.cancel is not None and self.cancel.wait(nap):
                raise CancelledError(f"the run is stopping: {what} not created")
            if self.cancel is None:
                time.sleep(nap)
            pause = min(pause * 2, self.retries.max_pause)
        raise AssertionError("unreachable")

    # ---- waits -------------------------------------------------------------------------------

    def wait(self, what: str, probe: Callable[[], Any], timeout: float | None = None) -> Any:
        pacing = FAST if self.local else Pacing()
        return wait_until(what, probe, timeout or self.settings.wait_seconds, pacing, self.cancel)

    def wait_server(
        self,
        id: str,
        states: tuple[str, ...],
        timeout: float | None = None,
        raw: tuple[str, ...] = (),
    ) -> CloudObject:
        """Wait for an instance to reach a portable state (or a Nova status in `raw`)."""

        def probe() -> CloudObject | None:
            doc = self._server_doc(id)
            if doc is None:
                raise ProviderError(f"instance {id} vanished while waiting for {'/'.join(states)}")
            if doc.get("status") == "ERROR" and "error" not in states:
                fault = (doc.get("fault") or {}).get("message") or "no reason given"
                raise ProviderError(f"instance {id} went into ERROR: {fault}", "ServerError")
            settled = doc.get("OS-EXT-STS:task_state") is None
            state = conv.server_state(doc)
            if doc.get("status") in raw or (settled and state in states):
                return self.instance(doc)  # the groups' ids asked once, not at every poll
            return None

        return self.wait(f"instance {id} to be {'/'.join(states + raw)}", probe, timeout)

    def instance(self, doc: Mapping[str, Any]) -> CloudObject:
        """A server as an instance: its flavor by name, its groups by id."""
        groups = self.group_ids() if doc.get("security_groups") else {}
        return conv.instance(doc, self.flavor_names(), groups)

    def _server_doc(self, id: str) -> dict[str, Any] | None:
        try:
            doc = self.nova("GET", f"/servers/{id}") or {}
        except NotFoundError:
            return None
        server: dict[str, Any] = doc.get("server") or {}
        return server

    def wait_volume(self, id: str, state: str, timeout: float | None = None) -> CloudObject:
        def probe() -> CloudObject | None:
            found = self.must_read("volume", id)
            if found.attributes["state"] == "error":
                raise ProviderError(f"volume {id} went into error", "VolumeError")
            return found if found.attributes["state"] == state else None

        return self.wait(f"volume {id} to be {state}", probe, timeout)


def zones(doc: Any) -> builtins.list[str]:
    """The available zones of an os-availability-zone answer (Nova's and Cinder's alike)."""
    return [
        z["zoneName"]
        for z in (doc or {}).get("availabilityZoneInfo") or []
        if (z.get("zoneState") or {}).get("available", True)
    ]


def next_link(doc: Mapping[str, Any], key: str) -> str | None:
    for link in doc.get(key) or []:
        if link.get("rel") == "next":
            return str(link["href"])
    return None


def _stale(since: float) -> bool:
    return time.monotonic() - since > CACHE_SECONDS


__all__ = ["OpenStack", "conv"]
