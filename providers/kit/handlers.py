"""One handler per resource type, dispatched once.

A driver composes a `Handlers` table from a handler object per type it serves; each protocol
method looks its handler up once (`handlers[type]`) instead of running an `if type == ...` chain,
and a type the driver does not serve is one clear InvalidRequestError. A handler is any object
with the `Handler` methods: nothing to inherit, and mypy checks that each is there.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from nubes.providers.errors import InvalidRequestError
from nubes.providers.protocol import CloudObject, Ownership, PlannedChange


class Handler(Protocol):
    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        """Every object of the type whose tags match, in as few calls as the cloud allows."""
        ...

    def read(self, id: str) -> CloudObject | None: ...

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        """Add the cloud's own checks and planned values to `change` (the schema's are in)."""
        ...

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        """Create with `tags` (the user's and `owner`'s) in the creating call where the cloud
        allows, and wait until usable."""
        ...

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        """Change in place what `changed` names (tags and names are the driver's)."""
        ...

    def delete(self, id: str) -> None: ...


class NoChecks:
    """For a type whose schema's checks are all a plan needs (mixed into a handler)."""

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        return None


class ReplacedOnly:
    """For a type whose every attribute but its tags forces a new object: nothing changes in
    place (the driver retags; mixed into a handler)."""

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        return None


class Handlers:
    """The handler of each type a driver serves."""

    def __init__(self, driver: str, handlers: Mapping[str, Handler]) -> None:
        self.driver = driver
        self._by_type = dict(handlers)

    def __getitem__(self, type: str) -> Handler:
        try:
            return self._by_type[type]
        except KeyError:
            raise InvalidRequestError(f"{self.driver} has no {type} resources") from None

    def __contains__(self, type: object) -> bool:
        return type in self._by_type

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_type)
