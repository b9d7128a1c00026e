"""The Driver protocol and the portable resource types' schemas.

A schema says, per attribute, whether the user sets it, the cloud computes it, or both; its value
type; whether changing it forces replacement; and whether it is secret. Drivers return these
schemas (adding their own attributes where they must) and the engine plans from them.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from nubes.providers.constraints import (
    ID,
    NAME,
    Check,
    cidr_problem,
    listeners_normal,
    listeners_problem,
    realms_normal,
    rules_problem,
    size_problem,
)
from nubes.providers.constraints import TAGS as TAG_CHECK
from nubes.providers.errors import InvalidRequestError
from nubes.providers.values import contains_unknown

STACK_TAG = "nubes:stack"
ADDRESS_TAG = "nubes:address"
TOKEN_TAG = "nubes:token"


class Kind(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    COMPUTED = "computed"
    OPTIONAL_COMPUTED = "optional+computed"  # the user may set it; otherwise the cloud picks


@dataclass(frozen=True)
class Attr:
    type: str  # string, number, bool, list, map, any
    kind: Kind
    force_new: bool = False
    sensitive: bool = False
    description: str = ""
    check: Check | None = None  # the values it takes, beyond its type
    # the form the cloud stores a set value in (sorted, defaults filled in), which a plan
    # compares with what the cloud reports; a value it refuses is left as written for `check`
    normal: Callable[[Any], Any] | None = None

    def problem(self, value: Any) -> str | None:
        return self.check.problem(value) if self.check is not None else None

    def normalized(self, value: Any) -> Any:
        if self.normal is None or contains_unknown(value):
            return value
        try:
            return self.normal(value)
        except (InvalidRequestError, TypeError, ValueError):
            return value

    @property
    def settable(self) -> bool:
        return self.kind is not Kind.COMPUTED

    @property
    def computed(self) -> bool:
        return self.kind in (Kind.COMPUTED, Kind.OPTIONAL_COMPUTED)


@dataclass(frozen=True)
class TypeSchema:
    name: str
    attrs: Mapping[str, Attr]
    actions: frozenset[str] = frozenset()
    description: str = ""

    @cached_property
    def sensitive(self) -> frozenset[str]:
        return frozenset(n for n, a in self.attrs.items() if a.sensitive)

    @cached_property
    def settable(self) -> tuple[str, ...]:
        return tuple(n for n, a in self.attrs.items() if a.settable)


def _s(**attrs: Attr) -> dict[str, Attr]:
    return attrs


def tightened(
    schemas: Mapping[str, TypeSchema], type: str, attr: str, check: Check
) -> dict[str, TypeSchema]:
    """`schemas` with one attribute's check replaced: a driver's own rule for a portable value."""
    out = dict(schemas)
    schema = out[type]
    out[type] = replace(
        schema, attrs={**schema.attrs, attr: replace(schema.attrs[attr], check=check)}
    )
    return out


REQ, OPT, C, OC = Kind.REQUIRED, Kind.OPTIONAL, Kind.COMPUTED, Kind.OPTIONAL_COMPUTED
TAGS = Attr("map", OPT, description="tags on the object", check=TAG_CHECK)
MAX_USER_DATA = 64 * 1024  # what cloud-init and most clouds take
CIDR = Check(max_length=43, custom=cidr_problem)

PORTABLE: dict[str, TypeSchema] = {
    "instance": TypeSchema(
        "instance",
        _s(
            name=Attr("string", OC, description="display name", check=NAME),
            image=Attr(
                "string",
                REQ,
                force_new=True,
                description="portable image name or native id",
                check=NAME,
            ),
            size=Attr(
                "any",
                REQ,
                description="hardware profile name, or {cpus, memory_gb}",
                check=Check(custom=size_problem),
            ),
            realm=Attr("string", OC, force_new=True, description="availability zone", check=NAME),
            subnet=Attr(
                "string",
                OC,
                force_new=True,
                description="subnet id to start in (absent: the cloud's default)",
                check=ID,
            ),
            key=Attr("string", OPT, force_new=True, description="key name for logins", check=NAME),
            firewalls=Attr(
                "list",
                OPT,
                description="firewall ids or names",
                check=Check(max_length=100, items=NAME),
            ),
            user_data=Attr(
                "string",
                OPT,
                force_new=True,
                description="cloud-init or script",
                check=Check(max_length=MAX_USER_DATA, multiline=True),
            ),
            tags=TAGS,
            state=Attr(
                "string",
                OC,
                description="running or stopped",
                check=Check(choices=("running", "stopped")),
            ),
            id=Attr("string", C),
            public_ip=Attr("string", C),
            private_ip=Attr("string", C),
            hardware_profile=Attr("string", C),
            launched_at=Attr("string", C),
        ),
        actions=frozenset({"start", "stop", "reboot"}),
    ),
    "key": TypeSchema(
        "key",
        _s(
            name=Attr("string", OC, force_new=True, check=NAME),
            public_key=Attr(
                "string",
                OC,
                force_new=True,
                description="absent: one is generated",
                check=Check(max_length=16 * 1024, multiline=True),
            ),
            tags=TAGS,
            id=Attr("string", C),
            fingerprint=Attr("string", C),
            private_key=Attr("string", C, sensitive=True),
        ),
    ),
    "firewall": TypeSchema(
        "firewall",
        _s(
            name=Attr("string", OC, force_new=True, check=NAME),
            description=Attr("string", OC, force_new=True, check=NAME),
            rules=Attr(
                "list",
                OPT,
                description="{protocol, ports, sources}",
                check=Check(max_length=100, custom=rules_problem),
            ),
            tags=TAGS,
            id=Attr("string", C),
        ),
    ),
    "volume": TypeSchema(
        "volume",
        _s(
            name=Attr("string", OC, check=NAME),
            size_gb=Attr("number", REQ, force_new=True, check=Check(min=1, max=65536, whole=True)),
            realm=Attr("string", OC, force_new=True, check=NAME),
            instance=Attr("string", OPT, description="instance id to attach to", check=ID),
            device=Attr("string", OC, check=Check(max_length=64)),
            tags=TAGS,
            id=Attr("string", C),
            state=Attr("string", C),
        ),
    ),
    "snapshot": TypeSchema(
        "snapshot",
        _s(
            volume=Attr("string", REQ, force_new=True, check=ID),
            name=Attr("string", OC, force_new=True, check=NAME),
            tags=TAGS,
            id=Attr("string", C),
            state=Attr("string", C),
            size_gb=Attr("number", C),
        ),
    ),
    "address": TypeSchema(
        "address",
        _s(
            instance=Attr("string", OPT, description="instance id to associate with", check=ID),
            tags=TAGS,
            id=Attr("string", C),
            ip=Attr("string", C),
        ),
    ),
    "bucket": TypeSchema(
        "bucket",
        _s(
            name=Attr(
                "string",
                REQ,
                force_new=True,
                check=Check(max_length=255, pattern=r"[^/]+", hint="no / in a bucket name"),
            ),
            tags=TAGS,
            id=Attr("string", C),
        ),
    ),
    "image": TypeSchema(
        "image",
        _s(
            name=Attr("string", REQ, force_new=True, check=NAME),
            instance=Attr(
                "string",
                REQ,
                force_new=True,
                description="instance to create it from",
                check=ID,
            ),
            tags=TAGS,
            id=Attr("string", C),
            state=Attr("string", C),
        ),
    ),
    "network": TypeSchema(
        "network",
        _s(
            name=Attr("string", OC, check=NAME),
            address_block=Attr(
                "string",
                REQ,
                force_new=True,
                description="its addresses, as a CIDR (10.1.0.0/16)",
                check=CIDR,
            ),
            tags=TAGS,
            id=Attr("string", C),
            state=Attr("string", C),
        ),
    ),
    "subnet": TypeSchema(
        "subnet",
        _s(
            network=Attr("string", REQ, force_new=True, description="network id", check=ID),
            address_block=Attr(
                "string",
                REQ,
                force_new=True,
                description="a CIDR inside the network's",
                check=CIDR,
            ),
            realm=Attr("string", OC, force_new=True, description="availability zone", check=NAME),
            name=Attr("string", OC, check=NAME),
            tags=TAGS,
            id=Attr("string", C),
            state=Attr("string", C),
        ),
    ),
    "network_interface": TypeSchema(
        "network_interface",
        _s(
            instance=Attr("string", REQ, force_new=True, description="instance id", check=ID),
            subnet=Attr("string", REQ, force_new=True, description="subnet id", check=ID),
            name=Attr("string", OC, check=NAME),
            tags=TAGS,
            id=Attr("string", C),
            ip_address=Attr("string", C),
        ),
    ),
    "load_balancer": TypeSchema(
        "load_balancer",
        _s(
            name=Attr(
                "string",
                OC,
                force_new=True,
                check=Check(
                    max_length=32,
                    pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
                    hint="up to 32 letters, digits and inner hyphens",
                ),
            ),
            realms=Attr(
                "list",
                OC,
                force_new=True,
                description="availability zones it serves",
                check=Check(max_length=20, items=NAME),
                normal=realms_normal,
            ),
            listeners=Attr(
                "list",
                REQ,
                description="{protocol, port, instance_port}",
                check=Check(max_length=100, custom=listeners_problem),
                normal=listeners_normal,
            ),
            instances=Attr(
                "list",
                OPT,
                description="instance ids it balances",
                check=Check(max_length=1000, items=ID),
            ),
            tags=TAGS,
            id=Attr("string", C),
            public_address=Attr("string", C, description="its DNS name"),
            created_at=Attr("string", C),
        ),
    ),
}

INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "terminated", "error", "unknown")


@dataclass(frozen=True)
class Ownership:
    """What every created object carries: the stack, its address, and an idempotency token."""

    stack: str
    address: str
    token: str

    def tags(self) -> dict[str, str]:
        return {STACK_TAG: self.stack, ADDRESS_TAG: self.address, TOKEN_TAG: self.token}


@dataclass
class CloudObject:
    """An object as a cloud reports it, in the portable model."""

    type: str
    id: str
    attributes: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str | None:
        return self.tags.get(ADDRESS_TAG)

    @property
    def token(self) -> str | None:
        return self.tags.get(TOKEN_TAG)


@dataclass
class PlannedChange:
    """A driver's view of one change: the values it will have, and what forces replacement."""

    planned: dict[str, Any]
    requires_replace: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (attribute, message)


