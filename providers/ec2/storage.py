"""EBS volumes and snapshots, and S3 buckets, one handler each."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.context import Ec2, default_name
from nubes.providers.errors import ConflictError
from nubes.providers.kit import checks
from nubes.providers.kit.handlers import NoChecks, ReplacedOnly
from nubes.providers.protocol import TOKEN_TAG, CloudObject, Ownership, PlannedChange


class Volumes:
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return [conv.volume(v) for v in self.ec2.described("describe_volumes", "Volumes", filters)]

    def read(self, id: str) -> CloudObject | None:
        return conv.volume(self.ec2.describe_one("describe_volumes", "Volumes", VolumeIds=[id]))

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        checks.check_realm(
            config, self.ec2.zone_names, self.ec2.region, change, ("availability zone", "zones")
        )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        made = t.call(
            t.ec2,
            "create_volume",
            Size=int(desired["size_gb"]),
            AvailabilityZone=desired.get("realm") or self.ec2.zone_names()[0],
            TagSpecifications=conv.tag_spec("volume", tags),
            ClientToken=owner.token[:64],
        )
        vol_id = made["VolumeId"]
        self.ec2.wait_volume(vol_id, "available", timeout)
        if desired.get("instance"):
            self.ec2.attach(vol_id, str(desired["instance"]), desired.get("device"), timeout)
        return self.ec2.must_read("volume", vol_id)

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "instance" in changed or "device" in changed:
            self.ec2.detach(self.ec2.must_read("volume", id))
            if desired.get("instance"):
                self.ec2.attach(id, str(desired["instance"]), desired.get("device"), None)

    def delete(self, id: str) -> None:
        found = self.ec2.read("volume", id)
        if found is None:
            return
        self.ec2.detach(found)
        self.ec2.t.call(self.ec2.t.ec2, "delete_volume", VolumeId=id)


class Snapshots(NoChecks, ReplacedOnly):  # everything but tags forces a new snapshot
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        snapshots = self.ec2.described(
            "describe_snapshots", "Snapshots", filters, OwnerIds=["self"]
        )
        return [conv.snapshot(s) for s in snapshots]

    def read(self, id: str) -> CloudObject | None:
        return conv.snapshot(
            self.ec2.describe_one("describe_snapshots", "Snapshots", SnapshotIds=[id])
        )

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        made = t.call(
            t.ec2,
            "create_snapshot",
            VolumeId=str(desired["volume"]),
            Description=str(desired.get("name") or default_name(owner)),
            TagSpecifications=conv.tag_spec("snapshot", tags),
        )
        snap_id = made["SnapshotId"]
        return t.wait(
            f"snapshot {snap_id}",
            lambda: self.ec2.settled("snapshot", snap_id, "completed"),
            timeout,
        )

    def delete(self, id: str) -> None:
        self.ec2.t.call(self.ec2.t.ec2, "delete_snapshot", SnapshotId=id)


class Buckets(NoChecks, ReplacedOnly):  # a bucket's name is its identity
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        out = []
        t = self.ec2.t
        for b in t.call(t.s3, "list_buckets").get("Buckets", []):
            tags = self.ec2.bucket_tags(b["Name"])
            if all(tags.get(k) == v for k, v in filters.items()):
                out.append(conv.bucket(b["Name"], tags))
        return out

    def read(self, id: str) -> CloudObject | None:
        self.ec2.t.call(self.ec2.t.s3, "head_bucket", Bucket=id)
        return conv.bucket(id, self.ec2.bucket_tags(id))

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        name = str(desired["name"])
        params: dict[str, Any] = {"Bucket": name}
        if t.settings.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": t.settings.region}
        try:
            t.call(t.s3, "create_bucket", **params)
        except ConflictError as exc:
            # created by a run whose response or tagging was lost: adopt it if it is ours
            existing = self.ec2.bucket_tags(name) if exc.code == "BucketAlreadyOwnedByYou" else None
            if existing is None or existing.get(TOKEN_TAG, owner.token) != owner.token:
                raise
        # S3 cannot tag in the creating call; the journal still finds the bucket by its name
        t.call(t.s3, "put_bucket_tagging", Bucket=name, Tagging={"TagSet": conv.tag_list(tags)})
        return conv.bucket(name, tags)

    def delete(self, id: str) -> None:
        self.ec2.t.call(self.ec2.t.s3, "delete_bucket", Bucket=id)
