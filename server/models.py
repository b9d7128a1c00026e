"""The JSON answers' shapes, as response models for the OpenAPI document.

The views (nubes.server.views) build the answers; these models describe them, so that the stored
document's "only grows" test covers JSON fields too, and schemathesis checks every live answer
against them. XML answers carry the same fields in Deltacloud's XML (docs/xml-names.json).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Link(BaseModel):
    id: str
    href: str


class Action(BaseModel):
    rel: str
    href: str
    method: str


class Login(BaseModel):
    keyname: str | None = None
    username: str | None = None
    password: str | None = None


class Authentication(BaseModel):
    type: str  # key or password
    login: Login


class ProfileLink(Link):
    rel: str | None = None


class Instance(BaseModel):
    id: str
    href: str
    name: str
    owner_id: str
    image: Link | None
    realm: Link | None
    hardware_profile: Link | None
    state: str
    launch_time: str | None
    keyname: str | None
    firewalls: list[Link]
    public_addresses: list[str]
    private_addresses: list[str]
    storage_volumes: list[Link]
    actions: list[Action]
    authentication: Authentication | None = None


class Realm(BaseModel):
    id: str
    href: str
    name: str
    state: str
    limit: str


class Range(BaseModel):
    first: str
    last: str


class Property(BaseModel):
    kind: str
    name: str
    unit: str
    value: str
    range: Range | None = None


class HardwareProfile(BaseModel):
    id: str
    href: str
    name: str
    properties: list[Property]


class Image(BaseModel):
    id: str
    href: str
    name: str
    description: str | None = None
    owner_id: str | None = None
    architecture: str | None = None
    state: str | None = None
    hardware_profiles: list[ProfileLink] = []  # those of the image's architecture
    actions: list[Action] = []


class Key(BaseModel):
    id: str
    href: str
    name: str
    credential_type: str
    fingerprint: str | None
    state: str
    actions: list[Action]
    pem: str | None = None  # only in the answer to the create that generated it


class DriverProvider(BaseModel):
    id: str


class Driver(BaseModel):
    id: str
    href: str
    name: str
    providers: list[DriverProvider]


class Mount(BaseModel):
    instance: Link | None
    device: str | None


class Volume(BaseModel):
    id: str
    href: str
    name: str
    capacity: float | None
    realm: Link | None
    state: str
    mount: Mount | None
    actions: list[Action]


class Snapshot(BaseModel):
    id: str
    href: str
    name: str
    storage_volume: Link | None
    state: str
    capacity: float | None
    actions: list[Action]


class Address(BaseModel):
    id: str
    href: str
    ip: str | None
    instance: Link | None
    actions: list[Action]


class Rule(BaseModel):
    id: str
    href: str
    allow_protocol: str | None
    port_from: str
    port_to: str
    direction: str
    sources: list[str]


class Firewall(BaseModel):
    id: str
    href: str
    name: str
    description: str
    owner_id: str
    rules: list[Rule]
    actions: list[Action]


class Bucket(BaseModel):
    id: str
    href: str
    name: str
    size: int
    actions: list[Action]
    blobs: list[Link] | None = None  # in a bucket's show, where the driver stores blobs


class Blob(BaseModel):
    id: str
    href: str
    bucket: Link | None
    content_length: int
    content_type: str
    last_modified: str
    user_metadata: dict[str, str] = {}  # X-Deltacloud-Blobmeta-* as given
    content: Link


class Network(BaseModel):
    id: str
    href: str
    name: str
    state: str
    address_blocks: list[str]
    subnets: list[Link]
    actions: list[Action]


class Subnet(BaseModel):
    id: str
    href: str
    name: str
    type: str
    state: str
    address_block: str | None
    network: Link | None
    actions: list[Action]


class NetworkInterface(BaseModel):
    id: str
    href: str
    name: str
    ip_address: str | None
    network: Link | None
    instance: Link | None
    actions: list[Action]


class Listener(BaseModel):
    protocol: str
    load_balancer_port: int
    instance_port: int


class Member(Link):
    link: Action  # its unregister action


class LoadBalancer(BaseModel):
    id: str
    href: str
    name: str
    realm: Link | None
    realms: list[Link]
    created_at: str | None
    public_addresses: list[str]
    listeners: list[Listener]
    instances: list[Member]
    actions: list[Action]


class MetricValue(BaseModel):
    minimum: float
    maximum: float
    average: float
    timestamp: int
    unit: str


class MetricProperty(BaseModel):
    name: str
    unit: str
    values: list[MetricValue] | None


class Metric(BaseModel):
    id: str
    href: str
    entity: str
    properties: list[MetricProperty]


class Feature(BaseModel):
    name: str
    rel: str
    params: list[str]


class EntryLink(BaseModel):
    rel: str
    href: str
    features: list[Feature]


class Entry(BaseModel):
    version: str
    driver: str
    provider: str
    links: list[EntryLink]


class Transition(BaseModel):
    to: str
    action: str | None = None
    auto: str | None = None


class State(BaseModel):
    name: str
    transitions: list[Transition]


class ApiError(BaseModel):
    code: int
    message: str
    driver: str
    provider: str


class StackItem(BaseModel):
    name: str
    href: str
    file: str
    digest: str
    resources: int
    serial: int | None


class Job(BaseModel):
    id: str
    href: str
    stack: str
    state: str = Field(description="queued, running, succeeded, failed or cancelled")
    summary: str
    diagnostics: list[dict[str, Any]]
    events: str = Field(description="its progress as server-sent events")
    cancel: str = Field(description="POST here to stop it starting anything more")
    kind: str = Field(description="apply or migrate")
    server: str = Field(description="the server running it")
    cancel_requested: bool


class HistoryItem(BaseModel):
    serial: int
    applied_at: str
    digest: str
    file: str
    who: str
    summary: str


class PlanDoc(BaseModel):
    """`nubes plan --json`'s document (its changes are described in docs/stacks.md)."""

    format_version: int
    stack: str
    destroy: bool
    resource_changes: list[dict[str, Any]]
    output_changes: dict[str, Any]
    drift: list[dict[str, Any]]
    recovered: list[dict[str, Any]]
    summary: dict[str, Any]


