"""The PostgreSQL backend: state versions, journal, history and locks in one database.

Tables (in the backend's schema, `nubes` by default; created on first use):

    states(stack, workspace, serial, lineage, data, written_at)   one row per version
    journal(stack, workspace, seq, records)                       intents, in order
    history(stack, workspace, serial, applied_at, digest, file, who, summary)
    stack_files(stack, digest, text)                              each applied file once
    locks(stack, workspace, info, holder_pid)                     who holds a lock

A lock is a session-level advisory lock, shared for plans and exclusive for writers, held by a
connection of its own: when its holder dies the connection ends and PostgreSQL releases it, so a
held lock always has a live holder. Everything a writer writes goes through its lock's
connection, so no write is made by a run that lost its lock. A write inserts the next version in
a transaction that checks the latest one is the version this run read (serial and lineage);
the newest versions and every applied one are kept, older in-between ones pruned.

The connection comes from NUBES_POSTGRES_DSN, else libpq's PG* variables (PGHOST, PGPORT,
PGUSER, PGPASSWORD, PGDATABASE, PGPASSFILE, PGSSLMODE ...); never from the stack.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from nubes.engine.state.backend import HistoryEntry
from nubes.engine.state.codec import decode_state, next_version, version_of
from nubes.engine.state.journal import RecordJournal
from nubes.engine.state.lock import LockHeld, LockInfo, new_lock_info
from nubes.engine.state.model import State, StateError
from nubes.engine.state.pgtables import SCHEMA
from nubes.engine.state.settings import DEFAULT_WORKSPACE

KEEP_VERSIONS = 20  # besides every version an apply ended on
_PG_VARIABLES = {
    "PGHOST": "host",
    "PGHOSTADDR": "hostaddr",
    "PGPORT": "port",
    "PGUSER": "user",
    "PGPASSWORD": "password",
    "PGDATABASE": "dbname",
    "PGPASSFILE": "passfile",
    "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert",
    "PGSERVICE": "service",
    "PGCONNECT_TIMEOUT": "connect_timeout",
}


def _key(text: str) -> int:
    """A non-negative int4 naming `text` for advisory locks."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def connect_kwargs(environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The connection string and keywords (libpq's variables, read from `environ`)."""
    dsn = environ.get("NUBES_POSTGRES_DSN", "")
    kwargs = {word: environ[var] for var, word in _PG_VARIABLES.items() if environ.get(var)}
    given: dict[str, Any] = {}
    if dsn:  # as libpq: what the connection string says wins over the PG* variables
        from psycopg.conninfo import conninfo_to_dict

        try:
            given = conninfo_to_dict(dsn)
        except Exception:  # a malformed string: libpq says what is wrong when connecting
            given = {}
        kwargs = {k: v for k, v in kwargs.items() if k not in given}
    kwargs.setdefault("connect_timeout", "10")
    kwargs.setdefault("application_name", "nubes")
    # the server notices a holder that vanished without closing (a machine cut off) within
    # about 25 s and ends its session, and with it the session's advisory locks
    kwargs["options"] = f"{given.get('options', '')} {SERVER_KEEPALIVES}".strip()
    return dsn, kwargs


SERVER_KEEPALIVES = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
)


