"""The sim driver: the protocol in front of `SimCloud`, with a transport that models a real one.

Every call pays `latency_ms`, may fail with an injected throttling error at `fail_rate` (seeded by
`seed`), and is retried with exponential backoff and jitter, as the real drivers' transports do.
"""

from __future__ import annotations

import builtins
import fnmatch
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from nubes.providers import features
from nubes.providers.constraints import S3_BUCKET_NAME
from nubes.providers.errors import (
    CancelledError,
    CreateIncompleteError,
    NotFoundError,
    ProviderError,
    TimeoutError_,
    TransientError,
)
from nubes.providers.kit import checks
from nubes.providers.kit.choose import newest_image
from nubes.providers.lookup import by_id, check_criteria
from nubes.providers.planning import plan_from_schema
from nubes.providers.protocol import (
    PORTABLE,
    Blob,
    CloudObject,
    DriverContext,
    DriverInfo,
    HardwareProfile,
    Image,
    Metric,
    Ownership,
    PlannedChange,
    Realm,
    TypeSchema,
    tightened,
)
from nubes.providers.registry import api_name
from nubes.providers.sim import catalog
from nubes.providers.sim.config import SimConfig, parse_config
from nubes.providers.values import Unknown

if TYPE_CHECKING:  # the cloud and its SQLite store load on first use, not for `nubes validate`
    from nubes.providers.sim.cloud import SimCloud
    from nubes.providers.sim.store import Row, Store

T = TypeVar("T")
SCHEMA = tightened(PORTABLE, "bucket", "name", S3_BUCKET_NAME)
_STORES: dict[Path, Store] = {}
_STORES_LOCK = threading.Lock()


def _store(path: Path, busy_seconds: float | None = None) -> Store:
    """One store per database file and process, shared by every driver using it."""
    from nubes.providers.sim.store import BUSY_SECONDS, Store

    key = path.parent.resolve() / path.name  # the file itself is never followed if a symlink
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = Store(key, BUSY_SECONDS if busy_seconds is None else busy_seconds)
        return _STORES[key]


class BootFailed(ProviderError):
    """An instance went to the error state instead of running."""


# Deltacloud's features of the collections this driver serves (those of Deltacloud's mock)
FEATURES = {
    "instances": (
        features.USER_NAME,
        features.USER_DATA,
        features.AUTHENTICATION_KEY,
        features.FIREWALLS,
        features.REALM_FILTER,
        features.HARDWARE_PROFILE_OVERRIDES,
    ),
    "images": (features.OWNER_ID,),
}


