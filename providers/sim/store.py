"""The sim cloud's persistent store: one SQLite file shared by every process that uses it.

Objects are rows of (id, type, region, attributes JSON, tags JSON). Writes that check and then
change (a quota, a unique name) run inside one IMMEDIATE transaction, so two processes applying
at once see a consistent cloud.

The store holds generated private keys and rendered user data, so it is protected as state is:
its folder is 0700, the database and SQLite's -wal and -shm files 0600, and a database path that
is a symlink or not the user's own regular file is refused. Every SQLite failure (a database
locked by another process past the busy timeout, a full disk, a damaged file) is a StoreError
naming the file, never a bare sqlite3 exception.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nubes.providers.errors import ProviderError

# what a create and a delete look up, indexed so that each costs the same however many objects
# the cloud holds: a retried create's token, a unique name, and what refers to an object
# (queries must spell each expression exactly as here for SQLite to use its index); and a page
# of a listing, in the order objects were made
INDEXED_ATTRS = ("instance", "subnet", "network")
_INDEXES = """
CREATE INDEX IF NOT EXISTS objects_name ON objects (type, region, json_extract(attrs, '$.name'));
CREATE INDEX IF NOT EXISTS objects_token
    ON objects (type, region, json_extract(tags, '$."nubes:token"'));
CREATE INDEX IF NOT EXISTS objects_listing ON objects (type, region, created, id);
""" + "".join(
    f"CREATE INDEX IF NOT EXISTS objects_{a} ON objects "
    f"(type, region, json_extract(attrs, '$.{a}'));\n"
    for a in INDEXED_ATTRS
)
# the order of objects found by an index of their own: `+` keeps SQLite from walking the listing
# index over every object of the type instead, to save the sort of the few it found
_FOUND_ORDER = "ORDER BY +created, +id"
_SAFE_KEY = re.compile(r"[A-Za-z0-9:_.-]{1,128}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    region TEXT NOT NULL,
    attrs TEXT NOT NULL,
    tags TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type_region ON objects (type, region);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blob_meta (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS blob_chunks (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (bucket, key, seq)
);
"""
# added after the first release: created on open where an older database lacks it
_USER_META = """
CREATE TABLE IF NOT EXISTS blob_user_meta (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (bucket, key, name)
);
"""
CHUNK = 1024 * 1024  # a blob is stored, and read back, in rows of this size


@dataclass
class Row:
    id: str
    type: str
    region: str
    attrs: dict[str, Any]
    tags: dict[str, str]
    created: float


BUSY_SECONDS = 5.0  # how long a write waits for another process's transaction


class StoreError(ProviderError):
    """The sim cloud's database cannot be used; the message names it and says what to do."""

    code = "SimDatabaseError"


def _describe(exc: sqlite3.Error, path: Path) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"the sim cloud's database {path} is locked by another process; close whatever "
            "holds it open (an sqlite3 shell, another program) and run again"
        )
    if "disk is full" in text or "disk I/O" in text:
        return f"cannot write the sim cloud's database {path}: the disk is full or failing"
    if "readonly" in text or "unable to open" in text:
        return f"cannot write the sim cloud's database {path}: {text} (check the folder)"
    return f"the sim cloud's database {path} cannot be used: {text}"


def _private_file(path: Path) -> None:
    """Create the database 0600 in a 0700 folder, or check that the one there is ours."""
    try:
        missing = []
        folder = path.parent
        while not folder.is_dir() and folder.parent != folder:
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):  # each folder made 0700, not only the last
            with suppress(FileExistsError):
                created.mkdir(mode=0o700)
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
        for candidate in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            try:
                st = candidate.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise StoreError(
                    f"{candidate} is not a regular file of this user; nubes will not use it "
                    "as the sim cloud's database. Remove it.",
                )
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(candidate, 0o600)  # written by an older nubes: close it
    except OSError as exc:
        raise StoreError(f"cannot create the sim cloud's database {path}: {exc.strerror}") from None


