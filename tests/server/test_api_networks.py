"""Deltacloud 1.1's networks, subnets, network_interfaces, load_balancers and metrics against a
live server, in XML and JSON, with the statuses, headers and document shapes Deltacloud uses."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx


def xml(response: httpx.Response) -> ET.Element:
    assert response.headers["content-type"].startswith("application/xml"), response.text
    return ET.fromstring(response.content)


def _instance(client: httpx.Client, **extra: str) -> str:
    made = client.post(
        "/api/instances",
        data={"image_id": "ubuntu-24.04", "hwp_id": "small", **extra},
        headers={"Accept": "application/json"},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["instance"]["id"])


def test_entry_point_lists_the_new_collections(client: httpx.Client) -> None:
    rels = {link.get("rel") for link in xml(client.get("/api?format=xml")).iter("link")}
    assert {"load_balancers", "metrics", "networks", "subnets", "network_interfaces"} <= rels


def test_networks_subnets_and_interfaces(client: httpx.Client) -> None:
    made = client.post("/api/networks", data={"address_block": "10.40.0.0/16", "name": "n40"})
    assert made.status_code == 200, made.text  # Deltacloud's network create sets no 201
    net = xml(made)
    net_id = net.get("id")
    assert net.tag == "network" and net.findtext("name") == "n40"
    assert net.findtext("state") == "UP"
    assert [b.text for b in net.iter("address_block")] == ["10.40.0.0/16"]

    sub = client.post(
        "/api/subnets?format=json", data={"network_id": net_id, "address_block": "10.40.1.0/24"}
    )
    assert sub.status_code == 200, sub.text
    subnet = sub.json()["subnet"]
    assert subnet["network"]["id"] == net_id and subnet["address_block"] == "10.40.1.0/24"
    assert subnet["state"] == "UP" and subnet["type"] == "PRIVATE"

    shown = xml(client.get(f"/api/networks/{net_id}"))
    assert [s.get("id") for s in shown.find("subnets") or []] == [subnet["id"]]
    listed = client.get("/api/subnets", headers={"Accept": "application/json"}).json()
    assert subnet["id"] in [s["id"] for s in listed["subnets"]]

    bad = client.post("/api/subnets", data={"network_id": net_id, "address_block": "10.9.0.0/24"})
    assert bad.status_code == 400 and "not inside" in bad.text
    missing = client.post("/api/subnets", data={"network_id": net_id})
    assert missing.status_code == 400 and "address_block" in missing.text

    vm = _instance(client)
    nic = client.post(
        "/api/network_interfaces",
        data={"instance": vm, "network": subnet["id"], "name": "side"},
        headers={"Accept": "application/json"},
    )
    assert nic.status_code == 200, nic.text
    got = nic.json()["network_interface"]
    assert got["instance"]["id"] == vm and got["network"]["id"] == subnet["id"]
    assert got["ip_address"].startswith("10.40.1.")
    node = xml(client.get(f"/api/network_interfaces/{got['id']}"))
    assert node.find("network").get("rel") == "subnet"  # type: ignore[union-attr]

    in_use = client.delete(f"/api/subnets/{subnet['id']}")
    assert in_use.status_code >= 400  # its interface is still in it
    assert client.delete(f"/api/network_interfaces/{got['id']}").status_code == 204
    assert client.delete(f"/api/subnets/{subnet['id']}").status_code == 204
    assert client.delete(f"/api/networks/{net_id}").status_code == 204
    assert client.get(f"/api/networks/{net_id}").status_code == 404
    assert client.delete(f"/api/instances/{vm}").status_code in (202, 204)


def test_load_balancer_lifecycle(client: httpx.Client) -> None:
    realm = xml(client.get("/api/realms")).find("realm").get("id")  # type: ignore[union-attr]
    fields = {
        "name": "front-api",
        "realm_id": str(realm),
        "listener_protocol": "HTTP",
        "listener_balancer_port": "80",
        "listener_instance_port": "8080",
    }
    for name in fields:
        partial = {k: v for k, v in fields.items() if k != name}
        answer = client.post("/api/load_balancers", data=partial)
        assert answer.status_code == 400 and name in answer.text
    wrong = client.post("/api/load_balancers", data={**fields, "listener_protocol": "UDP"})
    assert wrong.status_code == 400
    made = client.post("/api/load_balancers", data=fields)
    assert made.status_code == 201, made.text
    assert made.headers["location"].endswith("/api/load_balancers/front-api")
    lb = xml(made)
    lb_id = lb.get("id")
    assert lb.find("realm").get("id") == realm  # type: ignore[union-attr]
    listener = lb.find("listeners/listener")
    assert listener is not None and listener.get("protocol") == "HTTP"
    assert listener.findtext("load_balancer_port") == "80"
    assert listener.findtext("instance_port") == "8080"
    assert str(lb.findtext("public_addresses/address")).startswith("front-api.")
    rels = {a.get("rel") for a in lb.find("actions") or []}
    assert rels == {"destroy", "register"}

    vm = _instance(client, realm_id=str(realm))
    reg = client.post(f"/api/load_balancers/{lb_id}/register", data={"instance_id": vm})
    assert reg.status_code == 200, reg.text
    member = xml(reg).find("instances/instance")
    assert member is not None and member.get("id") == vm
    unregister = member.find("link")
    assert unregister is not None and unregister.get("rel") == "unregister"
    assert unregister.get("href", "").endswith(f"/unregister?instance_id={vm}")
    again = client.post(f"/api/load_balancers/{lb_id}/register", data={"instance_id": vm})
    assert again.status_code == 405

    as_json = client.get(f"/api/load_balancers/{lb_id}?format=json").json()["load_balancer"]
    assert [i["id"] for i in as_json["instances"]] == [vm]
    assert as_json["listeners"] == [
        {"protocol": "HTTP", "load_balancer_port": 80, "instance_port": 8080}
    ]
    out = client.post(f"/api/load_balancers/{lb_id}/unregister", data={"instance_id": vm})
    assert out.status_code == 200 and xml(out).find("instances/instance") is None
    assert client.delete(f"/api/load_balancers/{lb_id}").status_code == 204
    assert client.get(f"/api/load_balancers/{lb_id}").status_code == 404
    assert client.delete(f"/api/instances/{vm}").status_code in (202, 204)


def test_metrics_per_instance(client: httpx.Client) -> None:
    vm = _instance(client)
    index = xml(client.get("/api/metrics"))
    entry = next(m for m in index.iter("metric") if m.get("id") == vm)
    assert entry.findtext("entity") == vm
    names = [p.tag for p in entry.find("properties") or []]
    assert names[0] == "cpuUtilization" and "nicOutputByte" in names
    shown = client.get(f"/api/metrics/{vm}?format=json").json()["metric"]
    cpu = next(p for p in shown["properties"] if p["name"] == "cpuUtilization")
    assert cpu["unit"] == "Percent" and isinstance(cpu["values"], list)
    for value in cpu["values"]:
        assert 0 <= value["minimum"] <= value["average"] <= value["maximum"] <= 100
        assert value["unit"] == "Percent" and isinstance(value["timestamp"], int)
    assert client.get("/api/metrics/i-nothing").status_code == 404
    assert client.options("/api/metrics").status_code in (200, 204)
    assert client.head(f"/api/metrics/{vm}").status_code == 200
    assert client.delete(f"/api/instances/{vm}").status_code in (202, 204)


def test_concurrent_registers_and_unregisters_all_take_effect(
    client: httpx.Client, api: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.server_harness import PASSWORD

    fields = {
        "name": "busy-lb",
        "realm_id": "sim-1a",
        "listener_protocol": "TCP",
        "listener_balancer_port": "443",
        "listener_instance_port": "443",
    }
    assert client.post("/api/load_balancers", data=fields).status_code == 201
    vms = [_instance(client, realm_id="sim-1a") for _ in range(4)]

    def member(action: str, vm: str) -> int:
        with httpx.Client(base_url=api, auth=("admin", PASSWORD), timeout=30) as c:
            return c.post(
                f"/api/load_balancers/busy-lb/{action}", data={"instance_id": vm}
            ).status_code

    for action, wanted in (("register", set(vms)), ("unregister", set())):
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(member, [action] * len(vms), vms)) == {200}
        shown = client.get("/api/load_balancers/busy-lb?format=json").json()["load_balancer"]
        assert {i["id"] for i in shown["instances"]} == wanted, action
    assert client.delete("/api/load_balancers/busy-lb").status_code == 204
    for vm in vms:
        client.delete(f"/api/instances/{vm}")


def test_addresses_say_whether_they_are_ips_or_names(client: httpx.Client) -> None:
    vm = _instance(client)
    node = xml(client.get(f"/api/instances/{vm}"))
    assert {a.get("type") for a in node.iter("address")} == {"ipv4"}
    fields = {
        "name": "typed-lb",
        "realm_id": "sim-1a",
        "listener_protocol": "HTTP",
        "listener_balancer_port": "80",
        "listener_instance_port": "80",
    }
    lb = xml(client.post("/api/load_balancers", data=fields))
    assert [a.get("type") for a in lb.iter("address")] == ["hostname"]  # its DNS name
    assert client.delete("/api/load_balancers/typed-lb").status_code == 204
    assert client.delete(f"/api/instances/{vm}").status_code in (202, 204)
