"""The Deltacloud API and the console in front of the OpenStack driver, over HTTP."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx

from nubes.engine.stack.model import Provider
from nubes.server.config import ServerConfig, token_hash
from tests.emulator_harness import Running
from tests.server_harness import serve


def test_openstack_through_the_api(tmp_path: Path, emu: Running) -> None:
    config = ServerConfig(
        providers={"cloud": Provider("cloud", "openstack", {"auth_url": emu.auth_url})},
        default_provider="cloud",
        tokens={"t": token_hash("tok")},
    )
    environ = {k: v for k, v in os.environ.items() if k.startswith(("OS_", "NUBES_"))}
    server, url = serve(config, tmp_path / "state", environ)
    try:
        with httpx.Client(
            base_url=url,
            timeout=60,
            headers={"Authorization": "Bearer tok", "Accept": "application/json"},
        ) as c:
            entry = c.get("/api")
            assert entry.status_code == 200 and entry.headers["X-Deltacloud-Driver"] == "openstack"
            realms = c.get("/api/realms").json()["realms"]
            assert [r["id"] for r in realms] == ["nova", "nova-b"]
            profiles = {
                p["id"] for p in c.get("/api/hardware_profiles").json()["hardware_profiles"]
            }
            assert {"m1.tiny", "m1.small", "m1.large"} <= profiles
            images = {i["name"]: i for i in c.get("/api/images").json()["images"]}
            cirros = images["cirros-0.6.2"]
            made = c.post(
                "/api/instances",
                data={
                    "image_id": cirros["id"],
                    "hwp_id": "m1.tiny",
                    "realm_id": "nova-b",
                    "name": "from-api",
                },
            )
            assert made.status_code == 201, made.text
            vm = made.json()["instance"]
            assert vm["state"] == "RUNNING" and vm["realm"]["id"] == "nova-b"
            server_doc = emu.project().servers[vm["id"]]
            assert server_doc.name == "from-api" and server_doc.metadata["nubes:stack"] == "api"
            stopped = c.post(f"/api/instances/{vm['id']}/stop")
            assert stopped.status_code == 202 and stopped.json()["instance"]["state"] == "STOPPED"
            assert emu.project().servers[vm["id"]].status == "SHUTOFF"
            key = c.post("/api/keys", data={"name": "api-key"}).json()["key"]
            assert "BEGIN" in key["pem"]
            missing = c.get("/api/instances/00000000-0000-0000-0000-000000000000")
            assert missing.status_code == 404
            bad = c.post("/api/instances", data={"image_id": cirros["id"], "hwp_id": "m9.huge"})
            assert bad.status_code == 400 and bad.json()["error"]["driver"] == "openstack"
            assert "Flavor m9.huge could not be found" in bad.json()["error"]["message"]
            assert c.delete(f"/api/instances/{vm['id']}").status_code == 204
            assert emu.project().all_servers() == []
            # Swift as the API's buckets and blobs
            assert c.post("/api/buckets", data={"name": "api-swift"}).status_code == 201
            stored = c.put(
                "/api/buckets/api-swift/a.txt",
                content=b"on swift",
                headers={"Content-Type": "text/plain", "X-Deltacloud-Blobmeta-Team": "web"},
            )
            assert stored.status_code == 200, stored.text
            assert emu.project().containers["api-swift"].objects["a.txt"].data == b"on swift"
            assert c.get("/api/buckets/api-swift/a.txt/content").content == b"on swift"
            head = c.head("/api/buckets/api-swift/a.txt")
            assert head.status_code == 204 and head.headers["X-Deltacloud-Blobmeta-team"] == "web"
            changed = c.post(
                "/api/buckets/api-swift/a.txt", headers={"X-Deltacloud-Blobmeta-Team": "db"}
            )
            assert changed.status_code == 204
            meta = c.get("/api/buckets/api-swift/a.txt").json()["blob"]
            assert meta["user_metadata"] == {"team": "db"} and meta["content_type"] == "text/plain"
            listed = c.get("/api/buckets/api-swift").json()["bucket"]["blobs"]
            assert [b["id"] for b in listed] == ["a.txt"]
            assert c.delete("/api/buckets/api-swift/a.txt").status_code == 204
            assert c.delete("/api/buckets/api-swift").status_code == 204
            assert c.delete(f"/api/keys/{key['id']}").status_code == 204
    finally:
        server.should_exit = True


def test_the_console_shows_an_openstack_cloud(tmp_path: Path, emu: Running) -> None:
    from nubes.server.config import Limits, hash_password
    from tests.console.conftest import sign_in
    from tests.server_harness import PASSWORD

    config = ServerConfig(
        providers={"cloud": Provider("cloud", "openstack", {"auth_url": emu.auth_url})},
        default_provider="cloud",
        users={"admin": hash_password(PASSWORD)},
        limits=Limits(provider_seconds=5, refresh_seconds=0.2),
    )
    environ = {k: v for k, v in os.environ.items() if k.startswith(("OS_", "NUBES_"))}
    server, url = serve(config, tmp_path / "state", environ)
    try:
        tok_images = {i.name: i for i in emu.cloud.regional("RegionOne").images.values()}
        from tests.emulators.test_openstack_protocol import token

        tok, _, cat = token(emu)
        made = httpx.post(
            cat["compute"] + "/servers",
            headers={"X-Auth-Token": tok},
            json={
                "server": {
                    "name": "console-probe",
                    "imageRef": tok_images["ubuntu-22.04"].id,
                    "flavorRef": "2",
                }
            },
        ).json()["server"]
        browser = sign_in(url)
        deadline = time.monotonic() + 30
        while "console-probe" not in (page := browser.get("/console/instances").text):
            assert time.monotonic() < deadline, page[:2000]
            time.sleep(0.1)
        row = re.search(rf'<tr id="row-[^"]*{made["id"]}[^"]*".*?</tr>', page, re.S)
        assert row and "cloud" in row.group(0) and "m1.small" in row.group(0)
        assert "ubuntu-22.04" in row.group(0)  # the portable name, found by Glance properties
        overview = browser.get("/console").text
        card = re.search(r'id="card-cloud".*?</article>', overview, re.S)
        assert card and "reachable" in card.group(0) and "instances quota" in card.group(0)
    finally:
        server.should_exit = True
