"""What every configured cloud holds, refreshed in the background, one cloud at a time.

Each cloud is refreshed in its own provider pool, every `refresh_seconds`, with the time allowed
to one provider (`limits.provider_seconds`); a cloud that fails or hangs keeps its last answer,
marked with the error and its age, and a hung refresh is not started again until its thread has
come back. Pages read the snapshot and never wait for a cloud. A change an API call makes asks
for an early refresh of its cloud (`poke`).

Each refresh publishes what changed on the bus (rows of instances added, changed or gone, and the
cloud's card) and records the cloud's running count in `console/counts.jsonl` of the state
folder, so the overview's chart outlives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nubes.providers.catalog import DEFAULT_IMAGES
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import Driver, Quotas
from nubes.server.calls import Calls
from nubes.server.console.bus import Bus

COUNTS_FILE = "counts.jsonl"
COUNTS_KEEP_SECONDS = 14 * 24 * 3600
COUNTS_MAX_BYTES = 8 * 1024 * 1024  # about 14 days of 8 clouds sampled each minute
COUNT_EVERY = 60.0  # seconds between two samples of an unchanged count
MAX_EVENT_ROWS = 200  # more changed rows than this in one refresh: the event says reload
STATES = ("running", "pending", "stopping", "stopped", "terminated", "error")


@dataclass
class Cloud:
    provider: str
    driver: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # instance id -> row
    counts: dict[str, int] = field(default_factory=dict)  # images, volumes, addresses
    quotas: dict[str, dict[str, int | None]] = field(default_factory=dict)
    fetched_at: float | None = None
    took: float = 0.0
    error: str | None = None
    busy: bool = False  # a refresh is in flight (or hung in its thread)
    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    def count_states(self) -> None:
        by_state = dict.fromkeys(STATES, 0)
        for row in self.rows.values():
            by_state[row["state"]] = by_state.get(row["state"], 0) + 1
        self.by_state = by_state

    def card(self, now: float | None = None) -> dict[str, Any]:
        by_state = dict(self.by_state)
        age = None if self.fetched_at is None else max(0.0, (now or time.time()) - self.fetched_at)
        return {
            "provider": self.provider,
            "driver": self.driver,
            "reachable": self.error is None and self.fetched_at is not None,
            "error": self.error,
            "fetched_at": self.fetched_at,
            "age": age,
            "instances": len(self.rows),
            "states": by_state,
            "counts": self.counts,
            "quotas": self.quotas,
        }


def _row(provider: str, obj: Any, images: dict[str, str], managed: dict[Any, Any]) -> dict:
    a = obj.attributes
    state = str(a.get("state") or "unknown")
    image = str(a.get("image") or "")
    portable = image if image in DEFAULT_IMAGES else images.get(str(a.get("image_id") or image))
    stack, address = managed.get((provider, obj.id), (None, None))
    addresses = [str(a[k]) for k in ("public_ip", "private_ip") if a.get(k)]
    row = {
        "provider": provider,
        "id": obj.id,
        "name": str(a.get("name") or obj.id),
        "state": state if state in STATES else "unknown",
        "realm": str(a.get("realm") or ""),
        "profile": str(a.get("hardware_profile") or ""),
        "image": portable or image,
        "addresses": addresses,
        "stack": stack,
        "address": address,
        "tags": {k: v for k, v in obj.tags.items() if not k.startswith("nubes:")},
        "launched_at": a.get("launched_at"),
    }
    row["search"] = " ".join(
        [row["name"], obj.id, row["image"], row["realm"], row["profile"], *addresses, stack or ""]
        + [f"{k}={v}" for k, v in row["tags"].items()]
    ).lower()
    return row


def portable_images(provider: str, driver: Driver) -> dict[str, str]:
    """Native image id -> portable catalog name, for the catalog's entries this cloud has."""
    found: dict[str, str] = {}
    kind = driver.info().name
    for name, entries in DEFAULT_IMAGES.items():
        spec = entries.get(provider, entries.get(kind))
        if spec is None:
            continue
        if isinstance(spec, str):
            found[spec] = name
            continue
        with contextlib.suppress(ProviderError):
            image = driver.lookup("image", spec)
            if image is not None:
                found.setdefault(image.id, name)
    return found


