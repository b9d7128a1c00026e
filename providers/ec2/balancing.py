"""Elastic Load Balancing (classic) load balancers (their tags: tags.BalancerTags).

A load balancer's id is its name, as in ELB's API. ELB takes no client token: the same create
sent again succeeds, a different one conflicts, and either way the result is this stack's only
when it carries the create's token tag.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.context import Ec2
from nubes.providers.errors import ConflictError
from nubes.providers.kit import checks, ownership
from nubes.providers.listeners import check_listeners
from nubes.providers.protocol import CloudObject, Ownership, PlannedChange

TAGS_PER_CALL = 20  # DescribeTags takes at most 20 names
_DUPLICATE = "DuplicateLoadBalancerName"


def _listener(item: Mapping[str, Any]) -> dict[str, Any]:
    found = item.get("Listener") or item
    return {
        "protocol": str(found.get("Protocol", "HTTP")).lower(),
        "port": int(found["LoadBalancerPort"]),
        "instance_port": int(found.get("InstancePort", found["LoadBalancerPort"])),
    }


def balancer(item: Mapping[str, Any], tags: dict[str, str]) -> CloudObject:
    attrs = {
        "name": item["LoadBalancerName"],
        "realms": sorted(item.get("AvailabilityZones") or []),
        "listeners": sorted(
            (_listener(d) for d in item.get("ListenerDescriptions") or []),
            key=lambda listener: listener["port"],
        ),
        "instances": [i["InstanceId"] for i in item.get("Instances") or []],
        "public_address": item.get("DNSName"),
        "created_at": conv.iso(item.get("CreatedTime")),
    }
    return conv.make("load_balancer", item["LoadBalancerName"], attrs, tags)


def _aws_listeners(listeners: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "Protocol": listener["protocol"].upper(),
            "LoadBalancerPort": listener["port"],
            "InstanceProtocol": "HTTP" if listener["protocol"] in ("http", "https") else "TCP",
            "InstancePort": listener["instance_port"],
        }
        for listener in listeners
    ]


class LoadBalancers:
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    @property
    def _elb(self) -> Any:
        return self.ec2.t.elb

    def _tags(self, names: builtins.list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for start in range(0, len(names), TAGS_PER_CALL):
            found = self.ec2.t.call(
                self._elb, "describe_tags", LoadBalancerNames=names[start : start + TAGS_PER_CALL]
            )
            for entry in found.get("TagDescriptions") or []:
                out[entry["LoadBalancerName"]] = conv.tags_of(entry)
        return out

    def _objects(self, items: builtins.list[Any]) -> builtins.list[CloudObject]:
        tags = self._tags([i["LoadBalancerName"] for i in items]) if items else {}
        return [balancer(i, tags.get(i["LoadBalancerName"], {})) for i in items]

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        items = list(
            self.ec2.t.pages(self._elb, "describe_load_balancers", "LoadBalancerDescriptions")
        )
        return [
            o for o in self._objects(items) if all(o.tags.get(k) == v for k, v in filters.items())
        ]

    def read(self, id: str) -> CloudObject | None:
        found = self.ec2.t.call(self._elb, "describe_load_balancers", LoadBalancerNames=[id])
        items = found.get("LoadBalancerDescriptions") or []
        return self._objects(items[:1])[0] if items else None

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_listeners_planned(config, change)
        checks.check_realms(
            config, self.ec2.zone_names, self.ec2.region, change, ("availability zone", "zones")
        )
        for listener in change.planned.get("listeners") or []:
            if isinstance(listener, Mapping) and listener.get("protocol") in ("https", "ssl"):
                change.problems.append(
                    (
                        "listeners",
                        f"an {listener['protocol']} listener needs a certificate on ELB, which "
                        "the portable model does not carry yet: use http or tcp",
                    )
                )

    def _realms(self, desired: Mapping[str, Any]) -> builtins.list[str]:
        wanted = [str(r) for r in desired.get("realms") or []]
        if wanted:
            return wanted
        instances = [str(i) for i in desired.get("instances") or []]
        if instances:  # the zones of its instances, as the sim picks
            found = self.ec2.t.call(self.ec2.t.ec2, "describe_instances", InstanceIds=instances)
            zones = {o.attributes["realm"] for o in conv.instances(found.get("Reservations", []))}
            if zones:
                return sorted(zones)
        return self.ec2.zone_names()[:1]

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        name = str(desired.get("name") or ownership.balancer_name(owner))
        t = self.ec2.t
        try:  # ELB takes no token; a retry of the same create succeeds, a different one conflicts
            t.call(
                self._elb,
                "create_load_balancer",
                LoadBalancerName=name,
                Listeners=_aws_listeners(check_listeners(desired.get("listeners"))),
                AvailabilityZones=self._realms(desired),
                Tags=conv.tag_list(tags),
            )
        except ConflictError:
            ownership.adopt("load_balancer", owner, lambda: self._named(name), name, _DUPLICATE)
        self._register(name, desired.get("instances"))  # registering again changes nothing
        made = self.ec2.must_read("load_balancer", name)
        if made.token != owner.token:  # an identical one that is someone else's
            raise ConflictError(f"a load balancer named {name!r} already exists", _DUPLICATE)
        return made

    def _named(self, name: str) -> builtins.list[CloudObject]:
        found = self.ec2.read("load_balancer", name)
        return [] if found is None else [found]

    def _register(self, name: str, instances: Any) -> None:
        ids = [{"InstanceId": str(i)} for i in instances or []]
        if ids:
            self.ec2.t.call(
                self._elb,
                "register_instances_with_load_balancer",
                LoadBalancerName=name,
                Instances=ids,
            )

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "listeners" in changed:
            self._relisten(id, prior.get("listeners"), desired.get("listeners"))
        if "instances" in changed:
            before = set(prior.get("instances") or [])
            after = [str(i) for i in desired.get("instances") or []]
            gone = [{"InstanceId": i} for i in sorted(before - set(after))]
            if gone:
                self.ec2.t.call(
                    self._elb,
                    "deregister_instances_from_load_balancer",
                    LoadBalancerName=id,
                    Instances=gone,
                )
            self._register(id, [i for i in after if i not in before])

    def _relisten(self, id: str, prior: Any, desired: Any) -> None:
        """Replace only the listeners that differ: the others keep serving meanwhile."""
        before = check_listeners(prior) if prior else []
        after = check_listeners(desired)
        gone = [old["port"] for old in before if old not in after]
        if gone:
            self.ec2.t.call(
                self._elb, "delete_load_balancer_listeners", LoadBalancerName=id,
                LoadBalancerPorts=gone,
            )  # fmt: skip
        new = [listener for listener in after if listener not in before]
        if new:
            self.ec2.t.call(
                self._elb, "create_load_balancer_listeners", LoadBalancerName=id,
                Listeners=_aws_listeners(new),
            )  # fmt: skip

    def delete(self, id: str) -> None:
        self.ec2.t.call(self._elb, "delete_load_balancer", LoadBalancerName=id)


__all__ = ["LoadBalancers", "balancer"]
