"""The emulator's wire protocol where clients meet it at its edges: fault documents, paging
links, token expiry, microversions, quotas, injected faults, the rate limit, and the command."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.emulator_harness import Running


def token(emu: Running) -> tuple[str, str, dict[str, Any]]:
    """A v3 token, the project id, and the token's catalog by service type."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "demo", "domain": {"name": "Default"}, "password": "demo"}
                },
            },
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}},
        }
    }
    answer = httpx.post(emu.auth_url + "/v3/auth/tokens", json=body)
    assert answer.status_code == 201
    doc = answer.json()["token"]
    catalog = {s["type"]: s["endpoints"][0]["url"] for s in doc["catalog"]}
    return answer.headers["x-subject-token"], doc["project"]["id"], catalog


def test_keystone_refuses_a_wrong_password_in_its_own_shape(emu: Running) -> None:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "demo", "domain": {"name": "Default"}, "password": "nope"}
                },
            }
        }
    }
    answer = httpx.post(emu.auth_url + "/v3/auth/tokens", json=body)
    assert answer.status_code == 401
    assert answer.json()["error"] == {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
    v2 = httpx.post(
        emu.auth_url + "/v2.0/tokens",
        json={
            "auth": {
                "passwordCredentials": {"username": "demo", "password": "demo"},
                "tenantName": "demo",
            }
        },
    )
    access = v2.json()["access"]
    assert {s["name"] for s in access["serviceCatalog"]} >= {
        "nova",
        "glance",
        "neutron",
        "cinderv3",
        "swift",
    }
    assert access["token"]["tenant"]["name"] == "demo"


def test_services_answer_faults_as_nova_neutron_and_glance_write_them(emu: Running) -> None:
    tok, _, cat = token(emu)
    headers = {"X-Auth-Token": tok}
    missing = httpx.get(cat["compute"] + "/servers/nope", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {
        "itemNotFound": {"code": 404, "message": "Instance nope could not be found."}
    }
    bad = httpx.post(
        cat["compute"] + "/servers",
        headers=headers,
        json={"server": {"name": "x", "imageRef": "none", "flavorRef": "1"}},
    )
    assert bad.status_code == 400 and "badRequest" in bad.json()
    group = httpx.get(cat["network"] + "/v2.0/security-groups/nope", headers=headers)
    assert group.json()["NeutronError"]["type"] == "SecurityGroupNotFound"
    image = httpx.get(cat["image"] + "/v2/images/nope", headers=headers)
    assert image.status_code == 404
    assert httpx.get(cat["compute"] + "/servers").status_code == 401
    unauth = httpx.get(cat["compute"] + "/servers", headers={"X-Auth-Token": "forged"})
    assert unauth.status_code == 401
    assert unauth.headers["www-authenticate"].startswith("Keystone uri=")
    broken = httpx.post(cat["compute"] + "/servers", headers=headers, content=b"{not json")
    assert broken.status_code == 400


def test_lists_page_with_limit_marker_and_links(emu: Running) -> None:
    tok, _, cat = token(emu)
    headers = {"X-Auth-Token": tok}
    for n in range(5):
        httpx.post(
            cat["volumev3"] + "/volumes",
            headers=headers,
            json={"volume": {"size": 1, "name": f"v{n}"}},
        )
    first = httpx.get(cat["volumev3"] + "/volumes/detail?limit=2", headers=headers).json()
    assert len(first["volumes"]) == 2
    (link,) = first["volumes_links"]
    second = httpx.get(link["href"], headers=headers).json()
    third = httpx.get(second["volumes_links"][0]["href"], headers=headers).json()
    assert "volumes_links" not in third
    names = [v["name"] for page in (first, second, third) for v in page["volumes"]]
    assert sorted(names) == [f"v{n}" for n in range(5)]
    images = httpx.get(cat["image"] + "/v2/images?limit=3", headers=headers).json()
    assert len(images["images"]) == 3 and images["next"].startswith("/v2/images?")


def test_an_expired_token_is_refused(emu: Running) -> None:
    emu.cloud.knobs.token_seconds = 1
    tok, _, cat = token(emu)
    emu.cloud.tokens[tok].expires -= 5  # as if its hour had passed
    assert httpx.get(cat["compute"] + "/flavors", headers={"X-Auth-Token": tok}).status_code == 401


def test_microversions_shape_answers_and_bound_requests(emu: Running) -> None:
    tok, _, cat = token(emu)
    base = {"X-Auth-Token": tok}
    old = httpx.get(cat["compute"] + "/flavors/detail", headers=base)
    assert old.headers["openstack-api-version"] == "compute 2.1"
    assert "extra_specs" not in old.json()["flavors"][0]
    new = httpx.get(
        cat["compute"] + "/flavors/detail",
        headers={**base, "OpenStack-API-Version": "compute 2.79"},
    )
    assert new.json()["flavors"][0]["extra_specs"] == {}
    too_new = httpx.get(
        cat["compute"] + "/flavors", headers={**base, "OpenStack-API-Version": "compute 3.0"}
    )
    assert too_new.status_code == 406
    no_networks = httpx.post(
        cat["compute"] + "/servers",
        headers={**base, "X-OpenStack-Nova-API-Version": "2.37"},
        json={"server": {"name": "x", "imageRef": "x", "flavorRef": "1"}},
    )
    assert no_networks.status_code == 400


def test_quotas_answer_as_nova_and_cinder_do(emu: Running) -> None:
    emu.cloud.knobs.max_instances = 1
    emu.cloud.knobs.max_volumes = 1
    tok, _, cat = token(emu)
    headers = {"X-Auth-Token": tok}
    images = httpx.get(cat["image"] + "/v2/images?name=cirros-0.6.2", headers=headers).json()
    server = {"server": {"name": "a", "imageRef": images["images"][0]["id"], "flavorRef": "1"}}
    assert httpx.post(cat["compute"] + "/servers", headers=headers, json=server).status_code == 202
    over = httpx.post(cat["compute"] + "/servers", headers=headers, json=server)
    assert over.status_code == 403 and "Quota exceeded for instances" in over.text
    volume = {"volume": {"size": 1}}
    assert httpx.post(cat["volumev3"] + "/volumes", headers=headers, json=volume).status_code == 202
    full = httpx.post(cat["volumev3"] + "/volumes", headers=headers, json=volume)
    assert full.status_code == 413 and full.json()["overLimit"]["code"] == 413
    assert "retry-after" in full.headers


def test_injected_faults_and_the_rate_limit(emu: Running) -> None:
    tok, _, cat = token(emu)
    headers = {"X-Auth-Token": tok}
    emu.cloud.knobs.fault_rate = 1.0
    failed = httpx.get(cat["compute"] + "/flavors", headers=headers)
    assert failed.status_code == 503 and "serviceUnavailable" in failed.json()
    emu.cloud.knobs.fault_rate = 0.0
    emu.cloud.knobs.rate_limit = 2
    statuses = [
        httpx.get(cat["compute"] + "/flavors", headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 413]
    limited = httpx.get(cat["compute"] + "/flavors", headers=headers)
    assert int(limited.headers["retry-after"]) > 0


def test_nubes_emulate_prints_where_to_point_a_client() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nubes",
            "emulate",
            "openstack",
            "--port",
            "0",
            "--user",
            "ops",
            "--password",
            "s3cret",
            "--project",
            "infra",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("export OS_AUTH_URL=http://127.0.0.1:")
        url = first.split("=", 1)[1].strip()
        assert httpx.get(url).status_code == 300
        assert process.stdout.readline().strip() == "export OS_USERNAME=ops OS_PASSWORD=s3cret"
        body = {
            "auth": {
                "passwordCredentials": {"username": "ops", "password": "s3cret"},
                "tenantName": "infra",
            }
        }
        access = httpx.post(url + "/v2.0/tokens", json=body).json()["access"]
        assert access["token"]["tenant"]["name"] == "infra"
        body["auth"]["passwordCredentials"]["username"] = "demo"  # the default is replaced
        assert httpx.post(url + "/v2.0/tokens", json=body).status_code == 401
    finally:
        process.terminate()
        process.wait(20)


def test_nubes_emulate_says_when_its_port_is_taken(running: Running) -> None:
    port = running.base.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "nubes", "emulate", "openstack", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["--port", "70000"], ["--fault-rate", "2"], ["nowhere"]])
def test_nubes_emulate_refuses_bad_options(args: list[str]) -> None:
    cloud = [] if args == ["nowhere"] else ["openstack"]
    done = subprocess.run(
        [sys.executable, "-m", "nubes", "emulate", *cloud, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