class SimDriver:
    name = "sim"

    def __init__(self) -> None:
        self.config = SimConfig()
        self._cloud: SimCloud | None = None
        self._path: Path | None = None
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        self.calls = 0  # API calls made, for benchmarks and tests
        self.faults = 0  # faults injected by fail_rate
        self._cancel = threading.Event()

    # ---- setup -----------------------------------------------------------------------------

    def schema(self) -> Mapping[str, TypeSchema]:
        return SCHEMA

    def configure(self, config: Mapping[str, Any], context: DriverContext) -> list[tuple[str, str]]:
        parsed, problems = parse_config(config)
        if problems:
            return problems
        if parsed.api_key_sha256 is not None:
            key = context.credentials.get("api_key") or context.environ.get("NUBES_SIM_API_KEY")
            if not key:
                return [
                    (
                        "api_key_sha256",
                        "this sim cloud needs an API key: set NUBES_SIM_API_KEY "
                        "or api_key in the credentials file",
                    )
                ]
            if hashlib.sha256(key.encode()).hexdigest() != parsed.api_key_sha256:
                return [("api_key_sha256", "AuthFailure: the sim cloud refused the API key")]
        self.config = parsed
        # opened on first use, not here: validate configures drivers and must touch nothing
        self._cancel = context.cancel  # set when the run stops: boots are no longer waited for
        folder = Path(parsed.data_dir) if parsed.data_dir else context.state_dir / "sim"
        self._path = folder / "cloud.sqlite"
        self._cloud = None
        self._rng = random.Random(parsed.seed)
        return []

    @property
    def region(self) -> str:
        return self.config.region

    def info(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            api_name=api_name(self.name),  # Deltacloud's clients know the sim as "mock"
            location=self.config.region,
            types=frozenset(self.schema()),
            features=FEATURES,
            actions={"instances": features.INSTANCE_ACTIONS},
        )

    @property
    def cloud(self) -> SimCloud:
        if self._cloud is None:
            if self._path is None:
                raise ProviderError("the sim driver is not configured")
            from nubes.providers.sim.cloud import SimCloud

            self._cloud = SimCloud(_store(self._path, self.config.busy_seconds), self.config)
        return self._cloud

    # ---- transport -------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """One API call: pays latency, may meet an injected fault, retries transient errors
        with exponential backoff and jitter within `max_retries` and `retry_seconds`.

        Half the injected faults lose the request (nothing happens); the other half lose the
        response after the cloud acted, as real networks do, so retries must be idempotent."""
        cfg = self.config
        deadline = time.monotonic() + cfg.retry_seconds
        last: TransientError | None = None
        for attempt in range(cfg.max_retries + 1):
            self.calls += 1
            if cfg.latency_ms:
                time.sleep(cfg.latency_ms / 1000)
            with self._rng_lock:
                failed = cfg.fail_rate > 0 and self._rng.random() < cfg.fail_rate
                after = self._rng.random() < 0.5
                jitter = self._rng.random()
            try:
                if failed and after:
                    fn()
                if failed:
                    self.faults += 1
                    raise TransientError(
                        "Request limit exceeded (injected by the sim cloud's fail_rate)",
                        "RequestLimitExceeded",
                    )
                return fn()
            except TransientError as exc:
                last = exc
            pause = min(0.002 * 2**attempt, 0.1) * (0.5 + jitter)
            if time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        assert last is not None
        raise last

    # ---- reads -----------------------------------------------------------------------------

    def list(self, type: str, filters: Mapping[str, str]) -> list[CloudObject]:
        cloud = self.cloud
        rows = self._call(lambda: cloud.store.select(type, cloud.region, filters))
        return [cloud.to_object(r) for r in rows]

    def list_page(
        self, type: str, filters: Mapping[str, str], start: int, size: int
    ) -> tuple[int, builtins.list[CloudObject]]:
        cloud = self.cloud

        def page() -> tuple[int, builtins.list[Row]]:
            total = cloud.store.count(type, cloud.region, filters)
            if size == 0 or start >= total:
                return total, []
            return total, cloud.store.select(type, cloud.region, filters, start, size)

        total, rows = self._call(page)
        return total, [cloud.to_object(r) for r in rows]

    def attached_volumes(self, instances: Sequence[str]) -> dict[str, builtins.list[str]]:
        cloud = self.cloud
        found: dict[str, builtins.list[str]] = {}
        for instance, volume in self._call(lambda: cloud.store.attached(cloud.region, instances)):
            found.setdefault(instance, []).append(volume)
        return found

    def read(self, type: str, id: str) -> CloudObject | None:
        cloud = self.cloud
        row = self._call(lambda: cloud.store.get(id, type))
        if row is None or row.region != cloud.region:
            return None
        return cloud.to_object(row)

    def lookup(self, type: str, criteria: Mapping[str, Any]) -> CloudObject | None:
        if type != "image":
            return by_id(type, criteria, self.read)
        check_criteria("image", criteria, {"id", "name"})
        wanted_id, pattern = criteria.get("id"), str(criteria.get("name", "*"))
        best = newest_image(
            i
            for i in self.images()
            if (
                i.id == wanted_id if wanted_id is not None else fnmatch.fnmatchcase(i.name, pattern)
            )
        )
        if best is None:
            return None
        attrs: dict[str, Any] = {
            "id": best.id,
            "name": best.name,
            "instance": None,
            "state": best.state,
            "tags": {},
        }
        return CloudObject("image", best.id, attrs)

    def realms(self) -> builtins.list[Realm]:
        return catalog.realms_of(self.config.catalog, self.config.region)

    def hardware_profiles(self) -> builtins.list[HardwareProfile]:
        return list(catalog.profiles_of(self.config.catalog))

    def images(self) -> builtins.list[Image]:
        return self._call(self.cloud.images)

    def image(self, id: str) -> Image | None:
        return next((i for i in self.images() if i.id == id), None)

    def hardware_profile(self, id: str) -> HardwareProfile | None:
        return next((p for p in catalog.profiles_of(self.config.catalog) if p.id == id), None)

    # ---- planning --------------------------------------------------------------------------

    def plan_change(
        self, type: str, prior: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> PlannedChange:
        change = plan_from_schema(PORTABLE[type], prior, config)
        _ = self.cloud  # a plan reaches the cloud, as any would: an unusable store fails here
        planner = {
            "instance": self._plan_instance,
            "volume": self._plan_realm,
            "firewall": self._plan_firewall,
            "subnet": self._plan_realm,
            "load_balancer": self._plan_load_balancer,
        }.get(type)
        if planner is not None:
            planner(prior, config, change)
        return change

    def _realm_names(self) -> builtins.list[str]:
        return [r.id for r in self.realms()]

    def _plan_instance(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        cloud = self.cloud
        if config.get("state") not in (None, "running", "stopped", Unknown):
            change.problems.append(("state", "state must be running or stopped"))
        image = checks.check_value("image", config, lambda v: cloud.find_image(str(v)), change)
        profile = checks.check_value("size", config, lambda v: cloud.find_profile(v)[0], change)
        checks.check_realm(config, self._realm_names, f"region {self.config.region}", change)
        if image is not None and profile is not None:
            checks.check_architectures(image, profile, change, image.name, profile.id)
        size = config.get("size", Unknown)
        if prior is not None and size is not Unknown and size != prior.get("size"):
            change.planned["hardware_profile"] = Unknown

    def _plan_realm(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_realm(config, self._realm_names, f"region {self.config.region}", change)

    def _plan_load_balancer(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_listeners_planned(config, change)
        checks.check_realms(config, self._realm_names, f"region {self.config.region}", change)

    def _plan_firewall(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_rules_planned(config, change)  # as the cloud will store them

    # ---- changes ---------------------------------------------------------------------------

    def create(
        self,
        type: str,
        desired: Mapping[str, Any],
        owner: Ownership,
        timeout: float | None = None,
    ) -> CloudObject:
        cloud = self.cloud
        with self._rng_lock:
            fails = type == "instance" and self._rng.random() < self.config.boot_fail_rate
        row = self._call(lambda: cloud.create(type, desired, owner, fails))
        obj = cloud.to_object(row)
        if type == "instance":
            try:
                obj = self._wait_running(obj, timeout)
            except (TimeoutError_, BootFailed) as exc:
                raise CreateIncompleteError(str(exc), self.read(type, obj.id) or obj) from None
        return obj

    def update(
        self, type: str, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> CloudObject:
        cloud = self.cloud
        changed = {k: v for k, v in desired.items() if prior.get(k) != v}
        if type == "load_balancer" and "instances" in changed:
            # members change one by one, as ELB registers them: a change made meanwhile stays
            before, after = prior.get("instances") or [], changed.pop("instances") or []
            changed["register"] = [i for i in after if i not in before]
            changed["deregister"] = [i for i in before if i not in after]
        row = self._call(lambda: cloud.update(type, id, changed))
        obj = cloud.to_object(row)
        return self._wait_running(obj) if type == "instance" else obj

    def delete(self, type: str, id: str) -> None:
        cloud = self.cloud
        self._call(lambda: cloud.delete(type, id))

    def claim(self, type: str, id: str, owner: Ownership) -> None:
        cloud = self.cloud

        def tag() -> None:
            with cloud.store.transaction():
                row = cloud.get(type, id)
                row.tags = {**row.tags, **owner.tags()}
                cloud.store.save(row)

        self._call(tag)

    def unclaim(self, type: str, id: str) -> None:
        cloud = self.cloud

        def untag() -> None:
            with cloud.store.transaction():
                row = cloud.get(type, id)
                row.tags = {k: v for k, v in row.tags.items() if not k.startswith("nubes:")}
                cloud.store.save(row)

        self._call(untag)

    def export_volume(self, id: str) -> bytes:
        cloud = self.cloud
        return str(self._call(lambda: cloud.get("volume", id)).attrs.get("data", "")).encode()

    def import_volume(self, id: str, data: bytes) -> None:
        cloud = self.cloud

        def write() -> None:
            with cloud.store.transaction():
                row = cloud.get("volume", id)
                row.attrs["data"] = data.decode()
                cloud.store.save(row)

        self._call(write)

    # ---- blobs ---------------------------------------------------------------------------

    def _blob(
        self,
        bucket: str,
        key: str,
        size: int,
        kind: str,
        modified: float,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(modified))
        return Blob(bucket, key, size, kind, stamp, dict(metadata or {}))

    def _bucket(self, bucket: str) -> None:
        if self.read("bucket", bucket) is None:
            raise NotFoundError(f"bucket {bucket} does not exist", "NoSuchBucket")

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        self._bucket(bucket)
        rows = self._call(lambda: self.cloud.store.blob_list(bucket))
        return [self._blob(bucket, k, size, c, m) for k, c, size, m in rows]

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        self._bucket(bucket)
        start = data.tell() if data.seekable() else None

        def put() -> tuple[int, float]:
            if start is not None:
                data.seek(start)  # a retried call sends the whole content again
            return self.cloud.store.put_blob(bucket, key, data, content_type, metadata)

        size, modified = self._call(put)
        return self._blob(bucket, key, size, content_type, modified, metadata)

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> Blob | None:
        self._bucket(bucket)
        if not self._call(lambda: self.cloud.store.set_blob_metadata(bucket, key, metadata)):
            return None
        return self.blob_info(bucket, key)

    def blob_info(self, bucket: str, key: str) -> Blob | None:
        self._bucket(bucket)
        store = self.cloud.store

        def look() -> tuple[list[tuple[str, str, int, float]], dict[str, str]]:
            return store.blob_list(bucket, key), store.blob_metadata(bucket, key)

        rows, metadata = self._call(look)  # one API call, as a cloud's HEAD is
        if not rows:
            return None
        k, c, size, m = rows[0]
        return self._blob(bucket, k, size, c, m, metadata)

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        info = self.blob_info(bucket, key)
        if info is None:
            return None
        return info, self.cloud.store.blob_chunks(bucket, key)

    def delete_blob(self, bucket: str, key: str) -> None:
        self._bucket(bucket)
        self._call(lambda: self.cloud.store.delete_blob(bucket, key))

    # ---- quotas and metrics --------------------------------------------------------------

    def quotas(self) -> dict[str, int | None]:
        return {"instances": self.config.max_instances}

    def metrics(self, instance: str) -> builtins.list[Metric]:
        from nubes.providers.sim import metrics

        cloud = self.cloud
        row = self._call(lambda: cloud.get("instance", instance))
        state = cloud.to_object(row).attributes.get("state")
        return metrics.metrics(
            row.id,
            row.attrs.get("launched_at"),
            state == "running",
            float(row.attrs.get("cpus") or 1),
            float(row.attrs.get("memory_gb") or 1),
        )

    def act(self, type: str, id: str, action: str) -> CloudObject:
        cloud = self.cloud
        row = self._call(lambda: cloud.act(id, action))
        return self._wait_running(cloud.to_object(row))

    def _wait_running(self, obj: CloudObject, timeout: float | None = None) -> CloudObject:
        deadline = time.monotonic() + (timeout or self.config.boot_seconds * 5 + 60)
        while obj.attributes.get("state") in ("pending", "error"):
            if obj.attributes["state"] == "error":
                raise BootFailed(f"instance {obj.id} failed to boot (state error)", "BootFailed")
            ready = self.cloud.store.get(obj.id)
            if ready is None:
                raise ProviderError(f"instance {obj.id} disappeared while starting")
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError_(f"instance {obj.id} did not reach running in time")
            remaining = float(ready.attrs.get("ready_at", 0)) - time.time()
            if self._cancel.wait(max(0.0, min(remaining, deadline - now, 1.0))):
                raise CancelledError(f"stopped waiting for instance {obj.id} to boot")
            found = self.read("instance", obj.id)
            if found is None:
                raise ProviderError(f"instance {obj.id} disappeared while starting")
            obj = found
        return obj
