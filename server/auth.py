"""Checking credentials without letting anyone slow the server down or learn who exists.

* A password is verified with scrypt in a thread of its own pool (a few at a time), never on the
  event loop: a request that is verifying delays no other request.
* A user name that does not exist costs the same scrypt, so the time an answer takes does not
  tell which names exist.
* A successful verification is remembered for a minute (keyed by a keyed hash of the user and
  password, never the password), since Deltacloud clients send Basic with every request.
* Failures are counted per client address: after a few, each further attempt from that address
  waits before it is verified (longer each time, up to a ceiling), and an address has one
  verification in flight at a time, so guessing is slow and crowds out nobody else.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field

import anyio
import anyio.to_thread

from nubes.server.config import ServerConfig, check_password, hash_password, token_hash

CACHE_SECONDS = 60.0
FREE_FAILURES = 5  # failures from one address before attempts are slowed down
FAILURE_WINDOW = 300.0  # seconds a failure counts for
MAX_DELAY = 30.0
VERIFIERS = 2  # scrypt runs at once (each takes tens of milliseconds and 16 MB)


@dataclass
class _Failures:
    count: int = 0
    since: float = field(default_factory=time.monotonic)


class Authenticator:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._secret = os.urandom(32)
        self._decoy = hash_password(os.urandom(16).hex())  # for names that do not exist
        self._verified: dict[bytes, float] = {}  # keyed hash of user:password -> until when
        self._failures: dict[str, _Failures] = {}
        self._in_flight: dict[str, asyncio.Lock] = {}
        self._limiter = anyio.CapacityLimiter(VERIFIERS)

    async def user(self, authorization: str, client: str) -> str | None:
        """The user or token name these credentials authenticate, or None."""
        kind, _, value = authorization.partition(" ")
        if kind.lower() == "bearer" and value:
            wanted = token_hash(value.strip())
            for name, stored in self.config.tokens.items():
                if hmac.compare_digest(stored, wanted):
                    return name
            # not counted against the address: a token cannot be guessed, a check costs
            # nothing, and counting it would let anyone slow everyone's password logins
            return None
        if kind.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        key = hmac.new(self._secret, f"{user}:{password}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        if self._verified.get(key, 0.0) > now:
            return user
        lock = self._in_flight.setdefault(client, asyncio.Lock())
        async with lock:  # one verification at a time from one address
            await asyncio.sleep(self._delay(client))
            known = self.config.users.get(user)
            ok = await anyio.to_thread.run_sync(
                check_password, password, known or self._decoy, limiter=self._limiter
            )
        if ok and known is not None:
            self._remember(key)
            self._failures.pop(client, None)
            return user
        self._failed(client)
        return None

    async def login(self, user: str, secret: str, client: str) -> str | None:
        """The console's login form: a user and password, or a token alone (no user). Each
        failure counts against the address, as a failed Basic login does."""
        if user:
            raw = base64.b64encode(f"{user}:{secret}".encode()).decode()
            return await self.user(f"Basic {raw}", client)
        lock = self._in_flight.setdefault(client, asyncio.Lock())
        async with lock:
            await asyncio.sleep(self._delay(client))
            found = await self.user(f"Bearer {secret}", client) if secret else None
        if found is None:
            self._failed(client)
        return found

    def _delay(self, client: str) -> float:
        failures = self._failures.get(client)
        if failures is None or time.monotonic() - failures.since > FAILURE_WINDOW:
            return 0.0
        over = failures.count - FREE_FAILURES
        return 0.0 if over < 0 else min(MAX_DELAY, 0.25 * 2 ** min(over, 8))

    def _failed(self, client: str) -> None:
        now = time.monotonic()
        failures = self._failures.get(client)
        if failures is None or now - failures.since > FAILURE_WINDOW:
            failures = self._failures[client] = _Failures()
        failures.count += 1
        if len(self._failures) > 10_000:  # forget the oldest: memory stays bounded
            oldest = sorted(self._failures.items(), key=lambda kv: kv[1].since)[:5_000]
            for address, _ in oldest:
                self._failures.pop(address, None)
                self._in_flight.pop(address, None)

    def _remember(self, key: bytes) -> None:
        now = time.monotonic()
        if len(self._verified) > 10_000:
            self._verified = {k: t for k, t in self._verified.items() if t > now}
        self._verified[key] = now + CACHE_SECONDS
