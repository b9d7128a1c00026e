"""Kill an apply with SIGKILL, apply again, and check the cloud itself.

A kill point is either a journal record (`KillPoint`: right before or after the apply's N-th
record of a kind, armed inside the child by tests/nubes_child.py, so it lands at exactly that
step whatever the machine's speed), which tests/engine/test_chaos.py uses, or a wall-clock
instant, which bench/chaos.py draws at random a hundred times.

The check reads the sim cloud's own store, not nubes' state: after the next apply every address
the stack declares has exactly one object in the cloud (no duplicate), no object tagged with the
stack is outside state (no orphan), state matches the cloud id for id, and a plan has nothing
left to do. Applies are repeated (up to three) until a plan says so, and counted: the target,
and what `ok` requires, is one.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "nubes_child.py"

BEFORE = """
nubes: 1
name: chaos
providers:
  home: {driver: sim, latency_ms: 15, boot_seconds: 0.4, fail_rate: FAIL, seed: SEED}
resources:
  key: {type: key, name: chaos-key}
  fw_old: {type: firewall, name: chaos-old, rules: [{ports: "22"}]}
  web:
    type: instance
    count: 4
    image: ubuntu-24.04
    size: small
    key: ${key.name}
    firewalls: ["${fw_old.id}"]
    lifecycle: {create_before_destroy: true}
  disk:
    type: volume
    count: 2
    size_gb: 5
    realm: ${web[count.index].realm}
    instance: ${web[count.index].id}
  ip: {type: address, instance: "${web[0].id}"}
  assets: {type: bucket, name: chaos-assets}
"""

# the change: new image (create-before-destroy replacements), a firewall swapped (delete and
# create), more instances and volumes, the bucket removed
AFTER = """
nubes: 1
name: chaos
providers:
  home: {driver: sim, latency_ms: 15, boot_seconds: 0.4, fail_rate: FAIL, seed: SEED}
resources:
  key: {type: key, name: chaos-key}
  fw_new: {type: firewall, name: chaos-new, rules: [{ports: "443"}]}
  web:
    type: instance
    count: 6
    image: debian-12
    size: small
    key: ${key.name}
    firewalls: ["${fw_new.id}"]
    lifecycle: {create_before_destroy: true}
  disk:
    type: volume
    count: 3
    size_gb: 5
    realm: ${web[count.index].realm}
    instance: ${web[count.index].id}
  ip: {type: address, instance: "${web[1].id}"}
