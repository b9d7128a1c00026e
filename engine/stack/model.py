"""The loaded stack: typed, with the positions of everything in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nubes.engine.addrs import ResourceAddr
from nubes.engine.diag import SourceRange
from nubes.engine.stack.schema import VariableType
from nubes.engine.stack.yamlpos import Path as ValuePath
from nubes.engine.stack.yamlpos import Positions
from nubes.engine.state.settings import BackendConfig

CURRENT_FORMAT = 1


@dataclass(frozen=True)
class Variable:
    name: str
    type: VariableType
    default: Any
    has_default: bool
    description: str
    sensitive: bool


@dataclass(frozen=True)
class Provider:
    name: str
    driver: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Lifecycle:
    create_before_destroy: bool = False
    prevent_destroy: bool = False
    ignore_changes: tuple[str, ...] | str = ()

    def ignores(self, attr: str) -> bool:
        return self.ignore_changes == "all" or attr in self.ignore_changes


@dataclass(frozen=True)
class Resource:
    name: str
    type: str
    provider: str
    count: Any  # None, int, or an expression string
    for_each: Any  # None, list, map, or an expression string
    depends_on: tuple[str, ...]
    lifecycle: Lifecycle
    attributes: dict[str, Any]
    timeouts: dict[str, float | None] = field(default_factory=dict)
    lookup: dict[str, Any] | None = None  # read, never created, changed or deleted

    @property
    def addr(self) -> ResourceAddr:
        return ResourceAddr(self.name)

    @property
    def path(self) -> ValuePath:
        return ("resources", self.name)


@dataclass(frozen=True)
class Output:
    name: str
    value: Any
    description: str
    sensitive: bool
    path: ValuePath


@dataclass
class Catalog:
    """Portable names as this stack sees them: the defaults, then its catalog file, then its
    own `catalog:` block, later ones winning entry by entry."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    realms: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StackOutputs:
    """`stack_outputs.NAME`: the outputs of another stack, read from its state at each plan."""

    name: str
    stack: str  # its name (may hold ${var.*} and ${workspace})
    workspace: str | None  # None: the default workspace (Terraform's default too)
    backend: BackendConfig | None  # None: the store this stack's own state is in
    path: ValuePath


@dataclass
class Stack:
    name: str
    file: Path
    text: str
    digest: str
    format: int
    variables: dict[str, Variable]
    providers: dict[str, Provider]
    resources: dict[str, Resource]
    outputs: dict[str, Output]
    positions: Positions
    catalog: Catalog = field(default_factory=Catalog)
    backend: BackendConfig | None = None  # where its state lives; None: the local folder
    workspace: str = "default"  # which of the backend's states; ${workspace} in expressions
    stack_outputs: dict[str, StackOutputs] = field(default_factory=dict)
    # what later stages derive from the stack alone (engine.sensitive), computed once
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def directory(self) -> Path:
        return self.file.parent

    def at(self, path: ValuePath) -> SourceRange:
        return self.positions.at(path)
