"""Deltacloud 1.1's representations of networks, subnets, network interfaces, load balancers and
metrics, as JSON-ready dicts (their XML comes from `views.element`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from nubes.providers.protocol import METRIC_UNITS, CloudObject, Metric
from nubes.server.views import href_of, link


def _destroy(href: str) -> list[dict[str, str]]:
    return [{"rel": "destroy", "href": href, "method": "delete"}]


def _state(obj: CloudObject) -> str:
    return "UP" if obj.attributes.get("state") in (None, "available") else "DOWN"


def network(base: str, obj: CloudObject, subnets: Sequence[str] = ()) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "networks", obj.id)
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "state": _state(obj),
        "address_blocks": [a["address_block"]] if a.get("address_block") else [],
        "subnets": [link(base, "subnets", s) for s in subnets],
        "actions": _destroy(href),
    }


def subnet(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "subnets", obj.id)
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "type": "PRIVATE",
        "state": _state(obj),
        "address_block": a.get("address_block"),
        "network": link(base, "networks", a.get("network")),
        "actions": _destroy(href),
    }


def network_interface(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "network_interfaces", obj.id)
    network = link(base, "subnets", a.get("subnet"))
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "ip_address": a.get("ip_address"),
        "network": None if network is None else {**network, "rel": "subnet"},
        "instance": link(base, "instances", a.get("instance")),
        "actions": _destroy(href),
    }


def load_balancer(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "load_balancers", obj.id)
    realms = [link(base, "realms", r) for r in a.get("realms") or []]
    members = []
    for instance in a.get("instances") or []:
        member = link(base, "instances", instance)
        assert member is not None
        query = f"instance_id={quote(instance, safe='')}"
        unregister = {"rel": "unregister", "href": f"{href}/unregister?{query}", "method": "post"}
        members.append({**member, "link": unregister})
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "actions": [
            *_destroy(href),
            {"rel": "register", "href": f"{href}/register", "method": "post"},
        ],
        "public_addresses": [a["public_address"]] if a.get("public_address") else [],
        "created_at": a.get("created_at"),
        "realm": realms[0] if realms else None,  # Deltacloud's XML names the first
        "realms": realms,
        "listeners": [
            {
                "protocol": str(listener["protocol"]).upper(),
                "load_balancer_port": listener["port"],
                "instance_port": listener["instance_port"],
            }
            for listener in a.get("listeners") or []
        ],
        "instances": members,
    }


def _epoch(stamp: str) -> int:
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(when.timestamp())


def metric(base: str, instance: str, found: list[Metric] | None) -> dict[str, Any]:
    """An instance's metrics; `found` None: the index's entry, which names its properties
    without values, as Deltacloud's index does."""
    by_name = {m.name: m for m in found or []}
    properties = []
    for name, unit in METRIC_UNITS.items():
        got = by_name.get(name)
        values = (
            None
            if found is None or got is None
            else [
                {
                    "minimum": s.minimum,
                    "maximum": s.maximum,
                    "average": s.average,
                    "timestamp": _epoch(s.timestamp),
                    "unit": unit,
                }
                for s in got.samples
            ]
        )
        properties.append({"name": name, "unit": unit, "values": values})
    return {
        "id": instance,
        "href": href_of(base, "metrics", instance),
        "entity": instance,
        "properties": properties,
    }
