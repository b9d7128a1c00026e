"""The Deltacloud API over HTTP against a live server with the sim cloud, in XML and JSON."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest

from nubes.providers.sim.driver import FEATURES
from tests.server_harness import TOKEN


def xml(response: httpx.Response) -> ET.Element:
    return ET.fromstring(response.content)


def test_every_request_is_authenticated(api: str) -> None:
    bare = httpx.get(f"{api}/api/realms")
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"].startswith("Basic")
    assert bare.headers["X-Deltacloud-Driver"] == "mock"
    assert xml(bare).tag == "error" and xml(bare).findtext("code") == "401"
    wrong = httpx.get(f"{api}/api/realms", auth=("admin", "nope"))
    assert wrong.status_code == 401
    token = httpx.get(f"{api}/api/realms", headers={"Authorization": f"Bearer {TOKEN}"})
    assert token.status_code == 200


def test_the_entry_point_and_drivers_are_open_unless_forced(api: str) -> None:
    # as Deltacloud serves them: a client finds the API before it has credentials
    for path in ("/api", "/api/drivers", "/api/drivers/mock"):
        assert httpx.get(f"{api}{path}").status_code == 200, path
    assert xml(httpx.get(f"{api}/api")).get("driver") == "mock"
    forced = httpx.get(f"{api}/api?force_auth=1")
    assert forced.status_code == 401 and forced.headers["WWW-Authenticate"].startswith("Basic")
    assert httpx.get(f"{api}/api?force_auth=1", auth=("admin", "nope")).status_code == 401
    token = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{api}/api?force_auth=1", headers=token).status_code == 200
    assert httpx.get(f"{api}/api;force_auth=1").status_code == 401  # as a matrix parameter
    assert httpx.get(f"{api}/api;force_auth=1", headers=token).status_code == 200
    assert httpx.get(f"{api}/api/instances").status_code == 401  # the collections are not


def test_entry_point(client: httpx.Client) -> None:
    r = client.get("/api")
    assert r.status_code == 200
    assert r.headers["Server"].startswith("Apache-Deltacloud/")
    assert r.headers["X-Nubes-Version"] and r.headers["ETag"]
    assert (r.headers["X-Deltacloud-Driver"], r.headers["X-Deltacloud-Provider"]) == (
        "mock",
        "home",
    )
    root = xml(r)
    assert root.tag == "api" and root.get("driver") == "mock" and root.get("version")
    rels = {link.get("rel"): link for link in root.findall("link")}
    assert {
        "realms",
        "hardware_profiles",
        "images",
        "instances",
        "instance_states",
        "keys",
        "drivers",
    } <= set(rels)
    assert rels["instances"].get("href").endswith("/api/instances")
    features = {f.get("name") for f in rels["instances"].findall("feature")}
    assert {"user_data", "authentication_key", "firewalls"} <= features
    # each driver's own features (its DriverInfo), not one list for every driver
    declared = {f.name: f.params for f in FEATURES["instances"]}
    assert features == set(declared)
    for feature in rels["instances"].findall("feature"):
        params = tuple(p.get("name") for p in feature.findall("param"))
        assert params == declared[str(feature.get("name"))]
    doc = client.get("/api", headers={"Accept": "application/json"}).json()
    assert doc["api"]["driver"] == "mock" and doc["api"]["links"]


def test_formats_and_etags(client: httpx.Client) -> None:
    assert (
        client.get("/api/realms?format=json").headers["content-type"].startswith("application/json")
    )
    assert (
        client.get("/api/realms", headers={"Accept": "application/xml"})
        .headers["content-type"]
        .startswith("application/xml")
    )
    unknown = client.get("/api/realms?format=yaml")
    assert unknown.status_code == 406
    first = client.get("/api/realms")
    again = client.get("/api/realms", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    head = client.head("/api/realms")
    assert head.status_code == 200 and head.content == b""
    options = client.options("/api/instances")
    assert options.status_code == 204
    assert {"GET", "HEAD", "POST", "OPTIONS"} <= set(options.headers["Allow"].split(", "))


def test_choosing_the_provider(client: httpx.Client) -> None:
    lab = client.get("/api/realms?format=json", headers={"X-Deltacloud-Provider": "lab"})
    assert [r["id"] for r in lab.json()["realms"]] == ["sim-2a", "sim-2b", "sim-2c"]
    assert lab.headers["X-Deltacloud-Provider"] == "lab"
    default = client.get("/api;driver=mock;provider=sim-1/realms?format=json")
    assert default.headers["X-Deltacloud-Provider"] == "home"  # sim-1: home's default region
    matrix = client.get("/api;driver=mock;provider=sim-2/realms?format=json")
    assert matrix.status_code == 200 and matrix.json()["realms"][0]["id"] == "sim-2a"
    assert client.get("/api;driver=vsphere/realms").status_code == 400
    # Deltacloud's mock driver ignores a provider it does not know; so does the sim
    ignored = client.get("/api;driver=mock;provider=mars-1/realms?format=json")
    assert ignored.status_code == 200 and ignored.headers["X-Deltacloud-Provider"] == "home"


def test_read_only_collections(client: httpx.Client) -> None:
    realms = xml(client.get("/api/realms"))
    assert realms.tag == "realms" and realms[0].get("id") == "sim-1a"
    assert realms[0].get("href").endswith("/api/realms/sim-1a")
    profiles = xml(client.get("/api/hardware_profiles"))
    flex = next(p for p in profiles if p.get("id") == "flex")
    cpu = next(p for p in flex.findall("property") if p.get("name") == "cpu")
    assert cpu.get("kind") == "range" and cpu.find("range").get("last") == "32"
    small = client.get("/api/hardware_profiles/small?format=json").json()["hardware_profile"]
    assert {p["name"]: p["value"] for p in small["properties"]}["memory"] == "2048"
    images = client.get("/api/images?format=json").json()["images"]
    assert "img-ubuntu-2404" in [i["id"] for i in images]
    assert client.get("/api/images/img-nope").status_code == 404
    states = xml(client.get("/api/instance_states"))
    assert states.tag == "states" and states.find("state").get("name") == "start"
    drivers = xml(client.get("/api/drivers"))
    assert "mock" in [d.get("id") for d in drivers] and "sim" not in [d.get("id") for d in drivers]
    assert client.get("/api/drivers/mock?format=json").json()["driver"]["id"] == "mock"
    assert client.get("/api/drivers/sim?format=json").json()["driver"]["id"] == "mock"


def test_instance_lifecycle(client: httpx.Client) -> None:
    made = client.post(
        "/api/instances",
        data={
            "image_id": "img-debian-12",
            "hwp_id": "small",
            "realm_id": "sim-1b",
            "name": "api-web",
        },
    )
    assert made.status_code == 201, made.text
    root = xml(made)
    id_ = root.get("id")
    assert made.headers["Location"].endswith(f"/api/instances/{id_}")
    assert root.findtext("state") == "RUNNING" and root.findtext("name") == "api-web"
    assert root.find("realm").get("id") == "sim-1b"
    assert root.find("hardware_profile").get("id") == "small"
    assert root.find("public_addresses/address").text
    actions = {a.get("rel"): a for a in root.findall("actions/link")}
    assert set(actions) == {"reboot", "stop", "destroy", "create_image"}  # the sim makes images
    assert actions["create_image"].get("href").endswith(f"/api/images;instance_id={id_}")
    start = client.post(f"/api/instances/{id_}/start")
    assert start.status_code == 405 and "RUNNING" in xml(start).findtext("message")
    stopped = client.post(f"/api/instances/{id_}/stop", headers={"Accept": "application/json"})
    assert stopped.status_code == 202 and stopped.json()["instance"]["state"] == "STOPPED"
    listed = client.get("/api/instances?state=STOPPED&format=json").json()["instances"]
    assert [i["id"] for i in listed] == [id_]
    assert client.delete(f"/api/instances/{id_}").status_code == 204
    assert client.get(f"/api/instances/{id_}").status_code == 404


def test_create_errors(client: httpx.Client) -> None:
    missing = client.post("/api/instances", data={})
    assert missing.status_code == 400 and "image_id is required" in xml(missing).findtext("message")
    bad = client.post(
        "/api/instances?format=json", json={"image_id": "img-beos", "hwp_id": "small"}
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert set(error) == {"code", "message", "driver", "provider"}
    assert "image 'img-beos' does not exist in sim-1" in error["message"]


def test_ranged_profile_overrides(client: httpx.Client) -> None:
    made = client.post(
        "/api/instances?format=json",
        data={"image_id": "img-debian-12", "hwp_id": "flex", "hwp_cpu": "6", "hwp_memory": "12288"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["instance"]["hardware_profile"]["id"] == "flex"
    client.delete(f"/api/instances/{made.json()['instance']['id']}")


def test_keys(client: httpx.Client) -> None:
    made = client.post("/api/keys?format=json", data={"name": "api-key"})
    assert made.status_code == 201
    key = made.json()["key"]
    assert key["pem"].startswith("-----BEGIN") and key["fingerprint"]
    shown = client.get(f"/api/keys/{key['id']}?format=json").json()["key"]
    assert "pem" not in shown  # the private key is shown once
    assert client.delete(f"/api/keys/{key['id']}").status_code == 204
    assert client.get(f"/api/keys/{key['id']}").status_code == 404


@pytest.mark.parametrize("path", ["/api/nothing", "/api/instances/i-nope"])
def test_not_found(client: httpx.Client, path: str) -> None:
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"]["code"] == 404


def test_volumes_snapshots_addresses(client: httpx.Client) -> None:
    vm = client.post(
        "/api/instances?format=json",
        data={"image_id": "img-debian-12", "hwp_id": "tiny", "realm_id": "sim-1a"},
    ).json()["instance"]
    vol = client.post(
        "/api/storage_volumes?format=json", data={"capacity": "3", "realm_id": "sim-1a"}
    )
    assert vol.status_code == 201, vol.text
    vid = vol.json()["storage_volume"]["id"]
    attached = client.post(
        f"/api/storage_volumes/{vid}/attach?format=json",
        data={"instance_id": vm["id"], "device": "/dev/sdg"},
    )
    assert attached.status_code == 202
    assert attached.json()["storage_volume"]["mount"]["device"] == "/dev/sdg"
    assert (
        client.post(
            f"/api/storage_volumes/{vid}/attach", data={"instance_id": vm["id"]}
        ).status_code
        == 405
    )
    # the instance names the volume attached to it: shown alone, in XML, and on a page
    shown = client.get(f"/api/instances/{vm['id']}?format=json").json()["instance"]
    assert [v["id"] for v in shown["storage_volumes"]] == [vid]
    assert shown["storage_volumes"][0]["href"].endswith(f"/api/storage_volumes/{vid}")
    xml = ET.fromstring(client.get(f"/api/instances/{vm['id']}?format=xml").content)
    assert [v.get("id") for v in xml.iter("storage_volume")] == [vid]
    listed = client.get("/api/instances?format=json").json()["instances"]
    assert [v["id"] for i in listed if i["id"] == vm["id"] for v in i["storage_volumes"]] == [vid]
    assert all(not i["storage_volumes"] for i in listed if i["id"] != vm["id"])
    paged = client.get("/api/instances?format=json&per_page=1000").json()["instances"]
    assert paged == listed
    snap = client.post("/api/storage_snapshots?format=json", data={"volume_id": vid})
    assert snap.status_code == 201 and snap.json()["storage_snapshot"]["capacity"] == 3
    assert client.post(f"/api/storage_volumes/{vid}/detach").status_code == 202
    after = client.get(f"/api/instances/{vm['id']}?format=json").json()["instance"]
    assert after["storage_volumes"] == []
    ip = client.post("/api/addresses?format=json").json()["address"]
    bound = client.post(
        f"/api/addresses/{ip['id']}/associate?format=json", data={"instance_id": vm["id"]}
    )
    assert bound.status_code == 202 and bound.json()["address"]["instance"]["id"] == vm["id"]
    assert client.post(f"/api/addresses/{ip['id']}/disassociate").status_code == 202
    for path in (
        f"/api/addresses/{ip['id']}",
        f"/api/storage_snapshots/{snap.json()['storage_snapshot']['id']}",
        f"/api/storage_volumes/{vid}",
        f"/api/instances/{vm['id']}",
    ):
        assert client.delete(path).status_code == 204, path


def test_firewalls_and_buckets(client: httpx.Client) -> None:
    fw = client.post("/api/firewalls?format=json", data={"name": "api-fw", "description": "web"})
    assert fw.status_code == 201
    fid = fw.json()["firewall"]["id"]
    ruled = client.post(
        f"/api/firewalls/{fid}/rules?format=json",
        data={"protocol": "tcp", "port_from": "80", "port_to": "80", "ip_address": "10.0.0.0/8"},
    )
    assert ruled.status_code == 201
    rule = ruled.json()["firewall"]["rules"][0]
    assert (rule["port_from"], rule["sources"]) == ("80", ["10.0.0.0/8"])
    root = xml(client.get(f"/api/firewalls/{fid}"))
    assert root.find("rules/rule").get("id") == rule["id"]
    assert client.delete(f"/api/firewalls/{fid}/{rule['id']}").status_code == 204
    assert client.get(f"/api/firewalls/{fid}?format=json").json()["firewall"]["rules"] == []
    assert client.delete(f"/api/firewalls/{fid}").status_code == 204
    bucket = client.post("/api/buckets?format=json", data={"name": "api-bucket"})
    assert bucket.status_code == 201
    assert "api-bucket" in [
        b["id"] for b in client.get("/api/buckets?format=json").json()["buckets"]
    ]
    assert client.delete("/api/buckets/api-bucket").status_code == 204
    assert client.post("/api/buckets", data={}).status_code == 400


def test_blobs_in_buckets(client: httpx.Client) -> None:
    assert client.post("/api/buckets", data={"name": "blob-box"}).status_code == 201
    put = client.put(
        "/api/buckets/blob-box/hello.txt",
        content=b"hello world",
        headers={"Content-Type": "text/plain", "Accept": "application/json"},
    )
    assert put.status_code == 200 and put.json()["blob"]["content_length"] == 11  # as Deltacloud
    form = client.post(
        "/api/buckets/blob-box?format=json", data={"blob_id": "note", "blob_data": "second"}
    )
    assert form.status_code == 201
    shown = xml(client.get("/api/buckets/blob-box"))
    # as Deltacloud's buckets/show: each blob a child of the bucket, no wrapper
    assert sorted(b.get("id") for b in shown.findall("blob")) == ["hello.txt", "note"]
    assert shown.find("blobs") is None and shown.findtext("size") == "2"
    assert shown.find("blob").get("href").endswith("/api/buckets/blob-box/hello.txt")
    meta = client.get("/api/buckets/blob-box/hello.txt?format=json").json()["blob"]
    assert meta["content_type"] == "text/plain"
    content = client.get("/api/buckets/blob-box/hello.txt/content")
    assert content.content == b"hello world" and content.headers["content-type"].startswith(
        "text/plain"
    )
    full = client.delete("/api/buckets/blob-box")
    assert full.status_code == 405 and "not empty" in xml(full).findtext("message")
    for blob in ("hello.txt", "note"):
        assert client.delete(f"/api/buckets/blob-box/{blob}").status_code == 204
    assert client.get("/api/buckets/blob-box/note").status_code == 404
    assert client.delete("/api/buckets/blob-box").status_code == 204


def test_deltacloud_shapes_of_instances_and_images(client: httpx.Client) -> None:
    key = client.post("/api/keys", data={"name": "shape-key"})
    assert key.status_code == 201
    fw = [
        xml(client.post("/api/firewalls", data={"name": f"shape-fw{i}"})).get("id") for i in (1, 2)
    ]
    # Deltacloud's array form of firewalls, and no hwp_id: the smallest profile of the image's
    # architecture (arm64 here, where the smallest x86_64 profile would be refused)
    made = client.post(
        "/api/instances",
        data={
            "image_id": "img-ubuntu-2404-arm",
            "keyname": "shape-key",
            "firewalls1": fw[0],
            "firewalls2": fw[1],
        },
    )
    assert made.status_code == 201, made.text
    root = xml(made)
    assert root.find("hardware_profile").get("id") == "arm-small"
    assert root.find("keyname") is None  # Deltacloud's place for it is the authentication block
    auth = root.find("authentication")
    assert auth is not None and auth.get("type") == "key"
    assert auth.findtext("login/keyname") == "shape-key"
    assert [f.get("id") for f in root.findall("firewalls/firewall")] == fw
    doc = client.get(f"/api/instances/{root.get('id')}?format=json").json()["instance"]
    assert doc["authentication"] == {"type": "key", "login": {"keyname": "shape-key"}}
    # images list the profiles that can run them, and filter by architecture
    arm = xml(client.get("/api/images?architecture=arm64"))
    assert {i.get("id") for i in arm} == {"img-ubuntu-2404-arm"}
    profiles = arm.find("image").findall("hardware_profiles/hardware_profile")
    assert [p.get("id") for p in profiles] == ["arm-small"]
    assert profiles[0].get("rel") == "hardware_profile"
    x86 = client.get("/api/images/img-debian-12?format=json").json()["image"]
    assert "small" in [p["id"] for p in x86["hardware_profiles"]]
    assert "arm-small" not in [p["id"] for p in x86["hardware_profiles"]]
    assert client.delete(f"/api/instances/{root.get('id')}").status_code == 204


def test_blobs_as_deltacloud_serves_them(client: httpx.Client) -> None:
    assert client.post("/api/buckets", data={"name": "dc-box"}).status_code == 201
    put = client.put(
        "/api/buckets/dc-box/report.csv",
        content=b"a,b\n1,2\n",
        headers={"Content-Type": "text/csv", "X-Deltacloud-Blobmeta-Owner": "ops"},
    )
    assert put.status_code == 200
    shown = xml(put)
    assert shown.findtext("content_type") == "text/csv"
    entries = {e.get("key"): e.text for e in shown.findall("user_metadata/entry")}
    assert entries == {"owner": "ops"}  # header names arrive in lower case
    allowed = client.options("/api/buckets/dc-box/report.csv").headers["Allow"].split(", ")
    assert {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"} <= set(allowed)
    head = client.head("/api/buckets/dc-box/report.csv")
    assert head.status_code == 204 and head.headers["X-Deltacloud-Blobmeta-owner"] == "ops"
    assert client.head("/api/buckets/dc-box/nothing").status_code == 404
    update = client.post(
        "/api/buckets/dc-box/report.csv",
        headers={"X-Deltacloud-Blobmeta-Owner": "dev", "X-Deltacloud-Blobmeta-Tier": "gold"},
    )
    assert update.status_code == 204 and update.headers["X-Deltacloud-Blobmeta-tier"] == "gold"
    again = client.get("/api/buckets/dc-box/report.csv?format=json").json()["blob"]
    assert again["user_metadata"] == {"owner": "dev", "tier": "gold"}
    assert client.get("/api/buckets/dc-box/report.csv/content").content == b"a,b\n1,2\n"
    # a browser's (and Deltacloud clients') form: a file part, and metadata as form fields
    form = client.post(
        "/api/buckets/dc-box",
        data={"blob_id": "upload.bin", "meta_params": "1", "meta_name1": "k", "meta_value1": "v"},
        files={"blob_data": ("local.bin", b"\x00\x01binary", "application/x-thing")},
    )
    assert form.status_code == 201, form.text
    made = xml(form)
    assert made.get("id") == "upload.bin" and made.findtext("content_type") == "application/x-thing"
    assert {e.get("key"): e.text for e in made.findall("user_metadata/entry")} == {"k": "v"}
    assert client.get("/api/buckets/dc-box/upload.bin/content").content == b"\x00\x01binary"
    bad = client.put(
        "/api/buckets/dc-box/x", content=b"x", headers={"X-Deltacloud-Blobmeta-A": "b\x01"}
    )
    assert bad.status_code == 400
    # metadata travels back as headers: a name that is no HTTP token, or a value that is not
    # ASCII, is refused at the door instead of breaking every later HEAD
    for fields in (
        {"meta_params": "1", "meta_name1": "two words", "meta_value1": "v"},
        {"meta_params": "1", "meta_name1": "k", "meta_value1": "\u65e5\u672c"},
        {"meta_params": "\u00b2"},
        {"meta_params": "9" * 5000},
    ):
        refused = client.post(
            "/api/buckets/dc-box", data={"blob_id": "m", "blob_data": "x", **fields}
        )
        assert refused.status_code == 400, (fields, refused.text)
    assert client.head("/api/buckets/dc-box/m").status_code == 404  # nothing was stored
    # what a later answer's headers or URL could not carry is refused when it is given
    for fields in (
        {"content_type": "text/\u65e5\u672c"},
        {"content_type": "not a type"},
        {"meta_params": "1", "meta_name1": "k", "meta_value1": "v "},
        {"blob_id": "d/e"},
    ):
        refused = client.post(
            "/api/buckets/dc-box", data={"blob_id": "m", "blob_data": "x", **fields}
        )
        assert refused.status_code == 400, (fields, refused.text)
    cased = client.post(
        "/api/buckets/dc-box",
        data={"blob_id": "c", "blob_data": "x", "meta_params": "2"}
        | {"meta_name1": "K", "meta_value1": "1", "meta_name2": "k", "meta_value2": "2"},
    )
    assert cased.status_code == 201
    assert client.head("/api/buckets/dc-box/c").headers.get_list("X-Deltacloud-Blobmeta-k") == ["2"]
    assert client.delete("/api/buckets/dc-box/c").status_code == 204
    for blob in ("report.csv", "upload.bin"):
        assert client.delete(f"/api/buckets/dc-box/{blob}").status_code == 204
