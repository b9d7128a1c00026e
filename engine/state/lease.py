"""Locks kept as records with a lease, for stores without kernel locks (S3, DynamoDB).

The writer's lock is one record, created only if absent (S3's `If-None-Match: *`, DynamoDB's
`attribute_not_exists`); readers (plans) each add a record of their own. Both publish first and
look for the other after, so a writer and a reader never both go ahead. The holder renews its
record every third of the lease; a record not renewed within the lease belongs to a process that
died, and the next writer takes it over (conditionally on the record it saw, so two cannot).
`force-unlock` refuses a lock whose holder still renews it.

The lease is read against this machine's clock: clocks must agree to well within it (30 s by
default; `NUBES_LOCK_LEASE_SECONDS`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from dataclasses import asdict
from typing import Any, Protocol

from nubes.engine.state.lock import LockHeld, LockInfo, new_lock_info
from nubes.engine.state.model import StateError

DEFAULT_LEASE = 30.0


def lease_seconds(environ: Any = os.environ) -> float:
    try:
        value = float(environ.get("NUBES_LOCK_LEASE_SECONDS", DEFAULT_LEASE))
    except ValueError:
        return DEFAULT_LEASE
    return min(max(value, 1.0), 3600.0)


class Records(Protocol):
    """Conditional writes of small JSON records; a token names one version of a record."""

    def create(self, name: str, doc: dict[str, Any]) -> str | None:
        """Write `name` if it does not exist: its token, or None when it does."""
        ...

    def replace(self, name: str, doc: dict[str, Any], token: str) -> str | None:
        """Overwrite `name` if it is still at `token`: the new token, or None."""
        ...

    def get(self, name: str) -> tuple[dict[str, Any], str] | None: ...

    def delete(self, name: str) -> None: ...

    def names(self, prefix: str) -> list[str]: ...


def _fresh(doc: dict[str, Any], lease: float) -> bool:
    renewed = doc.get("renewed")
    return isinstance(renewed, int | float) and time.time() - renewed < lease


def _lock_info(doc: dict[str, Any]) -> LockInfo | None:
    try:
        return LockInfo(
            str(doc["id"]),
            str(doc["who"]),
            int(doc["pid"]),
            str(doc["operation"]),
            str(doc["created"]),
            str(doc.get("host", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


class LeaseLock:
    """One operation's hold on a stack's lock (the `Lock` protocol)."""

    def __init__(self, records: Records, name: str, where: str, lease: float) -> None:
        self.records = records
        self.name = name
        self.where = where
        self.lease = lease
        self.info: LockInfo | None = None
        self.shared = False
        self.lost = False  # the record was taken from this holder (force-unlock, a long stall)
        self._held: str | None = None  # the record's name while held
        self._token = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._renewed = self._stamped = time.monotonic()  # when our record was last stamped

    # ---- acquiring ---------------------------------------------------------------------------

    def acquire(self, operation: str, timeout: float = 0.0, shared: bool = False) -> LockInfo:
        info = new_lock_info(operation)
        deadline = time.monotonic() + timeout
        self.info, self.shared = info, shared
        if shared:
            self._acquire_shared(info, deadline)
        else:
            self._acquire_exclusive(info, deadline)
        return info

    def _doc(self, info: LockInfo) -> dict[str, Any]:
        self._stamped = time.monotonic()  # the lease of the record written runs from here
        return {**asdict(info), "renewed": time.time(), "lease": self.lease}

    def _hold(self, name: str, token: str) -> None:
        """The record is ours: keep it renewed from now on (also while waiting for readers)."""
        self._held, self._token, self._renewed = name, token, self._stamped
        self._renewer = threading.Thread(target=self._renew, name="nubes-lock-lease", daemon=True)
        self._renewer.start()

    def _wait(self, deadline: float, held: LockHeld) -> None:
        if time.monotonic() >= deadline:
            raise held
        time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))

    def _acquire_exclusive(self, info: LockInfo, deadline: float) -> None:
        while True:
            token = self.records.create(self.name, self._doc(info))
            if token is not None:
                break
            found = self.records.get(self.name)
            if found is None:
                continue  # released between the two calls
            doc, seen = found
            if not _fresh(doc, self.lease):
                token = self.records.replace(self.name, self._doc(info), seen)
                if token is not None:
                    break  # its holder died: taken over
                continue
            self._wait(deadline, LockHeld(_lock_info(doc), self.where))
        self._hold(self.name, token)
        try:
            while self._readers():
                self._wait(deadline, LockHeld(None, self.where, readers=True))
        except BaseException:
            self.release()
            raise

    def _readers(self) -> bool:
        for name in self.records.names(f"{self.name}.readers/"):
            found = self.records.get(name)
            if found is None:
                continue
            if _fresh(found[0], self.lease):
                return True
            with contextlib.suppress(StateError):
                self.records.delete(name)  # a dead plan's record
        return False

    def _acquire_shared(self, info: LockInfo, deadline: float) -> None:
        name = f"{self.name}.readers/{uuid.uuid4().hex}"
        while True:
            token = self.records.create(name, self._doc(info))
            if token is None:  # a name of 128 random bits taken: try another
                name = f"{self.name}.readers/{uuid.uuid4().hex}"
                continue
            found = self.records.get(self.name)
            if found is None or not _fresh(found[0], self.lease):
                self._hold(name, token)
                return
            self.records.delete(name)
            self._wait(deadline, LockHeld(_lock_info(found[0]), self.where))

    # ---- holding -----------------------------------------------------------------------------

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 3):
            held = self._held
            if held is None or self.info is None:
                return
            try:
                token = self.records.replace(held, self._doc(self.info), self._token)
            except StateError:
                continue  # the store is unreachable for now: try again within the lease
            if token is None:
                self.lost = True
                return
            self._token, self._renewed = token, self._stamped

    def check(self) -> None:
        """Raise unless this holder still holds the lock (before a state write). A holder that
        could not renew its record for most of the lease stops before another may take it."""
        if not self.lost and time.monotonic() - self._renewed > self.lease * 0.8:
            self.lost = True
        if self.lost:
            raise StateError(
                f"the state lock ({self.where}) was taken from this run (force-unlock, or it "
                "could not renew its lease); nothing more is written. Run nubes plan."
            )

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        self._release_record()

    def _release_record(self) -> None:
        if self._held is None:
            return
        held, self._held = self._held, None
        if self.lost:
            return  # someone else's record now
        with contextlib.suppress(StateError):
            self.records.delete(held)

    def __enter__(self) -> LeaseLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder(records: Records, name: str, lease: float) -> LockInfo | None:
    found = records.get(name)
    if found is None or not _fresh(found[0], lease):
        return None
    return _lock_info(found[0]) or LockInfo("?", "unknown", 0, "unknown", "")


def force_unlock(records: Records, name: str, where: str, lock_id: str, lease: float) -> LockInfo:
    """Break a writer's lock whose holder stopped renewing it, if it is the lock `lock_id`."""
    found = records.get(name)
    if found is None:
        raise StateError("the state is not locked; nothing was changed")
    doc, _ = found
    info = _lock_info(doc)
    if info is None:
        raise StateError(
            f"the lock record {where} is not one nubes wrote; remove it by hand if you are "
            "sure no run holds it. Nothing was changed."
        )
    if info.id != lock_id:
        raise StateError(
            f"the lock's id is {info.id}, not {lock_id} (held by {info.describe()}); "
            "nothing was changed"
        )
    if _fresh(doc, lease):
        age = time.time() - float(doc["renewed"])
        raise StateError(
            f"lock {info.id} is held by a live run: {info.describe()}, which renewed it "
            f"{age:.0f} s ago (its lease is {lease:.0f} s).\n"
            "Breaking it would let a second run change the clouds beside that one. Wait for it "
            f"to finish, or stop it (kill {info.pid} on {info.host or 'its host'}): a stopped "
            "run's lease lapses, and the next apply takes the lock over and finishes its work "
            "from the journal. Nothing was changed."
        )
    records.delete(name)
    return info
