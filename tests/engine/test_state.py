from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from nubes.engine.addrs import InstanceAddr
from nubes.engine.state import LocalBackend, LockHeld, ResourceState, State, StateError
from nubes.engine.state.lock import read_lock_info


def sample(stack: str = "web") -> State:
    state = State(stack)
    addr = InstanceAddr("web", 0)
    state.resources[addr] = ResourceState(addr, "instance", "home", "i-1", {"name": "a"}, ["key"])
    return state


def test_write_is_atomic_private_and_bumps_serial(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    state = sample()
    backend.write(state)
    assert state.serial == 1
    assert stat.S_IMODE(backend.path.stat().st_mode) == 0o600
    state.resources[InstanceAddr("web", 0)].attributes["name"] = "b"
    backend.write(state)
    assert state.serial == 2
    backup = json.loads(backend.backup_path.read_text())
    assert backup["serial"] == 1 and backup["resources"][0]["attributes"]["name"] == "a"
    assert stat.S_IMODE(backend.backup_path.stat().st_mode) == 0o600
    again = backend.read()
    assert again is not None and again.serial == 2 and again.lineage == state.lineage
    assert again.resources[InstanceAddr("web", 0)].dependencies == ["key"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_document_has_the_documented_fields(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    backend.write(sample())
    doc = json.loads(backend.path.read_text())
    assert {"format", "serial", "lineage", "stack_digest", "resources", "outputs"} <= set(doc)
    assert set(doc["resources"][0]) >= {
        "address",
        "type",
        "provider",
        "id",
        "attributes",
        "dependencies",
    }


def test_other_lineage_is_never_overwritten(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    backend.write(sample())
    before = backend.path.read_bytes()
    with pytest.raises(StateError, match="refusing to overwrite"):
        backend.write(sample())  # a new State has a new lineage
    assert backend.path.read_bytes() == before


def test_corrupt_state_names_the_backup(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    backend.write(sample())
    backend.write(backend.read() or sample())
    backend.path.write_text(backend.path.read_text()[:40])
    with pytest.raises(StateError, match=r"corrupt or truncated.*web\.json\.backup"):
        backend.read()


def test_newer_format_is_refused(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    backend.path.parent.mkdir(parents=True, exist_ok=True)
    backend.path.write_text(json.dumps({"format": 99, "serial": 1}))
    with pytest.raises(StateError, match="newer than this nubes understands"):
        backend.read()


HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from nubes.engine.state import LocalBackend
lock = LocalBackend(Path({dir!r}), "web").lock("apply")
print("locked", flush=True)
time.sleep(60)
"""


def _holder(tmp_path: Path) -> subprocess.Popen[str]:
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(root=root, dir=str(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_locker_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        with pytest.raises(LockHeld) as info:
            LocalBackend(tmp_path, "web").lock("plan")
        assert f"(pid {proc.pid}) since" in str(info.value)
        assert "for apply" in str(info.value)
        started = time.monotonic()
        with pytest.raises(LockHeld):
            LocalBackend(tmp_path, "web").lock("plan", timeout=0.5)
        assert time.monotonic() - started >= 0.5
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = LocalBackend(tmp_path, "web").lock("apply")
    lock.release()


def test_force_unlock_refuses_a_live_holder_on_this_host(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        backend = LocalBackend(tmp_path, "web")
        info = read_lock_info(backend.lock_path)
        assert info is not None and info.pid == proc.pid
        with pytest.raises(StateError, match="not wrong-id"):
            backend.force_unlock("wrong-id")
        with pytest.raises(StateError, match=rf"(?s)live process on this host.*kill {proc.pid}"):
            backend.force_unlock(info.id)
        with pytest.raises(LockHeld):  # still held: no second writer
            backend.lock("apply")
    finally:
        proc.kill()
        proc.wait()


HOLD_ELSEWHERE = """
import fcntl, json, os, sys, time
fd = os.open({path!r}, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
info = {{"id": "L-1", "who": "ci@builder", "pid": 99, "operation": "apply",
        "created": "2026-12-01T00:00:00Z", "host": "builder-7"}}
os.write(fd, json.dumps(info).encode())
print("locked", flush=True)
time.sleep(60)
"""


def test_force_unlock_breaks_a_lock_of_another_host_given_its_id(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_ELSEWHERE.format(path=str(backend.lock_path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StateError, match="not L-2"):
            backend.force_unlock("L-2")
        assert backend.force_unlock("L-1").host == "builder-7"
        backend.lock("apply").release()
    finally:
        proc.kill()
        proc.wait()


def test_force_unlock_of_a_free_lock_changes_nothing(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    with pytest.raises(StateError, match="not locked"):
        backend.force_unlock("any")
    backend.lock("apply").release()
    with pytest.raises(StateError, match="no writer holds the state's lock"):
        backend.force_unlock("any")
    plan = backend.lock("plan", shared=True)  # plans change nothing: never broken either
    with pytest.raises(StateError, match="no writer holds the state's lock"):
        backend.force_unlock("any")
    plan.release()


def test_force_unlock_looks_twice_before_breaking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock record left by a holder on another host, and a local run taking the lock at that
    moment: the second look sees the new holder's record, and nothing is broken."""
    import nubes.engine.state.lock as lock_module

    backend = LocalBackend(tmp_path, "web")
    holder = backend.lock("apply")
    stale = json.dumps(
        {"id": "OLD", "who": "x@far", "pid": 1, "operation": "apply", "created": "t", "host": "far"}
    )
    os.ftruncate(holder._fd, 0)
    os.pwrite(holder._fd, stale.encode(), 0)
    real_sleep = lock_module.time.sleep

    def new_holder_writes(seconds: float) -> None:
        os.ftruncate(holder._fd, 0)
        os.pwrite(holder._fd, json.dumps(asdict(holder.info)).encode(), 0)
        real_sleep(0)

    monkeypatch.setattr(lock_module.time, "sleep", new_holder_writes)
    with pytest.raises(StateError, match="changed hands"):
        backend.force_unlock("OLD")
    assert backend.lock_path.exists()
    holder.release()


def test_plans_share_the_lock_and_writers_wait_for_them(tmp_path: Path) -> None:
    one = LocalBackend(tmp_path, "web").lock("plan", shared=True)
    two = LocalBackend(tmp_path, "web").lock("plan", shared=True)
    with pytest.raises(LockHeld, match="read by a plan in progress"):
        LocalBackend(tmp_path, "web").lock("apply")
    one.release()
    two.release()
    writer = LocalBackend(tmp_path, "web").lock("apply")
    with pytest.raises(LockHeld, match="for apply"):
        LocalBackend(tmp_path, "web").lock("plan", shared=True)
    writer.release()
    assert read_lock_info(LocalBackend(tmp_path, "web").lock_path) is None  # no stale holder


@pytest.mark.parametrize("name", ["web.lock", "web.journal", "history/web/index.jsonl"])
def test_planted_symlinks_never_get_their_target_written(tmp_path: Path, name: str) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    state_dir = tmp_path / "state"
    (state_dir / name).parent.mkdir(parents=True)
    (state_dir / name).symlink_to(target)
    backend = LocalBackend(state_dir, "web")
    with pytest.raises(StateError, match="symbolic link"):
        if name == "web.lock":
            backend.lock("apply")
        elif name == "web.journal":
            backend.journal.will_delete("web", "sim", "bucket", "b-1")
        else:
            backend.record_apply(sample(), "v1", "sha256:" + "a" * 64, "s.yaml", "me", "1 added")
    assert target.read_text() == "precious\n"


def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file owned by another user")
    backend = LocalBackend(tmp_path, "web")
    backend.journal.path.write_text("")
    os.chown(backend.journal.path, 12345, 12345)
    with pytest.raises(StateError, match="owned by another user"):
        backend.journal.will_delete("web", "sim", "bucket", "b-1")


def test_history_keeps_each_stack_version_once(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    state = sample()
    backend.write(state)
    one, two = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    backend.record_apply(state, "v1", one, "s.yaml", "me@here", "1 added")
    backend.record_apply(state, "v1", one, "s.yaml", "me@here", "0 added")
    backend.record_apply(state, "v2", two, "s.yaml", "me@here", "1 changed")
    entries = backend.history()
    assert [e.summary for e in entries] == ["1 added", "0 added", "1 changed"]
    assert entries[2].stack_text() == "v2"
    assert len(list(backend.history_dir.glob("*.yaml"))) == 2


FORMATS = Path(__file__).parent / "state_formats"


def test_stored_format_1_documents_are_upgraded(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    backend.path.write_bytes((FORMATS / "format-1.json").read_bytes())
    state = backend.read()
    assert state is not None and state.format == 2 and state.serial == 7
    web = state.resources[InstanceAddr("web", 0)]
    assert web.tainted and web.token is None and web.dependencies == ["deploy"]
    deploy = state.resources[InstanceAddr("deploy")]
    assert not deploy.tainted and deploy.sensitive == ["private_key"]
    assert state.outputs["ips"].value == ["198.51.100.2"]
    backend.write(state)  # written back in the current format, same lineage
    doc = json.loads(backend.path.read_text())
    assert doc["format"] == 2 and doc["serial"] == 8
    assert [r["status"] for r in doc["resources"]] == ["ready", "tainted"]


def test_leftovers_of_a_killed_writer_are_swept_under_the_lock(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, "web")
    backend.write(sample())
    (tmp_path / ".web.json.abc123.tmp").write_text("{half a docu")
    (tmp_path / ".web.json.backup.4242").write_text("{}")
    backend.lock("apply").release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web.json", "web.lock"]
