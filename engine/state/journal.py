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

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Intent:
    kind: str  # "create" or "delete"
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
        return f"create:{self.token}" if self.kind == "create" else f"delete:{self.id}"


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
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, line)
            self._appended += 1
            ticket, fd = self._appended, self._fd
        if not durable:
            return
        with self._sync_lock:
            if self._synced >= ticket:
                return  # an fsync that began after our write already covered it
            with self._lock:
                covered = self._appended
            os.fsync(fd)
            self._synced = covered

    def will_create(
        self, address: str, provider: str, type: str, token: str, dependencies: list[str],
        sensitive: list[str],
    ) -> None:
        self._append({"intent": "create", "address": address, "provider": provider,
                      "type": type, "token": token, "dependencies": dependencies,
                      "sensitive": sensitive}, durable=True)

    def created(self, token: str, id: str) -> None:
        self._append({"created": token, "id": id}, durable=False)

    def will_delete(self, address: str, provider: str, type: str, id: str) -> None:
        self._append({"intent": "delete", "address": address, "provider": provider,
                      "type": type, "id": id}, durable=True)

    def deleted(self, id: str) -> None:
        self._append({"deleted": id}, durable=False)

    def settled(self, key: str) -> None:
        """The intent's outcome is in the state file: nothing is left to resolve."""
        self._append({"settled": key}, durable=False)

    def intents(self) -> list[Intent]:
        """Every intent in the journal, in order, with what is known of its outcome."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        found: dict[str, Intent] = {}
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # torn by a crash while appending
            if not isinstance(record, dict):
                continue
            if record.get("intent") in ("create", "delete"):
                intent = Intent(
                    kind=record["intent"], address=record["address"],
                    provider=record["provider"], type=record["type"],
                    token=record.get("token"), id=record.get("id"),
                    dependencies=list(record.get("dependencies") or []),
                    sensitive=list(record.get("sensitive") or []),
                )
                found[intent.key] = intent
            elif "created" in record and f"create:{record['created']}" in found:
                found[f"create:{record['created']}"].id = record.get("id")
            elif "deleted" in record and f"delete:{record['deleted']}" in found:
                found[f"delete:{record['deleted']}"].done = True
            elif "settled" in record:
                found.pop(record["settled"], None)
        return list(found.values())

    def clear(self) -> None:
        """Forget every intent: call only once the state file holds all their outcomes."""
        with self._sync_lock, self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