def describe_pg_error(exc: BaseException, doing: str, environ: Mapping[str, str] = {}) -> str:
    """The error in one line, with any secret of the connection's settings taken out (libpq
    quotes pieces of a malformed connection string back)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in _secrets(environ):
        text = text.replace(secret, "(hidden)")
    return f"cannot {doing} the PostgreSQL backend: {text}"


def _secrets(environ: Mapping[str, str]) -> list[str]:
    found = [environ.get("PGPASSWORD", ""), environ.get("NUBES_POSTGRES_DSN", "")]
    dsn = environ.get("NUBES_POSTGRES_DSN", "")
    found += [part.partition("=")[2] for part in dsn.split() if part.startswith("password=")]
    if "://" in dsn and "@" in dsn:  # postgresql://user:password@host/db
        found.append(dsn.split("://", 1)[1].rsplit("@", 1)[0].partition(":")[2])
    return sorted((f for f in found if len(f) >= 3), key=len, reverse=True)


class Connection:
    """One connection, used by one thread at a time, reopened once after it broke."""

    def __init__(self, store: PostgresStore, statement_seconds: float | None = None) -> None:
        self.store = store
        self._conn: Any = None
        self._mutex = threading.RLock()
        # a bound on every statement and dead-peer detection, for connections that must not
        # hang (a server's heartbeat, its requests); a state's writes are not cut short
        self.statement_seconds = statement_seconds

    def open(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            dsn, kwargs = connect_kwargs(self.store.environ)
            if self.statement_seconds is not None:
                ms = int(self.statement_seconds * 1000)
                kwargs.update(
                    options=f"{kwargs['options']} -c statement_timeout={ms} -c lock_timeout={ms}",
                    keepalives="1",
                    keepalives_idle="5",
                    keepalives_interval="2",
                    keepalives_count="3",
                )
            try:
                self._conn = psycopg.connect(dsn, autocommit=True, **kwargs)
                self.store.ensure_schema(self._conn)
            except psycopg.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise StateError(describe_pg_error(exc, "connect to", self.store.environ)) from None
        return self._conn

    @contextmanager
    def cursor(self, doing: str, transaction: bool = False) -> Iterator[Any]:
        import psycopg

        with self._mutex:
            conn = self.open()
            try:
                if transaction:
                    with conn.transaction(), conn.cursor() as cur:
                        yield cur
                else:
                    with conn.cursor() as cur:
                        yield cur
            except psycopg.Error as exc:
                raise StateError(describe_pg_error(exc, doing, self.store.environ)) from None

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresStore:
    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.schema = str(settings.get("schema", "nubes"))
        self.quoted = f'"{self.schema}"'  # checked as [a-z_][a-z0-9_]*: a reserved word is fine
        self.environ = dict(environ)
        self.namespace = _key(f"nubes:{self.schema}")
        self.conn = Connection(self)
        self._ready = False
        self.read_only = False  # another stack's store, only read: its tables are never made

    def ensure_schema(self, conn: Any) -> None:
        if self._ready or self.read_only:
            return
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (self.namespace,))
            cur.execute(SCHEMA.format(s=self.quoted))
        self._ready = True

    def t(self, table: str) -> str:
        return f"{self.quoted}.{table}"

    def backend(self, stack: str, workspace: str = DEFAULT_WORKSPACE) -> PostgresBackend:
        return PostgresBackend(self, stack, workspace)

    def stack_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[str]:
        with self.conn.cursor("read") as cur:
            cur.execute(
                f"SELECT DISTINCT stack FROM {self.t('states')} WHERE workspace = %s "
                "ORDER BY stack",
                (workspace,),
            )
            return [row[0] for row in cur.fetchall()]

    def workspaces(self, stack: str) -> list[str]:
        with self.conn.cursor("read") as cur:
            cur.execute(
                f"SELECT DISTINCT workspace FROM {self.t('states')} WHERE stack = %s "
                "ORDER BY workspace",
                (stack,),
            )
            found = [row[0] for row in cur.fetchall() if row[0] != DEFAULT_WORKSPACE]
        return [DEFAULT_WORKSPACE, *found]

    def describe(self) -> str:
        dsn, kwargs = connect_kwargs(self.environ)
        where = kwargs.get("dbname") or kwargs.get("host") or ("NUBES_POSTGRES_DSN" if dsn else "")
        return f"postgres {where} (schema {self.schema})".replace("  ", " ")

    def close(self) -> None:
        self.conn.close()


class PostgresLock:
    """A session-level advisory lock on a connection of its own (the `Lock` protocol)."""

    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        self.conn = Connection(backend.store)
        self.info: LockInfo | None = None
        self.shared = False

    def acquire(self, operation: str, timeout: float, shared: bool) -> LockInfo:
        b = self.backend
        info = new_lock_info(operation)
        deadline = time.monotonic() + timeout
        fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        try:
            while True:
                with self.conn.cursor("lock") as cur:
                    cur.execute(f"SELECT {fn}(%s, %s)", b.lock_key)
                    if cur.fetchone()[0]:
                        break
                if time.monotonic() >= deadline:
                    raise b.held()
                time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
            if not shared:
                with self.conn.cursor("lock", transaction=True) as cur:
                    cur.execute(
                        f"INSERT INTO {b.store.t('locks')} VALUES (%s, %s, %s, "
                        "pg_backend_pid()) ON CONFLICT (stack, workspace) DO UPDATE SET "
                        "info = excluded.info, holder_pid = excluded.holder_pid",
                        (b.stack, b.workspace, json.dumps(info.__dict__)),
                    )
        except BaseException:
            self.conn.close()
            raise
        self.info, self.shared = info, shared
        return info

    def release(self) -> None:
        if self.info is None:
            return
        b = self.backend
        if not self.shared:
            b.writer = None
            try:
                with self.conn.cursor("unlock") as cur:
                    cur.execute(
                        f"DELETE FROM {b.store.t('locks')} WHERE stack = %s AND workspace = %s "
                        "AND holder_pid = pg_backend_pid()",
                        (b.stack, b.workspace),
                    )
            except StateError:
                pass  # the session is gone, and its lock with it
        self.info = None
        self.conn.close()  # ending the session releases the advisory lock

    def __enter__(self) -> PostgresLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class PostgresJournal(RecordJournal):
    def __init__(self, backend: PostgresBackend) -> None:
        super().__init__(f"{backend.describe()} journal")
        self.backend = backend

    def _send(self, records: list[dict[str, Any]]) -> None:
        b = self.backend
        text = "\n".join(json.dumps(r, separators=(",", ":")) for r in records)
        with b.writing("write the journal to") as cur:
            cur.execute(
                f"INSERT INTO {b.store.t('journal')} (stack, workspace, records) "
                "VALUES (%s, %s, %s)",
                (b.stack, b.workspace, text),
            )

    def _load(self) -> list[Any]:
        b = self.backend
        with b.reading("read the journal from") as cur:
            cur.execute(
                f"SELECT records FROM {b.store.t('journal')} WHERE stack = %s AND "
                "workspace = %s ORDER BY seq",
                (b.stack, b.workspace),
            )
            rows = cur.fetchall()
        out: list[Any] = []
        for (text,) in rows:
            for line in text.splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append(None)
        return out

    def _drop(self) -> None:
        b = self.backend
        with b.writing("clear the journal in") as cur:
            cur.execute(
                f"DELETE FROM {b.store.t('journal')} WHERE stack = %s AND workspace = %s",
                (b.stack, b.workspace),
            )


class PostgresBackend:
    def __init__(self, store: PostgresStore, stack: str, workspace: str) -> None:
        self.store = store
        self.stack = stack
        self.workspace = workspace
        self.lock_key = (store.namespace, _key(f"{workspace}/{stack}"))
        self.writer: PostgresLock | None = None  # this backend's exclusive lock, while held
        self.journal = PostgresJournal(self)
        self._seen: tuple[str, int] | None = None
        self._pending: tuple[str, int] | None = None

    def describe(self) -> str:
        return f"{self.store.describe()} stack {self.stack} workspace {self.workspace}"

    def reading(self, doing: str) -> Any:
        return (self.writer.conn if self.writer else self.store.conn).cursor(doing)

    def writing(self, doing: str) -> Any:
        """A cursor in a transaction on the lock's connection (the store's, unlocked)."""
        return (self.writer.conn if self.writer else self.store.conn).cursor(doing, True)

    def _where(self) -> tuple[str, str]:
        return (self.stack, self.workspace)

    def read(self) -> State | None:
        with self.reading("read the state from") as cur:
            cur.execute(
                f"SELECT data FROM {self.store.t('states')} WHERE stack = %s AND "
                "workspace = %s ORDER BY serial DESC LIMIT 1",
                self._where(),
            )
            row = cur.fetchone()
        if row is None:
            self._seen = None
            return None
        hint = " Earlier versions are kept in the states table."
        state = decode_state(bytes(row[0]), self.describe(), self.stack, hint)
        self._seen = (state.lineage, state.serial)
        return state

    def write(self, state: State) -> None:
        self.commit(self.stage(state))

    def stage(self, state: State) -> bytes:
        current = self._pending or self._seen
        if current is None:
            self.read()
            current = self._seen
        data = next_version(state, current, self.describe())
        self._pending = (state.lineage, state.serial)
        return data

    def commit(self, data: bytes) -> None:
        version = version_of(data)
        if version is None:
            raise StateError("refusing to write a state document without lineage and serial")
        lineage, serial = version
        states = self.store.t("states")
        with self.writing("write the state to") as cur:
            cur.execute(
                f"SELECT lineage, serial FROM {states} WHERE stack = %s AND workspace = %s "
                "ORDER BY serial DESC LIMIT 1 FOR UPDATE",
                self._where(),
            )
            latest = cur.fetchone()
            if latest is not None and (latest[0] != lineage or latest[1] != serial - 1):
                self._pending = None
                raise StateError(
                    f"{self.describe()} is at lineage {latest[0]} serial {latest[1]}, not the "
                    f"version this run read; another run wrote it. Nothing was overwritten: "
                    "run nubes plan."
                )
            cur.execute(
                f"INSERT INTO {states} (stack, workspace, serial, lineage, data) "
                "VALUES (%s, %s, %s, %s, %s)",
                (*self._where(), serial, lineage, data),
            )
            cur.execute(
                f"DELETE FROM {states} s WHERE stack = %s AND workspace = %s AND serial < %s "
                f"AND NOT EXISTS (SELECT 1 FROM {self.store.t('history')} h WHERE "
                "h.stack = s.stack AND h.workspace = s.workspace AND h.serial = s.serial)",
                (*self._where(), serial - KEEP_VERSIONS),
            )
        self._pending = None
        self._seen = version

    # ---- locks -----------------------------------------------------------------------------

    def lock(self, operation: str, timeout: float = 0.0, shared: bool = False) -> PostgresLock:
        lock = PostgresLock(self)
        lock.acquire(operation, timeout, shared)
        if not shared:
            self.writer = lock
            self._seen = None  # read again under the lock
        return lock

    def _holders(self) -> list[tuple[str, int]]:
        with self.store.conn.cursor("read the locks of") as cur:
            cur.execute(
                "SELECT mode, pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = %s AND objid = %s AND objsubid = 2",
                self.lock_key,
            )
            return [(row[0], int(row[1])) for row in cur.fetchall()]

    def _recorded(self, pid: int) -> LockInfo | None:
        with self.store.conn.cursor("read the locks of") as cur:
            cur.execute(
                f"SELECT info FROM {self.store.t('locks')} WHERE stack = %s AND workspace = %s "
                "AND holder_pid = %s",
                (*self._where(), pid),
            )
            row = cur.fetchone()
        try:
            return LockInfo(**json.loads(row[0])) if row else None
        except (ValueError, TypeError):
            return None

    def lock_holder(self) -> LockInfo | None:
        for mode, pid in self._holders():
            if mode == "ExclusiveLock":
                return self._recorded(pid) or LockInfo("?", "unknown", 0, "unknown", "")
        return None

    def held(self) -> LockHeld:
        holders = self._holders()
        writer = [pid for mode, pid in holders if mode == "ExclusiveLock"]
        where = self.describe()
        if writer:
            return LockHeld(self._recorded(writer[0]), where)
        return LockHeld(None, where, readers=bool(holders))

    def force_unlock(self, lock_id: str) -> LockInfo:
        writer = self.lock_holder()
        if writer is None:
            with self.store.conn.cursor("unlock") as cur:  # a dead holder's leftover record
                cur.execute(
                    f"DELETE FROM {self.store.t('locks')} WHERE stack = %s AND workspace = %s",
                    self._where(),
                )
            raise StateError("no writer holds the state's lock; nothing was changed")
        if writer.id != lock_id:
            raise StateError(
                f"the lock's id is {writer.id}, not {lock_id} (held by {writer.describe()}); "
                "nothing was changed"
            )
        raise StateError(
            f"lock {writer.id} is held by a live session: {writer.describe()}.\n"
            "PostgreSQL releases it the moment that run's connection ends, so a held lock always "
            f"has a live holder. Wait for it to finish, or stop it (kill {writer.pid} on "
            f"{writer.host or 'its host'}); the next apply finishes its work from the journal. "
            "Nothing was changed."
        )

    # ---- the rest of the protocol --------------------------------------------------------------

    def sibling(self, stack: str) -> PostgresBackend:
        return PostgresBackend(self.store, stack, self.workspace)

    def stack_names(self) -> list[str]:
        return self.store.stack_names(self.workspace)

    def record_apply(
        self,
        state: State,
        text: str,
        digest: str,
        file: str,
        who: str,
        summary: str,
        applied_at: str | None = None,
    ) -> None:
        with self.writing("record the apply in") as cur:
            cur.execute(
                f"INSERT INTO {self.store.t('stack_files')} VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (self.stack, digest, text),
            )
            cur.execute(
                f"INSERT INTO {self.store.t('history')} (stack, workspace, serial, applied_at, "
                "digest, file, who, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    *self._where(),
                    state.serial,
                    applied_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    digest,
                    file,
                    who,
                    summary,
                ),
            )

    def history(self) -> list[HistoryEntry]:
        with self.reading("read the history from") as cur:
            cur.execute(
                f"SELECT serial, applied_at, digest, file, who, summary FROM "
                f"{self.store.t('history')} WHERE stack = %s AND workspace = %s ORDER BY seq",
                self._where(),
            )
            rows = cur.fetchall()
        return [
            HistoryEntry(
                int(serial),
                applied_at,
                digest,
                file,
                who,
                summary,
                f"{self.store.describe()} stack_files {digest[:19]}",
                functools.partial(self._kept_text, digest),
            )
            for serial, applied_at, digest, file, who, summary in rows
        ]

    def _kept_text(self, digest: str) -> str:
        with self.reading("read the history from") as cur:
            cur.execute(
                f"SELECT text FROM {self.store.t('stack_files')} WHERE stack = %s AND digest = %s",
                (self.stack, digest),
            )
            row = cur.fetchone()
        if row is None:
            raise StateError(f"the stack file {digest[:19]} of that apply was not kept")
        return str(row[0])

    def delete(self) -> None:
        with self.writing("delete the state in") as cur:
            for table in ("states", "journal", "history"):
                cur.execute(
                    f"DELETE FROM {self.store.t(table)} WHERE stack = %s AND workspace = %s",
                    self._where(),
                )
        self._seen = None
