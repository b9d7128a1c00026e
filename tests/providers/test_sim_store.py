"""The sim cloud's database is protected as state is, and its failures are clear errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from nubes.providers.sim.store import Store, StoreError
from tests.helpers import write

ROOT = Path(__file__).resolve().parents[2]
STACK = """
nubes: 1
name: db
providers:
  home: {driver: sim, busy_seconds: 0.5}
resources:
  k: {type: key, name: db-key}
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


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_folders_are_private(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", STACK)
    assert nubes(tmp_path, "apply", "s.yaml", "--auto-approve").returncode == 0
    sim = tmp_path / "state" / "sim"
    assert mode(tmp_path / "state") == 0o700 and mode(sim) == 0o700
    assert mode(sim / "cloud.sqlite") == 0o600
    store = Store(sim / "cloud.sqlite")  # open: SQLite's -wal and -shm files exist now
    store.count("key", "sim-1")
    for extra in sim.glob("cloud.sqlite-*"):
        assert mode(extra) == 0o600, extra
    store.close()


def test_files_an_older_nubes_left_open_are_closed(tmp_path: Path) -> None:
    db = tmp_path / "sim" / "cloud.sqlite"
    db.parent.mkdir()
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    Store(db).close()
    assert mode(db) == 0o600


def test_a_planted_symlink_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.db"
    victim.write_bytes(b"precious")
    write(tmp_path / "s.yaml", STACK)
    (tmp_path / "state" / "sim").mkdir(parents=True)
    (tmp_path / "state" / "sim" / "cloud.sqlite").symlink_to(victim)
    done = nubes(tmp_path, "plan", "s.yaml")
    assert done.returncode == 1, done.stdout
    assert "is not a regular file of this user" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert victim.read_bytes() == b"precious"


HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("holding", flush=True)
time.sleep(60)
"""


def test_a_database_locked_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", STACK)
    assert nubes(tmp_path, "apply", "s.yaml", "--auto-approve").returncode == 0
    write(tmp_path / "s.yaml", STACK.replace("db-key}", "db-key}\n  b: {type: bucket, name: db-b}"))
    state = (tmp_path / "state" / "db.json").read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "state" / "sim" / "cloud.sqlite")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        done = nubes(tmp_path, "apply", "s.yaml", "--auto-approve")
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "is locked by another process" in out
        assert "Traceback" not in out and "bug in nubes" not in out
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "state" / "db.json").read_bytes() == state  # nothing was written
    again = nubes(tmp_path, "apply", "s.yaml", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert nubes(tmp_path, "plan", "s.yaml", "--detailed-exitcode").returncode == 0


def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "cloud.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    try:
        Store(db)
    except StoreError as exc:
        assert "cannot be used" in exc.message and str(db) in exc.message
    else:
        raise AssertionError("a damaged database was opened")


def test_a_page_of_a_listing_is_its_slice(tmp_path: Path) -> None:
    from nubes.providers.protocol import DriverContext, Ownership, PagedListing
    from nubes.providers.sim import SimDriver

    sim = SimDriver()
    sim.configure({}, DriverContext(tmp_path, {}))
    assert isinstance(sim, PagedListing)
    for i in range(7):
        sim.create("key", {"name": f"k{i}"}, Ownership("s", f"k{i}", f"k{i}"))
    whole = [o.id for o in sim.list("key", {})]
    for start, size in ((0, 3), (3, 3), (6, 3), (9, 3), (0, 0), (2, 100)):
        total, page = sim.list_page("key", {}, start, size)
        assert total == 7 and [o.id for o in page] == whole[start : start + size]
    assert sim.list_page("key", {"nubes:stack": "none"}, 0, 5) == (0, [])


def test_each_lookup_searches_its_own_index(tmp_path: Path) -> None:
    """A create looks up its token and its name, a delete what refers to the object, a page
    its window: each by an index, never a walk over every object of the type (a walk made
    seeding 100,000 objects quadratic once, when the listing index drew a token lookup)."""
    store = Store(tmp_path / "cloud.sqlite")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    lookups = {
        "objects_token": lambda: store.select("key", "sim-1", {"nubes:token": "t-1"}),
        "objects_name": lambda: store.by_name("key", "sim-1", "k"),
        "objects_instance": lambda: store.referring("volume", "sim-1", "instance", "i-1"),
        "objects_listing": lambda: store.select("key", "sim-1", None, 10, 5),
    }
    for index, lookup in lookups.items():
        statements.clear()
        lookup()
        (query,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        plan = " ".join(str(r) for r in store._db.execute("EXPLAIN QUERY PLAN " + query))
        assert f"INDEX {index}" in plan and "SCAN" not in plan, (index, plan)
