"""The emulated cloud's domain state: identity, and one `Project` per project and region.

Nothing here knows HTTP. Objects whose state takes time carry the instant it is reached
(`ready_at`, on the emulator's clock) and settle when read, so no thread runs behind a request.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nubes.emulators.openstack.exceptions import NeutronError


def new_id() -> str:
    return str(uuid.uuid4())


def stamp(when: float | None = None) -> str:
    """An ISO 8601 time as the services write it (`2026-12-02T19:40:00Z`)."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Knobs:
    """What a test or a user trying nubes can turn (`nubes emulate openstack --help`)."""

    boot_seconds: float = 2.0  # BUILD -> ACTIVE, and every other transition
    latency_ms: float = 0.0  # added to every answer
    fault_rate: float = 0.0  # share of requests answered 503 before doing anything
    token_seconds: float = 3600.0
    max_instances: int = 10
    max_volumes: int = 10
    max_security_groups: int = 10
    rate_limit: int = 0  # requests a minute per token before 413 overLimit (0: none)
    style: str = "openstack"  # or "rackspace": its service names, regions and API keys


# ---- the catalog's fixed parts: flavors, public images, zones --------------------------------

FLAVORS = [
    # id, name, vcpus, ram (MiB), disk (GB)
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
    ("6", "c1.medium", 4, 4096, 40),
]

IMAGES = [
    # name, os_distro, os_version, size (bytes), min_disk
    ("ubuntu-24.04", "ubuntu", "24.04", 602_931_200, 3),
    ("ubuntu-22.04", "ubuntu", "22.04", 664_797_184, 3),
    ("debian-12", "debian", "12", 346_030_080, 2),
    ("cirros-0.6.2", "cirros", "0.6.2", 21_430_272, 1),
]

ZONES = ("nova", "nova-b")


@dataclass
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int
    disk: int
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass
class Image:
    id: str
    name: str
    owner: str | None  # a project id; None: the cloud's public images
    visibility: str = "public"
    status: str = "active"
    ready_at: float = 0.0
    size: int = 0
    min_disk: int = 0
    min_ram: int = 0
    disk_format: str = "qcow2"
    container_format: str = "bare"
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    created: str = field(default_factory=stamp)
    checksum: str = ""

    def settle(self, now: float) -> None:
        if self.status in ("queued", "saving") and now >= self.ready_at:
            self.status = "active"


@dataclass
class Server:
    id: str
    name: str
    project: str
    user: str
    flavor: Flavor
    image_id: str
    zone: str
    key_name: str | None
    user_data: str | None
    metadata: dict[str, str]
    security_groups: list[str]
    networks: list[str]  # network ids it has a port on
    status: str = "BUILD"
    task_state: str | None = "spawning"
    power_state: int = 0
    ready_at: float = 0.0
    then: str = "ACTIVE"  # the status the current transition ends in
    old_flavor: Flavor | None = None
    after_resize: str = "ACTIVE"  # the status a confirmed or reverted resize returns to
    admin_pass: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    created: str = field(default_factory=stamp)
    updated: str = field(default_factory=stamp)
    host_id: str = field(default_factory=lambda: secrets.token_hex(28))
    tags: list[str] = field(default_factory=list)
    description: str | None = None

    def settle(self, now: float) -> None:
        if self.task_state is not None and now >= self.ready_at:
            self.status, self.task_state = self.then, None
            self.power_state = 4 if self.status == "SHUTOFF" else 1
            self.updated = stamp()

    def begin(self, status: str, task: str, then: str, seconds: float, now: float) -> None:
        self.status, self.task_state, self.then = status, task, then
        self.ready_at = now + seconds
        self.updated = stamp()


@dataclass
class Keypair:
    name: str
    public_key: str
    user: str
    type: str = "ssh"
    created: str = field(default_factory=stamp)
    id: int = 0

    @property
    def fingerprint(self) -> str:
        try:
            raw = base64.b64decode(self.public_key.split()[1])
        except (IndexError, ValueError):
            raw = self.public_key.encode()
        digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


@dataclass
class Attachment:
    id: str
    server: str
    volume: str
    device: str


