"""The state document: what nubes knows it manages, per stack.

Format 2:
    {"format": 2, "serial": N, "lineage": uuid, "stack": name, "stack_digest": "sha256:...",
     "resources": [{"address", "type", "provider", "id", "attributes", "dependencies",
                    "status": "ready" | "tainted", "token", "sensitive"}],
     "outputs": {name: {"value", "sensitive"}},
     "deposed": [resources replaced under create-before-destroy, not yet deleted]}

`token` is the idempotency token the object was created with (and tagged with). Format 1 had a
boolean `tainted` and no token; `engine.state.upgrade` lifts it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from engine.addrs import InstanceAddr, parse_instance_addr

STATE_FORMAT = 2


class StateError(Exception):
    """The state cannot be read or written safely; the message tells the user what to do."""


@dataclass
class ResourceState:
    address: InstanceAddr
    type: str
    provider: str
    id: str
    attributes: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    tainted: bool = False
    sensitive: list[str] = field(default_factory=list)
    token: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": str(self.address),
            "type": self.type,
            "provider": self.provider,
            "id": self.id,
            "attributes": self.attributes,
            "dependencies": self.dependencies,
            "status": "tainted" if self.tainted else "ready",
        }
        if self.token is not None:
            out["token"] = self.token
        if self.sensitive:
            out["sensitive"] = self.sensitive
        return out

    def copy(self) -> ResourceState:
        # attributes are replaced key by key, never changed inside: a shallow copy suffices
        return replace(self, attributes=dict(self.attributes), dependencies=list(self.dependencies),
                       sensitive=list(self.sensitive))

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ResourceState:
        addr = parse_instance_addr(doc["address"])
        if addr is None:
            raise StateError(f"state holds an invalid address {doc['address']!r}")
        return cls(
            address=addr,
            type=doc["type"],
            provider=doc["provider"],
            id=doc["id"],
            attributes=dict(doc.get("attributes") or {}),
            dependencies=list(doc.get("dependencies") or []),
            tainted=doc.get("status", "ready") == "tainted",
            sensitive=list(doc.get("sensitive") or []),
            token=doc.get("token"),
        )


@dataclass
class OutputState:
    value: Any
    sensitive: bool = False


@dataclass
class State:
    stack: str
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    stack_digest: str | None = None
    resources: dict[InstanceAddr, ResourceState] = field(default_factory=dict)
    outputs: dict[str, OutputState] = field(default_factory=dict)
    format: int = STATE_FORMAT
    # objects a create-before-destroy replaced but has not yet deleted
    deposed: list[ResourceState] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "serial": self.serial,
            "lineage": self.lineage,
            "stack": self.stack,
            "stack_digest": self.stack_digest,
            "resources": [r.to_json() for _, r in sorted(self.resources.items())],
            "outputs": {
                k: {"value": v.value, "sensitive": v.sensitive} for k, v in self.outputs.items()
            },
            "deposed": [r.to_json() for r in self.deposed],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> State:
        resources = [ResourceState.from_json(r) for r in doc.get("resources") or []]
        return cls(
            stack=doc["stack"],
            lineage=doc["lineage"],
            serial=int(doc["serial"]),
            stack_digest=doc.get("stack_digest"),
            resources={r.address: r for r in resources},
            outputs={
                k: OutputState(v.get("value"), bool(v.get("sensitive")))
                for k, v in (doc.get("outputs") or {}).items()
            },
            format=int(doc["format"]),
            deposed=[ResourceState.from_json(r) for r in doc.get("deposed") or []],
        )

    def to_public_json(self) -> dict[str, Any]:
        """The document with sensitive attributes and outputs shown as (sensitive)."""
        doc = self.to_json()
        for r in [*doc["resources"], *doc["deposed"]]:
            for key in r.get("sensitive", []):
                if r["attributes"].get(key) is not None:
                    r["attributes"][key] = "(sensitive)"
        for output in doc["outputs"].values():
            if output["sensitive"]:
                output["value"] = "(sensitive)"
        return doc

    def copy(self) -> State:
        """A copy whose resources can be changed without touching this one."""
        return State(
            stack=self.stack,
            lineage=self.lineage,
            serial=self.serial,
            stack_digest=self.stack_digest,
            resources={a: r.copy() for a, r in self.resources.items()},
            outputs={k: OutputState(v.value, v.sensitive) for k, v in self.outputs.items()},
            format=self.format,
            deposed=[r.copy() for r in self.deposed],
        )
