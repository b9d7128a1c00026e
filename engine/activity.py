"""The activity log: every change made through the CLI, the API or the console, with who made it,
when, what it was and how it ended. One JSON line per change in `activity.jsonl` of the state
folder, shared by every front end that uses that folder.

A line is written with one `write` on a file opened for appending and locked, so concurrent
writers (a CLI apply beside a running server) never interleave and none is lost to a trim. The
log keeps the newest `KEEP` entries: when the file grows past about twice that, it is rewritten
with the newest `KEEP` (atomically, 0600, under the same lock).
Nothing secret goes in: an entry names objects and outcomes, never parameters' values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

FILE = "activity.jsonl"
KEEP = 50_000
MAX_LINE = 4096  # bytes of one entry: longer text is cut, so one write stays one line
TRIM_BYTES = 2 * KEEP * 300  # about twice KEEP entries of a usual size


class Via(StrEnum):
    CLI = "cli"
    API = "api"
    CONSOLE = "console"


@dataclass(frozen=True)
class Entry:
    at: float  # seconds since the epoch
    who: str
    via: str  # a Via
    action: str  # "apply", "stop", "destroy", "migrate", ...
    target: str  # "stack web", "instance sim/i-1"
    result: str  # "ok", "failed", "refused"
    detail: str = ""
    seq: int = field(default=0, compare=False)  # its place in the log, when read back

    def to_json(self) -> dict[str, object]:
        doc = asdict(self)
        doc["at_text"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        return doc


class Activity(Protocol):
    """Where changes are recorded: this file, or a PostgreSQL backend's activity table
    (nubes.engine.state.pgactivity) that every front end of a team shares."""

    def record(
        self, who: str, via: Via, action: str, target: str, result: str, detail: str = ""
    ) -> None: ...

    def entries(self) -> list[Entry]: ...


def entry_fields(
    who: str, via: Via, action: str, target: str, result: str, detail: str
) -> dict[str, object]:
    """One entry's fields, each cut to its most (text is never secret, but can be long)."""
    return {
        "at": round(time.time(), 3),
        "who": who[:200],
        "via": str(via),
        "action": action[:100],
        "target": target[:500],
        "result": result[:40],
        "detail": detail[:2000],
    }


class ActivityLog:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE
        self._lock = threading.Lock()

    def record(
        self, who: str, via: Via, action: str, target: str, result: str, detail: str = ""
    ) -> None:
        entry = entry_fields(who, via, action, target, result, detail)
        line = json.dumps(entry, ensure_ascii=True).encode()[:MAX_LINE]
        if not line.endswith(b"}"):  # cut: keep it a valid document
            entry["detail"] = ""
            line = json.dumps(entry, ensure_ascii=True).encode()
        with contextlib.suppress(OSError):  # a full disk must not fail the change itself
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = self._open_locked()
            try:
                os.write(fd, line + b"\n")
                size = os.fstat(fd).st_size
                if size > TRIM_BYTES:
                    self._trim(fd)
            finally:
                os.close(fd)  # and with it the lock

    def _open_locked(self) -> int:
        """The log, opened to append and locked: a trim (which replaces the file) waits, and a
        writer that waited on a file a trim replaced opens the new one."""
        while True:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _trim(self, fd: int) -> None:
        """Keep the newest KEEP entries (called holding the lock on `fd`)."""
        with self._lock, open(self.path, "rb") as f:
            lines = f.read().splitlines()
        if len(lines) <= KEEP:
            return
        tmp = self.path.with_name(f".{FILE}.{os.getpid()}.tmp")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(out, b"\n".join(lines[-KEEP:]) + b"\n")
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(tmp, self.path)

    def entries(self) -> list[Entry]:
        """Every entry, oldest first (lines a crash cut short are skipped)."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return []
        found = []
        for seq, line in enumerate(raw.splitlines(), start=1):
            try:
                doc = json.loads(line)
                found.append(
                    Entry(
                        float(doc["at"]),
                        str(doc["who"]),
                        str(doc["via"]),
                        str(doc["action"]),
                        str(doc["target"]),
                        str(doc["result"]),
                        str(doc.get("detail", "")),
                        seq,
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        return found


def matching(
    entries: Iterable[Entry],
    who: str = "",
    via: str = "",
    result: str = "",
    text: str = "",
) -> list[Entry]:
    """The entries that pass every filter given (text: in the action, target or detail)."""
    text = text.lower()
    return [
        e
        for e in entries
        if (not who or e.who == who)
        and (not via or e.via == via)
        and (not result or e.result == result)
        and (not text or text in f"{e.action} {e.target} {e.detail}".lower())
    ]
