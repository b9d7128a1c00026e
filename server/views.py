"""Deltacloud's representations of the portable model, as JSON and as XML.

Each view builds one JSON-ready dict; `to_xml` turns it into Deltacloud's XML: `id` and `href`
are attributes, links to other objects are empty elements with `id` and `href`, `actions` are
`<link rel href method>`, addresses are `<address type="ipv4">`, and hardware profile properties
are `<property kind name unit value>`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from nubes.providers.protocol import CloudObject, HardwareProfile, Image, Realm

API_VERSION = "1.1.3"

# what each portable instance state is called in Deltacloud, and what it allows
STATES = {
    "pending": "PENDING",
    "running": "RUNNING",
    "stopping": "STOPPING",
    "stopped": "STOPPED",
    "terminated": "FINISHED",
    "error": "ERROR",
    "unknown": "UNKNOWN",
}
ACTIONS = {
    "pending": [],
    "running": ["reboot", "stop", "destroy"],
    "stopping": [],
    "stopped": ["start", "destroy"],
    "terminated": [],
    "error": ["destroy"],
    "unknown": ["destroy"],
}
TRANSITIONS = [  # Deltacloud's instance_states: (state, action or "auto", next state)
    ("start", "create", "pending"),
    ("pending", "auto", "running"),
    ("running", "reboot", "running"),
    ("running", "stop", "stopped"),
    ("stopped", "start", "running"),
    ("stopped", "destroy", "finish"),
    ("running", "destroy", "finish"),
    ("error", "destroy", "finish"),
]
SINGULAR = {
    "instances": "instance",
    "images": "image",
    "realms": "realm",
    "keys": "key",
    "hardware_profiles": "hardware_profile",
    "drivers": "driver",
    "storage_volumes": "storage_volume",
    "firewalls": "firewall",
    "addresses": "address",
    "storage_snapshots": "storage_snapshot",
    "buckets": "bucket",
    "blobs": "blob",
    "providers": "provider",
    "networks": "network",
    "subnets": "subnet",
    "network_interfaces": "network_interface",
    "load_balancers": "load_balancer",
    "metrics": "metric",
    "listeners": "listener",
    "address_blocks": "address_block",
}


def href_of(base: str, collection: str, *ids: str) -> str:
    """A link to an object: each id percent-encoded, so no id can add a path, a query or a
    header line to it."""
    return "/".join([f"{base}/{collection}", *(quote(str(i), safe="") for i in ids)])


def link(base: str, collection: str, id: str | None) -> dict[str, str] | None:
    return None if id is None else {"id": id, "href": href_of(base, collection, id)}


def instance_state(obj: CloudObject) -> str:
    """Deltacloud's name of an instance's state (RUNNING, STOPPED, PENDING, ...)."""
    return STATES.get(str(obj.attributes.get("state") or "unknown"), "UNKNOWN")


def instance(
    base: str,
    obj: CloudObject,
    owner: str,
    can_image: bool = False,
    volumes: Sequence[str] = (),
) -> dict[str, Any]:
    """An instance; `can_image`: its driver makes images of instances (Deltacloud's
    create_image action); `volumes`: the ids of the volumes attached to it."""
    a = obj.attributes
    state = str(a.get("state") or "unknown")
    href = href_of(base, "instances", obj.id)
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "owner_id": owner,
        "image": link(base, "images", a.get("image")),
        "realm": link(base, "realms", a.get("realm")),
        "hardware_profile": link(base, "hardware_profiles", a.get("hardware_profile")),
        "state": instance_state(obj),
        "launch_time": a.get("launched_at"),
        "keyname": a.get("key"),
        "firewalls": [link(base, "firewalls", f) for f in a.get("firewalls") or []],
        "public_addresses": [a["public_ip"]] if a.get("public_ip") else [],
        "private_addresses": [a["private_ip"]] if a.get("private_ip") else [],
        "storage_volumes": [link(base, "storage_volumes", v) for v in volumes],
        "actions": [
            {
                "rel": act,
                "href": f"{href}/{act}" if act != "destroy" else href,
                "method": "delete" if act == "destroy" else "post",
            }
            for act in ACTIONS.get(state, [])
        ]
        + (
            [
                {
                    "rel": "create_image",
                    "href": f"{base}/images;instance_id={quote(obj.id, safe='')}",
                    "method": "post",
                }
            ]
            if can_image and state in ("running", "stopped")
            else []
        ),
        # Deltacloud's authentication block (the key a login takes)
        "authentication": {"type": "key", "login": {"keyname": a.get("key")}},
    }


def realm(base: str, r: Realm) -> dict[str, Any]:
    return {
        "id": r.id,
        "href": href_of(base, "realms", r.id),
        "name": r.name,
        "state": r.state.upper(),
        "limit": "",
    }


def _property(
    name: str, unit: str, value: float | tuple[float, float], scale: float = 1
) -> dict[str, Any]:
    if isinstance(value, tuple):
        low, high = (v * scale for v in value)
        return {
            "kind": "range",
            "name": name,
            "unit": unit,
            "value": f"{low:g}",
            "range": {"first": f"{low:g}", "last": f"{high:g}"},
        }
    return {"kind": "fixed", "name": name, "unit": unit, "value": f"{value * scale:g}"}


def hardware_profile(base: str, p: HardwareProfile) -> dict[str, Any]:
    return {
        "id": p.id,
        "href": href_of(base, "hardware_profiles", p.id),
        "name": p.name,
        "properties": [
            _property("cpu", "count", p.cpus),
            _property("memory", "MB", p.memory_gb, 1024),
            _property("storage", "GB", p.storage_gb),
            {"kind": "fixed", "name": "architecture", "unit": "label", "value": p.architecture},
        ],
    }


def image(base: str, i: Image, profiles: list[HardwareProfile] | None = None) -> dict[str, Any]:
    """An image with the hardware profiles that can run it (those of its architecture)."""
    fits = [p for p in profiles or [] if p.architecture == i.architecture]
    return {
        "id": i.id,
        "href": href_of(base, "images", i.id),
        "name": i.name,
        "description": i.description,
        "owner_id": i.owner,
        "architecture": i.architecture,
        "state": i.state.upper(),
        "hardware_profiles": [
            {
                "id": p.id,
                "href": href_of(base, "hardware_profiles", p.id),
                "rel": "hardware_profile",
            }
            for p in fits
        ],
        "actions": [
            {
                "rel": "create_instance",
                "href": f"{base}/instances;image_id={quote(i.id, safe='')}",
                "method": "post",
            }
        ],
    }


def key(base: str, obj: CloudObject, with_private_key: bool = False) -> dict[str, Any]:
    """A key; its private key only in the answer to the create that generated it."""
    a = obj.attributes
    out = {
        "id": obj.id,
        "href": href_of(base, "keys", obj.id),
        "name": a.get("name") or obj.id,
        "credential_type": "key",
        "fingerprint": a.get("fingerprint"),
        "state": "AVAILABLE",
        "actions": [{"rel": "destroy", "href": href_of(base, "keys", obj.id), "method": "delete"}],
    }
    if with_private_key and a.get("private_key"):
        out["pem"] = a["private_key"]
    return out


def driver(base: str, name: str, providers: list[str]) -> dict[str, Any]:
    return {
        "id": name,
        "href": href_of(base, "drivers", name),
        "name": name,
        "providers": [{"id": p} for p in providers],
    }


# ---- XML -------------------------------------------------------------------------------------

LINK_KEYS = {"image", "realm", "hardware_profile"}
# lists whose items the XML puts straight under the parent, without a wrapper
UNWRAPPED = {"blobs": "blob"}


def address_type(address: str) -> str:
    """Deltacloud's type of an address: ipv4, ipv6, or a hostname (its mock's, a DNS name)."""
    try:
        return f"ipv{ipaddress.ip_address(address).version}"
    except ValueError:
        return "hostname"


def _xml_value(parent: ET.Element, key: str, value: Any) -> None:
    if value is None:
        return
    if key == "actions":
        actions = ET.SubElement(parent, "actions")
        for a in value:
            ET.SubElement(
                actions, "link", {"rel": a["rel"], "href": a["href"], "method": a["method"]}
            )
    elif key in ("public_addresses", "private_addresses"):
        holder = ET.SubElement(parent, key)
        for address in value:
            ET.SubElement(holder, "address", {"type": address_type(address)}).text = address
    elif key == "properties":
        for p in value:
            prop = ET.SubElement(
                parent, "property", {k: str(p[k]) for k in ("kind", "name", "unit", "value")}
            )
            if "range" in p:
                ET.SubElement(prop, "range", p["range"])
    elif key == "user_metadata" and isinstance(value, dict):
        holder = ET.SubElement(parent, "user_metadata")  # as Deltacloud's blobs/show
        for name, text in value.items():
            ET.SubElement(holder, "entry", {"key": str(name)}).text = str(text)
    elif key == "authentication" and isinstance(value, dict):
        block = ET.SubElement(parent, "authentication", {"type": str(value.get("type", "key"))})
        login = ET.SubElement(block, "login")
        for name, text in (value.get("login") or {}).items():
            if text is not None:
                ET.SubElement(login, name).text = str(text)
    elif isinstance(value, dict) and "href" in value:  # a link: its fields as attributes
        ET.SubElement(parent, key, {k: str(v) for k, v in value.items() if v is not None})
    elif isinstance(value, dict):
        child = ET.SubElement(parent, key)
        for k, v in value.items():
            _xml_value(child, k, v)
    elif isinstance(value, list) and key in UNWRAPPED:
        for item in value:  # children of the parent itself, as Deltacloud lists a bucket's blobs
            parent.append(element(UNWRAPPED[key], item))
    elif isinstance(value, list):
        holder = ET.SubElement(parent, key)
        tag = SINGULAR.get(key, key.rstrip("s"))
        for item in value:
            if isinstance(item, dict):
                holder.append(element(tag, item))
            else:
                ET.SubElement(holder, tag).text = str(item)
    else:
        ET.SubElement(parent, key).text = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )


# fields the JSON keeps that Deltacloud's XML has elsewhere only, or not at all
JSON_ONLY = {
    "instance": {"keyname"},  # the XML has it in <authentication><login>
    "load_balancer": {"name", "realms"},  # the XML names its first realm only
}
# what each document's XML puts in attributes, beyond id, href and a link's rel
XML_ATTRS = {"listener": ("protocol",)}


def metric_xml(doc: dict[str, Any]) -> ET.Element:
    """`<metric><entity/><properties><NAME><sample><property name value/>...`, Deltacloud's
    metric document: one element per property, named after it, a sample per period."""
    node = ET.Element("metric", {"href": doc["href"], "id": doc["id"]})
    ET.SubElement(node, "entity").text = doc["entity"]
    holder = ET.SubElement(node, "properties")
    for prop in doc["properties"]:
        child = ET.SubElement(holder, prop["name"])
        for value in prop["values"] or []:
            sample = ET.SubElement(child, "sample")
            for key in ("minimum", "maximum", "average", "timestamp", "unit"):
                ET.SubElement(sample, "property", {"name": key, "value": f"{value[key]}"})
    return node


# documents whose XML is not their JSON's shape
BUILDERS = {"metric": metric_xml}


def element(tag: str, doc: dict[str, Any]) -> ET.Element:
    if tag in BUILDERS:
        return BUILDERS[tag](doc)
    named: tuple[str, ...] = ("id", "href", "rel") if "href" in doc else ("id", "href")
    named += XML_ATTRS.get(tag, ())  # a link names its rel; a listener its protocol
    attrs: dict[str, str] = {k: str(doc[k]) for k in named if k in doc}
    node = ET.Element(tag, attrs)
    skipped = JSON_ONLY.get(tag, set())
    for key_, value in doc.items():
        if key_ not in named and key_ not in skipped:
            _xml_value(node, key_, value)
    return node


# characters XML 1.0 cannot hold: a name made elsewhere with one must not break every listing
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str | None) -> str | None:
    return None if text is None else _NOT_XML.sub("\ufffd", text)


def to_xml(root: ET.Element) -> bytes:
    for node in root.iter():
        node.text, node.tail = _xml_text(node.text), _xml_text(node.tail)
        for name, value in node.attrib.items():
            node.attrib[name] = _NOT_XML.sub("\ufffd", value)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def volume(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "storage_volumes", obj.id)
    attached = a.get("instance")
    actions = (
        [{"rel": "detach", "href": f"{href}/detach", "method": "post"}]
        if attached
        else [
            {"rel": "attach", "href": f"{href}/attach", "method": "post"},
            {"rel": "destroy", "href": href, "method": "delete"},
        ]
    )
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "capacity": a.get("size_gb"),
        "realm": link(base, "realms", a.get("realm")),
        "state": str(a.get("state") or "unknown").upper(),
        "mount": {"instance": link(base, "instances", attached), "device": a.get("device")}
        if attached
        else None,
        "actions": actions,
    }


def snapshot(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "storage_snapshots", obj.id)
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "storage_volume": link(base, "storage_volumes", a.get("volume")),
        "state": str(a.get("state") or "unknown").upper(),
        "capacity": a.get("size_gb"),
        "actions": [{"rel": "destroy", "href": href, "method": "delete"}],
    }


def address(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "addresses", obj.id)
    bound = a.get("instance")
    actions = (
        [{"rel": "disassociate", "href": f"{href}/disassociate", "method": "post"}]
        if bound
        else [
            {"rel": "associate", "href": f"{href}/associate", "method": "post"},
            {"rel": "destroy", "href": href, "method": "delete"},
        ]
    )
    return {
        "id": obj.id,
        "href": href,
        "ip": a.get("ip"),
        "instance": link(base, "instances", bound),
        "actions": actions,
    }


def firewall(base: str, obj: CloudObject) -> dict[str, Any]:
    a = obj.attributes
    href = href_of(base, "firewalls", obj.id)
    rules = []
    for i, rule in enumerate(a.get("rules") or []):
        low, _, high = str(rule.get("ports") or "").partition("-")
        rules.append(
            {
                "id": f"{obj.id}~{i}",
                "href": f"{href}/{quote(f'{obj.id}~{i}', safe='')}",
                "allow_protocol": rule.get("protocol"),
                "port_from": low or "0",
                "port_to": high or low or "65535",
                "direction": "ingress",
                "sources": rule.get("sources") or [],
            }
        )
    return {
        "id": obj.id,
        "href": href,
        "name": a.get("name") or obj.id,
        "description": a.get("description") or "",
        "owner_id": "nubes",
        "rules": rules,
        "actions": [{"rel": "destroy", "href": href, "method": "delete"}],
    }


def bucket(base: str, obj: CloudObject) -> dict[str, Any]:
    href = href_of(base, "buckets", obj.id)
    return {
        "id": obj.id,
        "href": href,
        "name": obj.attributes.get("name") or obj.id,
        "size": 0,
        "actions": [{"rel": "destroy", "href": href, "method": "delete"}],
    }