@dataclass(frozen=True)
class DriverContext:
    """What a driver may use from its surroundings."""

    state_dir: Path
    environ: Mapping[str, str]
    # this provider's entry of the credentials file (engine/credentials.py); secrets never come
    # from the stack
    credentials: Mapping[str, str] = field(default_factory=dict)
    # set when the run is stopping: the driver's long waits end with CancelledError (kit.waits)
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Realm:
    id: str
    name: str
    state: str = "available"


@dataclass(frozen=True)
class HardwareProfile:
    id: str
    name: str
    cpus: float | tuple[float, float]
    memory_gb: float | tuple[float, float]
    storage_gb: float | tuple[float, float]
    architecture: str = "x86_64"


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    description: str = ""
    architecture: str = "x86_64"
    state: str = "available"
    owner: str = "system"
    created: str = ""  # ISO 8601 where the cloud says when; the newest image wins a lookup


@dataclass(frozen=True)
class Feature:
    """A Deltacloud feature of a collection: what a client may send (`params`) to which
    operation (`rel`: create, index)."""

    name: str
    rel: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class DriverInfo:
    """What a configured driver tells the front ends about itself, so that none of them
    hard-codes a list for all drivers or reaches for attributes the protocol does not name."""

    name: str  # the driver's name in stacks (sim, ec2)
    api_name: str  # its name to Deltacloud clients (the sim is Deltacloud's mock)
    location: str  # the region or endpoint it talks to
    types: frozenset[str]  # the portable types it serves
    features: Mapping[str, tuple[Feature, ...]] = field(default_factory=dict)  # by collection
    actions: Mapping[str, frozenset[str]] = field(default_factory=dict)  # by collection


