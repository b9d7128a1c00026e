"""Pure conversions between OpenStack's documents and the portable model. No I/O here.

Ownership travels as metadata where a service has it (Nova servers, Cinder volumes and
snapshots, Glance image properties, Swift container headers) and encoded in the description
where it has not (Neutron security groups and floating IPs: kit.ownership), so that every
create carries it in the creating call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from nubes.providers.errors import InvalidRequestError
from nubes.providers.kit import ownership
from nubes.providers.kit.states import StateMap
from nubes.providers.protocol import (
    ADDRESS_TAG,
    STACK_TAG,
    TOKEN_TAG,
    CloudObject,
    HardwareProfile,
    Image,
)

SERVER_STATES = StateMap(
    {
        "BUILD": "pending",
        "REBUILD": "pending",
        "ACTIVE": "running",
        "REBOOT": "pending",
        "HARD_REBOOT": "pending",
        "PASSWORD": "running",
        "RESIZE": "pending",
        "VERIFY_RESIZE": "running",
        "REVERT_RESIZE": "pending",
        "MIGRATING": "running",
        "SHUTOFF": "stopped",
        "PAUSED": "stopped",
        "SUSPENDED": "stopped",
        "SHELVED": "stopped",
        "SHELVED_OFFLOADED": "stopped",
        "RESCUE": "running",
        "ERROR": "error",
        "DELETED": "terminated",
        "SOFT_DELETED": "terminated",
    }
)
VOLUME_STATES = StateMap(
    {
        "creating": "creating",
        "available": "available",
        "reserved": "available",
        "attaching": "attaching",
        "in-use": "in-use",
        "detaching": "detaching",
        "maintenance": "in-use",
        "deleting": "deleting",
        "extending": "available",
        "error": "error",
        "error_deleting": "error",
        "error_restoring": "error",
        "error_extending": "error",
    }
)
SNAPSHOT_STATES = StateMap(
    {
        "creating": "pending",
        "available": "completed",
        "deleting": "deleting",
        "error": "error",
        "error_deleting": "error",
        "restoring": "pending",
    }
)
IMAGE_STATES = StateMap(
    {
        "queued": "pending",
        "saving": "pending",
        "uploading": "pending",
        "importing": "pending",
        "active": "available",
        "killed": "error",
        "deleted": "deleted",
        "pending_delete": "deleted",
        "deactivated": "error",
    }
)
OWNER_KEYS = (STACK_TAG, ADDRESS_TAG, TOKEN_TAG)
PUBLIC_LABELS = ("public", "internet", "PublicNet")
# Swift keeps metadata as headers: names of letters, digits and hyphens, case-insensitive
SWIFT_OWNER = {STACK_TAG: "Nubes-Stack", ADDRESS_TAG: "Nubes-Address", TOKEN_TAG: "Nubes-Token"}
_OWNED_TEXT = re.compile(r"\s*\[?nubes:[^:\s]+:[^:\s]+:[0-9a-f]{8,64}\]?\s*")


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("nubes:")}


def make(type_: str, id_: str, attrs: dict[str, Any], tags: Mapping[str, str]) -> CloudObject:
    attrs["id"] = id_
    attrs["tags"] = user_tags(tags)
    return CloudObject(type_, id_, attrs, dict(tags))


def _stamp(value: Any) -> str | None:
    if not value:
        return None
    text = str(value).split(".")[0].rstrip("Z")
    return text + "Z"


# ---- Nova -------------------------------------------------------------------------------------


def server_state(doc: Mapping[str, Any]) -> str:
    status, task = doc.get("status"), doc.get("OS-EXT-STS:task_state")
    if status == "ACTIVE" and task in ("powering-off", "deleting"):
        return "stopping"
    if status == "SHUTOFF" and task == "powering-on":
        return "pending"
    return SERVER_STATES(str(status or "").upper() or None)


def addresses(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(public, private): a floating address or one on a public network, and the first
    fixed address on any other."""
    public = private = None
    for label, entries in (doc.get("addresses") or {}).items():
        for entry in entries or []:
            addr = entry.get("addr")
            if entry.get("version", 4) != 4 or not addr:
                continue
            if entry.get("OS-EXT-IPS:type") == "floating" or label in PUBLIC_LABELS:
                public = public or addr
            else:
                private = private or addr
    return public, private


