"""The promises every state store keeps, run against each (tests/backends/conftest.py): versions
with serial and lineage, the lock with its holder, --lock-timeout and a force-unlock that refuses
a live holder, the journal, history, workspaces."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from nubes.engine.addrs import InstanceAddr
from nubes.engine.state import LockHeld, ResourceState, State, StateError
from nubes.engine.state.stores import Store
from tests.backends.conftest import Stores


def sample(stack: str = "web") -> State:
    state = State(stack)
    addr = InstanceAddr("app")
    state.resources[addr] = ResourceState(addr, "instance", "sim", "i-1", {"name": "app"})
    return state


def test_versions_bump_the_serial_and_read_back(store: Store) -> None:
    backend = store.backend("web")
    assert backend.read() is None
    state = sample()
    with backend.lock("apply"):
        backend.write(state)
        backend.write(state)
    again = store.backend("web").read()
    assert again is not None
    assert (again.lineage, again.serial) == (state.lineage, 2)
    assert again.to_json() == state.to_json()
    assert store.stack_names() == ["web"]


def test_another_lineage_is_never_overwritten(store: Store) -> None:
    with store.backend("web").lock("apply"):
        store.backend("web").write(sample())
    other = store.backend("web")
    with other.lock("apply"), pytest.raises(StateError, match="lineage"):
        other.write(sample())  # a new State has a new lineage
    kept = store.backend("web").read()
    assert kept is not None and kept.serial == 1


def test_a_writer_excludes_writers_and_readers_and_says_who(store: Store) -> None:
    first = store.backend("web")
    with first.lock("apply") as held:
        assert first.lock_holder() == held.info
        for shared in (False, True):
            with pytest.raises(LockHeld) as caught:
                store.backend("web").lock("plan" if shared else "apply", shared=shared)
            assert caught.value.info is not None and caught.value.info.id == held.info.id
            assert "apply" in str(caught.value)
    assert store.backend("web").lock_holder() is None
    with store.backend("web").lock("apply"):
        pass  # released: anyone may take it


def test_readers_share_and_keep_writers_out(store: Store) -> None:
    with (
        store.backend("web").lock("plan", shared=True),
        store.backend("web").lock("plan", shared=True),
        pytest.raises(LockHeld, match="being read by a plan"),
    ):
        store.backend("web").lock("apply")
    with store.backend("web").lock("apply"):
        pass


def test_lock_timeout_waits_for_the_holder(store: Store) -> None:
    holder = store.backend("web").lock("apply")
    assert holder.info is not None
    first_id = holder.info.id
    # released a moment after the second run starts waiting; the wait allowed is far longer
    thread = threading.Timer(0.3, holder.release)
    thread.start()
    with store.backend("web").lock("apply", timeout=60) as got:
        assert got.info is not None and got.info.id != first_id
    thread.join()


def test_force_unlock_refuses_a_live_holder(store: Store) -> None:
    with store.backend("web").lock("apply") as held:
        assert held.info is not None
        with pytest.raises(StateError, match=r"(?i)nothing was changed"):
            store.backend("web").force_unlock(held.info.id)
        with pytest.raises(StateError, match="not"):
            store.backend("web").force_unlock("some-other-id")
        assert store.backend("web").lock_holder() == held.info


def test_the_journal_outlives_the_writer(store: Store) -> None:
    writer = store.backend("web")
    with writer.lock("apply"):
        writer.journal.will_create("app", "sim", "instance", "tok-1", ["key"], ["password"])
        writer.journal.created("tok-1", "i-9")
        writer.journal.will_delete("old", "sim", "instance", "i-0")
        writer.journal.close()
    found = store.backend("web").journal.intents()
    assert [(i.kind.value, i.address, i.token, i.id) for i in found] == [
        ("create", "app", "tok-1", "i-9"),
        ("delete", "old", None, "i-0"),
    ]
    assert found[0].dependencies == ["key"] and found[0].sensitive == ["password"]
    reader = store.backend("web")
    with reader.lock("apply"):
        reader.journal.settled("create:tok-1")
        reader.journal.deleted("i-0")
        reader.journal.close()
    assert [i.done for i in store.backend("web").journal.intents()] == [True]
    store.backend("web").journal.clear()
    assert store.backend("web").journal.intents() == []


def test_history_keeps_each_apply_and_its_stack_file(store: Store) -> None:
    backend = store.backend("web")
    state = sample()
    with backend.lock("apply"):
        backend.write(state)
        one, two = "sha256:" + "a" * 64, "sha256:" + "b" * 64
        backend.record_apply(state, "v1", one, "s.yaml", "me@here", "1 added")
        backend.record_apply(state, "v2", two, "s.yaml", "me@here", "1 changed")
    entries = store.backend("web").history()
    assert [(e.serial, e.summary, e.stack_text()) for e in entries] == [
        (1, "1 added", "v1"),
        (1, "1 changed", "v2"),
    ]


def test_workspaces_hold_states_of_their_own(store: Store) -> None:
    assert store.workspaces("web") == ["default"]
    for workspace in ("default", "dev", "prod"):
        backend = store.backend("web", workspace)
        with backend.lock("apply"):
            backend.write(sample())
    assert store.workspaces("web") == ["default", "dev", "prod"]
    dev = store.backend("web", "dev")
    assert dev.read() is not None
    assert dev.read().lineage != store.backend("web").read().lineage  # type: ignore[union-attr]
    # no lock is shared across workspaces
    with store.backend("web", "dev").lock("apply"), store.backend("web", "prod").lock("apply"):
        pass
    with dev.lock("workspace delete"):
        dev.delete()
    assert store.workspaces("web") == ["default", "prod"]
    assert store.backend("web", "dev").read() is None
    assert store.backend("web", "dev").history() == []


def test_a_corrupt_state_is_a_clear_error(stores: Stores, kind: str) -> None:
    config = stores.config(kind)
    store = stores.open(config)
    backend = store.backend("web")
    with backend.lock("apply"):
        backend.write(sample())
    _damage(store, kind)
    with pytest.raises(StateError, match="corrupt or truncated"):
        store.backend("web").read()


def _damage(store: Store, kind: str) -> None:
    if kind == "local":
        (store.folder / "web.json").write_text('{"format": 2, "ser')  # type: ignore[attr-defined]
    elif kind.startswith("s3"):
        store.put("stacks/web.json", b'{"format": 2, "ser')  # type: ignore[attr-defined]
    else:
        with store.conn.cursor("damage", transaction=True) as cur:  # type: ignore[attr-defined]
            cur.execute(f"UPDATE {store.t('states')} SET data = %s", (b'{"format": 2, "ser',))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["s3", "postgres"])
def test_a_write_behind_the_lock_is_never_overwritten(store: Store) -> None:
    """A run that read version N does not overwrite version N+1 written by another (the
    conditional write); it says so and changes nothing."""
    first = store.backend("web")
    state = sample()
    with first.lock("apply"):
        first.write(state)
    stale = store.backend("web")
    stale_state = stale.read()
    assert stale_state is not None
    with store.backend("web").lock("apply"):
        newer = store.backend("web")
        current = newer.read()
        assert current is not None
        newer.write(current)
    with pytest.raises(StateError, match=r"another run wrote it|changed while"):
        stale.write(stale_state)
    final = store.backend("web").read()
    assert final is not None and final.serial == 2


HOLD = """
import sys, time
from nubes.engine.state.settings import BackendConfig
from nubes.engine.state.stores import open_store
import json, os, pathlib
config = BackendConfig(sys.argv[1], json.loads(sys.argv[2]))
store = open_store(config, pathlib.Path(sys.argv[3]), os.environ)
lock = store.backend("web").lock("apply")
print(lock.info.id, flush=True)
time.sleep(600)
"""


def test_a_killed_holder_leaves_no_lock_behind(stores: Stores, kind: str) -> None:
    """SIGKILL the holder: the local and PostgreSQL locks go with its process or session; S3's
    lapses with its lease (1 s here), after which a writer takes it over and force-unlock may
    break it."""
    config = stores.config(kind)
    environ = {**stores.environ, "NUBES_LOCK_LEASE_SECONDS": "1"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD,
            config.type,
            __import__("json").dumps(config.settings),
            str(stores.tmp_path / "state"),
        ],
        env=environ,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lock_id = child.stdout.readline().strip()
    assert lock_id
    stores.environ = environ
    store = stores.open(config)
    assert store.backend("web").lock_holder() is not None
    child.kill()
    child.wait()
    with store.backend("web").lock("apply", timeout=60) as taken:
        assert taken.info is not None and taken.info.id != lock_id
    if kind.startswith("s3"):  # a lapsed lease is broken by force-unlock too
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLD,
                config.type,
                __import__("json").dumps(config.settings),
                str(stores.tmp_path / "state"),
            ],
            env=environ,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        lock_id = child.stdout.readline().strip()
        with pytest.raises(StateError, match="live run"):
            store.backend("web").force_unlock(lock_id)
        child.kill()
        child.wait()
        deadline = time.monotonic() + 60
        while store.backend("web").lock_holder() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.backend("web").force_unlock(lock_id).id == lock_id
        assert store.backend("web").lock_holder() is None


@pytest.mark.parametrize("kind", ["s3", "s3-dynamodb"])
def test_a_stalled_s3_holder_writes_nothing_once_its_lease_is_taken(
    stores: Stores, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder that stops renewing (stalled, its network cut) loses the lock when the lease
    lapses; the next writer takes it over, and the stalled run's next write is refused."""
    monkeypatch.setenv("NUBES_LOCK_LEASE_SECONDS", "1")
    stores.environ["NUBES_LOCK_LEASE_SECONDS"] = "1"
    store = stores.open(stores.config(kind))
    stalled = store.backend("web")
    lock = stalled.lock("apply")
    state = sample()
    stalled.write(state)
    lock._stop.set()  # type: ignore[attr-defined]  # the renewer stalls, as a frozen process's
    deadline = time.monotonic() + 60
    while store.backend("web").lock_holder() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    with (
        store.backend("web").lock("apply", timeout=60),
        pytest.raises(StateError, match="taken from this run"),
    ):
        stalled.write(state)
    final = store.backend("web").read()
    assert final is not None and final.serial == 1
