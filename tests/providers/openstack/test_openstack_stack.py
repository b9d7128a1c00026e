"""The OpenStack driver end to end against the emulator: every type through plan, apply, change,
drift, import and destroy, with what the cloud really holds checked in the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from tests.emulator_harness import Running, wait_for
from tests.helpers import write

STACK = """
nubes: 1
name: os-web
variables:
  auth_url: {type: string}
  size: {type: string, default: m1.small}
  disk_on: {type: number, default: 0}
  ssh_from: {type: string, default: 10.0.0.0/8}
providers:
  cloud: {driver: openstack, auth_url: "${var.auth_url}", region: RegionOne}
resources:
  deploy: {type: key, name: os-web-deploy}
  web_fw:
    type: firewall
    name: os-web
    description: web servers
    rules: [{ports: "80"}, {ports: "22", sources: ["${var.ssh_from}"]}]
  web:
    type: instance
    count: 2
    name: web-${count.index}
    image: ubuntu-24.04
    size: ${var.size}
    realm: nova
    key: ${deploy.name}
    firewalls: ["${web_fw.id}"]
    user_data: "#!/bin/sh\\necho web ${count.index}"
    tags: {role: web}
  disk:
    type: volume
    size_gb: 8
    realm: nova
    instance: ${web[var.disk_on].id}
    device: /dev/vdb
  backup: {type: snapshot, volume: "${disk.id}", name: data-backup}
  public: {type: address, instance: "${web[var.disk_on].id}"}
  assets: {type: bucket, name: os-web-assets}
  golden: {type: image, name: web-golden, instance: "${web[0].id}"}
outputs:
  key: ${deploy.name}
"""


def run(tmp: Path, emu: Running, *args: str) -> tuple[int, str]:
    argv = [*args, "--state-dir", str(tmp / "state")]
    if args[0] in ("plan", "apply", "destroy", "import", "inventory", "validate"):
        argv += ["--var", f"auth_url={emu.auth_url}"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    return result.exit_code, result.output


def owned(emu: Running) -> dict[str, int]:
    """How many objects of each type carry the stack's ownership, in the cloud itself."""
    p = emu.project()
    images = emu.cloud.regional(p.region).images.values()
    tagged = "nubes:os-web:"
    return {
        "instance": sum(s.metadata.get("nubes:stack") == "os-web" for s in p.servers.values()),
        "key": len(p.keypairs),
        "firewall": sum(tagged in g.description for g in p.groups.values()),
        "volume": sum(v.metadata.get("nubes:stack") == "os-web" for v in p.all_volumes()),
        "snapshot": sum(s.metadata.get("nubes:stack") == "os-web" for s in p.snapshots.values()),
        "address": sum(tagged in f.description for f in p.floating.values()),
        "image": sum(i.properties.get("nubes:stack") == "os-web" for i in images),
        "bucket": sum(c.metadata.get("nubes-stack") == "os-web" for c in p.containers.values()),
    }


def test_every_type_through_plan_apply_change_destroy(tmp_path: Path, emu: Running) -> None:
    stack = str(write(tmp_path / "os.yaml", STACK))
    code, out = run(tmp_path, emu, "plan", stack, "--detailed-exitcode")
    assert code == 2 and "Plan: 9 to add, 0 to change, 0 to destroy." in out, out
    code, out = run(tmp_path, emu, "apply", stack, "--auto-approve")
    assert code == 0, out
    assert owned(emu) == {
        "instance": 2,
        "key": 1,
        "firewall": 1,
        "volume": 1,
        "snapshot": 1,
        "address": 1,
        "image": 1,
        "bucket": 1,
    }
    code, out = run(tmp_path, emu, "plan", stack, "--detailed-exitcode")
    assert code == 0, out  # nothing to change: what was sent is what OpenStack reports

    state = json.loads(run(tmp_path, emu, "show", stack, "--json")[1])
    by_addr = {r["address"]: r for r in state["resources"]}
    p = emu.project()
    web0 = p.servers[by_addr["web[0]"]["id"]]
    assert web0.metadata["nubes:address"] == "web[0]" and web0.metadata["role"] == "web"
    assert len(web0.metadata["nubes:token"]) == 32
    assert web0.name == "web-0" and web0.flavor.name == "m1.small" and web0.zone == "nova"
    assert web0.security_groups == ["os-web"] and web0.key_name == "os-web-deploy"
    assert emu.cloud.regional(p.region).images[web0.image_id].name == "ubuntu-24.04"
    assert by_addr["deploy"]["attributes"]["private_key"] == "(sensitive)"
    group = p.groups[by_addr["web_fw"]["id"]]
    assert sorted(
        (r.port_min, r.remote_ip_prefix) for r in group.rules if r.direction == "ingress"
    ) == [(22, "10.0.0.0/8"), (80, "0.0.0.0/0")]
    assert by_addr["public"]["attributes"]["ip"].startswith("203.0.113.")

    code, out = run(
        tmp_path,
        emu,
        "apply",
        stack,
        "--auto-approve",
        "--var",
        "size=m1.medium",
        "--var",
        "disk_on=1",
        "--var",
        "ssh_from=192.168.0.0/16",
    )
    assert code == 0, out
    assert "0 added, 5 changed, 0 destroyed" in out, out  # resized in place, volume and ip moved
    web0 = p.servers[by_addr["web[0]"]["id"]]
    assert web0.flavor.name == "m1.medium" and web0.status == "ACTIVE"
    volume = p.volumes[by_addr["disk"]["id"]]
    assert [a.server for a in volume.attachments] == [by_addr["web[1]"]["id"]]
    fip = p.floating[by_addr["public"]["id"]]
    port = emu.cloud.regional(p.region).ports[fip.port or ""]
    assert port.device_id == by_addr["web[1]"]["id"]
    assert sorted(r.remote_ip_prefix or "" for r in group.rules if r.direction == "ingress") == [
        "0.0.0.0/0",
        "192.168.0.0/16",
    ]

    code, out = run(
        tmp_path,
        emu,
        "destroy",
        stack,
        "--auto-approve",
        "--var",
        "size=m1.medium",
        "--var",
        "disk_on=1",
    )
    assert code == 0 and "9 destroyed" in out, out
    assert set(owned(emu).values()) == {0}
    code, out = run(tmp_path, emu, "inventory", stack)
    assert "No objects carry the tag" in out


