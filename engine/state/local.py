"""The local state backend: `<state dir>/<stack>.json`, written atomically.

Each write goes to a temporary file in the same folder, is fsynced, and renamed over the old one;
the previous version is kept as `<stack>.json.backup`. Files are mode 0600. A state of another
lineage is never overwritten, a state of a newer format is never read.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from nubes.engine.state.backend import HistoryEntry
from nubes.engine.state.codec import decode_state, next_version
from nubes.engine.state.files import (
    describe_os_error,
    ensure_private_dir,
    open_private,
    refuse_linked_folders,
)
from nubes.engine.state.journal import Journal
from nubes.engine.state.lock import LockInfo, StateLock, force_unlock, holder
from nubes.engine.state.model import State, StateError

MAX_STATE_BYTES = 1024 * 1024 * 1024  # far beyond any real stack; a limit, not a target
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a temporary file, fsynced, renamed over it (a rename replaces
    a planted symlink itself, never its target)."""
    ensure_private_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StateError(describe_os_error(exc, path.parent, "write in")) from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StateError(describe_os_error(exc, path, "write")) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_private(path: Path, limit: int) -> bytes | None:
    """The bytes of one of nubes' own files, None if it does not exist."""
    try:
        fd = open_private(path, os.O_RDONLY, create=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(describe_os_error(exc, path, "read")) from None
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size > limit:
            raise StateError(f"{path} is larger than {limit // 2**20} MiB; it is not a state file")
        try:
            return f.read()
        except OSError as exc:
            raise StateError(describe_os_error(exc, path, "read")) from None


class LocalBackend:
    """A stack's state in a folder of this machine (the `Backend` protocol's first store)."""

    def __init__(self, state_dir: Path, stack: str) -> None:
        self.state_dir = state_dir
        self.stack = stack
        self.path = state_dir / f"{stack}.json"
        self.backup_path = state_dir / f"{stack}.json.backup"
        self.lock_path = state_dir / f"{stack}.lock"
        self.history_dir = state_dir / "history" / stack
        self.journal = Journal(state_dir / f"{stack}.journal")
        self.workspace = "default"
        self.store: Any = None  # the LocalStore that opened it, if one did
        # ((inode, mtime, size), (lineage, serial)) of the file as this backend last wrote it
        self._seen: tuple[tuple[int, int, int], tuple[str, int]] | None = None
        self._pending: tuple[str, int] | None = None

    # ---- state -----------------------------------------------------------------------------

    def read(self) -> State | None:
        raw = _read_private(self.path, MAX_STATE_BYTES)
        return None if raw is None else self._parse(raw, self.path)

    def _parse(self, raw: bytes, path: Path) -> State:
        backup = (
            f" Restore the previous version from {self.backup_path}." if path == self.path else ""
        )
        return decode_state(raw, str(path), self.stack, backup)

    def write(self, state: State) -> None:
        """Write `state` with its serial bumped; refuses to overwrite another lineage."""
        self.commit(self.stage(state))

    def _on_disk(self) -> tuple[str, int] | None:
        """(lineage, serial) of the file, from memory while the file is as this backend left it."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        if self._seen is not None and self._seen[0] == (st.st_ino, st.st_mtime_ns, st.st_size):
            return self._seen[1]
        current = self.read()
        return None if current is None else (current.lineage, current.serial)

    def stage(self, state: State) -> bytes:
        """Bump `state`'s serial and encode it, for `commit`. Stage and commit in one order."""
        data = next_version(state, self._pending or self._on_disk(), str(self.path))
        self._pending = (state.lineage, state.serial)
        return data

    def commit(self, data: bytes) -> None:
        """Replace the state file with `data` atomically, keeping the old file as the backup."""
        try:
            if self.path.exists():
                # the old file's inode becomes the backup: no copy, and never a torn backup
                link = self.backup_path.with_name(f".{self.backup_path.name}.{os.getpid()}")
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
                os.link(self.path, link, follow_symlinks=False)
                os.replace(link, self.backup_path)
        except OSError as exc:
            raise StateError(describe_os_error(exc, self.backup_path, "write")) from None
        _atomic_write(self.path, data)
        st = self.path.stat()
        if self._pending is not None:
            self._seen = ((st.st_ino, st.st_mtime_ns, st.st_size), self._pending)
        self._pending = None

    def lock(self, operation: str, timeout: float = 0.0, shared: bool = False) -> StateLock:
        """Take the stack's lock: shared for a plan, exclusive for anything that writes. An
        exclusive lock also proves the folder writable, before any cloud is touched."""
        lock = StateLock(self.lock_path)
        lock.acquire(operation, timeout, shared)
        if not shared:
            try:
                self._sweep()
                self._probe()
            except BaseException:
                lock.release()
                raise
        return lock

    def _probe(self) -> None:
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.state_dir
            )
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise StateError(describe_os_error(exc, self.state_dir, "write in")) from None

    def _sweep(self) -> None:
        """Remove the temporary files a killed writer can leave (safe only under the lock)."""
        for pattern in (f".{self.path.name}.*.tmp", f".{self.backup_path.name}.*"):
            for leftover in self.state_dir.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    def force_unlock(self, lock_id: str) -> LockInfo:
        return force_unlock(self.lock_path, lock_id)

    def lock_holder(self) -> LockInfo | None:
        return holder(self.lock_path)

    def sibling(self, stack: str) -> LocalBackend:
        if self.store is not None:
            return self.store.backend(stack, self.workspace)
        return LocalBackend(self.state_dir, stack)

    def describe(self) -> str:
        return str(self.path)

    def delete(self) -> None:
        """Remove this stack's state in this workspace: state, backup, journal, lock, history
        (the caller holds the lock and has checked that nothing is managed)."""
        self.journal.close()
        for path in (self.path, self.backup_path, self.journal.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self.history_dir.is_dir() and not self.history_dir.is_symlink():
            for kept in self.history_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    kept.unlink()
            with contextlib.suppress(OSError):
                self.history_dir.rmdir()

    def stack_names(self) -> list[str]:
        if not self.state_dir.is_dir():
            return []
        return sorted(p.stem for p in self.state_dir.glob("*.json") if p.is_file())

    # ---- history ---------------------------------------------------------------------------

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
        """Keep the applied stack file (once per content) and a line about the apply."""
        ensure_private_dir(self.history_dir, inside=self.state_dir)
        stored = self.history_dir / f"{digest.removeprefix('sha256:')}.yaml"
        try:
            kept = stored.lstat()
        except FileNotFoundError:
            kept = None
        if kept is None or not stat.S_ISREG(kept.st_mode):
            _atomic_write(stored, text.encode())
        entry = {
            "serial": state.serial,
            "applied_at": applied_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "digest": digest,
            "file": file,
            "who": who,
            "summary": summary,
        }
        index = self.history_dir / "index.jsonl"
        fd = open_private(index, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
            os.fsync(fd)
        except OSError as exc:
            raise StateError(describe_os_error(exc, index, "write")) from None
        finally:
            os.close(fd)

    def history(self) -> list[HistoryEntry]:
        refuse_linked_folders(self.history_dir, self.state_dir)
        raw = _read_private(self.history_dir / "index.jsonl", MAX_STATE_BYTES)
        if raw is None:
            return []
        out = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                e = json.loads(line)
                digest = e["digest"]
                if not _DIGEST.fullmatch(digest):
                    continue
                kept = self.history_dir / f"{digest.removeprefix('sha256:')}.yaml"
                out.append(
                    HistoryEntry(
                        int(e["serial"]),
                        str(e["applied_at"]),
                        str(digest),
                        str(e["file"]),
                        str(e["who"]),
                        str(e["summary"]),
                        str(kept),
                        functools.partial(self._kept_text, kept),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                continue  # a torn last line from a crash: skip it
        return out

    def _kept_text(self, kept: Path) -> str:
        raw = _read_private(kept, MAX_STATE_BYTES)
        if raw is None:
            raise StateError(f"{kept} is missing: the stack file of that apply was not kept")
        return raw.decode("utf-8", "replace")
