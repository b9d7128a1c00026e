"""The state lock: one writer per stack at a time, and no reader while it writes.

A kernel lock (flock) on `<stack>.lock` is held for the whole operation, so a process that dies,
even by SIGKILL, releases it. Writers (apply, destroy, import, state rm/mv) take it exclusively
and record in the file who holds it, since when and the lock's id; plans take it shared, so any
number of plans run together but never beside a writer (a plan would otherwise read an apply's
in-flight journal as an interrupted apply and adopt its work).

Because the lock is a kernel lock, a lock that is held has a live holder. `force-unlock` therefore
refuses to break a lock held on this host (stopping the holder is the way), and breaks one held
from another host (a shared file system) only when given its id.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nubes.engine.state.files import describe_os_error, ensure_private_dir, open_private
from nubes.engine.state.model import StateError


@dataclass(frozen=True)
class LockInfo:
    id: str
    who: str
    pid: int
    operation: str
    created: str
    host: str = ""

    def describe(self) -> str:
        return f"{self.who} (pid {self.pid}) since {self.created}, for {self.operation}"


class LockHeld(StateError):
    def __init__(self, info: LockInfo | None, path: Path | str, readers: bool = False) -> None:
        self.info = info
        self.readers_only = readers
        if readers:
            message = (
                "the state is being read by a plan in progress.\n"
                "Wait for it, or retry with --lock-timeout SECONDS."
            )
        elif info is None:
            message = (
                f"the state is locked by another process (no details recorded in {path}).\n"
                "Wait for it, or retry with --lock-timeout SECONDS."
            )
        else:
            message = (
                f"the state is locked by {info.describe()} (lock id {info.id}).\n"
                "That run is still going: wait for it, or retry with --lock-timeout SECONDS."
            )
            if info.host == socket.gethostname() and info.pid:
                message += (
                    f"\nIf it hangs, stop it (kill {info.pid}): a stopped run releases the lock, "
                    "and the next apply finishes its work from the journal."
                )
        super().__init__(message)


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class StateLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.shared = False
        self.info: LockInfo | None = None

    def acquire(self, operation: str, timeout: float = 0.0, shared: bool = False) -> LockInfo:
        deadline = time.monotonic() + timeout
        try:
            ensure_private_dir(self.path.parent)
        except StateError:
            if not shared:
                raise
        how = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        while True:
            info = new_lock_info(
                operation
            )  # ready before the lock, written the moment it is granted
            fd = _open(self.path, shared)
            if fd is None:  # a read-only folder: no writer can exist, so a reader needs no lock
                self.shared = True
                self.info = info
                return self.info
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise _held(self.path) from None
                time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
                continue
            try:
                same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # broken by force-unlock between open and flock: try again
                os.close(fd)
                continue
            if not shared:
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, json.dumps(asdict(info)).encode(), 0)
                except OSError as exc:
                    os.close(fd)
                    raise StateError(
                        describe_os_error(exc, self.path, "write the state lock")
                    ) from None

            self._fd, self.info, self.shared = fd, info, shared
            return info

    def release(self) -> None:
        if self._fd is None:
            return
        if not self.shared:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)  # a free lock records no holder
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def new_lock_info(operation: str) -> LockInfo:
    return LockInfo(
        str(uuid.uuid4()),
        whoami(),
        os.getpid(),
        operation,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        socket.gethostname(),
    )


def _open(path: Path, shared: bool) -> int | None:
    """The lock file, created if missing; None for a reader in a folder it cannot write."""
    try:
        if shared:
            try:
                return open_private(path, os.O_RDONLY, create=False)
            except FileNotFoundError:
                pass
        return open_private(path, os.O_RDWR)
    except StateError:
        raise
    except OSError as exc:
        if shared and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT):
            return None
        raise StateError(describe_os_error(exc, path, "open the state lock")) from None


def _held(path: Path) -> LockHeld:
    """Who holds the lock: readers (plans) only, or a writer, as its file records."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return LockHeld(None, path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return LockHeld(read_lock_info(path), path)
        return LockHeld(None, path, readers=True)
    finally:
        os.close(fd)


def holder(path: Path) -> LockInfo | None:
    """Who holds the lock to write (an apply), or None when nobody does (plans may read)."""
    found = _held(path)
    if getattr(found, "readers_only", False):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return found.info or LockInfo("?", "unknown", 0, "unknown", "")
    finally:
        os.close(fd)
    return None


def read_lock_info(path: Path) -> LockInfo | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, 64 * 1024)
    finally:
        os.close(fd)
    try:
        doc = json.loads(raw or b"null")
        return LockInfo(**doc) if isinstance(doc, dict) else None
    except (ValueError, TypeError):
        return None


def force_unlock(path: Path, lock_id: str) -> LockInfo:
    """Break a writer's lock held from another host, if it is the lock `lock_id`.

    Refuses when the state is not locked, when the lock is another one, when only plans hold it,
    and when its holder runs on this host: a held kernel lock means a live holder, and breaking
    it would let a second run change the clouds beside the first."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise StateError("the state is not locked; nothing was changed") from None
    except OSError as exc:
        raise StateError(f"cannot open the state lock {path}: {exc.strerror}") from None
    try:
        try:  # a shared probe: if it is granted, no writer holds the lock
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            raise StateError("no writer holds the state's lock; nothing was changed")
    finally:
        os.close(fd)
    info = read_lock_info(path)
    if info is None:
        raise StateError(
            f"the state is locked by a process that recorded no details in {path}; "
            "nubes will not break a lock it cannot name. Nothing was changed."
        )
    if info.id != lock_id:
        raise StateError(
            f"the lock's id is {info.id}, not {lock_id} (held by {info.describe()}); "
            "nothing was changed"
        )
    if info.host not in ("", socket.gethostname()):
        # a holder that has just taken the lock writes its own record an instant later: look
        # again, and break nothing if the record changed
        time.sleep(0.2)
        again = read_lock_info(path)
        if again is None or again.id != info.id:
            raise StateError(
                "the lock changed hands while force-unlock looked at it; nothing was changed"
            )
    if info.host in ("", socket.gethostname()):
        raise StateError(
            f"lock {info.id} is held by a live process on this host: {info.describe()}.\n"
            "Breaking it would let a second run change the clouds beside that one, creating "
            "what both create twice and losing track of one copy. Wait for it to finish, or "
            f"stop it (kill {info.pid}): a stopped run releases the lock, and the next apply "
            "finishes its work from the journal. Nothing was changed."
        )
    path.unlink()
    return info