def refresh_one(provider: str, driver: Driver, managed: dict[Any, Any], images: dict) -> dict:
    """One cloud's answer (runs in the provider's pool): rows, counts and quotas."""
    types = driver.schema()
    objects = driver.list("instance", {}) if "instance" in types else []
    counts = {"images": len(driver.images())}
    for type_, key in (("volume", "volumes"), ("address", "addresses")):
        if type_ in types:
            counts[key] = len(driver.list(type_, {}))
    rows = {o.id: _row(provider, o, images, managed) for o in objects}
    used = {
        "instances": sum(1 for r in rows.values() if r["state"] != "terminated"),
        "addresses": counts.get("addresses"),
        "volumes": counts.get("volumes"),
    }
    limits = driver.quotas() if isinstance(driver, Quotas) else {}
    quotas = {name: {"used": used.get(name), "limit": most} for name, most in limits.items()}
    return {"rows": rows, "counts": counts, "quotas": quotas}


class Inventory:
    def __init__(
        self,
        calls: Calls,
        drivers: dict[str, str],  # provider -> driver name
        bus: Bus,
        folder: Path,
        managed: Callable[[], dict[Any, Any]],
        refresh_seconds: float,
    ) -> None:
        self.calls = calls
        self.clouds = {name: Cloud(name, kind) for name, kind in drivers.items()}
        self.bus = bus
        self.folder = folder
        self.managed_of = managed
        self.refresh_seconds = refresh_seconds
        self._images: dict[str, tuple[float, dict[str, str]]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._first: dict[str, asyncio.Event] = {}
        self._last_count: dict[str, tuple[float, int]] = {}
        self.version = 0  # bumped on every change of any cloud's rows (for caches of views)
        self._rows: tuple[int, list[dict[str, Any]], list[str]] = (-1, [], [])

    def start(self) -> None:
        if self._tasks:
            return
        for name in self.clouds:
            self._wake[name] = asyncio.Event()
            self._first[name] = asyncio.Event()
            self._tasks.append(asyncio.ensure_future(self._loop(name)))

    def poke(self, provider: str) -> None:
        """Refresh this cloud soon (a change was made to it). On the loop only."""
        if provider in self._wake:
            self._wake[provider].set()

    def poke_all(self) -> None:
        for name in self._wake:
            self.poke(name)

    async def ready(self, seconds: float) -> None:
        """Wait (at most `seconds`) until every cloud has answered once or failed."""
        waits = [asyncio.ensure_future(e.wait()) for e in self._first.values()]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=seconds)
            for w in pending:
                w.cancel()

    async def _loop(self, name: str) -> None:
        while True:
            try:
                await self.refresh(name)
            except Exception as exc:  # a bug must not stop this cloud's refreshes for good
                self._failed(self.clouds[name], f"a bug in nubes: {type(exc).__name__}")
            self._first[name].set()
            wake = self._wake[name]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.refresh_seconds)
            wake.clear()

    async def refresh(self, name: str) -> None:
        cloud = self.clouds[name]
        if cloud.busy:
            return  # the last one has not come back from its thread
        cloud.busy = True
        started = time.time()
        driver = self.calls.drivers[name]

        def work() -> dict[str, Any]:
            try:
                return refresh_one(name, driver, self.managed_of(), self.image_names(name))
            finally:
                cloud.busy = False

        task = asyncio.ensure_future(self.calls.run_for(name, work))
        done, _ = await asyncio.wait([task], timeout=self.calls.seconds)
        if not done:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._failed(cloud, f"did not answer within {self.calls.seconds:g} s")
            return
        error = task.exception()
        if error is not None:
            message = f"{error.code}: {error}" if isinstance(error, ProviderError) else repr(error)
            self._failed(cloud, message)
            return
        self._apply(cloud, task.result(), time.time() - started)

    def image_names(self, name: str) -> dict[str, str]:
        """Native image id -> portable name on this cloud (asked again every 10 minutes)."""
        cached = self._images.get(name)
        if cached is None or time.time() - cached[0] > 600:
            cached = (time.time(), portable_images(name, self.calls.drivers[name]))
            self._images[name] = cached
        return cached[1]

    def _failed(self, cloud: Cloud, message: str) -> None:
        changed = cloud.error != message
        cloud.error = message
        if changed:
            self.bus.publish("cloud", cloud.card())

    def _apply(self, cloud: Cloud, found: dict[str, Any], took: float) -> None:
        old, new = cloud.rows, found["rows"]
        changed = [row for id_, row in new.items() if old.get(id_) != row]
        gone = [id_ for id_ in old if id_ not in new]
        was_ok = cloud.error is None and cloud.fetched_at is not None
        card_before = (cloud.counts, cloud.quotas)
        cloud.rows, cloud.counts, cloud.quotas = new, found["counts"], found["quotas"]
        cloud.count_states()
        cloud.fetched_at, cloud.took, cloud.error = time.time(), took, None
        if changed or gone:
            self.version += 1
            many = len(changed) + len(gone) > MAX_EVENT_ROWS  # the bus keeps events small
            self.bus.publish(
                "instances",
                {
                    "provider": cloud.provider,
                    "changed": [] if many else [_public(r) for r in changed],
                    "added": [] if many else [id_ for id_ in new if id_ not in old],
                    "gone": [] if many else gone,
                    "reload": many,
                },
            )
        if changed or gone or not was_ok or card_before != (cloud.counts, cloud.quotas):
            self.bus.publish("cloud", cloud.card())
        self._count(cloud)

    # ---- the running counts over time ----------------------------------------------------

    def _count(self, cloud: Cloud) -> None:
        running = sum(1 for r in cloud.rows.values() if r["state"] == "running")
        now = time.time()
        last = self._last_count.get(cloud.provider)
        if last is not None and last[1] == running and now - last[0] < COUNT_EVERY:
            return
        self._last_count[cloud.provider] = (now, running)
        line = json.dumps({"t": round(now, 1), "p": cloud.provider, "n": running})
        with contextlib.suppress(OSError):
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.folder / COUNTS_FILE
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, line.encode() + b"\n")
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > COUNTS_MAX_BYTES:  # the newest half stays (written by this server only)
                kept = _tail(path, COUNTS_MAX_BYTES // 2)
                tmp = path.with_name(f".{COUNTS_FILE}.tmp")
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                try:
                    os.write(out, kept)
                finally:
                    os.close(out)
                os.replace(tmp, path)

    def series(self) -> dict[str, Any]:
        """Running instances per cloud over time, for the overview's chart: `t` the sample
        times, and per provider its count at each (carried forward between its samples)."""
        raw = _tail(self.folder / COUNTS_FILE, COUNTS_MAX_BYTES)
        since = time.time() - COUNTS_KEEP_SECONDS
        samples: list[tuple[float, str, int]] = []
        for line in raw.splitlines():
            try:
                doc = json.loads(line)
                if doc["t"] >= since and doc["p"] in self.clouds:
                    samples.append((float(doc["t"]), str(doc["p"]), int(doc["n"])))
            except (ValueError, KeyError, TypeError):
                continue
        samples.sort()
        times: list[float] = []
        current: dict[str, int | None] = dict.fromkeys(self.clouds)
        columns: dict[str, list[int | None]] = {p: [] for p in self.clouds}
        for t, provider, n in samples:
            current[provider] = n
            times.append(t)
            for p in self.clouds:
                columns[p].append(current[p])
        return {"t": times, "series": columns}

    # ---- reads for the pages ---------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """Every cloud's rows (one list per inventory version: a page does not rebuild it)."""
        if self._rows[0] != self.version:
            rows = [row for cloud in self.clouds.values() for row in cloud.rows.values()]
            stacks = sorted({r["stack"] for r in rows if r["stack"]})
            self._rows = (self.version, rows, stacks)
        return self._rows[1]

    def stack_names(self) -> list[str]:
        self.rows()
        return self._rows[2]

    def row(self, provider: str, id: str) -> dict[str, Any] | None:
        cloud = self.clouds.get(provider)
        return None if cloud is None else cloud.rows.get(id)


def _tail(path: Path, limit: int) -> bytes:
    """The whole lines in the last `limit` bytes of a file (nothing if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            raw = f.read()
    except OSError:
        return b""
    return raw if size <= limit else raw.partition(b"\n")[2]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "search"}
