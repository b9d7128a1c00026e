"""OpenStack's own clients (openstacksdk, python-novaclient on keystoneauth) against the
emulator: what they read back must be what a real cloud would have told them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator_harness import Running, wait_for

openstack = pytest.importorskip("openstack", reason="openstacksdk is a dev dependency")
novaclient = pytest.importorskip(
    "novaclient.client", reason="python-novaclient is a dev dependency"
)
from keystoneauth1 import loading, session  # noqa: E402
from keystoneauth1.exceptions.http import Unauthorized  # noqa: E402

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcVqbMyZu6rp4ykSFmNjcsnzTc6D2ffh9r0gSbK8Yhr t@x"


def connect(emu: Running, **more: Any) -> Any:
    return openstack.connect(
        auth_url=emu.auth_url,
        username="demo",
        password="demo",
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        **more,
    )


def test_the_sdk_runs_a_server_through_its_life(emu: Running) -> None:
    conn = connect(emu)
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert flavors["m1.small"].vcpus == 1 and flavors["m1.small"].ram == 2048
    assert flavors["m1.small"].disk == 20
    image = conn.image.find_image("ubuntu-24.04")
    assert image.status == "active" and image.os_distro == "ubuntu"
    zones = [z.name for z in conn.compute.availability_zones()]
    assert zones == ["nova", "nova-b"]
    net = conn.network.find_network("private")
    server = conn.compute.create_server(
        name="web-1",
        image_id=image.id,
        flavor_id=flavors["m1.small"].id,
        networks=[{"uuid": net.id}],
        metadata={"nubes:stack": "demo"},
        availability_zone="nova-b",
    )
    assert conn.compute.get_server(server.id).status == "BUILD"
    server = conn.compute.wait_for_server(server, wait=30, interval=0.05)
    assert server.status == "ACTIVE"
    assert server.metadata == {"nubes:stack": "demo"}
    assert server.availability_zone == "nova-b"
    assert server.flavor.original_name == "m1.small" and server.flavor.ram == 2048
    (fixed,) = server.addresses["private"]
    assert fixed["addr"].startswith("10.0.0.") and fixed["OS-EXT-IPS:type"] == "fixed"
    assert [s.name for s in conn.compute.servers()] == ["web-1"]
    conn.compute.reboot_server(server, "HARD")
    assert conn.compute.get_server(server.id).status == "HARD_REBOOT"
    wait_for(lambda: conn.compute.get_server(server.id).status == "ACTIVE")
    conn.compute.stop_server(server)
    wait_for(lambda: conn.compute.get_server(server.id).status == "SHUTOFF")
    conn.compute.resize_server(server, flavors["m1.medium"].id)
    wait_for(lambda: conn.compute.get_server(server.id).status == "VERIFY_RESIZE")
    conn.compute.confirm_server_resize(server)
    resized = conn.compute.get_server(server.id)
    assert resized.status == "SHUTOFF" and resized.flavor.original_name == "m1.medium"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.05)
    assert list(conn.compute.servers()) == []


def test_the_sdk_manages_keys_volumes_groups_and_addresses(emu: Running) -> None:
    conn = connect(emu)
    key = conn.compute.create_keypair(name="deploy", public_key=PUBLIC_KEY)
    assert key.fingerprint.count(":") == 15
    generated = conn.compute.create_keypair(name="made")
    assert generated.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert sorted(k.name for k in conn.compute.keypairs()) == ["deploy", "made"]
    volume = conn.block_storage.create_volume(size=2, name="data")
    volume = conn.block_storage.wait_for_status(volume, "available", wait=10, interval=0.05)
    assert (volume.name, volume.size, volume.availability_zone) == ("data", 2, "nova")
    group = conn.network.create_security_group(name="web", description="http")
    rule = conn.network.create_security_group_rule(
        security_group_id=group.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=80,
        port_range_max=80,
        remote_ip_prefix="0.0.0.0/0",
    )
    found = conn.network.get_security_group(group.id)
    ingress = [r for r in found.security_group_rules if r["direction"] == "ingress"]
    assert [(r["protocol"], r["port_range_min"], r["remote_ip_prefix"]) for r in ingress] == [
        ("tcp", 80, "0.0.0.0/0")
    ]
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.network.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            protocol="tcp",
            port_range_min=80,
            port_range_max=80,
            remote_ip_prefix="0.0.0.0/0",
        )
    conn.network.delete_security_group_rule(rule)
    image = conn.image.find_image("cirros-0.6.2")
    server = conn.compute.create_server(
        name="db",
        image_id=image.id,
        flavor_id="1",
        networks="auto",
        key_name="deploy",
        security_groups=[{"name": "web"}],
    )
    server = conn.compute.wait_for_server(server, wait=30, interval=0.05)
    assert server.key_name == "deploy"
    assert [g["name"] for g in server.security_groups] == ["web"]
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    attached = conn.block_storage.wait_for_status(volume, "in-use", wait=10, interval=0.05)
    assert attached.attachments[0]["server_id"] == server.id
    public = conn.network.find_network("public")
    address = conn.network.create_ip(floating_network_id=public.id)
    (port,) = conn.network.ports(device_id=server.id)
    conn.network.update_ip(address, port_id=port.id)
    shown = conn.network.get_ip(address.id)
    assert shown.port_id == port.id and shown.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    floating = [
        a
        for a in conn.compute.get_server(server.id).addresses["private"]
        if a["OS-EXT-IPS:type"] == "floating"
    ]
    assert [a["addr"] for a in floating] == [address.floating_ip_address]
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.network.delete_security_group(group)  # the server still uses it
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.05)
    assert conn.network.get_ip(address.id).port_id is None
    conn.network.delete_security_group(group)
    conn.network.delete_ip(address)
    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, interval=0.05)


def test_the_sdk_pages_through_a_long_list(emu: Running) -> None:
    conn = connect(emu)
    image = conn.image.find_image("cirros-0.6.2")
    for n in range(7):
        conn.compute.create_server(name=f"s{n}", image_id=image.id, flavor_id="1", networks="none")
    before = emu.emulator.requests
    names = [s.name for s in conn.compute.servers(limit=3, paginated=True)]
    assert sorted(names) == [f"s{n}" for n in range(7)]
    assert emu.emulator.requests - before >= 3  # pages of 3: the links were followed


def test_object_storage_keeps_objects_and_their_metadata(emu: Running) -> None:
    conn = connect(emu)
    conn.object_store.create_container("assets")
    conn.object_store.upload_object(
        container="assets",
        name="css/site.css",
        data=b"body{}",
        metadata={"owner": "web"},
        **{"Content-Type": "text/css"},
    )
    conn.object_store.upload_object(container="assets", name="index.html", data=b"<p>")
    listed = {o.name: o for o in conn.object_store.objects("assets")}
    assert sorted(listed) == ["css/site.css", "index.html"]
    assert listed["css/site.css"].content_length == 6
    head = conn.object_store.get_object_metadata("css/site.css", container="assets")
    assert head.metadata == {"owner": "web"} and head.content_type == "text/css"
    assert conn.object_store.download_object("css/site.css", container="assets") == b"body{}"
    conn.object_store.delete_object("index.html", container="assets")
    assert [o.name for o in conn.object_store.objects("assets")] == ["css/site.css"]


def test_application_credentials_authenticate(emu: Running) -> None:
    conn = connect(emu)
    user_id = conn.current_user_id
    made = conn.identity.create_application_credential(user=user_id, name="ci")
    second = openstack.connect(
        auth_type="v3applicationcredential",
        auth_url=emu.auth_url,
        application_credential_id=made.id,
        application_credential_secret=made.secret,
        region_name="RegionOne",
    )
    assert next(f.name for f in second.compute.flavors()) == "m1.tiny"
    wrong = openstack.connect(
        auth_type="v3applicationcredential",
        auth_url=emu.auth_url,
        application_credential_id=made.id,
        application_credential_secret="not-it",
        region_name="RegionOne",
    )
    with pytest.raises(Unauthorized) as failed:
        list(wrong.compute.flavors())
    assert failed.value.http_status == 401


def novaclient_session(emu: Running) -> Any:
    auth = loading.get_plugin_loader("password").load_from_options(
        auth_url=emu.auth_url,
        username="demo",
        password="demo",
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return session.Session(auth=auth)


@pytest.mark.parametrize("version", ["2.1", "2.79"])
def test_novaclient_runs_a_server_and_a_key(emu: Running, version: str) -> None:
    sess = novaclient_session(emu)
    nova = novaclient.Client(version, session=sess)
    assert [f.name for f in nova.flavors.list()][:2] == ["m1.tiny", "m1.small"]
    assert [z.zoneName for z in nova.availability_zones.list(detailed=False)] == ["nova", "nova-b"]
    key = nova.keypairs.create("ops", public_key=PUBLIC_KEY)
    assert key.public_key == PUBLIC_KEY
    images = sess.get("/v2/images", endpoint_filter={"service_type": "image"}).json()["images"]
    cirros = next(i for i in images if i["name"] == "cirros-0.6.2")
    # from 2.37 Nova wants networks named (novaclient's nics); before, none means the default
    nics = "auto" if version == "2.79" else None
    server = nova.servers.create(
        "n1", cirros["id"], "2", key_name="ops", nics=nics, meta={"role": "db"}
    )
    server = wait_for(lambda: (s := nova.servers.get(server.id)).status == "ACTIVE" and s)
    assert server.metadata == {"role": "db"} and server.key_name == "ops"
    assert list(server.networks) == ["private"]
    if version == "2.79":
        assert server.flavor["original_name"] == "m1.small"
    else:
        assert server.flavor["id"] == "2"
    server.stop()
    wait_for(lambda: nova.servers.get(server.id).status == "SHUTOFF")
    with pytest.raises(novaclient.exceptions.Conflict):
        server.stop()  # it is stopped already: Nova says 409
    server.delete()
    assert nova.servers.list() == []
    nova.keypairs.delete("ops")
    assert nova.keypairs.list() == []
    with pytest.raises(novaclient.exceptions.NotFound):
        nova.keypairs.get("ops")
