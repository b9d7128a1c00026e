"""The Amazon EC2 driver (`driver: ec2`): instances, keys, security groups, EBS volumes and
snapshots, elastic IPs, AMIs, VPCs and subnets, classic load balancers, and S3 buckets, through
boto3.

Layers: `transport` (clients, retries, pagination, waits), `errors` (AWS codes to typed errors,
a kit error map), `converters` (AWS documents to the portable model, kit state maps), one
handler per type (`compute`, `network`, `storage`), `tags` and `blobs`. This module configures
them and dispatches each protocol call to its type's handler, once.

Every create tags the object with the stack, its address and the idempotency token in the same
call (`TagSpecifications`), and sends the token as `ClientToken` where EC2 takes one.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from nubes.providers import features
from nubes.providers.constraints import S3_BUCKET_NAME
from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2 import metrics as ec2_metrics
from nubes.providers.ec2 import settings as ec2_settings
from nubes.providers.ec2.balancing import LoadBalancers
from nubes.providers.ec2.blobs import S3Blobs
from nubes.providers.ec2.compute import Images, Instances, Keys
from nubes.providers.ec2.context import Ec2
from nubes.providers.ec2.network import Addresses, Firewalls
from nubes.providers.ec2.storage import Buckets, Snapshots, Volumes
from nubes.providers.ec2.tags import BalancerTags, BucketTags, Ec2Tags, Tagger
from nubes.providers.ec2.transport import Transport
from nubes.providers.ec2.vpc import Interfaces, Networks, Subnets
from nubes.providers.errors import InvalidRequestError, NotFoundError, ProviderError
from nubes.providers.kit.choose import newest_image
from nubes.providers.kit.handlers import Handler, Handlers
from nubes.providers.lookup import by_id, check_criteria
from nubes.providers.planning import plan_from_schema
from nubes.providers.protocol import (
    ADDRESS_TAG,
    PORTABLE,
    STACK_TAG,
    TOKEN_TAG,
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

SCHEMA = tightened(PORTABLE, "bucket", "name", S3_BUCKET_NAME)
NAMED_BY_TAG = (
    "instance",
    "volume",
    "snapshot",
    "network",
    "subnet",
    "network_interface",
)  # their name is EC2's Name tag

# Deltacloud's features of the collections this driver serves
FEATURES = {
    "instances": (  # as Deltacloud's EC2 driver: no user_name
        features.USER_DATA,
        features.AUTHENTICATION_KEY,
        features.FIREWALLS,
        features.REALM_FILTER,
        features.HARDWARE_PROFILE_OVERRIDES,
    ),
    "images": (features.OWNER_ID,),
}
ACTIONS = ("start", "stop", "reboot")


class Ec2Driver:
    name = "ec2"

    def __init__(self) -> None:
        self._ec2: Ec2 | None = None
        self._handlers: Handlers | None = None
        self._blobs: S3Blobs | None = None

    @property
    def ec2(self) -> Ec2:
        if self._ec2 is None:
            raise ProviderError("the ec2 driver is not configured")
        return self._ec2

    @property
    def t(self) -> Transport:
        return self.ec2.t

    @property
    def handlers(self) -> Handlers:
        if self._handlers is None:
            raise ProviderError("the ec2 driver is not configured")
        return self._handlers

    @property
    def region(self) -> str:
        return self.t.settings.region

    @property
    def calls(self) -> int:
        return self.t.calls

    def info(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            api_name=self.name,
            location=self.t.settings.region,
            types=frozenset(self.schema()),
            features=FEATURES,
            actions={"instances": features.INSTANCE_ACTIONS},
        )

    def schema(self) -> Mapping[str, TypeSchema]:
        return SCHEMA

    def configure(self, config: Mapping[str, Any], context: DriverContext) -> list[tuple[str, str]]:
        settings, problems = ec2_settings.parse(config)
        if settings is None:
            return problems
        try:
            transport = Transport(settings, context.credentials, context.cancel)
        except Exception as exc:  # botocore's profile and config errors
            return [("profile" if settings.profile else "region", f"{type(exc).__name__}: {exc}")]
        ec2 = Ec2(transport)
        table: dict[str, Handler] = {
            "instance": Instances(ec2),
            "key": Keys(ec2),
            "firewall": Firewalls(ec2),
            "volume": Volumes(ec2),
            "snapshot": Snapshots(ec2),
            "address": Addresses(ec2),
            "image": Images(ec2),
            "bucket": Buckets(ec2),
            "network": Networks(ec2),
            "subnet": Subnets(ec2),
            "network_interface": Interfaces(ec2),
            "load_balancer": LoadBalancers(ec2),
        }
        ec2.handlers = Handlers("ec2", table)
        self._ec2, self._handlers, self._blobs = ec2, ec2.handlers, S3Blobs(transport)
        return []

    def _tags(self, type: str) -> Tagger:
        if type == "bucket":
            return BucketTags(self.ec2)
        if type == "load_balancer":
            return BalancerTags(self.ec2)
        return Ec2Tags(self.ec2, type)

    # ---- reads -----------------------------------------------------------------------------

    def list(self, type: str, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return self.handlers[type].list(filters)

    def read(self, type: str, id: str) -> CloudObject | None:
        _ = self.handlers[type]  # a type this driver serves, or a clear error
        return self.ec2.read(type, id)

    def lookup(self, type: str, criteria: Mapping[str, Any]) -> CloudObject | None:
        if type != "image" or "id" in criteria:
            return by_id(type, criteria, self.read)
        check_criteria("image", criteria, {"owner", "name", "architecture"})
        filters = (
            [{"Name": "name", "Values": [str(criteria["name"])]}] if "name" in criteria else []
        )
        if "architecture" in criteria:
            filters.append({"Name": "architecture", "Values": [str(criteria["architecture"])]})
        found = list(
            self.t.pages(
                self.t.ec2,
                "describe_images",
                "Images",
                Owners=[str(criteria.get("owner", "self"))],
                Filters=filters,
            )
        )
        found_by_id = {i["ImageId"]: i for i in found}
        newest = newest_image(conv.image_info(i) for i in found)
        return None if newest is None else conv.image(found_by_id[newest.id])

    def realms(self) -> builtins.list[Realm]:
        return self.ec2.realms()

    def hardware_profiles(self) -> builtins.list[HardwareProfile]:
        return list(self.ec2.profiles())

    def hardware_profile(self, id: str) -> HardwareProfile | None:
        try:
            found = self.t.call(self.t.ec2, "describe_instance_types", InstanceTypes=[id])
        except (NotFoundError, InvalidRequestError):
            return None  # InvalidInstanceType: no such type in this region
        types = found.get("InstanceTypes") or []
        return conv.hardware_profile(types[0]) if types else None

    def images(self) -> builtins.list[Image]:
        return [
            conv.image_info(i)
            for i in self.t.pages(self.t.ec2, "describe_images", "Images", Owners=["self"])
        ]

    def image(self, id: str) -> Image | None:
        try:
            found = self.t.call(self.t.ec2, "describe_images", ImageIds=[id]).get("Images") or []
        except (NotFoundError, InvalidRequestError):
            return None  # InvalidAMIID.NotFound or .Malformed
        return conv.image_info(found[0]) if found else None

    # ---- planning --------------------------------------------------------------------------

    def plan_change(
        self, type: str, prior: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> PlannedChange:
        handler = self.handlers[type]
        change = plan_from_schema(PORTABLE[type], prior, config)
        handler.plan(prior, config, change)
        return change

    # ---- changes ---------------------------------------------------------------------------

    def _wanted_tags(self, type: str, desired: Mapping[str, Any]) -> dict[str, str]:
        tags = {str(k): str(v) for k, v in (desired.get("tags") or {}).items()}
        if desired.get("name") and type in NAMED_BY_TAG:
            tags[conv.NAME_TAG] = str(desired["name"])
        return tags

    def create(
        self,
        type: str,
        desired: Mapping[str, Any],
        owner: Ownership,
        timeout: float | None = None,
    ) -> CloudObject:
        handler = self.handlers[type]
        tags = {**self._wanted_tags(type, desired), **owner.tags()}
        return handler.create(desired, owner, tags, timeout)

    def update(
        self, type: str, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> CloudObject:
        handler = self.handlers[type]
        changed = {k for k, v in desired.items() if prior.get(k) != v}
        if "tags" in changed or "name" in changed:
            wanted = self._wanted_tags(type, desired)
            tagger = self._tags(type)
            tagger.remove(id, set(prior.get("tags") or {}) - set(wanted))
            tagger.add(id, wanted)
        handler.update(id, prior, desired, changed)
        return self.ec2.must_read(type, id)

    def delete(self, type: str, id: str) -> None:
        self.handlers[type].delete(id)

    def act(self, type: str, id: str, action: str) -> CloudObject:
        if type != "instance" or action not in ACTIONS:
            raise InvalidRequestError(f"no action {action!r} on {type}")
        instances = self.handlers["instance"]
        assert isinstance(instances, Instances)
        return instances.act(id, action)

    def claim(self, type: str, id: str, owner: Ownership) -> None:
        """Tag an object imported into a stack with its ownership, as a create would have."""
        _ = self.handlers[type]  # a type this driver serves
        self._tags(type).add(id, owner.tags())

    def unclaim(self, type: str, id: str) -> None:
        _ = self.handlers[type]
        self._tags(type).remove(id, (STACK_TAG, ADDRESS_TAG, TOKEN_TAG))

    def metrics(self, instance: str) -> builtins.list[Metric]:
        return ec2_metrics.metrics(self.ec2, instance)

    def quotas(self) -> dict[str, int | None]:
        return ec2_metrics.quotas(self.ec2)

    # ---- blobs (S3 objects) ----------------------------------------------------------------

    @property
    def blobs(self) -> S3Blobs:
        if self._blobs is None:
            raise ProviderError("the ec2 driver is not configured")
        return self._blobs

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        return self.blobs.list_blobs(bucket)

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        return self.blobs.put_blob(bucket, key, data, content_type, metadata)

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> Blob | None:
        return self.blobs.set_blob_metadata(bucket, key, metadata)

    def blob_info(self, bucket: str, key: str) -> Blob | None:
        return self.blobs.blob_info(bucket, key)

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        return self.blobs.open_blob(bucket, key)

    def delete_blob(self, bucket: str, key: str) -> None:
        self.blobs.delete_blob(bucket, key)
