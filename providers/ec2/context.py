"""What the EC2 handlers share: the transport, lookups cached per driver, and the waits."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping
from typing import Any

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.transport import Transport
from nubes.providers.errors import (
    CreateIncompleteError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
)
from nubes.providers.kit.handlers import Handlers
from nubes.providers.protocol import CloudObject, HardwareProfile, Ownership, Realm


class Ec2:
    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.handlers: Handlers | None = None  # set by the driver once its handlers exist
        # asked once per plan, not once per instance: kept CACHE_SECONDS, so a long-lived
        # server (which keeps its drivers configured) sees a deregistered AMI within a minute
        self._zones: tuple[float, builtins.list[str]] | None = None
        # (when, the instance types as profiles, their names)
        self._profiles: tuple[float, builtins.list[HardwareProfile], set[str]] | None = None
        self._images: dict[str, tuple[float, bool]] = {}

    @property
    def region(self) -> str:
        return self.t.settings.region

    def read(self, type: str, id: str) -> CloudObject | None:
        """One object, None when EC2 says there is none (NotFound, a malformed id, S3's 404):
        what every internal read (plans, waits, deletes) and the driver's own read take."""
        assert self.handlers is not None
        try:
            return self.handlers[type].read(id)
        except (NotFoundError, IndexError):
            return None
        except InvalidRequestError as exc:
            if exc.code.endswith(".Malformed") or exc.code == "404":
                return None
            raise

    def described(
        self,
        operation: str,
        key: str,
        filters: Mapping[str, str],
        more: builtins.list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> Iterator[Any]:
        """Every item a Describe call lists whose tags match `filters` (and the `more`
        filters), following every page."""
        wanted = tag_filters(filters) + (more or [])
        return self.t.pages(self.t.ec2, operation, key, Filters=wanted, **params)

    def describe_one(self, operation: str, key: str, **params: Any) -> Any:
        """The first item a Describe call by id answers; IndexError when there is none (which
        `read` takes as absent)."""
        return self.t.call(self.t.ec2, operation, **params)[key][0]

    def must_read(self, type: str, id: str) -> CloudObject:
        found = self.read(type, id)
        if found is None:
            raise NotFoundError(f"{type} {id} vanished right after it was created")
        return found

    # ---- lookups a plan makes per instance, asked once per driver ----------------------------

    def realms(self) -> builtins.list[Realm]:
        zones = self.t.call(self.t.ec2, "describe_availability_zones")["AvailabilityZones"]
        return [Realm(z["ZoneName"], z["ZoneName"], z.get("State", "available")) for z in zones]

    def zone_names(self) -> builtins.list[str]:
        if self._zones is None or _stale(self._zones[0]):
            self._zones = (time.monotonic(), [r.id for r in self.realms()])
        return self._zones[1]

    def profiles(self) -> builtins.list[HardwareProfile]:
        """Every instance type as a profile (hundreds of them, over several pages)."""
        if self._profiles is None or _stale(self._profiles[0]):
            pages = self.t.pages(self.t.ec2, "describe_instance_types", "InstanceTypes")
            found = sorted((conv.hardware_profile(it) for it in pages), key=lambda p: p.id)
            self._profiles = (time.monotonic(), found, {p.id for p in found})
        return self._profiles[1]

    def instance_types(self) -> set[str]:
        self.profiles()
        assert self._profiles is not None
        return self._profiles[2]

    def image_exists(self, image: str) -> bool:
        seen = self._images.get(image)
        if seen is None or _stale(seen[0]):
            seen = (time.monotonic(), self.read("image", image) is not None)
            self._images[image] = seen
        return seen[1]

    # ---- waits -------------------------------------------------------------------------------

    def wait_instance(
        self, id: str, wanted: tuple[str, ...], timeout: float | None = None
    ) -> CloudObject:
        def probe() -> CloudObject | None:
            found = self.read("instance", id)
            if found is None:
                raise ProviderError(
                    f"instance {id} terminated while waiting for {'/'.join(wanted)}"
                )
            return found if found.attributes["state"] in wanted else None

        return self.t.wait(f"instance {id} to be {'/'.join(wanted)}", probe, timeout)

    def wait_volume(self, id: str, state: str, timeout: float | None = None) -> CloudObject:
        def probe() -> CloudObject | None:
            found = self.must_read("volume", id)
            return found if found.attributes["state"] == state else None

        return self.t.wait(f"volume {id} to be {state}", probe, timeout)

    def settled(self, type: str, id: str, done: str) -> CloudObject | None:
        """A snapshot or image once it reached `done`; CreateIncompleteError if it failed."""
        found = self.must_read(type, id)
        if found.attributes["state"] == "error":
            raise CreateIncompleteError(f"{type} {id} failed", found)
        return found if found.attributes["state"] == done else None

    # ---- what several types do ---------------------------------------------------------------

    def bucket_tags(self, name: str) -> dict[str, str]:
        try:
            found = self.t.call(self.t.s3, "get_bucket_tagging", Bucket=name)
        except NotFoundError:
            return {}  # NoSuchTagSet: a bucket without tags
        except ProviderError as exc:
            if exc.code == "NoSuchTagSet":
                return {}
            raise
        return {t["Key"]: t["Value"] for t in found.get("TagSet", [])}

    def tag_target(self, type: str, id: str) -> str:
        """The id EC2's tag calls take: key pairs are tagged by KeyPairId, not by name."""
        if type != "key" or id.startswith("key-"):
            return id
        pairs = self.t.call(self.t.ec2, "describe_key_pairs", KeyNames=[id]).get("KeyPairs") or []
        return str(pairs[0].get("KeyPairId", id)) if pairs else id

    def attach(self, volume: str, instance: str, device: Any, timeout: float | None) -> None:
        self.t.call(
            self.t.ec2,
            "attach_volume",
            VolumeId=volume,
            InstanceId=instance,
            Device=str(device or "/dev/sdf"),
        )
        self.wait_volume(volume, "in-use", timeout)

    def detach(self, volume: CloudObject) -> None:
        if volume.attributes.get("instance"):
            self.t.call(
                self.t.ec2,
                "detach_volume",
                VolumeId=volume.id,
                InstanceId=volume.attributes["instance"],
                Device=volume.attributes.get("device") or "/dev/sdf",
            )
            self.wait_volume(volume.id, "available")


CACHE_SECONDS = 60.0


def _stale(since: float) -> bool:
    return time.monotonic() - since > CACHE_SECONDS


def default_name(owner: Ownership) -> str:
    """A name for an object the stack left unnamed: `<stack>-<address>`, as EC2 takes it."""
    return f"{owner.stack}-{owner.address}".replace('"', "").replace("[", "-").replace("]", "")


def tag_filters(tags: dict[str, str] | Any) -> builtins.list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]


__all__ = ["Ec2", "conv", "default_name", "tag_filters"]
