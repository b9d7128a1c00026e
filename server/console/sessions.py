"""Browser sessions: what a login on the console's form gives, in a cookie.

The cookie holds only a random id (HttpOnly, SameSite=Strict, Secure behind https); the server
keeps the user and the session's CSRF token. Every change a session makes, to the console or to
the API, must carry that token (the `X-CSRF-Token` header, or a `csrf` form field): a page of
another site can make the browser send the cookie, never the token. Sessions end after
`IDLE_SECONDS` without a request, `MAX_SECONDS` after the login, or at logout.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

COOKIE = "nubes_session"
IDLE_SECONDS = 8 * 3600
MAX_SECONDS = 7 * 24 * 3600
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    user: str
    csrf: str
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)


class SessionStore(Protocol):
    """Where sessions are kept: this server's memory (`Sessions`), or a database every server
    of a team shares (nubes.server.shared.sessions)."""

    def start(self, user: str) -> Session: ...

    def get(self, cookie: str | None, touch: bool = True) -> Session | None: ...

    def end(self, cookie: str | None) -> None: ...

    async def lookup(self, cookie: str | None, touch: bool = True) -> Session | None: ...

    async def begin(self, user: str) -> Session: ...

    async def finish(self, cookie: str | None) -> None: ...

    def close(self) -> None: ...


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, user: str) -> Session:
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32))
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                self._sweep()
            if len(self._by_id) >= MAX_SESSIONS:  # still full: the oldest go
                for old in sorted(self._by_id.values(), key=lambda s: s.seen)[: MAX_SESSIONS // 10]:
                    self._by_id.pop(old.id, None)
            self._by_id[session.id] = session
        return session

    def get(self, cookie: str | None, touch: bool = True) -> Session | None:
        """The live session of `cookie`, or None; `touch` False: a check that the session
        holds, which does not count as its use (an open page's live channel)."""
        if not cookie or len(cookie) > 100:
            return None
        now = time.time()
        with self._lock:
            session = self._by_id.get(cookie)
            if session is None:
                return None
            if now - session.seen > IDLE_SECONDS or now - session.created > MAX_SECONDS:
                del self._by_id[cookie]
                return None
            if touch:
                session.seen = now
            return session

    def end(self, cookie: str | None) -> None:
        with self._lock:
            self._by_id.pop(cookie or "", None)

    # the same, awaited: a session kept in a database is read in a thread, never on the loop
    async def lookup(self, cookie: str | None, touch: bool = True) -> Session | None:
        return self.get(cookie, touch)

    async def begin(self, user: str) -> Session:
        return self.start(user)

    async def finish(self, cookie: str | None) -> None:
        self.end(cookie)

    def close(self) -> None:
        pass

    def _sweep(self) -> None:
        now = time.time()
        for sid, s in list(self._by_id.items()):
            if now - s.seen > IDLE_SECONDS or now - s.created > MAX_SECONDS:
                del self._by_id[sid]


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
