"""The intent journal: what an apply is about to do to a cloud, written before it does it.

`<state dir>/<stack>.journal` is JSON lines, each appended and fsynced before the call it
announces. A create is announced with its idempotency token (the cloud object carries the same
token as a tag), then its native id once the cloud answers; a delete with the id it removes.
A run killed at any instant leaves at most the intents it had not finished; the next run finds
their objects by token and adopts them (`engine.plan.recover`), so nothing is lost or duplicated.

A torn last line (the process died while appending) is ignored: the call it would have announced
had not been made yet.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nubes.engine.state.files import describe_os_error, ensure_private_dir, open_private
from nubes.engine.state.model import StateError


class IntentKind(StrEnum):
    CREATE = "create"
    DELETE = "delete"


@dataclass
class Intent:
    kind: IntentKind
    address: str
    provider: str
    type: str
    token: str | None = None  # creates: the idempotency token the object is tagged with
    id: str | None = None  # deletes: the object; creates: the new object, once known
    dependencies: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def key(self) -> str:
        return f"create:{self.token}" if self.kind is IntentKind.CREATE else f"delete:{self.id}"


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._fd: int | None = None
        self._appended = 0
        self._synced = 0

    def _append(self, record: dict[str, Any], durable: bool) -> None:
        """Append one record. Intents are on disk before the call they announce returns to the
        caller (the write-ahead rule); outcomes need not be, since losing one only makes the
        next run look the object up by its token. Parallel intents share one fsync."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                fd = self._open()
                _write_line(fd, line)
            except OSError as exc:
                raise StateError(describe_os_error(exc, self.path, "write the journal")) from None
            self._appended += 1
            ticket = self._appended
        if not durable:
            return
        with self._sync_lock:
            if self._synced >= ticket:
                return  # an fsync that began after our write already covered it
            with self._lock:
                covered = self._appended
            try:
                os.fsync(fd)
            except OSError as exc:
                raise StateError(describe_os_error(exc, self.path, "write the journal")) from None
            self._synced = covered

    def _open(self) -> int:
        """The journal, open for appending. A last line left torn by a crash or a full disk is
        ended first, so the next record starts on a line of its own instead of being lost."""
        if self._fd is None:
            ensure_private_dir(self.path.parent)
            fd = open_private(self.path, os.O_RDWR | os.O_APPEND)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                _write_line(fd, b"\n")
            self._fd = fd
        return self._fd

    def will_create(
        self,
        address: str,
        provider: str,
        type: str,
        token: str,
        dependencies: list[str],
        sensitive: list[str],
    ) -> None:
        self._append(
            {
                "intent": "create",
                "address": address,
                "provider": provider,
                "type": type,
                "token": token,
                "dependencies": dependencies,
                "sensitive": sensitive,
            },
            durable=True,
        )

    def created(self, token: str, id: str) -> None:
        self._append({"created": token, "id": id}, durable=False)

    def will_delete(self, address: str, provider: str, type: str, id: str) -> None:
        self._append(
            {"intent": "delete", "address": address, "provider": provider, "type": type, "id": id},
            durable=True,
        )

    def deleted(self, id: str) -> None:
        self._append({"deleted": id}, durable=False)

    def settled(self, key: str) -> None:
        """The intent's outcome is in the state file: nothing is left to resolve."""
        self._append({"settled": key}, durable=False)

    def intents(self) -> list[Intent]:
        """Every intent in the journal, in order, with what is known of its outcome."""
        try:
            fd = open_private(self.path, os.O_RDONLY, create=False)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(describe_os_error(exc, self.path, "read the journal")) from None
        with os.fdopen(fd, "rb") as f:
            raw = f.read()
        records = []
        for line in raw.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append(None)  # torn by a crash while appending
        return replay(records, str(self.path), "line")

    def close(self) -> None:
        with self._sync_lock, self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def clear(self) -> None:
        """Forget every intent: call only once the state file holds all their outcomes."""
        with self._sync_lock, self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _write_line(fd: int, line: bytes) -> None:
    """Append all of `line` or nothing: a write cut short (a full disk) is taken back."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        written = os.write(fd, line)
        while written < len(line):
            written += os.write(fd, line[written:])
    except OSError:
        # the reader skips a torn line, and the next open ends it
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        raise


def _text(record: dict[str, Any], key: str, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _texts(record: dict[str, Any], key: str) -> list[str]:
    value = record.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(key)
    return list(value)


def _apply_record(found: dict[str, Intent], record: Any) -> None:
    if not isinstance(record, dict):
        raise TypeError("record")
    if "intent" in record:
        intent = Intent(
            kind=IntentKind(record["intent"]),
            address=_text(record, "address"),
            provider=_text(record, "provider"),
            type=_text(record, "type"),
            token=_text(record, "token", optional=True),
            id=_text(record, "id", optional=True),
            dependencies=_texts(record, "dependencies"),
            sensitive=_texts(record, "sensitive"),
        )
        if (intent.token if intent.kind is IntentKind.CREATE else intent.id) is None:
            raise ValueError("intent without token or id")
        found[intent.key] = intent
    elif "created" in record:
        target = found.get(f"create:{_text(record, 'created')}")
        if target is not None:
            target.id = _text(record, "id")
    elif "deleted" in record:
        target = found.get(f"delete:{_text(record, 'deleted')}")
        if target is not None:
            target.done = True
    elif "settled" in record:
        found.pop(_text(record, "settled"), None)
    else:
        raise KeyError("record")


def replay(records: list[Any], where: str, unit: str = "record") -> list[Intent]:
    """The intents `records` leave unsettled, in order (None stands for a torn record)."""
    found: dict[str, Intent] = {}
    for number, record in enumerate(records, 1):
        if record is None:
            continue
        try:
            _apply_record(found, record)
        except (KeyError, TypeError, ValueError):
            raise StateError(
                f"journal {where} {unit} {number} is not a nubes journal record; "
                "the journal is damaged. Move it aside, run nubes plan, and check "
                "`nubes inventory` for objects an interrupted apply may have left."
            ) from None
    return list(found.values())


class RecordJournal:
    """A journal kept as records in a remote store (an S3 prefix, a database table).

    Intents are sent before the call they announce returns to the caller; outcomes ride along
    with the next intent (or the next `flush`), since losing one only makes the next run look
    the object up by its token. A subclass says how to send, load and drop records."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._lock = threading.Lock()
        self._buffer: list[dict[str, Any]] = []

    def _send(self, records: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _load(self) -> list[Any]:
        raise NotImplementedError

    def _drop(self) -> None:
        raise NotImplementedError

    def _append(self, record: dict[str, Any], durable: bool) -> None:
        with self._lock:
            self._buffer.append(record)
            if not durable:
                return
            batch, self._buffer = self._buffer, []
            try:
                self._send(batch)
            except BaseException:
                self._buffer[:0] = batch[:-1]  # the outcomes go with the next intent
                raise

    def flush(self) -> None:
        with self._lock:
            if self._buffer:
                batch, self._buffer = self._buffer, []
                self._send(batch)

    def will_create(
        self,
        address: str,
        provider: str,
        type: str,
        token: str,
        dependencies: list[str],
        sensitive: list[str],
    ) -> None:
        self._append(
            {
                "intent": "create",
                "address": address,
                "provider": provider,
                "type": type,
                "token": token,
                "dependencies": dependencies,
                "sensitive": sensitive,
            },
            durable=True,
        )

    def created(self, token: str, id: str) -> None:
        self._append({"created": token, "id": id}, durable=False)

    def will_delete(self, address: str, provider: str, type: str, id: str) -> None:
        self._append(
            {"intent": "delete", "address": address, "provider": provider, "type": type, "id": id},
            durable=True,
        )

    def deleted(self, id: str) -> None:
        self._append({"deleted": id}, durable=False)

    def settled(self, key: str) -> None:
        self._append({"settled": key}, durable=False)

    def intents(self) -> list[Intent]:
        with self._lock:
            pending = list(self._buffer)
        return replay([*self._load(), *pending], self.where)

    def close(self) -> None:
        self.flush()

    def clear(self) -> None:
        with self._lock:
            self._buffer = []
            self._drop()
