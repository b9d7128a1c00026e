"""The sim cloud's persistent store: one SQLite file shared by every process that uses it.

Objects are rows of (id, type, region, attributes JSON, tags JSON). Writes that check and then
change (a quota, a unique name) run inside one IMMEDIATE transaction, so two processes applying
at once see a consistent cloud.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
CREATE TABLE IF NOT EXISTS blobs (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (bucket, key)
);
"""


@dataclass
class Row:
    id: str
    type: str
    region: str
    attrs: dict[str, Any]
    tags: dict[str, str]
    created: float


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit; nested uses join the outer one."""
        with self._lock:
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
        with self._lock:
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
        with self._lock:
            self._db.execute(
                "UPDATE objects SET attrs = ?, tags = ? WHERE id = ?",
                (json.dumps(row.attrs), json.dumps(row.tags), row.id),
            )

    def next_number(self, name: str) -> int:
        """A counter that only goes up, shared by every process using this store."""
        with self._lock:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name,),
            )
            return int(
                self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]
            )

    def put_blob(self, bucket: str, key: str, data: bytes, content_type: str) -> float:
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO blobs (bucket, key, content_type, data, modified) "
                "VALUES (?, ?, ?, ?, ?)",
                (bucket, key, content_type, data, now),
            )
        return now

    def blobs(self, bucket: str, key: str | None = None) -> list[tuple[str, str, bytes, float]]:
        query = "SELECT key, content_type, data, modified FROM blobs WHERE bucket = ?"
        params: list[Any] = [bucket]
        if key is not None:
            query += " AND key = ?"
            params.append(key)
        with self._lock:
            return [
                (r[0], r[1], bytes(r[2]), r[3])
                for r in self._db.execute(query + " ORDER BY key", params).fetchall()
            ]

    def delete_blob(self, bucket: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM blobs WHERE bucket = ? AND key = ?", (bucket, key))

    def count(self, type: str, region: str) -> int:
        with self._lock:
            found = self._db.execute(
                "SELECT COUNT(*) FROM objects WHERE type = ? AND region = ?", (type, region)
            ).fetchone()
        return int(found[0])

    def delete(self, id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE id = ?", (id,))

    def get(self, id: str, type: str | None = None) -> Row | None:
        with self._lock:
            cur = self._db.execute(
                "SELECT id, type, region, attrs, tags, created FROM objects WHERE id = ?", (id,)
            )
            found = cur.fetchone()
        if found is None:
            return None
        row = _row(found)
        return row if type is None or row.type == type else None

    def by_name(self, type: str, region: str, name: str) -> Row | None:
        with self._lock:
            found = self._db.execute(
                "SELECT id, type, region, attrs, tags, created FROM objects "
                "WHERE type = ? AND region = ? AND json_extract(attrs, '$.name') = ? LIMIT 1",
                (type, region, name),
            ).fetchone()
        return None if found is None else _row(found)

    def select(
        self, type: str, region: str | None = None, tags: Mapping[str, str] | None = None
    ) -> list[Row]:
        query = "SELECT id, type, region, attrs, tags, created FROM objects WHERE type = ?"
        params: list[Any] = [type]
        if region is not None:
            query += " AND region = ?"
            params.append(region)
        for key, value in (tags or {}).items():
            query += " AND json_extract(tags, ?) = ?"
            params.extend([f'$."{key}"', value])
        query += " ORDER BY created, id"
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [_row(r) for r in rows]


def _row(found: tuple[Any, ...]) -> Row:
    return Row(found[0], found[1], found[2], json.loads(found[3]), json.loads(found[4]), found[5])
