"""A running apply is protected: force-unlock, a second apply and a plan cannot work beside it.

The apply runs in a child process whose creates wait for a release file (tests/nubes_child.py),
so each command below is tried while it is certainly mid-run, whatever the machine's speed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nubes.engine.state.lock import read_lock_info
from tests.helpers import write

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "nubes_child.py"
STACK = """
nubes: 1
name: guarded
resources:
  b: {type: bucket, count: 4, name: "guarded-${count.index}"}
"""


def nubes(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nubes", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the apply never reached its first create"
        time.sleep(0.02)


def _buckets(work: Path) -> Counter[str]:
    with sqlite3.connect(work / "state" / "sim" / "cloud.sqlite") as db:
        rows = db.execute("SELECT attrs FROM objects WHERE type = 'bucket'").fetchall()
    return Counter(json.loads(r[0])["name"] for r in rows)


@pytest.fixture
def running(tmp_path: Path):  # type: ignore[no-untyped-def]
    write(tmp_path / "s.yaml", STACK)
    release = tmp_path / "release"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            "--stall-creates",
            str(release),
            "--",
            "apply",
            "s.yaml",
            "--auto-approve",
            "--parallelism",
            "1",
        ],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        _wait_for(tmp_path / "stalled", proc)
        yield tmp_path, proc, release
    finally:
        release.touch()
        proc.wait(timeout=120)


def test_force_unlock_refuses_a_running_apply_and_nothing_is_duplicated(running) -> None:  # type: ignore[no-untyped-def]
    work, proc, release = running
    info = read_lock_info(work / "state" / "guarded.lock")
    assert info is not None and info.pid == proc.pid
    refused = nubes(work, "force-unlock", "s.yaml", info.id)
    assert refused.returncode == 1
    assert "live process on this host" in refused.stderr and f"kill {proc.pid}" in refused.stderr
    second = nubes(work, "apply", "s.yaml", "--auto-approve")
    assert second.returncode == 1 and "locked by" in second.stderr
    release.touch()
    assert proc.wait(timeout=120) == 0
    assert _buckets(work) == Counter(f"guarded-{i}" for i in range(4))
    assert nubes(work, "plan", "s.yaml", "--detailed-exitcode").returncode == 0


def test_a_plan_never_adopts_a_running_applys_work(running) -> None:  # type: ignore[no-untyped-def]
    work, proc, release = running
    journal = (work / "state" / "guarded.journal").read_text()
    assert '"intent":"create"' in journal  # the apply is mid-create
    locked = nubes(work, "plan", "s.yaml")
    assert locked.returncode == 1 and "for apply" in locked.stderr
    waited = nubes(work, "plan", "s.yaml", "--lock-timeout", "0.3")
    assert waited.returncode == 1 and "locked by" in waited.stderr
    unlocked = nubes(work, "plan", "s.yaml", "--lock=false")
    assert unlocked.returncode == 0, unlocked.stderr
    assert "unfinished operation" in unlocked.stderr
    assert "adopted" not in unlocked.stdout + unlocked.stderr
    saved = nubes(work, "plan", "s.yaml", "--lock=false", "--out", "p.plan")
    assert saved.returncode == 1 and not (work / "p.plan").exists()
    assert (work / "state" / "guarded.journal").read_text().startswith(journal)
    release.touch()
    assert proc.wait(timeout=120) == 0
    assert _buckets(work) == Counter(f"guarded-{i}" for i in range(4))
    assert nubes(work, "plan", "s.yaml", "--detailed-exitcode").returncode == 0
