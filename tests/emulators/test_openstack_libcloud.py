"""Libcloud's OpenStack drivers (the 1.1 API and the 2.0 one on Glance, Cinder and Neutron) and
its Rackspace driver against the emulator, asserting on the values they read back."""

from __future__ import annotations

from typing import Any

import pytest

from nubes.emulators.openstack.models import Knobs
from tests.emulator_harness import Running, openstack, wait_for

pytest.importorskip("libcloud", reason="apache-libcloud is a dev dependency")
from libcloud.common.types import InvalidCredsError
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider


def driver(emu: Running, version: str) -> Any:
    return get_driver(Provider.OPENSTACK)(
        "demo",
        "demo",
        ex_force_auth_url=emu.auth_url,
        ex_force_auth_version="3.x_password",
        ex_tenant_name="demo",
        ex_domain_name="Default",
        ex_force_service_region="RegionOne",
        api_version=version,
    )


def running(d: Any, node: Any) -> Any:
    return wait_for(lambda: (n := d.ex_get_node_details(node.id)).state == NodeState.RUNNING and n)


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_libcloud_runs_a_node(emu: Running, version: str) -> None:
    d = driver(emu, version)
    sizes = {s.name: s for s in d.list_sizes()}
    assert (sizes["m1.large"].ram, sizes["m1.large"].disk, sizes["m1.large"].vcpus) == (8192, 80, 4)
    images = {i.name: i for i in d.list_images()}
    assert set(images) == {"ubuntu-24.04", "ubuntu-22.04", "debian-12", "cirros-0.6.2"}
    key = d.create_key_pair("ops")
    assert key.private_key.startswith("-----BEGIN") and key.fingerprint.count(":") == 15
    node = d.create_node(
        name="lc-1",
        image=images["cirros-0.6.2"],
        size=sizes["m1.tiny"],
        ex_keyname="ops",
        ex_metadata={"role": "web"},
    )
    assert d.ex_get_node_details(node.id).state == NodeState.PENDING
    node = running(d, node)
    assert node.extra["metadata"] == {"role": "web"} and node.extra["key_name"] == "ops"
    assert node.private_ips[0].startswith("10.0.0.")
    assert [n.name for n in d.list_nodes()] == ["lc-1"]
    assert d.reboot_node(node) is True
    assert d.ex_get_node_details(node.id).state == NodeState.REBOOTING
    running(d, node)
    assert d.destroy_node(node) is True
    assert d.list_nodes() == []
    assert d.delete_key_pair(key) is True
    assert d.list_key_pairs() == []


def test_libcloud_11_uses_novas_proxies(emu: Running) -> None:
    d = driver(emu, "1.1")
    group = d.ex_create_security_group("web", "http in")
    rule = d.ex_create_security_group_rule(group, "tcp", 80, 80, "0.0.0.0/0")
    assert (rule.ip_protocol, rule.from_port, rule.to_port, rule.ip_range) == (
        "tcp",
        80,
        80,
        "0.0.0.0/0",
    )
    assert sorted(g.name for g in d.ex_list_security_groups()) == ["default", "web"]
    (pool,) = d.ex_list_floating_ip_pools()
    address = pool.create_floating_ip()
    assert address.ip_address.startswith("203.0.113.")
    assert [a.ip_address for a in pool.list_floating_ips()] == [address.ip_address]
    volume = d.create_volume(3, "data")
    assert (volume.name, volume.size) == ("data", 3)
    assert wait_for(lambda: [v.state for v in d.list_volumes()] == ["available"])


def test_libcloud_20_uses_cinder_and_neutron(emu: Running) -> None:
    d = driver(emu, "2.0")
    images = {i.name: i for i in d.list_images()}
    node = d.create_node(name="db", image=images["cirros-0.6.2"], size=d.list_sizes()[0])
    node = running(d, node)
    volume = d.create_volume(1, "data")
    wait_for(lambda: d.ex_get_volume(volume.id).state == "available")
    assert d.attach_volume(node, d.ex_get_volume(volume.id), "/dev/vdb") is True
    wait_for(lambda: d.ex_get_volume(volume.id).state == "inuse")
    assert d.ex_get_volume(volume.id).extra["attachments"][0]["server_id"] == node.id
    snapshot = d.create_volume_snapshot(d.ex_get_volume(volume.id), name="nightly")
    assert snapshot.name == "nightly"
    group = d.ex_create_security_group("db", "postgres")
    d.ex_create_security_group_rule(group, "tcp", 5432, 5432, "10.0.0.0/8")
    found = {g.name: g for g in d.ex_list_security_groups()}
    # Neutron gives a new group two egress rules (any protocol); Libcloud reads no direction
    rules = [(r.ip_protocol, r.from_port, r.ip_range) for r in found["db"].rules]
    assert sorted(rules, key=str) == sorted(
        [(None, None, None), (None, None, None), ("tcp", 5432, "10.0.0.0/8")], key=str
    )
    pool = next(p for p in d.ex_list_floating_ip_pools() if p.name == "public")
    address = pool.create_floating_ip()
    assert d.ex_attach_floating_ip_to_node(node, address) is True
    (listed,) = pool.list_floating_ips()
    assert listed.extra["port_details"]["device_id"] == node.id
    assert address.ip_address in d.ex_get_node_details(node.id).public_ips


def test_libcloud_rackspace_driver_works_on_a_rackspace_catalog() -> None:
    with openstack(Knobs(boot_seconds=0.2, style="rackspace")) as emu:
        emu.cloud.reset()
        d = get_driver(Provider.RACKSPACE)(
            "demo",
            "demo-key",
            region="ord",
            ex_force_auth_url=emu.auth_url,
            ex_force_auth_version="2.0_apikey",
        )
        sizes = {s.name: s for s in d.list_sizes()}
        images = {i.name: i for i in d.list_images()}
        node = d.create_node(name="rs-1", image=images["cirros-0.6.2"], size=sizes["m1.tiny"])
        node = running(d, node)
        assert node.public_ips[0].startswith("203.0.113.")  # PublicNet, as Rackspace gives
        assert node.private_ips[0].startswith("10.0.0.")
        assert node.extra["tenantId"] in emu.cloud.projects
        assert d.reboot_node(node) is True
        assert d.destroy_node(node) is True
        assert d.list_nodes() == []
        with pytest.raises(InvalidCredsError):
            get_driver(Provider.RACKSPACE)(
                "demo",
                "wrong",
                region="ord",
                ex_force_auth_url=emu.auth_url,
                ex_force_auth_version="2.0_apikey",
            ).list_sizes()
