"""The `nubes` command as a user runs it: separate processes, signals, two runs at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import write

SLOW = """
nubes: 1
name: slow
providers:
  home: {driver: sim, latency_ms: 20, boot_seconds: 1.5}
variables:
  n: {type: number, default: 6}
resources:
  web:
    type: instance
    count: ${var.n}
    image: ubuntu-24.04
    size: tiny
"""


def nubes(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nubes", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nubes", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )


def wait_for(proc: subprocess.Popen[str], text: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}: {seen}")


def test_separate_processes_share_state_and_cloud(tmp_path: Path) -> None:
    write(
        tmp_path / "s.yaml",
        """
        nubes: 1
        name: e2e
        resources:
          b: {type: bucket, name: e2e-bucket}
          k: {type: key, name: e2e-key}
    """,
    )
    assert nubes("apply", "s.yaml", "--auto-approve", cwd=tmp_path).returncode == 0
    assert (tmp_path / "state" / "e2e.json").exists()  # the default state dir is ./state
    plan = nubes("plan", "s.yaml", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    destroyed = nubes("destroy", "s.yaml", "--auto-approve", cwd=tmp_path)
    assert destroyed.returncode == 0 and "2 destroyed" in destroyed.stdout


def _cloud_ids(state_dir: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(state_dir / "sim" / "cloud.sqlite") as conn:
        return {r[0] for r in conn.execute("SELECT id FROM objects")}


def _state_ids(state_dir: Path, name: str) -> set[str]:
    doc = json.loads((state_dir / f"{name}.json").read_text())
    return {r["id"] for r in doc["resources"]}


def test_ctrl_c_finishes_in_flight_work_and_saves_state(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", SLOW)
    proc = start("apply", "s.yaml", "--auto-approve", "--parallelism", "2", cwd=tmp_path)
    wait_for(proc, "Creating...")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Interrupt received" in err
    assert "Apply interrupted." in out and "not started" in out
    state_dir = tmp_path / "state"
    done = _state_ids(state_dir, "slow")
    assert 1 <= len(done) < 6
    assert done == _cloud_ids(state_dir)  # in-flight creates finished and were recorded
    again = nubes("apply", "s.yaml", "--auto-approve", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{6 - len(done)} added" in again.stdout
    assert len(_cloud_ids(state_dir)) == 6


def test_a_second_apply_fails_at_once_while_one_runs(tmp_path: Path) -> None:
    # the first holds the lock for its 10-minute boots, however slowly the second starts
    write(tmp_path / "s.yaml", SLOW.replace("boot_seconds: 1.5", "boot_seconds: 600"))
    first = start("apply", "s.yaml", "--auto-approve", cwd=tmp_path)
    try:
        wait_for(first, "Creating...")
        started = time.monotonic()
        second = nubes("apply", "s.yaml", "--auto-approve", cwd=tmp_path)
        assert time.monotonic() - started < 120  # at once: not after the first's 600 s
        assert second.returncode == 1
        assert "the state is locked by" in second.stderr and "for apply" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        assert first.stderr is not None
        while "Interrupt received" not in (line := first.stderr.readline()):
            assert line, "the first apply ended without taking the Ctrl-C"
        first.send_signal(signal.SIGINT)  # a second one quits without waiting for the boots
        first.communicate(timeout=120)
    assert first.returncode == 130
    # the lock went with the first: the next apply takes it, finds what the first began
    write(tmp_path / "s.yaml", SLOW)
    again = nubes("apply", "s.yaml", "--auto-approve", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(_cloud_ids(tmp_path / "state")) == 6


def test_a_second_ctrl_c_quits_at_once(tmp_path: Path) -> None:
    # boots of 10 minutes: quitting at once and waiting for them differ by far more than any
    # busy machine's delay
    write(tmp_path / "s.yaml", SLOW.replace("boot_seconds: 1.5", "boot_seconds: 600"))
    proc = start("apply", "s.yaml", "--auto-approve", cwd=tmp_path)
    wait_for(proc, "Creating...")
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None  # the first Ctrl-C is handled before the second is sent
    while "Interrupt received" not in (line := proc.stderr.readline()):
        assert line, "the apply ended without taking the first Ctrl-C"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert time.monotonic() - started < 120  # not the 600 s the boots in flight would take
    state = json.loads((tmp_path / "state" / "slow.json").read_text())
    assert state["serial"] >= 1  # the state file is whole: writes are atomic
    # the creates whose boots were no longer waited for are found, not made again
    made = _cloud_ids(tmp_path / "state")
    again = nubes("plan", "s.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    creates = [c for c in doc["resource_changes"] if c["action"] == "create"]
    assert len(made) + len(creates) == 6
    assert {r["id"] for r in doc["recovered"] if r["outcome"] == "adopted"} <= made


def test_ctrl_c_while_planning_changes_nothing(tmp_path: Path) -> None:
    write(
        tmp_path / "s.yaml",
        SLOW.replace("latency_ms: 20", "latency_ms: 1500").replace("1.5}", "0}"),
    )
    first = nubes("apply", "s.yaml", "--auto-approve", "--var", "n=1", cwd=tmp_path)
    assert first.returncode == 0
    before = (tmp_path / "state" / "slow.json").read_bytes()
    # the Ctrl-C lands once the refresh (1.5 s) has begun, however busy the machine: the sim's
    # database keeps its -wal file only while a connection is open, and the plan opens it there
    wal = tmp_path / "state" / "sim" / "cloud.sqlite-wal"
    assert not wal.exists()  # the apply closed the database
    proc = start("plan", "s.yaml", "--var", "n=1", cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not wal.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the plan never began refreshing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Interrupted; nothing was changed." in err, err
    assert "Traceback" not in err
    assert (tmp_path / "state" / "slow.json").read_bytes() == before
