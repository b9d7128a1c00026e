"""Deltacloud's entry point (`/api`: the collections and features of the request's driver), its
drivers collection, and the instance state machine."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter
from fastapi.responses import Response

from nubes.providers.protocol import InstanceMetrics
from nubes.providers.registry import ALIASES, api_name, driver_names
from nubes.server import views
from nubes.server.deps import Base, Config, Format, ProviderDriver, ProviderName, Root
from nubes.server.http import render
from nubes.server.models import EntryAnswer, StatesAnswer, answers, listed, shown
from nubes.server.respond import collection as list_answer
from nubes.server.respond import one
from nubes.server.respond import single as one_answer
from nubes.server.storage import KINDS

router = APIRouter()

COLLECTIONS = [
    "drivers",
    "realms",
    "hardware_profiles",
    "images",
    "instances",
    "instance_states",
    "keys",
    "storage_volumes",
    "storage_snapshots",
    "addresses",
    "firewalls",
    "buckets",
    "load_balancers",
    "metrics",
    "networks",
    "subnets",
    "network_interfaces",
]
# the portable type behind each collection a driver may or may not support
TYPES = {
    "images": "image",
    "instances": "instance",
    "keys": "key",
    **{name: type_ for name, (type_, _) in KINDS.items()},
    "load_balancers": "load_balancer",
    "networks": "network",
    "subnets": "subnet",
    "network_interfaces": "network_interface",
}


@router.get("/api", responses=answers(EntryAnswer))
async def entry(
    base: Base, fmt: Format, driver: ProviderDriver, provider: ProviderName
) -> Response:
    info = driver.raw.info()
    links: list[dict[str, Any]] = []
    for name in COLLECTIONS:
        if name in TYPES and TYPES[name] not in info.types:
            continue  # a collection appears only where the driver supports it
        if name == "metrics" and not isinstance(driver.raw, InstanceMetrics):
            continue
        links.append(
            {
                "rel": name,
                "href": f"{base}/{name}",
                "features": [
                    {"name": f.name, "rel": f.rel, "params": list(f.params)}
                    for f in info.features.get(name, ())
                ],
            }
        )
    root = ET.Element(
        "api", {"version": views.API_VERSION, "driver": info.api_name, "provider": provider}
    )
    for entry_link in links:
        node = ET.SubElement(root, "link", {"href": entry_link["href"], "rel": entry_link["rel"]})
        for feature in entry_link["features"]:
            f = ET.SubElement(node, "feature", {"name": feature["name"], "rel": feature["rel"]})
            for param in feature["params"]:
                ET.SubElement(f, "param", {"name": param})
    doc = {
        "api": {
            "version": views.API_VERSION,
            "driver": info.api_name,
            "provider": provider,
            "links": links,
        }
    }
    return render(fmt, 200, doc, root)


def _drivers(base: str, config: Config) -> list[dict[str, Any]]:
    """Every driver by the name Deltacloud's clients use (`mock` for the sim)."""
    return [
        views.driver(
            base, api_name(name), [p for p, b in config.providers.items() if b.driver == name]
        )
        for name in driver_names()
    ]


@router.get("/api/drivers", responses=listed("drivers"))
async def drivers_index(base: Root, fmt: Format, config: Config) -> Response:
    return list_answer(fmt, "drivers", _drivers(base, config))


@router.get("/api/drivers/{id}", responses=shown("drivers"))
async def drivers_show(id: str, base: Root, fmt: Format, config: Config) -> Response:
    wanted = api_name(ALIASES.get(id, id))  # "sim" finds the mock driver too
    return one_answer(fmt, "drivers", one(_drivers(base, config), wanted, "driver"))


@router.get("/api/instance_states", responses=answers(StatesAnswer))
async def instance_states(fmt: Format) -> Response:
    states: dict[str, list[dict[str, str]]] = {}
    for state, action, to in views.TRANSITIONS:
        states.setdefault(state, []).append(
            {"auto": "true", "to": to} if action == "auto" else {"action": action, "to": to}
        )
    states.setdefault("finish", [])
    root = ET.Element("states")
    for name, transitions in states.items():
        node = ET.SubElement(root, "state", {"name": name})
        for t in transitions:
            ET.SubElement(node, "transition", t)
    doc = {"states": [{"name": n, "transitions": t} for n, t in states.items()]}
    return render(fmt, 200, doc, root)
