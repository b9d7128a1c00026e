"""What the API promises to keep: its OpenAPI document and Deltacloud's XML names.

`python -m nubes.server.compat --write` stores both under docs/; the tests fail when a route,
method, parameter or response code of the stored document disappears or a parameter becomes
required, or when an XML element or attribute name disappears. Additions are fine.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from nubes.providers.protocol import CloudObject, HardwareProfile, Image, Realm
from nubes.server import views

DOCS = Path(__file__).resolve().parents[1] / "docs"


def current_openapi() -> dict[str, Any]:
    from nubes.server.app import create_app
    from nubes.server.config import default_config

    with tempfile.TemporaryDirectory() as state:
        return create_app(default_config(), Path(state), {}).openapi()


def _network_samples(base: str) -> list[tuple[str, dict[str, Any]]]:
    from nubes.providers.protocol import Metric, Sample
    from nubes.server import netviews

    net = CloudObject("network", "n-1", {"name": "n", "address_block": "10.0.0.0/16"})
    subnet = CloudObject("subnet", "s-1", {"network": "n-1", "address_block": "10.0.1.0/24"})
    nic = CloudObject(
        "network_interface", "e-1", {"instance": "i-1", "subnet": "s-1", "ip_address": "10.0.1.9"}
    )
    balancer = CloudObject(
        "load_balancer",
        "lb",
        {
            "realms": ["r-1"],
            "listeners": [{"protocol": "http", "port": 80, "instance_port": 80}],
            "instances": ["i-1"],
            "public_address": "lb.example",
            "created_at": "2026-01-01T00:00:00Z",
        },
    )
    sample = Sample("2026-01-01T00:00:00Z", 1.0, 2.0, 1.5)
    return [
        ("network", netviews.network(base, net, ["s-1"])),
        ("subnet", netviews.subnet(base, subnet)),
        ("network_interface", netviews.network_interface(base, nic)),
        ("load_balancer", netviews.load_balancer(base, balancer)),
        (
            "metric",
            netviews.metric(base, "i-1", [Metric("cpuUtilization", "Percent", (sample,))]),
        ),
    ]


def xml_names() -> list[str]:
    """Every element and attribute name the XML views produce, as tag and tag@attribute."""
    base = "http://x/api"
    vm = CloudObject(
        "instance",
        "i-1",
        {
            "name": "a",
            "image": "img-1",
            "realm": "r-1",
            "hardware_profile": "small",
            "state": "running",
            "public_ip": "1.2.3.4",
            "private_ip": "10.0.0.1",
            "key": "k",
            "firewalls": ["fw-1"],
            "launched_at": "2026-01-01T00:00:00Z",
        },
    )
    samples = [
        ("instance", views.instance(base, vm, "me")),
        ("realm", views.realm(base, Realm("r-1", "r-1"))),
        (
            "hardware_profile",
            views.hardware_profile(base, HardwareProfile("flex", "flex", (1, 8), (1, 16), 10)),
        ),
        ("image", views.image(base, Image("img-1", "ubuntu"))),
        (
            "key",
            views.key(
                base,
                CloudObject("key", "k-1", {"name": "k", "fingerprint": "f", "private_key": "p"}),
                with_private_key=True,  # as the answer to a create shows it
            ),
        ),
        (
            "storage_volume",
            views.volume(
                base,
                CloudObject(
                    "volume",
                    "v-1",
                    {
                        "size_gb": 1,
                        "realm": "r-1",
                        "instance": "i-1",
                        "device": "/dev/sdf",
                        "state": "in-use",
                    },
                ),
            ),
        ),
        (
            "storage_snapshot",
            views.snapshot(
                base,
                CloudObject(
                    "snapshot", "s-1", {"volume": "v-1", "state": "completed", "size_gb": 1}
                ),
            ),
        ),
        (
            "address",
            views.address(
                base, CloudObject("address", "a-1", {"ip": "1.2.3.4", "instance": "i-1"})
            ),
        ),
        (
            "firewall",
            views.firewall(
                base,
                CloudObject(
                    "firewall",
                    "f-1",
                    {
                        "name": "f",
                        "rules": [{"protocol": "tcp", "ports": "22", "sources": ["0.0.0.0/0"]}],
                    },
                ),
            ),
        ),
        ("bucket", views.bucket(base, CloudObject("bucket", "b", {"name": "b"}))),
        ("driver", views.driver(base, "sim", ["home"])),
        *_network_samples(base),
    ]
    names: set[str] = set()
    for tag, doc in samples:
        for node in views.element(tag, doc).iter():
            names.add(node.tag)
            names.update(f"{node.tag}@{a}" for a in node.attrib)
    names.update(
        {
            "api",
            "api@version",
            "api@driver",
            "api@provider",
            "link",
            "link@rel",
            "link@href",
            "feature",
            "feature@name",
            "feature@rel",
            "param",
            "param@name",
            "states",
            "state",
            "state@name",
            "transition",
            "transition@action",
            "transition@to",
            "error",
            "error@status",
            "error@url",
            "code",
            "message",
            "driver",
            "provider",
        }
    )
    return sorted(names)


def openapi_problems(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    problems = []
    for path, methods in stored.get("paths", {}).items():
        now = current.get("paths", {}).get(path)
        if now is None:
            problems.append(f"route {path} was removed")
            continue
        for method, op in methods.items():
            if method not in now:
                problems.append(f"{method.upper()} {path} was removed")
                continue
            params = {(p["name"], p["in"]): p for p in now[method].get("parameters", [])}
            for p in op.get("parameters", []):
                found = params.get((p["name"], p["in"]))
                if found is None:
                    problems.append(f"{method.upper()} {path}: parameter {p['name']} removed")
                elif found.get("required") and not p.get("required"):
                    problems.append(
                        f"{method.upper()} {path}: parameter {p['name']} is now required"
                    )
            for code in op.get("responses", {}):
                if code not in now[method].get("responses", {}):
                    problems.append(f"{method.upper()} {path}: response {code} removed")
    gone = json_fields(stored) - json_fields(current)
    problems.extend(f"{field} was removed" for field in sorted(gone))
    return problems


def json_fields(doc: dict[str, Any]) -> set[str]:
    """Every field of every JSON answer the document describes, as
    `GET /api/instances 200: instances[].image.href`."""
    schemas = doc.get("components", {}).get("schemas", {})
    found: set[str] = set()

    def walk(schema: dict[str, Any], where: str, prefix: str, depth: int) -> None:
        if depth > 20:
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            walk(schemas.get(ref.rsplit("/", 1)[-1], {}), where, prefix, depth + 1)
            return
        for option in schema.get("anyOf", []) + schema.get("allOf", []):
            walk(option, where, prefix, depth + 1)
        if "items" in schema:
            walk(schema["items"], where, f"{prefix}[]", depth + 1)
        for name, sub in schema.get("properties", {}).items():
            field = f"{prefix}.{name}" if prefix else name
            found.add(f"{where}: {field}")
            walk(sub, where, field, depth + 1)

    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            for code, answer in op.get("responses", {}).items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if isinstance(schema, dict):
                    walk(schema, f"{method.upper()} {path} {code}", "", 0)
    return found


def main() -> None:
    if "--write" not in sys.argv:
        print(
            "python -m nubes.server.compat --write stores docs/openapi.json and docs/xml-names.json"
        )
        return
    (DOCS / "openapi.json").write_text(
        json.dumps(current_openapi(), indent=1, sort_keys=True) + "\n"
    )
    (DOCS / "xml-names.json").write_text(json.dumps(xml_names(), indent=1) + "\n")


if __name__ == "__main__":
    main()
