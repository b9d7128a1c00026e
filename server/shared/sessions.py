"""Console sessions in a PostgreSQL backend's `sessions` table, so a login on one server of a
team holds on every other behind the same load balancer, and a logout ends it on all.

A row holds the SHA-256 of the cookie's id (a copy of the table opens no session), the user and
the CSRF token. The time a session was last seen is written at most once a minute. Lookups from
the event loop run in a pool of their own (`lookup`, `begin`, `finish`), so a slow database
holds up sign-ins, never other requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from nubes.engine.state.postgres import Connection, PostgresStore
from nubes.server.console.sessions import IDLE_SECONDS, MAX_SECONDS, Session

SEEN_EVERY = 60.0  # seconds between writes of a session's last-seen time


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class PostgresSessions:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.table = store.t("sessions")
        self.conn = Connection(store, 10.0)  # a bound on each statement: none hangs a request
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="nubes-sessions")

    def start(self, user: str) -> Session:
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32))
        with self.conn.cursor("start a session in", transaction=True) as cur:
            cur.execute(
                f"DELETE FROM {self.table} WHERE seen < %s OR created < %s",
                (session.created - IDLE_SECONDS, session.created - MAX_SECONDS),
            )
            cur.execute(
                f"INSERT INTO {self.table} (id_hash, username, csrf, created, seen) "
                "VALUES (%s, %s, %s, %s, %s)",
                (_hash(session.id), user, session.csrf, session.created, session.seen),
            )
        return session

    def get(self, cookie: str | None, touch: bool = True) -> Session | None:
        """The live session of `cookie`; None for none or an ended one; StateError when the
        database cannot answer. `touch` False: not counted as the session's use."""
        if not cookie or len(cookie) > 100:
            return None
        now = time.time()
        # no database: StateError, said as such (never a sign-out in disguise)
        with self.conn.cursor("read a session from") as cur:
            cur.execute(
                f"SELECT username, csrf, created, seen FROM {self.table} WHERE id_hash = %s",
                (_hash(cookie),),
            )
            row = cur.fetchone()
            if row is None:
                return None
            user, csrf, created, seen = row
            if now - seen > IDLE_SECONDS or now - created > MAX_SECONDS:
                cur.execute(f"DELETE FROM {self.table} WHERE id_hash = %s", (_hash(cookie),))
                return None
            if touch and now - seen > SEEN_EVERY:
                cur.execute(
                    f"UPDATE {self.table} SET seen = %s WHERE id_hash = %s",
                    (now, _hash(cookie)),
                )
                seen = now
        return Session(cookie, user, csrf, created, seen)

    def end(self, cookie: str | None) -> None:
        if not cookie or len(cookie) > 100:
            return
        with self.conn.cursor("end a session in") as cur:
            cur.execute(f"DELETE FROM {self.table} WHERE id_hash = %s", (_hash(cookie),))

    async def lookup(self, cookie: str | None, touch: bool = True) -> Session | None:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.get, cookie, touch)

    async def begin(self, user: str) -> Session:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.start, user)

    async def finish(self, cookie: str | None) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self.end, cookie)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.conn.close()
