"""The state lock: one writer per stack at a time.

A kernel lock (flock) on `<stack>.lock` is held for the whole operation, so a process that dies,
even by SIGKILL, releases it. The file also records who holds it and since when, which a second
run reports. `force-unlock` removes the file, so a hung holder keeps only a lock on a name nobody
uses any more.
"""

from __future__ import annotations

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

from engine.state.model import StateError


@dataclass(frozen=True)
class LockInfo:
    id: str
    who: str
    pid: int
    operation: str
    created: str

    def describe(self) -> str:
        return f"{self.who} (pid {self.pid}) since {self.created}, for {self.operation}"


class LockHeld(StateError):
    def __init__(self, info: LockInfo | None, path: Path) -> None:
        self.info = info
        holder = info.describe() if info else "another process (no details recorded)"
        lock_id = f" {info.id}" if info else ""
        super().__init__(
            f"the state is locked by {holder}.\n"
            f"Wait for it, retry with --lock-timeout, or, if that run is gone for good, "
            f"nubes force-unlock <stack>{lock_id}  (lock file: {path})"
        )


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
        self.info: LockInfo | None = None

    def acquire(self, operation: str, timeout: float = 0.0) -> LockInfo:
        deadline = time.monotonic() + timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise LockHeld(read_lock_info(self.path), self.path) from None
                time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # force-unlocked (file removed) between open and flock: try again
                os.close(fd)
                continue
            info = LockInfo(
                str(uuid.uuid4()),
                whoami(),
                os.getpid(),
                operation,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(info)).encode(), 0)
            self._fd, self.info = fd, info
            return info

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_lock_info(path: Path) -> LockInfo | None:
    try:
        doc = json.loads(path.read_text() or "null")
        return LockInfo(**doc) if isinstance(doc, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def force_unlock(path: Path, lock_id: str | None) -> LockInfo:
    """Remove the lock file; with `lock_id`, only if it is that lock."""
    info = read_lock_info(path)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        raise StateError("the state is not locked") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # held: this is what force-unlock is for
    else:
        os.unlink(path)
        raise StateError("the state is not locked (a stale lock file was removed)")
    finally:
        os.close(fd)
    if lock_id is not None and (info is None or info.id != lock_id):
        held = info.id if info else "unknown"
        raise StateError(f"the lock's id is {held}, not {lock_id}; nothing was changed")
    path.unlink()
    return info or LockInfo("unknown", "unknown", 0, "unknown", "unknown")