def test_drift_import_and_errors(tmp_path: Path, emu: Running) -> None:
    stack = str(
        write(
            tmp_path / "one.yaml",
            """
        nubes: 1
        name: os-web
        variables:
          auth_url: {type: string}
        providers:
          cloud: {driver: openstack, auth_url: "${var.auth_url}"}
        resources:
          a: {type: instance, image: cirros-0.6.2-id, size: m1.tiny, tags: {team: x}}
          b: {type: instance, image: debian-12, size: {cpus: 2, memory_gb: 4}}
          c: {type: instance, image: debian-12, size: m1.small, realm: nova-b}
    """,
        )
    )
    p = emu.project()
    cirros = next(
        i for i in emu.cloud.regional(p.region).images.values() if i.name == "cirros-0.6.2"
    )
    text = Path(stack).read_text().replace("cirros-0.6.2-id", cirros.id)
    Path(stack).write_text(text)
    # an instance made outside nubes, imported as c
    import httpx

    from tests.emulators.test_openstack_protocol import token

    tok, _, cat = token(emu)
    debian = next(i for i in emu.cloud.regional(p.region).images.values() if i.name == "debian-12")
    made = httpx.post(
        cat["compute"] + "/servers",
        headers={"X-Auth-Token": tok},
        json={
            "server": {
                "name": "hand-made",
                "imageRef": debian.id,
                "flavorRef": "2",
                "availability_zone": "nova-b",
            }
        },
    ).json()["server"]
    wait_for(lambda: (s := p.server(made["id"])) is not None and s.status == "ACTIVE")
    code, out = run(tmp_path, emu, "import", stack, "c", made["id"])
    assert code == 0, out
    assert p.servers[made["id"]].metadata["nubes:address"] == "c"
    code, out = run(tmp_path, emu, "apply", stack, "--auto-approve")
    assert code == 0 and "2 added" in out, out  # c was imported, not created
    state = json.loads(run(tmp_path, emu, "show", stack, "--json")[1])
    ids = {r["address"]: r["id"] for r in state["resources"]}
    assert p.servers[ids["b"]].flavor.name == "m1.medium"  # the smallest that fits 2 cpus, 4 GB

    del p.servers[ids["a"]]  # behind nubes' back
    p.servers[ids["b"]].metadata.pop("nubes:stack")  # untagged
    code, out = run(tmp_path, emu, "plan", stack)
    assert f"# a ({ids['a']}) was deleted outside nubes" in out, out
    assert "# a will be created" in out
    assert "# b" not in out and "# c" not in out  # found by id although untagged or imported

    bad = write(
        tmp_path / "bad.yaml",
        STACK.replace("size: ${var.size}", "size: m9.galactic").replace(
            "realm: nova\n    key", "realm: nowhere\n    key"
        ),
    )
    before = {k: len(v) for k, v in vars(p).items() if isinstance(v, dict)}
    code, out = run(tmp_path, emu, "plan", str(bad))
    assert code == 1, out
    assert "Flavor m9.galactic could not be found" in out and "bad.yaml:" in out, out
    assert "nowhere" in out and "Traceback" not in out
    assert {k: len(v) for k, v in vars(p).items() if isinstance(v, dict)} == before


def test_missing_credentials_fail_the_plan_clearly(
    tmp_path: Path, emu: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OS_PASSWORD")
    stack = str(write(tmp_path / "os.yaml", STACK))
    assert run(tmp_path, emu, "validate", stack)[0] == 0  # validate asks no cloud
    code, out = run(tmp_path, emu, "plan", stack)
    assert code == 1 and "OS_USERNAME and OS_PASSWORD" in out and "Traceback" not in out, out
    assert not (tmp_path / "state" / "os-web.json").exists()