class StateDoc(BaseModel):
    """A stack's state with its secrets hidden, as `nubes show --json` prints it."""

    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]


def _wrapper(name: str, field: str, kind: Any) -> type[BaseModel]:
    """A model `{field: kind}`, as Deltacloud's JSON wraps every answer."""
    from pydantic import create_model

    made: type[BaseModel] = create_model(name, **{field: (kind, ...)})  # type: ignore[call-overload]
    return made


# collection -> (singular, item model)
ITEMS: dict[str, tuple[str, type[BaseModel]]] = {
    "instances": ("instance", Instance),
    "realms": ("realm", Realm),
    "hardware_profiles": ("hardware_profile", HardwareProfile),
    "images": ("image", Image),
    "keys": ("key", Key),
    "drivers": ("driver", Driver),
    "storage_volumes": ("storage_volume", Volume),
    "storage_snapshots": ("storage_snapshot", Snapshot),
    "addresses": ("address", Address),
    "firewalls": ("firewall", Firewall),
    "buckets": ("bucket", Bucket),
    "blobs": ("blob", Blob),
    "networks": ("network", Network),
    "subnets": ("subnet", Subnet),
    "network_interfaces": ("network_interface", NetworkInterface),
    "load_balancers": ("load_balancer", LoadBalancer),
    "metrics": ("metric", Metric),
}


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


LISTS = {
    name: _wrapper(f"{_title(name)}List", name, list[model])  # type: ignore[valid-type]
    for name, (_, model) in ITEMS.items()
}
ONES = {
    name: _wrapper(f"{_title(singular)}Answer", singular, model)
    for name, (singular, model) in ITEMS.items()
}
EntryAnswer = _wrapper("EntryAnswer", "api", Entry)
StatesAnswer = _wrapper("StatesAnswer", "states", list[State])
ErrorAnswer = _wrapper("ErrorAnswer", "error", ApiError)
StacksAnswer = _wrapper("StacksAnswer", "stacks", list[StackItem])
StackAnswer = _wrapper("StackAnswer", "stack", StackItem)
JobAnswer = _wrapper("JobAnswer", "job", Job)
HistoryAnswer = _wrapper("HistoryAnswer", "history", list[HistoryItem])


def json_only(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route that answers JSON only (the stack routes)."""
    return {status: {"model": model}}


def answers(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's documented answer: the model as JSON, Deltacloud's XML beside it."""
    return {
        status: {
            "model": model,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    }


def listed(collection: str) -> dict[int | str, dict[str, Any]]:
    return answers(LISTS[collection])


def shown(collection: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    return answers(ONES[collection], status)
