"""Refreshing 1,000 OpenStack objects on the emulator: nubes' batched refresh against the
alternatives.

1,000 objects of three types (400 servers, 400 Cinder volumes, 200 Neutron security groups), all
owned by the stack, on the OpenStack emulator started on 127.0.0.1. Side by side:
  * nubes  - `engine.plan.refresh`: one paginated list per type (servers/detail, volumes/detail
             filtered by metadata, security-groups), plus the flavors and group names once;
  * (a)    - one GET per resource, as Terraform's OpenStack provider refreshes;
  * (b)    - Apache Libcloud's OpenStack 2.0 driver: list_nodes(), list_volumes() and
             ex_list_security_groups(), over the same objects.
Each is run 3 times; the table shows the median wall time and the API calls made.
Run: python bench/openstack_refresh.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refreshing import nubes_state, timed  # noqa: E402

from nubes.emulators.openstack.models import Knobs  # noqa: E402
from tests.emulator_harness import openstack  # noqa: E402

SERVERS, VOLUMES, GROUPS = 400, 400, 200
OWNER = {"nubes:stack": "bench", "nubes:address": "x", "nubes:token": "0" * 32}


def token(auth_url: str) -> tuple[str, dict[str, str]]:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "demo", "domain": {"name": "Default"}, "password": "demo"}
                },
            },
            "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}},
        }
    }
    answer = httpx.post(auth_url + "/v3/auth/tokens", json=body)
    catalog = {s["type"]: s["endpoints"][0]["url"] for s in answer.json()["token"]["catalog"]}
    return answer.headers["x-subject-token"], catalog


def populate(auth_url: str) -> None:
    tok, cat = token(auth_url)
    h = {"X-Auth-Token": tok}
    with httpx.Client(headers=h, timeout=60) as http:
        images = http.get(cat["image"] + "/v2/images?name=cirros-0.6.2").json()["images"]
        for i in range(SERVERS):
            http.post(
                cat["compute"] + "/servers",
                json={
                    "server": {
                        "name": f"s{i}",
                        "imageRef": images[0]["id"],
                        "flavorRef": "1",
                        "metadata": {**OWNER, "nubes:address": f"s[{i}]"},
                    }
                },
            ).raise_for_status()
        for i in range(VOLUMES):
            http.post(
                cat["volumev3"] + "/volumes",
                json={
                    "volume": {
                        "size": 1,
                        "name": f"v{i}",
                        "metadata": {**OWNER, "nubes:address": f"v[{i}]"},
                    }
                },
            ).raise_for_status()
        for i in range(GROUPS):
            http.post(
                cat["network"] + "/v2.0/security-groups",
                json={
                    "security_group": {
                        "name": f"g{i}",
                        "description": f"[nubes:bench:g%5B{i}%5D:{'0' * 32}]",
                    }
                },
            ).raise_for_status()


def main() -> None:
    knobs = Knobs(
        boot_seconds=0,
        max_instances=SERVERS + 10,
        max_volumes=VOLUMES + 10,
        max_security_groups=GROUPS + 10,
    )
    with openstack(knobs) as emu:
        populate(emu.auth_url)
        from nubes.engine.drivers import Drivers
        from nubes.engine.plan.refresh import refresh
        from nubes.providers.openstack import OpenStackDriver
        from nubes.providers.protocol import DriverContext

        environ = {
            "OS_AUTH_URL": emu.auth_url,
            "OS_USERNAME": "demo",
            "OS_PASSWORD": "demo",
            "OS_PROJECT_NAME": "demo",
        }
        driver = OpenStackDriver()
        assert driver.configure({}, DriverContext(Path("."), environ)) == []
        state = nubes_state(driver, "os")
        assert len(state.resources) == SERVERS + VOLUMES + GROUPS, len(state.resources)
        drivers = Drivers({"os": driver})

        def batched() -> int:
            driver.os._flavors = None
            before = emu.emulator.requests
            fresh, _, diags = refresh(state, drivers)
            assert not diags.has_errors and len(fresh.resources) == len(state.resources)
            return emu.emulator.requests - before

        def per_resource() -> int:
            before = emu.emulator.requests
            for rs in state.resources.values():
                assert driver.read(rs.type, rs.id) is not None
            return emu.emulator.requests - before

        from libcloud.compute.providers import get_driver
        from libcloud.compute.types import Provider

        lc = get_driver(Provider.OPENSTACK)(
            "demo",
            "demo",
            ex_force_auth_url=emu.auth_url,
            ex_force_auth_version="3.x_password",
            ex_tenant_name="demo",
            ex_domain_name="Default",
            ex_force_service_region="RegionOne",
            api_version="2.0",
        )

        def libcloud_lists() -> int:
            before = emu.emulator.requests
            nodes = lc.list_nodes()
            volumes = lc.list_volumes()
            groups = lc.ex_list_security_groups()
            assert len(nodes) >= SERVERS and len(volumes) >= VOLUMES and len(groups) >= GROUPS
            return emu.emulator.requests - before

        rows = [
            ("nubes refresh (batched, paginated)", *timed(batched)),
            ("(a) one GET per resource", *timed(per_resource)),
            ("(b) libcloud list_nodes+volumes+groups", *timed(libcloud_lists)),
        ]
    total = SERVERS + VOLUMES + GROUPS
    print(
        f"\nrefreshing {total:,} OpenStack objects ({SERVERS} servers, {VOLUMES} volumes, "
        f"{GROUPS} security groups) on the local emulator; median of 3\n"
    )
    print(f"{'method':<40} {'API calls':>9} {'seconds':>8} {'vs nubes':>8}")
    for name, seconds, calls in rows:
        print(f"{name:<40} {calls:>9,} {seconds:>8.2f} {seconds / rows[0][1]:>7.1f}x")
    print(
        "\nOn a real cloud each call also pays 20-200 ms of latency; nubes pays it per page and "
        "type, (a) per resource. Libcloud lists everything, reads no ownership, and cannot\n"
        "tell the stack's objects from others."
    )


if __name__ == "__main__":
    main()