@dataclass
class Volume:
    id: str
    name: str | None
    size: int
    zone: str
    project: str
    description: str | None = None
    status: str = "creating"
    then: str = "available"
    ready_at: float = 0.0
    snapshot_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    volume_type: str = "lvmdriver-1"
    created: str = field(default_factory=stamp)

    def settle(self, now: float) -> None:
        if (
            self.status in ("creating", "attaching", "detaching", "deleting")
            and now >= self.ready_at
        ):
            self.status = self.then


@dataclass
class Snapshot:
    id: str
    volume_id: str
    name: str | None
    size: int
    project: str
    description: str | None = None
    status: str = "creating"
    ready_at: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=stamp)

    def settle(self, now: float) -> None:
        if self.status == "creating" and now >= self.ready_at:
            self.status = "available"


@dataclass
class Rule:
    id: str
    group: str
    direction: str = "ingress"
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group: str | None = None
    description: str = ""


@dataclass
class SecurityGroup:
    id: str
    name: str
    project: str
    description: str = ""
    rules: list[Rule] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created: str = field(default_factory=stamp)


@dataclass
class Network:
    id: str
    name: str
    project: str | None
    cidr: str
    subnet_id: str
    external: bool = False
    shared: bool = False
    hosts: Iterator[Any] | None = field(default=None, repr=False)


@dataclass
class Port:
    id: str
    network: str
    project: str
    device_id: str
    device_owner: str
    ip: str
    subnet_id: str
    mac: str = field(
        default_factory=lambda: "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))
    )
    security_groups: list[str] = field(default_factory=list)
    status: str = "ACTIVE"


@dataclass
class FloatingIp:
    id: str
    ip: str
    network: str
    project: str
    port: str | None = None
    fixed_ip: str | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    created: str = field(default_factory=stamp)

    @property
    def status(self) -> str:
        return "ACTIVE" if self.port else "DOWN"


@dataclass
class Blob:
    data: bytes
    content_type: str
    metadata: dict[str, str]
    modified: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


@dataclass
class Container:
    name: str
    metadata: dict[str, str] = field(default_factory=dict)
    objects: dict[str, Blob] = field(default_factory=dict)
    created: float = field(default_factory=time.time)


class Project:
    """Everything one project holds in one region."""

    def __init__(self, cloud: Cloud, project: str, region: str) -> None:
        self.cloud = cloud
        self.id = project
        self.region = region
        self.servers: dict[str, Server] = {}
        self.keypairs: dict[str, Keypair] = {}
        self.volumes: dict[str, Volume] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.groups: dict[str, SecurityGroup] = {}
        self.floating: dict[str, FloatingIp] = {}
        self.containers: dict[str, Container] = {}
        self.network = cloud.regional(region).private_network(project)
        default = SecurityGroup(new_id(), "default", project, "Default security group")
        default.rules = [
            Rule(new_id(), default.id, "egress", "IPv4"),
            Rule(new_id(), default.id, "egress", "IPv6"),
            Rule(new_id(), default.id, "ingress", "IPv4", remote_group=default.id),
        ]
        self.groups[default.id] = default

    def now(self) -> float:
        return self.cloud.clock()

    def server(self, id: str) -> Server | None:
        found = self.servers.get(id)
        if found is not None:
            found.settle(self.now())
        return found

    def volume(self, id: str) -> Volume | None:
        found = self.volumes.get(id)
        if found is not None:
            found.settle(self.now())
            if found.status == "deleted":
                del self.volumes[id]
                return None
        return found

    def all_servers(self) -> list[Server]:
        now = self.now()
        for s in self.servers.values():
            s.settle(now)
        return list(self.servers.values())

    def all_volumes(self) -> list[Volume]:
        return [v for v in (self.volume(i) for i in list(self.volumes)) if v is not None]

    def group_by_name(self, name: str) -> SecurityGroup | None:
        return next((g for g in self.groups.values() if name in (g.name, g.id)), None)


@dataclass
class User:
    id: str
    name: str
    password: str
    domain: str  # a domain id
    api_key: str


@dataclass
class Token:
    id: str
    user: User
    project: str | None  # a project id; None: unscoped
    expires: float
    methods: list[str]
    issued: float = field(default_factory=time.time)


@dataclass
class AppCredential:
    id: str
    name: str
    secret: str
    user: User
    project: str