@runtime_checkable
class VolumeData(Protocol):
    """A driver that can read a volume's contents out and write them into another volume, which
    is what lets a volume's data move with a migration."""

    def export_volume(self, id: str) -> bytes: ...

    def import_volume(self, id: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class Blob:
    bucket: str
    key: str
    size: int
    content_type: str
    modified: str
    metadata: Mapping[str, str] = field(default_factory=dict)  # the user's (name -> value)


@dataclass(frozen=True)
class Sample:
    """One period of a metric: when it began (ISO 8601) and its lowest, highest, mean value."""

    timestamp: str
    minimum: float
    maximum: float
    average: float


@dataclass(frozen=True)
class Metric:
    """One measure of an instance, by Deltacloud's name (cpuUtilization) and unit."""

    name: str
    unit: str
    samples: tuple[Sample, ...] = ()


# Deltacloud's metric names and units, which every driver reports under
METRIC_UNITS = {
    "cpuUtilization": "Percent",
    "diskReadRequestCount": "Count",
    "diskReadSector": "Count",
    "diskWriteRequestCount": "Count",
    "diskWriteSector": "Count",
    "nicInputByte": "Bytes",
    "nicInputPacket": "Count",
    "nicOutputByte": "Bytes",
    "nicOutputPacket": "Count",
}


@runtime_checkable
class PagedListing(Protocol):
    """A driver that lists a page of its objects without listing them all (a listing of the
    REST API asked for a page; nubes.server.paging)."""

    def list_page(
        self, type: str, filters: Mapping[str, str], start: int, size: int
    ) -> tuple[int, builtins.list[CloudObject]]:
        """How many objects `list(type, filters)` gives, and those of them from the `start`th
        (from 0), at most `size`, in the same order."""
        ...


@runtime_checkable
class AttachedVolumes(Protocol):
    """A driver that finds the volumes attached to some instances without listing every volume
    (an API page of instances shows each one's storage_volumes)."""

    def attached_volumes(self, instances: Sequence[str]) -> dict[str, builtins.list[str]]:
        """Instance id -> the ids of the volumes attached to it, for these instances (an
        instance with none may be left out)."""
        ...


@runtime_checkable
class InstanceMetrics(Protocol):
    """A driver that reports what its instances do (Deltacloud's metrics collection)."""

    def metrics(self, instance: str) -> builtins.list[Metric]:
        """The instance's recent samples of each METRIC_UNITS name, oldest first; NotFoundError
        when there is no such instance."""
        ...


@runtime_checkable
class Quotas(Protocol):
    """A driver that reports its account's limits (the console's quota bars): a portable name
    (`instances`, `addresses`, `volumes`) -> the most allowed, None where there is no limit."""

    def quotas(self) -> dict[str, int | None]: ...


@runtime_checkable
class Claims(Protocol):
    """A driver that can tag an existing object with a stack's ownership (for `import`), so
    that every stack, and `nubes inventory`, sees whose it is."""

    def claim(self, type: str, id: str, owner: Ownership) -> None: ...

    def unclaim(self, type: str, id: str) -> None:
        """Remove the ownership tags (`state rm`): the object belongs to no stack any more."""
        ...


@runtime_checkable
class BlobStore(Protocol):
    """A driver whose buckets hold blobs (Deltacloud's object storage). Contents stream both
    ways: no blob is ever held whole in memory."""

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        """Every blob of a bucket with its size, without reading any content."""
        ...

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        """Store what `data` holds from where it stands to its end, with the user's metadata."""
        ...

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> Blob | None:
        """Replace a blob's user metadata; None when there is no such blob."""
        ...

    def blob_info(self, bucket: str, key: str) -> Blob | None: ...

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        """A blob and its content in chunks, read as they are consumed."""
        ...

    def delete_blob(self, bucket: str, key: str) -> None: ...


class Driver(Protocol):
    """What every cloud driver provides. Methods may raise `providers.errors.ProviderError`."""

    name: str

    def info(self) -> DriverInfo:
        """Name, location, types and Deltacloud features of the configured driver."""
        ...

    def schema(self) -> Mapping[str, TypeSchema]: ...

    def configure(self, config: Mapping[str, Any], context: DriverContext) -> list[tuple[str, str]]:
        """Take the provider block's settings; returns (setting, problem) pairs."""
        ...

    def list(self, type: str, filters: Mapping[str, str]) -> list[CloudObject]:
        """All objects of a type whose tags match `filters`, in as few calls as the cloud allows."""
        ...

    def read(self, type: str, id: str) -> CloudObject | None: ...

    def lookup(self, type: str, criteria: Mapping[str, Any]) -> CloudObject | None:
        """An existing object a stack reads but does not manage: `{id: ...}`, or the driver's
        own filters (images: `name`, a pattern, and on EC2 `owner`). None when nothing matches;
        InvalidRequestError for criteria the driver does not take."""
        ...

    def plan_change(
        self, type: str, prior: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> PlannedChange: ...

    def create(
        self,
        type: str,
        desired: Mapping[str, Any],
        owner: Ownership,
        timeout: float | None = None,
    ) -> CloudObject:
        """Create and wait until usable (within `timeout` seconds, else the driver's own).

        The object carries `owner`'s tags from the same call that creates it. Raises
        CreateIncompleteError when the object exists but never became usable."""
        ...

    def update(
        self, type: str, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> CloudObject: ...

    def delete(self, type: str, id: str) -> None: ...

    def act(self, type: str, id: str, action: str) -> CloudObject: ...

    def realms(self) -> builtins.list[Realm]: ...

    def hardware_profiles(self) -> builtins.list[HardwareProfile]: ...

    def images(self) -> builtins.list[Image]: ...

    def image(self, id: str) -> Image | None:
        """One image by id, without listing them all (the API's show)."""
        ...

    def hardware_profile(self, id: str) -> HardwareProfile | None:
        """One hardware profile by id, without listing them all."""
        ...