class Store:
    def __init__(self, path: Path, busy_seconds: float = BUSY_SECONDS) -> None:
        _private_file(path)
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        with self._guard():
            self._db = sqlite3.connect(
                str(path), timeout=busy_seconds, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            if "blob_chunks" not in tables:
                self._db.executescript(_SCHEMA)
            if "blobs" in tables:
                self._move_whole_blobs()
            if "blob_user_meta" not in tables:
                self._db.executescript(_USER_META)
            self._db.executescript(_INDEXES)  # also on a cloud an older nubes made

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, self.path)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit; nested uses join the outer one."""
        with self._lock, self._guard():
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def insert(self, row: Row) -> None:
        with self._lock, self._guard():
            self._db.execute(
                "INSERT INTO objects (id, type, region, attrs, tags, created) VALUES (?,?,?,?,?,?)",
                (
                    row.id,
                    row.type,
                    row.region,
                    json.dumps(row.attrs),
                    json.dumps(row.tags),
                    row.created,
                ),
            )

    def save(self, row: Row) -> None:
        with self._lock, self._guard():
            self._db.execute(
                "UPDATE objects SET attrs = ?, tags = ? WHERE id = ?",
                (json.dumps(row.attrs), json.dumps(row.tags), row.id),
            )

    def next_number(self, name: str) -> int:
        """A counter that only goes up, shared by every process using this store."""
        with self._lock, self._guard():
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name,),
            )
            return int(
                self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]
            )

    def _move_whole_blobs(self) -> None:
        """Blobs of an older nubes, one row each, into chunks."""
        self._db.execute("BEGIN IMMEDIATE")
        for bucket, key, kind, data, modified in self._db.execute(
            "SELECT bucket, key, content_type, data, modified FROM blobs"
        ).fetchall():
            self._write_chunks(bucket, key, [bytes(data)], kind, modified)
        self._db.execute("DROP TABLE blobs")
        self._db.execute("COMMIT")

    def _write_chunks(
        self, bucket: str, key: str, chunks: Iterable[bytes], content_type: str, modified: float
    ) -> int:
        self._db.execute("DELETE FROM blob_chunks WHERE bucket = ? AND key = ?", (bucket, key))
        size = 0
        for seq, chunk in enumerate(chunks):
            self._db.execute(
                "INSERT INTO blob_chunks (bucket, key, seq, data) VALUES (?, ?, ?, ?)",
                (bucket, key, seq, chunk),
            )
            size += len(chunk)
        self._db.execute(
            "INSERT OR REPLACE INTO blob_meta (bucket, key, content_type, size, modified) "
            "VALUES (?, ?, ?, ?, ?)",
            (bucket, key, content_type, size, modified),
        )
        return size

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> tuple[int, float]:
        """Store a blob read from `data` a chunk at a time, and its user metadata; (size,
        modified)."""
        now = time.time()
        chunks = iter(lambda: data.read(CHUNK), b"")
        with self.transaction(), self._guard():
            size = self._write_chunks(bucket, key, chunks, content_type, now)
            self._write_metadata(bucket, key, metadata or {})
        return size, now

    def _write_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> None:
        self._db.execute("DELETE FROM blob_user_meta WHERE bucket = ? AND key = ?", (bucket, key))
        for name, value in metadata.items():
            self._db.execute(
                "INSERT INTO blob_user_meta (bucket, key, name, value) VALUES (?, ?, ?, ?)",
                (bucket, key, name, value),
            )

    def blob_metadata(self, bucket: str, key: str) -> dict[str, str]:
        with self._lock, self._guard():
            rows = self._db.execute(
                "SELECT name, value FROM blob_user_meta WHERE bucket = ? AND key = ? ORDER BY name",
                (bucket, key),
            )
            return {str(n): str(v) for n, v in rows}

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> bool:
        """Replace a blob's user metadata; False when there is no such blob."""
        with self.transaction(), self._guard():
            found = self._db.execute(
                "SELECT 1 FROM blob_meta WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            if found is None:
                return False
            self._write_metadata(bucket, key, metadata)
        return True

    def blob_list(self, bucket: str, key: str | None = None) -> list[tuple[str, str, int, float]]:
        """(key, content type, size, modified) of a bucket's blobs: no content is read."""
        query = "SELECT key, content_type, size, modified FROM blob_meta WHERE bucket = ?"
        params: list[Any] = [bucket]
        if key is not None:
            query += " AND key = ?"
            params.append(key)
        with self._lock, self._guard():
            return [tuple(r) for r in self._db.execute(query + " ORDER BY key", params)]

    def blob_chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        """A blob's content, one stored chunk per step (the lock is not held in between)."""
        seq = 0
        while True:
            with self._lock, self._guard():
                row = self._db.execute(
                    "SELECT data FROM blob_chunks WHERE bucket = ? AND key = ? AND seq = ?",
                    (bucket, key, seq),
                ).fetchone()
            if row is None:
                return
            yield bytes(row[0])
            seq += 1

    def delete_blob(self, bucket: str, key: str) -> None:
        with self.transaction(), self._guard():
            self._db.execute("DELETE FROM blob_chunks WHERE bucket = ? AND key = ?", (bucket, key))
            self._db.execute("DELETE FROM blob_meta WHERE bucket = ? AND key = ?", (bucket, key))
            self._db.execute(
                "DELETE FROM blob_user_meta WHERE bucket = ? AND key = ?", (bucket, key)
            )

    def delete(self, id: str) -> None:
        with self._lock, self._guard():
            self._db.execute("DELETE FROM objects WHERE id = ?", (id,))

    def get(self, id: str, type: str | None = None) -> Row | None:
        with self._lock, self._guard():
            cur = self._db.execute(
                "SELECT id, type, region, attrs, tags, created FROM objects WHERE id = ?", (id,)
            )
            found = cur.fetchone()
        if found is None:
            return None
        row = _row(found)
        return row if type is None or row.type == type else None

    def by_name(self, type: str, region: str, name: str) -> Row | None:
        with self._lock, self._guard():
            found = self._db.execute(
                "SELECT id, type, region, attrs, tags, created FROM objects "
                "WHERE type = ? AND region = ? AND json_extract(attrs, '$.name') = ? LIMIT 1",
                (type, region, name),
            ).fetchone()
        return None if found is None else _row(found)

    def select(
        self,
        type: str,
        region: str | None = None,
        tags: Mapping[str, str] | None = None,
        start: int = 0,
        size: int | None = None,
    ) -> list[Row]:
        """The objects of `type` (in `region`, with `tags`) in the order they were made; from
        the `start`th, at most `size` of them when `size` is given."""
        where, params = self._where(type, region, tags)
        query = f"SELECT id, type, region, attrs, tags, created FROM objects WHERE {where}"
        # a lookup by tag orders what its index found; a listing walks the listing index
        query += " " + _FOUND_ORDER if tags else " ORDER BY created, id"
        if size is not None:
            query += " LIMIT ? OFFSET ?"
            params += [size, start]
        elif start:
            query += " LIMIT -1 OFFSET ?"
            params.append(start)
        with self._lock, self._guard():
            rows = self._db.execute(query, params).fetchall()
        return [_row(r) for r in rows]

    def count(
        self, type: str, region: str | None = None, tags: Mapping[str, str] | None = None
    ) -> int:
        where, params = self._where(type, region, tags)
        with self._lock, self._guard():
            found = self._db.execute(f"SELECT COUNT(*) FROM objects WHERE {where}", params)
            return int(found.fetchone()[0])

    @staticmethod
    def _where(
        type: str, region: str | None, tags: Mapping[str, str] | None
    ) -> tuple[str, list[Any]]:
        where = "type = ?"
        params: list[Any] = [type]
        if region is not None:
            where += " AND region = ?"
            params.append(region)
        for key, value in (tags or {}).items():
            if _SAFE_KEY.fullmatch(key):  # written out, so that an index on it applies
                where += f""" AND json_extract(tags, '$."{key}"') = ?"""
                params.append(value)
            else:
                where += " AND json_extract(tags, ?) = ?"
                params.extend([f'$."{key}"', value])
        return where, params

    def referring(self, type: str, region: str, attr: str, id: str) -> list[Row]:
        """The objects of `type` whose `attr` (one of INDEXED_ATTRS) is `id`."""
        assert attr in INDEXED_ATTRS
        with self._lock, self._guard():
            rows = self._db.execute(
                "SELECT id, type, region, attrs, tags, created FROM objects WHERE type = ? AND "
                f"region = ? AND json_extract(attrs, '$.{attr}') = ? {_FOUND_ORDER}",
                (type, region, id),
            ).fetchall()
        return [_row(r) for r in rows]

    def attached(self, region: str, instances: Sequence[str]) -> list[tuple[str, str]]:
        """(instance id, volume id) of the volumes attached to these instances, through the
        index of what refers to an instance, in chunks the database takes in one statement."""
        found: list[tuple[str, str]] = []
        with self._lock, self._guard():
            for at in range(0, len(instances), 500):
                chunk = list(instances[at : at + 500])
                marks = ", ".join("?" * len(chunk))
                found += self._db.execute(
                    "SELECT json_extract(attrs, '$.instance'), id FROM objects WHERE type = "
                    f"'volume' AND region = ? AND json_extract(attrs, '$.instance') IN ({marks}) "
                    f"{_FOUND_ORDER}",
                    (region, *chunk),
                ).fetchall()
        return found


def _row(found: tuple[Any, ...]) -> Row:
    return Row(found[0], found[1], found[2], json.loads(found[3]), json.loads(found[4]), found[5])
