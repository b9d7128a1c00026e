"""Networks, subnets and load balancers on the sim: a three-tier stack needs no fake, and the
sim enforces what a real cloud enforces for them."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from nubes.engine.apply.hooks import OpKind
from nubes.providers.errors import ConflictError, InvalidRequestError
from nubes.providers.protocol import DriverContext, Ownership
from nubes.providers.sim import SimDriver
from tests.helpers import actions, make_plan, plan_and_apply

STACK = Path(__file__).resolve().parents[2] / "stacks" / "three-tier.yaml"


def sim(tmp_path: Path) -> SimDriver:
    driver = SimDriver()
    assert driver.configure({"boot_seconds": 0}, DriverContext(tmp_path, {})) == []
    return driver


def owner(addr: str) -> Ownership:
    return Ownership("stack", addr, f"token-{addr}")


def resources(result: Any) -> dict[str, dict[str, Any]]:
    return {str(key): r.attributes for key, r in result.state.resources.items()}


def test_three_tier_stack_applies_converges_and_follows_a_count_change(tmp_path: Path) -> None:
    result = plan_and_apply(STACK, tmp_path)
    assert not result.failed, [d.summary for d in result.diags]
    got = resources(result)
    web_block = ipaddress.ip_network(got["web_subnet"]["address_block"])
    for key in ("web[0]", "web[1]"):
        assert ipaddress.ip_address(got[key]["private_ip"]) in web_block
        assert got[key]["subnet"] == got["web_subnet"]["id"]
        assert got[key]["realm"] == got["web_subnet"]["realm"]
    front = got["front"]
    assert front["instances"] == [got["web[0]"]["id"], got["web[1]"]["id"]]
    assert front["listeners"] == [{"protocol": "http", "port": 80, "instance_port": 80}]
    assert front["public_address"].startswith("three-tier-front.")
    assert ipaddress.ip_address(got["app"]["private_ip"]) in ipaddress.ip_network("10.20.2.0/24")

    again, _ = make_plan(STACK, tmp_path)
    assert again is not None and set(actions(again).values()) == {"no-op"}

    grown = plan_and_apply(STACK, tmp_path, {"web_count": "3"})
    assert grown.count(OpKind.CREATE) == 1 and grown.count(OpKind.UPDATE) == 1
    assert len(resources(grown)["front"]["instances"]) == 3

    gone = plan_and_apply(STACK, tmp_path, destroy=True)
    assert not gone.failed and not gone.state.resources


def test_address_blocks_are_checked_as_a_cloud_does(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    net = driver.create("network", {"address_block": "10.1.0.0/16"}, owner("net"))
    assert net.attributes["state"] == "available"
    with pytest.raises(InvalidRequestError, match="not inside"):
        driver.create("subnet", {"network": net.id, "address_block": "10.2.0.0/24"}, owner("a"))
    with pytest.raises(InvalidRequestError, match="/16 and /28"):
        driver.create("network", {"address_block": "10.0.0.0/8"}, owner("wide"))
    first = driver.create(
        "subnet", {"network": net.id, "address_block": "10.1.0.0/24"}, owner("one")
    )
    with pytest.raises(ConflictError, match="overlaps"):
        driver.create("subnet", {"network": net.id, "address_block": "10.1.0.128/25"}, owner("b"))
    with pytest.raises(ConflictError, match="in use by " + first.id):
        driver.delete("network", net.id)
    vm = driver.create(
        "instance",
        {"image": "ubuntu-24.04", "size": "small", "subnet": first.id},
        owner("vm"),
    )
    with pytest.raises(ConflictError, match="in use by " + vm.id):
        driver.delete("subnet", first.id)
    nic = driver.create(
        "network_interface", {"instance": vm.id, "subnet": first.id, "name": "side"}, owner("n")
    )
    assert ipaddress.ip_address(nic.attributes["ip_address"]) in ipaddress.ip_network("10.1.0.0/24")
    assert nic.attributes["ip_address"] != vm.attributes["private_ip"]
    realms = [r.id for r in driver.realms()]
    other = next(r for r in realms if r != first.attributes["realm"])
    with pytest.raises(InvalidRequestError, match="not in realm"):
        driver.create(
            "instance",
            {"image": "ubuntu-24.04", "size": "small", "subnet": first.id, "realm": other},
            owner("vm2"),
        )
    driver.delete("instance", vm.id)
    assert driver.list("network_interface", {}) == []  # an instance's interfaces go with it
    driver.delete("subnet", first.id)
    driver.delete("network", net.id)
    assert driver.list("network", {}) == []


def test_load_balancer_rules(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    vm = driver.create("instance", {"image": "ubuntu-24.04", "size": "small"}, owner("vm"))
    lb = driver.create(
        "load_balancer",
        {"name": "front", "listeners": [{"port": 443, "protocol": "TCP"}], "instances": [vm.id]},
        owner("lb"),
    )
    assert lb.attributes["listeners"] == [{"protocol": "tcp", "port": 443, "instance_port": 443}]
    assert lb.attributes["realms"] == [vm.attributes["realm"]]  # its instances' realm
    with pytest.raises(ConflictError, match="already exists"):
        driver.create("load_balancer", {"name": "front", "listeners": [{"port": 80}]}, owner("x"))
    for bad, message in (
        ([], "at least one listener"),
        ([{"port": 0}], "between 1 and 65535"),
        ([{"port": 80}, {"port": 80}], "already a listener"),
        ([{"port": 80, "protocol": "gopher"}], "protocol must be one of"),
        ([{"port": 80, "weight": 1}], "unknown field"),
    ):
        with pytest.raises(InvalidRequestError, match=message):
            driver.create("load_balancer", {"listeners": bad}, owner("bad"))
        change = driver.plan_change("load_balancer", None, {"listeners": bad})
        assert change.problems and message in change.problems[0][1]
    driver.delete("instance", vm.id)  # deregistered, as ELB does with a terminated instance
    assert driver.read("load_balancer", lb.id).attributes["instances"] == []  # type: ignore[union-attr]


def test_unnamed_load_balancers_get_a_name_elb_takes(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    long = Ownership("a-stack-with-a-long-name", 'web["eu"].balancer', "t")
    made = driver.create("load_balancer", {"listeners": [{"port": 80}]}, long)
    name = made.attributes["name"]
    assert len(name) <= 32 and all(c.isalnum() or c == "-" for c in name)


def test_mock_seed_has_deltacloud_mocks_objects_and_is_idempotent(tmp_path: Path) -> None:
    from nubes.providers.sim.fixtures import seed_mock

    driver = SimDriver()
    assert driver.configure({"catalog": "mock"}, DriverContext(tmp_path, {})) == []
    assert seed_mock(driver.cloud) == 30
    assert seed_mock(driver.cloud) == 0  # a restart keeps what clients changed
    assert [r.id for r in driver.realms()] == ["us", "eu"]
    assert [p.id for p in driver.hardware_profiles()] == [
        "m1-small",
        "m1-large",
        "m1-xlarge",
        "opaque",
    ]
    assert {i.id: i.architecture for i in driver.images()} == {
        "img1": "x86_64",
        "img2": "i386",
        "img3": "i386",
    }
    inst1 = driver.read("instance", "inst1")
    assert inst1 is not None and inst1.attributes["image"] == "img3"
    vol3 = driver.read("volume", "vol3")
    assert vol3 is not None and vol3.attributes["instance"] == "inst1"
    assert [b.key for b in driver.list_blobs("bucket1")] == ["blob1", "blob2", "blob3"]
    info = driver.blob_info("bucket1", "blob2")
    assert info is not None and info.size == 56 and info.content_type == "text/html"
    assert dict(info.metadata) == {"version": "1.2"}
    made = driver.create(
        "instance", {"image": "img1", "size": "m1-xlarge", "realm": "eu"}, owner("new")
    )
    assert made.attributes["realm"] == "eu"


def test_balancer_values_plan_in_the_order_clouds_list_them(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    config = {
        "listeners": [{"port": 443, "protocol": "tcp"}, {"port": 80}],
        "realms": ["sim-1b", "sim-1a", "sim-1b"],
    }
    change = driver.plan_change("load_balancer", None, config)
    assert change.problems == []
    assert [listener["port"] for listener in change.planned["listeners"]] == [80, 443]
    assert change.planned["realms"] == ["sim-1a", "sim-1b"]
    made = driver.create("load_balancer", config, owner("lb"))
    assert made.attributes["listeners"] == change.planned["listeners"]
    assert made.attributes["realms"] == change.planned["realms"]
    for port in ("８０", "080", "٨٠", " 80"):
        bad = driver.plan_change("load_balancer", None, {"listeners": [{"port": port}]})
        assert bad.problems and "port number" in bad.problems[0][1], port


def test_balancer_names_are_one_per_region_in_any_case(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    driver.create("load_balancer", {"name": "Front", "listeners": [{"port": 80}]}, owner("a"))
    with pytest.raises(ConflictError, match="named 'Front' already exists"):
        driver.create("load_balancer", {"name": "front", "listeners": [{"port": 80}]}, owner("b"))
    driver.create("bucket", {"name": "assets"}, owner("bucket"))
    with pytest.raises(ConflictError, match="is the id of bucket assets"):
        driver.create("load_balancer", {"name": "assets", "listeners": [{"port": 80}]}, owner("c"))


def test_member_changes_made_meanwhile_are_kept(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    a, b = (
        driver.create("instance", {"image": "ubuntu-24.04", "size": "small"}, owner(n)).id
        for n in ("a", "b")
    )
    lb = driver.create("load_balancer", {"listeners": [{"port": 80}]}, owner("lb"))
    stale = dict(lb.attributes)  # two clients read the same members, then each adds one
    driver.update("load_balancer", lb.id, stale, {**stale, "instances": [a]})
    after = driver.update("load_balancer", lb.id, stale, {**stale, "instances": [b]})
    assert after.attributes["instances"] == [a, b]
    both = dict(after.attributes)
    driver.update("load_balancer", lb.id, both, {**both, "instances": [b]})
    final = driver.update("load_balancer", lb.id, both, {**both, "instances": [a]})
    assert final.attributes["instances"] == []
