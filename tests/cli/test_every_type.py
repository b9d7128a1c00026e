"""Every portable resource type through plan, apply, a no-op plan and destroy, from the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from nubes.cli.main import cli
from nubes.cli.progress import LiveProgress
from nubes.engine.addrs import InstanceAddr
from nubes.engine.apply.hooks import Op
from nubes.engine.plan.model import Action, Change
from tests.helpers import write

ALL_TYPES = """
nubes: 1
name: everything
variables:
  sites: {type: map, default: {blog: b, shop: s}}
resources:
  key: {type: key, name: all-key}
  fw:
    type: firewall
    name: all-fw
    rules: [{protocol: tcp, ports: "443"}]
  vm:
    type: instance
    image: debian-12
    size: {cpus: 1, memory_gb: 2}
    realm: sim-1b
    key: ${key.name}
    firewalls: ["${fw.id}"]
  disk: {type: volume, size_gb: 8, realm: sim-1b, instance: "${vm.id}", device: /dev/sdg}
  backup: {type: snapshot, volume: "${disk.id}", name: all-backup}
  ip: {type: address, instance: "${vm.id}"}
  site:
    type: bucket
    for_each: ${var.sites}
    name: all-${each.key}-${each.value}
  golden: {type: image, name: all-golden, instance: "${vm.id}"}
outputs:
  shop: ${site["shop"].id}
  snapshot_size: ${backup.size_gb}
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output, result.stderr


def test_every_type_round_trip(tmp_path: Path) -> None:
    stack = str(write(tmp_path / "all.yaml", ALL_TYPES))
    state = ["--state-dir", str(tmp_path / "state")]
    code, out, err = invoke("apply", stack, "--auto-approve", *state)
    assert code == 0, out + err
    assert "Apply complete! Resources: 9 added" in out
    code, out, _ = invoke("output", stack, "--json", *state)
    outputs = json.loads(out)
    assert outputs["shop"]["value"] == "all-shop-s" and outputs["snapshot_size"]["value"] == 8
    shown = json.loads(invoke("show", stack, "--json", *state)[1])
    by_addr = {r["address"]: r for r in shown["resources"]}
    assert by_addr["disk"]["attributes"]["state"] == "in-use"
    assert by_addr["disk"]["attributes"]["device"] == "/dev/sdg"
    assert by_addr["ip"]["attributes"]["instance"] == by_addr["vm"]["id"]
    assert by_addr["golden"]["attributes"]["state"] == "available"
    assert by_addr["key"]["attributes"]["private_key"] == "(sensitive)"
    assert by_addr["vm"]["attributes"]["hardware_profile"] == "small"
    code, out, _ = invoke("plan", stack, "--detailed-exitcode", *state)
    assert code == 0, out
    code, out, err = invoke("destroy", stack, "--auto-approve", *state)
    assert code == 0 and "9 destroyed" in out, out + err


def test_drift_is_shown(tmp_path: Path) -> None:
    stack = str(
        write(
            tmp_path / "d.yaml",
            """
        nubes: 1
        name: drift
        resources:
          vm: {type: instance, image: debian-12, size: tiny, state: running}
    """,
        )
    )
    state = ["--state-dir", str(tmp_path / "state")]
    assert invoke("apply", stack, "--auto-approve", *state)[0] == 0
    from nubes.providers.protocol import DriverContext
    from nubes.providers.sim import SimDriver

    sim = SimDriver()
    sim.configure({}, DriverContext(tmp_path / "state", {}))
    vm = sim.list("instance", {})[0]
    sim.act("instance", vm.id, "stop")  # behind nubes' back
    code, out, _ = invoke("plan", stack, "--detailed-exitcode", *state)
    assert code == 2
    assert f"# vm ({vm.id}) changed outside nubes" in out
    assert '~ state = "running" -> "stopped"' in out
    assert "# vm will be updated in place" in out
    doc = json.loads(invoke("plan", stack, "--json", *state)[1])
    assert doc["drift"][0]["changes"]["state"] == {"before": "running", "after": "stopped"}


def test_var_files_and_state_dir_from_the_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stack = str(
        write(
            tmp_path / "v.yaml",
            """
        nubes: 1
        name: vars
        variables:
          names: {type: list}
        resources:
          b: {type: bucket, for_each: "${var.names}", name: "v-${each.key}"}
    """,
        )
    )
    var_file = str(write(tmp_path / "prod.yaml", "names: [x, y]\n"))
    monkeypatch.setenv("NUBES_STATE_DIR", str(tmp_path / "elsewhere"))
    code, _, err = invoke("apply", stack, "--var-file", var_file, "--auto-approve")
    assert code == 0, err
    assert (tmp_path / "elsewhere" / "vars.json").exists()
    assert invoke("state", "list", stack)[1].split() == ['b["x"]', 'b["y"]']


def test_live_progress_shows_in_flight_work() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    progress = LiveProgress(console)
    change = Change(InstanceAddr("web", 0), "instance", "sim", Action.CREATE, None, {})
    op = Op("create", change)
    progress.started(op)
    rendered = [str(r) for r in progress._render().renderables]
    assert len(rendered) == 1 and rendered[0].startswith("  web[0]: Creating... ")
    progress.finished(op, 1.5, "i-1")
    progress.close()
    assert "web[0]: Created after 1.50s [id=i-1]" in buffer.getvalue()
    assert progress.running == {}