class Regional:
    """What one region holds for every project: the shared public network and its addresses,
    and the projects' own networks."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.public = Network(new_id(), "public", None, "203.0.113.0/24", new_id(), external=True)
        self.public.hosts = itertools.islice(
            ipaddress.ip_network(self.public.cidr).hosts(), 1, None
        )
        self.networks: dict[str, Network] = {self.public.id: self.public}
        self.ports: dict[str, Port] = {}
        self.images: dict[str, Image] = {}

    def private_network(self, project: str) -> Network:
        for net in self.networks.values():
            if net.project == project and net.name == "private":
                return net
        net = Network(new_id(), "private", project, "10.0.0.0/16", new_id())
        net.hosts = itertools.islice(ipaddress.ip_network(net.cidr).hosts(), 1, None)
        self.networks[net.id] = net
        return net

    def next_ip(self, network: Network) -> str:
        try:
            assert network.hosts is not None
            return str(next(network.hosts))
        except StopIteration:
            raise NeutronError(
                "IpAddressGenerationFailure",
                f"No more IP addresses available on network {network.id}.",
                409,
            ) from None


class Cloud:
    """The whole emulated cloud: identity, regions, and each project's state in each."""

    def __init__(self, knobs: Knobs | None = None, clock: Callable[[], float] = time.monotonic):
        self.knobs = knobs or Knobs()
        self.clock = clock
        self.lock = threading.RLock()
        self.reset()

    def reset(self, users: list[tuple[str, str, str]] | None = None) -> None:
        """Forget everything but the default user, project, flavors and public images."""
        rackspace = self.knobs.style == "rackspace"
        self.regions = ["DFW", "ORD", "IAD", "LON", "SYD", "HKG"] if rackspace else ["RegionOne"]
        self.domains = {"default": "Default"}
        self.projects: dict[str, tuple[str, str]] = {}  # id -> (name, domain id)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.app_credentials: dict[str, AppCredential] = {}
        self.roles: dict[tuple[str, str], list[str]] = {}  # (user, project) -> role names
        self.flavors = {f[0]: Flavor(*f) for f in FLAVORS}
        self._regional: dict[str, Regional] = {}
        self._projects: dict[tuple[str, str], Project] = {}
        self.requests: dict[str, list[float]] = {}
        for name, password, project in users or [("demo", "demo", "demo")]:
            self.add_user(name, password, project)

    def add_user(self, name: str, password: str, project: str, domain: str = "default") -> User:
        project_id = next(
            (pid for pid, (pname, _) in self.projects.items() if pname == project), None
        )
        if project_id is None:
            project_id = uuid.uuid4().hex
            self.projects[project_id] = (project, domain)
        user = User(uuid.uuid4().hex, name, password, domain, api_key=f"{password}-key")
        self.users[user.id] = user
        self.roles[(user.id, project_id)] = ["member", "reader"]
        return user

    def regional(self, region: str) -> Regional:
        found = self._regional.get(region)
        if found is None:
            found = self._regional[region] = Regional(region)
            for name, distro, version, size, min_disk in IMAGES:
                image = Image(new_id(), name, None, size=size, min_disk=min_disk)
                image.properties = {
                    "os_distro": distro,
                    "os_version": version,
                    "architecture": "x86_64",
                    "hw_disk_bus": "virtio",
                }
                image.checksum = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
                found.images[image.id] = image
        return found

    def project(self, project: str, region: str) -> Project:
        key = (project, region)
        found = self._projects.get(key)
        if found is None:
            found = self._projects[key] = Project(self, project, region)
        return found

    def project_named(self, name: str, domain: str | None = None) -> str | None:
        for pid, (pname, pdomain) in self.projects.items():
            if pname == name and (domain is None or pdomain == domain):
                return pid
        return None

    def domain_id(self, id: str | None, name: str | None) -> str | None:
        if id is not None:
            return id if id in self.domains else None
        for did, dname in self.domains.items():
            if dname == name:
                return did
        return None

    def issue(self, user: User, project: str | None, methods: list[str]) -> Token:
        token = Token(
            "gAAAAA" + secrets.token_urlsafe(40),
            user,
            project,
            time.time() + self.knobs.token_seconds,
            methods,
        )
        self.tokens[token.id] = token
        return token

    def valid(self, token_id: str | None) -> Token | None:
        token = self.tokens.get(token_id or "")
        if token is None or token.expires <= time.time():
            return None
        return token