"""

WANTED = {
    "before": {
        "key",
        "fw_old",
        "ip",
        "assets",
        *(f"web[{i}]" for i in range(4)),
        *(f"disk[{i}]" for i in range(2)),
    },
    "after": {
        "key",
        "fw_new",
        "ip",
        *(f"web[{i}]" for i in range(6)),
        *(f"disk[{i}]" for i in range(3)),
    },
}


@dataclass(frozen=True)
class KillPoint:
    """SIGKILL right `when` ("before" or "after") the apply's `number`-th journal record of
    `kind` (intent-create, intent-delete, created, deleted, settled, any)."""

    when: str
    kind: str
    number: int

    def __str__(self) -> str:
        return f"{self.when} {self.kind} #{self.number}"


@dataclass
class Outcome:
    scenario: str
    kill_at: float | KillPoint
    killed: bool  # False: the apply had already finished when the kill came
    recovered: int = 0  # journal intents the next apply resolved
    unrecorded: int = 0  # objects the killed run created but its state never recorded
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: bool = False
    converged: bool = False
    applies: int = 0  # applies after the kill until a plan had nothing left to do
    error: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.converged
            and self.applies == 1
            and not (
                self.duplicates or self.orphans or self.missing or self.mismatched or self.error
            )
        )


# where the runs keep their state: the local folder, or a backend (`use_backend`)
REMOTE: dict[str, Any] = {"backend": None, "environ": {}}


def use_backend(config: Any, environ: dict[str, str]) -> None:
    """Keep the runs' state in `config`'s store (a BackendConfig; None: the local folder)."""
    REMOTE["backend"], REMOTE["environ"] = config, dict(environ)


def _stack(text: str, fail_rate: float, seed: int) -> str:
    text = text.replace("FAIL", str(fail_rate)).replace("SEED", str(seed))
    config = REMOTE["backend"]
    if config is None:
        return text
    return text.replace("name: chaos\n", f"name: chaos\nbackend: {json.dumps(config.to_json())}\n")


def _backend(work: Path) -> Any:
    from nubes.engine.state.stores import open_store

    return open_store(REMOTE["backend"], work / "state", REMOTE["environ"] or os.environ).backend(
        "chaos"
    )


def nubes(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nubes", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **REMOTE["environ"], "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )


def _cloud(work: Path) -> list[tuple[str, str]]:
    """(id, address tag) of every object in the sim cloud tagged with the stack."""
    path = work / "state" / "sim" / "cloud.sqlite"
    if not path.exists():
        return []  # killed before the cloud was first touched
    with sqlite3.connect(path) as db:
        made = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'objects'").fetchone()
        if made is None:
            return []  # killed while the sim was creating its tables
        rows = db.execute("SELECT id, tags FROM objects").fetchall()
    out = []
    for id_, tags in rows:
        t = json.loads(tags)
        if t.get("nubes:stack") == "chaos":
            out.append((id_, t.get("nubes:address", "?")))
    return out


def run_kill_point(
    work: Path, scenario: str, kill: float | KillPoint, fail_rate: float = 0.0, seed: int = 1
) -> Outcome:
    """`scenario` is "create" (apply from nothing) or "change" (apply the change over `before`)."""
    work.mkdir(parents=True, exist_ok=True)
    stack = work / "chaos.yaml"
    outcome = Outcome(scenario, kill, killed=False)
    if scenario == "change":
        stack.write_text(_stack(BEFORE, fail_rate, seed))
        first = nubes(work, "apply", "chaos.yaml", "--auto-approve")
        if first.returncode != 0:
            outcome.error = "setup apply failed: " + first.stderr[-500:]
            return outcome
    stack.write_text(_stack(AFTER if scenario == "change" else BEFORE, fail_rate, seed + 1))
    apply = ["apply", "chaos.yaml", "--auto-approve", "--parallelism", "4"]
    if isinstance(kill, KillPoint):
        flag = f"--kill-{kill.when}-record"
        argv = [str(CHILD), flag, f"{kill.kind}:{kill.number}", "--", *apply]
    else:
        argv = ["-m", "nubes", *apply]
    proc = subprocess.Popen(
        [sys.executable, *argv],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **REMOTE["environ"], "PYTHONPATH": str(ROOT)},
    )
    if isinstance(kill, KillPoint):
        outcome.killed = proc.wait(timeout=120) == -signal.SIGKILL
    else:
        time.sleep(kill)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            outcome.killed = True
        proc.wait()
    journal = work / "state" / "chaos.journal"
    if REMOTE["backend"] is not None:
        outcome.recovered = len(_backend(work).journal.intents())
    elif journal.exists():
        from nubes.engine.state.journal import Journal

        outcome.recovered = len(Journal(journal).intents())
    outcome.unrecorded = len({i for i, _ in _cloud(work)} - _state_ids(work))
    check: subprocess.CompletedProcess[str] | None = None
    while outcome.applies < 3:
        # (a killed run's S3 lock lapses with its lease: the next run waits that long at most)
        again = nubes(work, "apply", "chaos.yaml", "--auto-approve", "--lock-timeout", "120")
        outcome.applies += 1
        if again.returncode != 0:
            outcome.error = "apply after the kill failed: " + (again.stderr or again.stdout)[-800:]
            return outcome
        check = nubes(work, "plan", "chaos.yaml", "--detailed-exitcode")
        if check.returncode != 2:
            break
    assert check is not None
    outcome.converged = check.returncode == 0
    if not outcome.converged:
        outcome.error = "not converged: " + check.stdout[-800:] + check.stderr[-400:]
    wanted = WANTED["after" if scenario == "change" else "before"]
    cloud = _cloud(work)
    counts = Counter(addr for _, addr in cloud)
    outcome.duplicates = sorted(a for a, n in counts.items() if n > 1)
    in_state = _state_ids(work)
    outcome.orphans = sorted(f"{addr} ({id_})" for id_, addr in cloud if id_ not in in_state)
    outcome.missing = sorted(wanted - set(counts))
    outcome.mismatched = in_state != {id_ for id_, _ in cloud} or set(counts) != wanted
    return outcome


def _state_ids(work: Path) -> set[str]:
    if REMOTE["backend"] is not None:
        found = _backend(work).read()
        state = found.to_json() if found is not None else {"resources": []}
        return {r["id"] for r in state["resources"]} | {r["id"] for r in state.get("deposed", [])}
    path = work / "state" / "chaos.json"
    if not path.exists():
        return set()
    state = json.loads(path.read_text())
    return {r["id"] for r in state["resources"]} | {r["id"] for r in state.get("deposed", [])}


def full_apply_seconds(work: Path, scenario: str) -> float:
    """How long an uninterrupted apply of the scenario takes: the window to kill within."""
    work.mkdir(parents=True, exist_ok=True)
    stack = work / "chaos.yaml"
    if scenario == "change":
        stack.write_text(_stack(BEFORE, 0.0, 1))
        nubes(work, "apply", "chaos.yaml", "--auto-approve")
    stack.write_text(_stack(AFTER if scenario == "change" else BEFORE, 0.0, 2))
    started = time.monotonic()
    done = nubes(work, "apply", "chaos.yaml", "--auto-approve", "--parallelism", "4")
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started