def flavor_name(doc: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    """The flavor's name: embedded from microversion 2.47, else looked up by its id."""
    flavor = doc.get("flavor") or {}
    if flavor.get("original_name"):
        return str(flavor["original_name"])
    found = flavor.get("id")
    return names.get(str(found), str(found)) if found is not None else None


def instance(
    doc: Mapping[str, Any],
    flavor_names: Mapping[str, str] | None = None,
    group_ids: Mapping[str, str] | None = None,
) -> CloudObject:
    tags = {str(k): str(v) for k, v in (doc.get("metadata") or {}).items()}
    public, private = addresses(doc)
    image = doc.get("image")
    size = flavor_name(doc, flavor_names or {})
    names = list(dict.fromkeys(g.get("name") for g in doc.get("security_groups") or []))
    if names == ["default"]:
        names = []  # what Nova gives a server that asked for no group: none of the stack's
    attrs = {
        "name": doc.get("name"),
        "image": image.get("id") if isinstance(image, dict) else None,
        "size": size,
        "realm": doc.get("OS-EXT-AZ:availability_zone"),
        "key": doc.get("key_name"),
        "subnet": None,  # servers join networks here (the provider's network setting)
        "firewalls": [(group_ids or {}).get(str(n), str(n)) for n in names if n],
        "state": server_state(doc),
        "public_ip": public,
        "private_ip": private,
        "hardware_profile": size,
        "launched_at": _stamp(doc.get("OS-SRV-USG:launched_at") or doc.get("created")),
    }
    return make("instance", str(doc["id"]), attrs, tags)


def key(doc: Mapping[str, Any]) -> CloudObject:
    body = doc.get("keypair", doc)
    attrs = {
        "name": body["name"],
        "fingerprint": body.get("fingerprint"),
        "public_key": body.get("public_key"),
    }
    return make("key", str(body["name"]), attrs, {})


def hardware_profile(doc: Mapping[str, Any]) -> HardwareProfile:
    """A flavor as a fixed profile, known by its name (what servers show from 2.47)."""
    return HardwareProfile(
        str(doc.get("name") or doc["id"]),
        str(doc.get("name") or doc["id"]),
        float(doc.get("vcpus") or 0),
        float(doc.get("ram") or 0) / 1024,
        float(doc.get("disk") or 0),
    )


# ---- Neutron ----------------------------------------------------------------------------------


def described(text: str | None) -> tuple[str, dict[str, str]]:
    """A description's own text and the ownership encoded in it."""
    owner = ownership.decode(text)
    return _OWNED_TEXT.sub(" ", text or "").strip(), owner


def owned_description(text: str | None, owner: str) -> str:
    """A description carrying the ownership (`kit.ownership.encode`) after the user's text."""
    return f"{(text or '').strip()} [{owner}]".strip()


def neutron_tags(doc: Mapping[str, Any]) -> dict[str, str]:
    """User tags kept as Neutron's plain string tags `key=value`."""
    found = {}
    for tag in doc.get("tags") or []:
        key, sep, value = str(tag).partition("=")
        if sep:
            found[key] = value
    return found


def tag_strings(tags: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in tags.items() if not k.startswith("nubes:")]


def group_rules(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Portable rules with one entry per protocol and ports, their sources merged in order."""
    merged: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        sources = merged.setdefault((rule["protocol"], rule["ports"]), [])
        sources += [s for s in rule["sources"] if s not in sources]
    return [{"protocol": p, "ports": ports, "sources": s} for (p, ports), s in merged.items()]


def portable_rules(neutron: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A security group's ingress rules in the portable form (egress and rules naming another
    group are the cloud's, not the stack's)."""
    found = []
    for rule in neutron:
        if rule.get("direction") != "ingress" or rule.get("remote_group_id"):
            continue
        protocol = str(rule.get("protocol") or "all")
        low, high = rule.get("port_range_min"), rule.get("port_range_max")
        if protocol in ("all", "icmp") or low is None or (low in (0, 1) and high == 65535):
            ports = ""
        else:
            ports = str(low) if low == high or high is None else f"{low}-{high}"
        default = "::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0"
        found.append(
            {
                "protocol": protocol,
                "ports": ports,
                "sources": [str(rule.get("remote_ip_prefix") or default)],
            }
        )
    return group_rules(found)


def neutron_rules(group: str, rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Portable rules as Neutron's security_group_rule bodies, one per source."""
    out = []
    for rule in rules:
        low = high = None
        if rule["ports"] and rule["protocol"] in ("tcp", "udp"):
            first, _, last = rule["ports"].partition("-")
            low, high = int(first), int(last or first)
        for source in rule["sources"]:
            out.append(
                {
                    "security_group_id": group,
                    "direction": "ingress",
                    "ethertype": "IPv6" if ":" in source else "IPv4",
                    "protocol": None if rule["protocol"] == "all" else rule["protocol"],
                    "port_range_min": low,
                    "port_range_max": high,
                    "remote_ip_prefix": source,
                }
            )
    return out


def firewall(doc: Mapping[str, Any]) -> CloudObject:
    text, owner = described(doc.get("description"))
    attrs = {
        "name": doc.get("name"),
        "description": text,
        "rules": portable_rules(doc.get("security_group_rules") or []),
    }
    return make("firewall", str(doc["id"]), attrs, {**neutron_tags(doc), **owner})


def address(doc: Mapping[str, Any], device: str | None = None) -> CloudObject:
    _, owner = described(doc.get("description"))
    details = doc.get("port_details") or {}
    attrs = {
        "ip": doc.get("floating_ip_address"),
        "instance": device or details.get("device_id") or None,
        "port": doc.get("port_id"),
    }
    return make("address", str(doc["id"]), attrs, {**neutron_tags(doc), **owner})


# ---- Cinder -----------------------------------------------------------------------------------


def volume(doc: Mapping[str, Any]) -> CloudObject:
    tags = {str(k): str(v) for k, v in (doc.get("metadata") or {}).items()}
    attached = [a for a in doc.get("attachments") or [] if a.get("server_id")]
    attrs = {
        "name": doc.get("name") or doc.get("display_name"),
        "size_gb": doc.get("size"),
        "realm": doc.get("availability_zone"),
        "instance": attached[0]["server_id"] if attached else None,
        "device": attached[0].get("device") if attached else None,
        "state": VOLUME_STATES(doc.get("status")),
    }
    return make("volume", str(doc["id"]), attrs, tags)


def snapshot(doc: Mapping[str, Any]) -> CloudObject:
    tags = {str(k): str(v) for k, v in (doc.get("metadata") or {}).items()}
    attrs = {
        "volume": doc.get("volume_id"),
        "name": doc.get("name") or doc.get("display_name"),
        "state": SNAPSHOT_STATES(doc.get("status")),
        "size_gb": doc.get("size"),
    }
    return make("snapshot", str(doc["id"]), attrs, tags)


# ---- Glance and Swift -------------------------------------------------------------------------

GLANCE_CORE = {
    "id",
    "name",
    "status",
    "visibility",
    "owner",
    "size",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "checksum",
    "tags",
    "protected",
    "created_at",
    "updated_at",
    "virtual_size",
    "self",
    "file",
    "schema",
    "os_hidden",
    "os_hash_algo",
    "os_hash_value",
    "direct_url",
    "locations",
}


def image_properties(doc: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in doc.items() if k not in GLANCE_CORE and v is not None}


def image(doc: Mapping[str, Any]) -> CloudObject:
    props = image_properties(doc)
    tags = {k: v for k, v in props.items() if k.startswith("nubes:") or k.startswith("tag:")}
    tags = {k.removeprefix("tag:"): v for k, v in tags.items()}
    attrs = {
        "name": doc.get("name"),
        "instance": props.get("instance_uuid"),
        "state": IMAGE_STATES(doc.get("status")),
    }
    return make("image", str(doc["id"]), attrs, tags)


def image_info(doc: Mapping[str, Any]) -> Image:
    props = image_properties(doc)
    description = " ".join(v for v in (props.get("os_distro"), props.get("os_version")) if v)
    return Image(
        str(doc["id"]),
        str(doc.get("name") or doc["id"]),
        description,
        props.get("architecture", "x86_64"),
        IMAGE_STATES(doc.get("status")),
        str(doc.get("owner") or ""),
        str(doc.get("created_at") or ""),
    )


def swift_headers(tags: Mapping[str, str]) -> dict[str, str]:
    """A container's tags as its metadata headers (ownership under fixed names, the user's
    tags under `Tag-<key>`)."""
    headers = {}
    for key, value in tags.items():
        name = SWIFT_OWNER.get(key) or "Tag-" + re.sub(r"[^A-Za-z0-9-]", "-", key)
        headers[f"X-Container-Meta-{name}"] = ascii_header(key, str(value))
    return headers


def ascii_header(key: str, value: str) -> str:
    """A metadata value as an HTTP header carries it (ASCII, one line), or a clear refusal."""
    if not value.isascii() or "\n" in value or "\r" in value:
        raise InvalidRequestError(
            f"tag {key!r}: Swift keeps metadata in headers, which take ASCII text on one line"
        )
    return value


def bucket(name: str, headers: Mapping[str, str]) -> CloudObject:
    tags: dict[str, str] = {}
    lowered = {k.lower(): v for k, v in headers.items()}
    for key, header in SWIFT_OWNER.items():
        value = lowered.get(f"x-container-meta-{header.lower()}")
        if value is not None:
            tags[key] = value
    for header, value in lowered.items():
        if header.startswith("x-container-meta-tag-"):
            tags[header.removeprefix("x-container-meta-tag-")] = value
    return make("bucket", name, {"name": name}, tags)
