"""Crash safety and faults on OpenStack: a SIGKILLed apply converges with exactly one object
per address, and an apply through 30 % injected faults converges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from nubes.providers.kit import ownership
from tests.emulator_harness import Running
from tests.helpers import kill_after_creates, write

ROOT = Path(__file__).resolve().parents[3]
STACK = """
nubes: 1
name: crash
providers:
  cloud: {driver: openstack, auth_url: "AUTH"}
resources:
  fw: {type: firewall, name: crash-fw, rules: [{ports: "22"}]}
  vm: {type: instance, count: 6, image: cirros-id, size: m1.tiny, firewalls: ["${fw.id}"]}
  disk: {type: volume, count: 6, size_gb: 1}
  ip: {type: address, count: 2, instance: "${vm[count.index].id}"}
"""


def stack(tmp: Path, emu: Running) -> Path:
    cirros = next(
        i for i in emu.cloud.regional("RegionOne").images.values() if i.name == "cirros-0.6.2"
    )
    text = STACK.replace("AUTH", emu.auth_url).replace("cirros-id", cirros.id)
    return write(tmp / "s.yaml", text)


def live(emu: Running) -> Counter[str]:
    p = emu.project()
    found: Counter[str] = Counter()
    for s in p.all_servers():
        found[s.metadata.get("nubes:address", "?")] += 1
    for v in p.all_volumes():
        found[v.metadata.get("nubes:address", "?")] += 1
    for g in p.groups.values():
        if g.name != "default":
            found[ownership.decode(g.description).get("nubes:address", "?")] += 1
    for f in p.floating.values():
        found[ownership.decode(f.description).get("nubes:address", "?")] += 1
    return found


WANTED = {
    "fw",
    *(f"vm[{i}]" for i in range(6)),
    *(f"disk[{i}]" for i in range(6)),
    "ip[0]",
    "ip[1]",
}


def test_sigkill_then_apply_converges(tmp_path: Path, emu: Running) -> None:
    stack(tmp_path, emu)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        "-m",
        "nubes",
        "apply",
        "s.yaml",
        "--auto-approve",
        "--parallelism",
        "3",
    ]
    kill_after_creates(args, tmp_path, env, 4)  # in the middle, once a few objects exist
    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    counts = live(emu)
    assert set(counts) == WANTED and set(counts.values()) == {1}  # no orphan, no duplicate
    state = json.loads((tmp_path / "state" / "crash.json").read_text())
    assert len(state["resources"]) == len(WANTED)


def test_an_apply_through_injected_faults_converges(tmp_path: Path, emu: Running) -> None:
    stack(tmp_path, emu)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    emu.cloud.knobs.fault_rate = 0.3  # three requests in ten answered 503, before any effect
    emu.emulator.random.seed(1)  # the same draws each run: 17 faults in the first 40 of them
    args = [sys.executable, "-m", "nubes", "apply", "s.yaml", "--auto-approve"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    for _ in range(3):  # a run may give up on a call that failed max_attempts times; rerun
        if done.returncode == 0:
            break
        done = subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
    assert done.returncode == 0, done.stdout + done.stderr
    # The apply makes more than 40 authorized calls, so at least 17 were faults, retried through.
    assert emu.emulator.faults >= 17
    counts = live(emu)
    assert set(counts) == WANTED and set(counts.values()) == {1}
    emu.cloud.knobs.fault_rate = 0.0
    plan = subprocess.run(
        [sys.executable, "-m", "nubes", "plan", "s.yaml", "--detailed-exitcode"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
