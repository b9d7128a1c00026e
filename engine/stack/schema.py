"""The stack file's shape (format `nubes: 1`), checked with pydantic at the trust boundary.

Pydantic's error locations are paths into the document, which `Positions` turns into file, line
and column. Strict mode: a string is never silently taken for a number or a bool.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VariableType = Literal["string", "number", "bool", "list", "map"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class VariableSpec(_Strict):
    type: VariableType = "string"
    default: Any = None
    description: str = ""
    sensitive: bool = False


class ProviderSpec(BaseModel):
    """`driver` plus the driver's own settings, which the driver checks."""

    model_config = ConfigDict(extra="allow", strict=True)
    driver: str


class LifecycleSpec(_Strict):
    create_before_destroy: bool = False
    prevent_destroy: bool = False
    ignore_changes: list[str] | Literal["all"] = Field(default_factory=list)


class TimeoutsSpec(_Strict):
    create: float | None = None
    delete: float | None = None


class ResourceSpec(BaseModel):
    """Meta-arguments; everything else is the type's own attributes."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    provider: str | None = None
    count: int | str | None = None
    for_each: list[Any] | dict[str, Any] | str | None = None
    depends_on: list[str] = Field(default_factory=list)
    lifecycle: LifecycleSpec = Field(default_factory=LifecycleSpec)
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)
    # read an existing object instead of managing one: {id: ...} or the driver's filters
    lookup: dict[str, Any] | None = None


META_ARGUMENTS = frozenset(ResourceSpec.model_fields)


class OutputSpec(_Strict):
    value: Any
    description: str = ""
    sensitive: bool = False


class CatalogSpec(_Strict):
    """Portable names: images (name -> provider or driver -> native id or lookup criteria) and
    realms (name -> provider or driver -> zone). `file` names a YAML file of the same shape."""

    file: str | None = None
    images: dict[str, dict[str, str | dict[str, Any]]] = Field(default_factory=dict)
    realms: dict[str, dict[str, str]] = Field(default_factory=dict)


class StackOutputsSpec(_Strict):
    """Another stack whose outputs this one reads (Terraform's terraform_remote_state)."""

    stack: str = Field(min_length=1, max_length=200)  # its name; may use ${var.*}, ${workspace}
    workspace: str | None = Field(default=None, min_length=1, max_length=200)
    backend: Any = None  # where its state lives; absent: this stack's store


class StackSpec(_Strict):
    nubes: int
    name: str
    catalog: CatalogSpec = Field(default_factory=CatalogSpec)
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    providers: dict[str, ProviderSpec] = Field(default_factory=dict)
    # each checked as a ResourceSpec on its own by the loader, so one model is held at a time
    resources: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    backend: Any = None  # checked by engine.state.settings, positioned
    stack_outputs: dict[str, StackOutputsSpec] = Field(default_factory=dict)
