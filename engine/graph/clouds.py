"""References that cannot cross clouds: a realm, key, firewall, subnet, network, instance,
volume, or an image made or looked up on one cloud names an object of that cloud only, and
means nothing (or another object) on another. A
resource whose such attribute refers to a resource of another cloud is refused when the stack
is checked, before anything is planned or changed: apply would find out only after it had
begun (a migration's volume destroyed before its create on the other cloud failed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from nubes.engine.diag import Diagnostics, SourceRange
from nubes.engine.stack.model import Resource, Stack
from nubes.engine.stack.yamlpos import Path
from nubes.providers.registry import ALIASES

# attributes whose values are one cloud's objects (ids, or names only that cloud knows)
CLOUD_LOCAL = frozenset(
    {"realm", "realms", "key", "firewalls", "subnet", "network", "instance", "instances", "volume"}
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


_OPENSTACK: dict[str, object] = {
    "auth_url": None,
    "cloud": None,
    "region": None,
    "project_name": None,
    "endpoints": {},
}
# the settings that say which cloud, region and account a provider reaches, with their
# defaults (tests hold them to the drivers' own); the rest only tune how it is reached
# (latency, retries, waits), and a driver not named here is told apart by all of them
WHERE: dict[str, dict[str, object]] = {
    "sim": {"region": "sim-1", "catalog": "nubes", "data_dir": None},
    "ec2": {"region": "us-east-1", "endpoint": None, "profile": None},
    "openstack": _OPENSTACK,
    "rackspace": _OPENSTACK,
}


def _where(stack: Stack, name: str) -> tuple[str, object]:
    provider = stack.providers[name]
    driver = ALIASES.get(provider.driver, provider.driver)
    keys = WHERE.get(driver)
    if keys is None:
        return driver, sorted(provider.config.items(), key=str)
    return driver, [(k, provider.config.get(k, default)) for k, default in keys.items()]


def same_cloud(stack: Stack, a: str, b: str) -> bool:
    """Whether two providers of the stack reach one cloud: the same name, or the same driver
    reaching the same region and account (two names that differ only in tuning)."""
    if a == b:
        return True
    if a not in stack.providers or b not in stack.providers:
        return False
    return _where(stack, a) == _where(stack, b)


def _hint(source: Resource, target: Resource, attr: str) -> str:
    if attr in ("key", "firewalls") and source.type == "instance":
        return (
            f"a {attr} is one cloud's: leave {target.name}'s provider out so that it follows the "
            f"instances that use it (when they are on one cloud), or declare one on each cloud"
        )
    if attr in ("instance", "volume") and source.type in ("address", "volume", "snapshot", "image"):
        return (
            f"a {attr} is one cloud's: leave {source.name}'s provider out so that it follows "
            f"{target.name}, or put both on one provider"
        )
    return f"a {attr} is one cloud's: put {source.name} and {target.name} on one provider"


def check_clouds(stack: Stack, refs: Iterable[Reference], diags: Diagnostics) -> None:
    for ref in refs:
        source, target = stack.resources.get(ref.source), stack.resources.get(ref.target)
        if source is None or target is None or len(ref.path) <= len(source.path):
            continue
        attr = str(ref.path[len(source.path)])
        # an image made or looked up on one cloud is that cloud's (a portable name is not a
        # reference, and travels)
        local = attr in CLOUD_LOCAL or (attr == "image" and target.type == "image")
        if not local or same_cloud(stack, source.provider, target.provider):
            continue
        diags.error(
            f"{ref.source}.{attr} refers to {ref.target}, which is on provider "
            f"{target.provider!r}, but {ref.source} is on {source.provider!r}",
            _hint(source, target, attr),
            where=ref.where,
            address=ref.source,
        )
