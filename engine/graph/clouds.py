"""References that cannot cross clouds: a realm, key, firewall, subnet, network, instance or
volume names an object of one cloud, and means nothing (or another object) on another. A
resource whose such attribute refers to a resource of another cloud is refused when the stack
is checked, before anything is planned or changed: apply would find out only after it had
begun (a migration's volume destroyed before its create on the other cloud failed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from nubes.engine.diag import Diagnostics, SourceRange
from nubes.engine.stack.model import Stack
from nubes.engine.stack.yamlpos import Path

# attributes whose values are one cloud's objects (ids, or names only that cloud knows)
CLOUD_LOCAL = frozenset(
    {"realm", "key", "firewalls", "subnet", "network", "instance", "instances", "volume"}
)


class Reference(Protocol):
    """The graph's edges: `source` refers to `target` at `path`."""

    @property
    def source(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def where(self) -> SourceRange: ...


def same_cloud(stack: Stack, a: str, b: str) -> bool:
    """Whether two providers of the stack reach one cloud: the same name, or the same driver
    with the same settings (two names for one account and region)."""
    if a == b:
        return True
    pa, pb = stack.providers.get(a), stack.providers.get(b)
    return pa is not None and pb is not None and (pa.driver, pa.config) == (pb.driver, pb.config)


def check_clouds(stack: Stack, refs: Iterable[Reference], diags: Diagnostics) -> None:
    for ref in refs:
        source, target = stack.resources.get(ref.source), stack.resources.get(ref.target)
        if source is None or target is None or len(ref.path) <= len(source.path):
            continue
        attr = ref.path[len(source.path)]
        if attr not in CLOUD_LOCAL or same_cloud(stack, source.provider, target.provider):
            continue
        diags.error(
            f"{ref.source}.{attr} refers to {ref.target}, which is on provider "
            f"{target.provider!r}, but {ref.source} is on {source.provider!r}",
            f"a {attr} names an object of one cloud only: leave {ref.source}'s provider out "
            f"so that it follows {ref.target}, or put both on one provider",
            where=ref.where,
            address=ref.source,
        )
