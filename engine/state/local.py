"""The local state backend: `<state dir>/<stack>.json`, written atomically.

Each write goes to a temporary file in the same folder, is fsynced, and renamed over the old one;
the previous version is kept as `<stack>.json.backup`. Files are mode 0600. A state of another
lineage is never overwritten, a state of a newer format is never read.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.gcpause import gc_paused
from engine.state.journal import Journal
from engine.state.lock import StateLock, force_unlock
from engine.state.model import STATE_FORMAT, State, StateError
from engine.state.upgrade import upgrade


@dataclass(frozen=True)
class HistoryEntry:
    serial: int
    applied_at: str
    digest: str
    file: str
    who: str
    summary: str
    stack_file: Path


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalBackend:
    def __init__(self, state_dir: Path, stack: str) -> None:
        self.state_dir = state_dir
        self.stack = stack
        self.path = state_dir / f"{stack}.json"
        self.backup_path = state_dir / f"{stack}.json.backup"
        self.lock_path = state_dir / f"{stack}.lock"
        self.history_dir = state_dir / "history" / stack
        self.journal = Journal(state_dir / f"{stack}.journal")
        # ((inode, mtime, size), (lineage, serial)) of the file as this backend last wrote it
        self._seen: tuple[tuple[int, int, int], tuple[str, int]] | None = None
        self._pending: tuple[str, int] | None = None

    # ---- state -----------------------------------------------------------------------------

    def read(self) -> State | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return self._parse(raw, self.path)

    def _parse(self, raw: bytes, path: Path) -> State:
        backup = f" Restore the previous version from {self.backup_path}." if path == self.path else ""
        try:
            with gc_paused():
                doc = json.loads(raw)
        except ValueError as exc:
            raise StateError(f"state file {path} is corrupt or truncated ({exc}).{backup}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("format"), int):
            raise StateError(f"state file {path} is not a nubes state document.{backup}")
        if doc["format"] > STATE_FORMAT:
            raise StateError(
                f"state file {path} has format {doc['format']}, newer than this nubes "
                f"understands ({STATE_FORMAT}); upgrade nubes"
            )
        try:
            return State.from_json(upgrade(doc))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"state file {path} is malformed ({exc}).{backup}") from None

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
        on_disk = self._pending or self._on_disk()
        if on_disk is not None and on_disk[0] != state.lineage:
            raise StateError(
                f"state file {self.path} belongs to lineage {on_disk[0]}, not "
                f"{state.lineage}; refusing to overwrite it"
            )
        state.serial = (on_disk[1] if on_disk else state.serial) + 1
        self._pending = (state.lineage, state.serial)
        return json.dumps(state.to_json(), indent=1).encode() + b"\n"

    def commit(self, data: bytes) -> None:
        """Replace the state file with `data` atomically, keeping the old file as the backup."""
        if self.path.exists():
            # the old file's inode becomes the backup: no copy, and never a torn backup
            link = self.backup_path.with_name(f".{self.backup_path.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            os.link(self.path, link)
            os.replace(link, self.backup_path)
        _atomic_write(self.path, data)
        st = self.path.stat()
        if self._pending is not None:
            self._seen = ((st.st_ino, st.st_mtime_ns, st.st_size), self._pending)
        self._pending = None

    def lock(self, operation: str, timeout: float = 0.0) -> StateLock:
        lock = StateLock(self.lock_path)
        lock.acquire(operation, timeout)
        self._sweep()
        return lock

    def _sweep(self) -> None:
        """Remove the temporary files a killed writer can leave (safe only under the lock)."""
        for pattern in (f".{self.path.name}.*.tmp", f".{self.backup_path.name}.*"):
            for leftover in self.state_dir.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    def force_unlock(self, lock_id: str | None) -> Any:
        return force_unlock(self.lock_path, lock_id)

    # ---- history ---------------------------------------------------------------------------

    def record_apply(self, state: State, text: str, digest: str, file: str, who: str,
                     summary: str) -> None:
        """Keep the applied stack file (once per content) and a line about the apply."""
        stored = self.history_dir / f"{digest.removeprefix('sha256:')}.yaml"
        if not stored.exists():
            _atomic_write(stored, text.encode())
        entry = {
            "serial": state.serial,
            "applied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "digest": digest,
            "file": file,
            "who": who,
            "summary": summary,
        }
        self.history_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.history_dir / "index.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self) -> list[HistoryEntry]:
        try:
            lines = (self.history_dir / "index.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                e = json.loads(line)
                out.append(
                    HistoryEntry(e["serial"], e["applied_at"], e["digest"], e["file"], e["who"],
                                 e["summary"],
                                 self.history_dir / f"{e['digest'].removeprefix('sha256:')}.yaml")
                )
            except (ValueError, KeyError):
                continue  # a torn last line from a crash: skip it
        return out
