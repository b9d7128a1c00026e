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

import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from nubes.engine.addrs import InstanceAddr, parse_instance_addr

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
        return replace(
            self,
            attributes=dict(self.attributes),
            dependencies=list(self.dependencies),
            sensitive=list(self.sensitive),
        )

    @classmethod
    def from_json(
        cls, doc: Any, where: str = "resource", memo: dict[str, str] | None = None
    ) -> ResourceState:
        """`memo` shares equal short strings between the entries of one state (a size, a realm,
        an image, a tag repeated on every instance): about a third of a large state's strings."""
        if not isinstance(doc, dict):
            raise StateError(f"{where} must be an object")
        text = _Fields(doc, where)
        address = text.string("address")
        addr = parse_instance_addr(address)
        if addr is None:
            raise StateError(f"{where} has an invalid address {address!r}")
        status = doc.get("status", "ready")
        if status not in ("ready", "tainted"):
            raise StateError(f"{where}.status must be ready or tainted, not {status!r}")
        memo = {} if memo is None else memo
        return cls(
            address=addr,
            type=shared(text.string("type"), memo),
            provider=shared(text.string("provider"), memo),
            id=text.string("id"),
            attributes=shared(text.mapping("attributes"), memo),
            dependencies=text.strings("dependencies"),
            tainted=status == "tainted",
            sensitive=text.strings("sensitive"),
            token=text.string("token", optional=True),
        )


SHARED_LENGTH = 64  # strings up to this long are shared by `shared`


def shared(value: Any, memo: dict[str, str]) -> Any:
    """`value` with each short string replaced by the equal one in `memo` (added if new); lists
    and maps are changed in place, so pass only what is the caller's own."""
    if type(value) is str:
        return memo.setdefault(value, value) if len(value) <= SHARED_LENGTH else value
    if type(value) is dict:
        for k, v in value.items():
            if type(v) is not int and v is not None:
                value[k] = shared(v, memo)
    elif type(value) is list:
        for i, v in enumerate(value):
            value[i] = shared(v, memo)
    return value


MAX_VALUE_NESTING = 80  # a state's values: what stacks (64) and clouds give, with room


def _check_values(doc: Any) -> None:
    """Every value in the document: nested at most MAX_VALUE_NESTING deep, every string
    encodable (no lone surrogates, which JSON's \\u escapes can carry but nothing can print)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_VALUE_NESTING:
            raise StateError(f"a value nests deeper than {MAX_VALUE_NESTING} levels")
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise StateError("a string holds a lone surrogate, which is not text")
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise StateError("a key holds a lone surrogate, which is not text")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Fields:
    """Typed reads of one object of a state document, naming what is wrong and where."""

    def __init__(self, doc: dict[str, Any], where: str) -> None:
        self.doc = doc
        self.where = where

    def string(self, key: str, optional: bool = False) -> Any:
        value = self.doc.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise StateError(f"{self.where}.{key} must be a string, not {_kind(value)}")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.doc.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise StateError(f"{self.where}.{key} must be a list of strings")
        return list(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise StateError(f"{self.where}.{key} must be an object, not {_kind(value)}")
        return dict(value)

    def whole(self, key: str) -> int:
        value = self.doc.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise StateError(f"{self.where}.{key} must be a whole number, not {_kind(value)}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.doc.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise StateError(f"{self.where}.{key} must be a list, not {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the bool {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "a number"


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
        """A state from its document, every field checked: raises StateError naming the first
        one that is wrong."""
        fields = _Fields(doc, "state")
        memo: dict[str, str] = {}
        resources = [
            ResourceState.from_json(r, f"resources[{i}]", memo)
            for i, r in enumerate(fields.items("resources"))
        ]
        by_addr: dict[InstanceAddr, ResourceState] = {}
        for r in resources:
            if r.address in by_addr:
                raise StateError(f"state holds {r.address} twice")
            by_addr[r.address] = r
        outputs: dict[str, OutputState] = {}
        for name, value in fields.mapping("outputs").items():
            if not isinstance(value, dict) or not isinstance(value.get("sensitive", False), bool):
                raise StateError(f"outputs.{name} must be an object with value and sensitive")
            outputs[name] = OutputState(value.get("value"), bool(value.get("sensitive")))
        digest = doc.get("stack_digest")
        if digest is not None and not isinstance(digest, str):
            raise StateError("state.stack_digest must be a string")
        deposed = [
            ResourceState.from_json(r, f"deposed[{i}]", memo)
            for i, r in enumerate(fields.items("deposed"))
        ]
        live = {(r.provider, r.type, r.id): r.address for r in resources}
        for r in deposed:
            if (r.provider, r.type, r.id) in live:
                raise StateError(
                    f"{r.type} {r.id} is both managed as {live[(r.provider, r.type, r.id)]} and "
                    "deposed (waiting to be deleted)"
                )
        _check_values(doc)
        return cls(
            stack=fields.string("stack"),
            lineage=fields.string("lineage"),
            serial=fields.whole("serial"),
            stack_digest=digest,
            resources=by_addr,
            outputs=outputs,
            format=fields.whole("format"),
            deposed=deposed,
        )

    def shallow_copy(self) -> State:
        """A copy whose entries can be added, replaced and dropped without touching this one;
        the entries themselves are shared, so replace one rather than change it."""
        return State(
            stack=self.stack,
            lineage=self.lineage,
            serial=self.serial,
            stack_digest=self.stack_digest,
            resources=dict(self.resources),
            outputs={k: OutputState(v.value, v.sensitive) for k, v in self.outputs.items()},
            format=self.format,
            deposed=list(self.deposed),
        )

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
