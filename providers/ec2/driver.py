"""The Amazon EC2 driver (`driver: ec2`): instances, keys, security groups, EBS volumes and
snapshots, elastic IPs, AMIs, and S3 buckets, through boto3.

Three layers: `transport` (clients, retries, pagination, waits), `errors` (AWS codes to typed
errors) and `converters` (AWS documents to the portable model). This module only sequences calls.
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
from nubes.providers.ec2.transport import Settings, Transport
from nubes.providers.errors import (
    ConflictError,
    CreateIncompleteError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    TimeoutError_,
)
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
    Ownership,
    PlannedChange,
    Realm,
    TypeSchema,
    tightened,
)
from nubes.providers.rules import check_rules
from nubes.providers.values import Unknown, contains_unknown

SCHEMA = tightened(PORTABLE, "bucket", "name", S3_BUCKET_NAME)
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
EC2_TYPES = {
    "instance": "instance",
    "key": "key-pair",
    "firewall": "security-group",
    "volume": "volume",
    "snapshot": "snapshot",
    "address": "elastic-ip",
    "image": "image",
}


def _filters(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]


def _settings(config: Mapping[str, Any]) -> tuple[Settings, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for key, value in config.items():
        if value is None:
            continue  # left unset, e.g. `${var.endpoint or none}` with no endpoint given
        if key in ("region", "endpoint", "profile"):
            if not isinstance(value, str) or not value:
                problems.append((key, f"{key} must be a non-empty string"))
            elif key == "endpoint" and not value.startswith(("http://", "https://")):
                problems.append((key, "endpoint must be an http:// or https:// URL"))
            else:
                values[key] = value
        elif key == "max_attempts":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 20:
                problems.append((key, "max_attempts must be a whole number from 1 to 20"))
            else:
                values[key] = value
        elif key == "wait_seconds":
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                problems.append((key, "wait_seconds must be a positive number"))
            else:
                values[key] = float(value)
        else:
            problems.append(
                (
                    key,
                    f"unknown ec2 setting {key!r} (settings: region, endpoint, "
                    "profile, max_attempts, wait_seconds)",
                )
            )
    return Settings(**values), problems


# Deltacloud's features of the collections this driver serves
FEATURES = {
    "instances": (
        features.USER_NAME,  # user_name: the Name tag
        features.USER_DATA,
        features.AUTHENTICATION_KEY,
        features.FIREWALLS,
        features.REALM_FILTER,
        features.HARDWARE_PROFILE_OVERRIDES,
    ),
    "images": (features.OWNER_ID,),
}


class Ec2Driver:
    name = "ec2"

    def __init__(self) -> None:
        self._t: Transport | None = None
        self._types: set[str] | None = None
        self._zones: list[str] | None = None
        self._images: dict[str, bool] = {}

    @property
    def t(self) -> Transport:
        if self._t is None:
            raise ProviderError("the ec2 driver is not configured")
        return self._t

    @property
    def region(self) -> str:
        return self.t.settings.region

    def info(self) -> DriverInfo:
        return DriverInfo(
            name=self.name,
            api_name=self.name,
            location=self.t.settings.region,
            types=frozenset(self.schema()),
            features=FEATURES,
            actions={"instances": features.INSTANCE_ACTIONS},
        )

    @property
    def calls(self) -> int:
        return self.t.calls

    def schema(self) -> Mapping[str, TypeSchema]:
        return SCHEMA

    def configure(self, config: Mapping[str, Any], context: DriverContext) -> list[tuple[str, str]]:
        settings, problems = _settings(config)
        if problems:
            return problems
        try:
            self._t = Transport(settings, context.credentials)
        except Exception as exc:  # botocore's profile and config errors
            return [("profile" if settings.profile else "region", f"{type(exc).__name__}: {exc}")]
        return []

    # ---- reads -----------------------------------------------------------------------------

    def list(self, type: str, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        t, ec2, f = self.t, self.t.ec2, _filters(filters)
        if type == "instance":
            f.append({"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES})
            return conv.instances(t.pages(ec2, "describe_instances", "Reservations", Filters=f))
        if type == "key":
            return [conv.key(k) for k in t.pages(ec2, "describe_key_pairs", "KeyPairs", Filters=f)]
        if type == "firewall":
            return [
                conv.firewall(g)
                for g in t.pages(ec2, "describe_security_groups", "SecurityGroups", Filters=f)
            ]
        if type == "volume":
            return [conv.volume(v) for v in t.pages(ec2, "describe_volumes", "Volumes", Filters=f)]
        if type == "snapshot":
            return [
                conv.snapshot(s)
                for s in t.pages(
                    ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=f
                )
            ]
        if type == "address":
            return [
                conv.address(a) for a in t.pages(ec2, "describe_addresses", "Addresses", Filters=f)
            ]
        if type == "image":
            return [
                conv.image(i)
                for i in t.pages(ec2, "describe_images", "Images", Owners=["self"], Filters=f)
            ]
        if type == "bucket":
            out = []
            for b in t.call(t.s3, "list_buckets").get("Buckets", []):
                tags = self._bucket_tags(b["Name"])
                if all(tags.get(k) == v for k, v in filters.items()):
                    out.append(conv.bucket(b["Name"], tags))
            return out
        raise InvalidRequestError(f"ec2 has no {type} resources")

    def _bucket_tags(self, name: str) -> dict[str, str]:
        try:
            found = self.t.call(self.t.s3, "get_bucket_tagging", Bucket=name)
        except NotFoundError:
            return {}  # NoSuchTagSet: a bucket without tags
        except ProviderError as exc:
            if exc.code == "NoSuchTagSet":
                return {}
            raise
        return {t["Key"]: t["Value"] for t in found.get("TagSet", [])}

    def read(self, type: str, id: str) -> CloudObject | None:
        t, ec2 = self.t, self.t.ec2
        try:
            if type == "instance":
                found = conv.instances(
                    t.call(ec2, "describe_instances", InstanceIds=[id])["Reservations"]
                )
                return found[0] if found and found[0].attributes["state"] != "terminated" else None
            if type == "key":
                param = {"KeyPairIds": [id]} if id.startswith("key-") else {"KeyNames": [id]}
                return conv.key(t.call(ec2, "describe_key_pairs", **param)["KeyPairs"][0])
            if type == "firewall":
                return conv.firewall(
                    t.call(ec2, "describe_security_groups", GroupIds=[id])["SecurityGroups"][0]
                )
            if type == "volume":
                return conv.volume(t.call(ec2, "describe_volumes", VolumeIds=[id])["Volumes"][0])
            if type == "snapshot":
                return conv.snapshot(
                    t.call(ec2, "describe_snapshots", SnapshotIds=[id])["Snapshots"][0]
                )
            if type == "address":
                return conv.address(
                    t.call(ec2, "describe_addresses", AllocationIds=[id])["Addresses"][0]
                )
            if type == "image":
                images = t.call(ec2, "describe_images", ImageIds=[id])["Images"]
                return conv.image(images[0]) if images else None
            if type == "bucket":
                t.call(t.s3, "head_bucket", Bucket=id)
                return conv.bucket(id, self._bucket_tags(id))
        except (NotFoundError, IndexError):
            return None
        except InvalidRequestError as exc:
            if exc.code.endswith(".Malformed") or exc.code == "404":
                return None
            raise
        raise InvalidRequestError(f"ec2 has no {type} resources")

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
        if not found:
            return None
        newest = max(found, key=lambda i: (str(i.get("CreationDate") or ""), i["ImageId"]))
        return conv.image(newest)

    def realms(self) -> builtins.list[Realm]:
        zones = self.t.call(self.t.ec2, "describe_availability_zones")["AvailabilityZones"]
        return [Realm(z["ZoneName"], z["ZoneName"], z.get("State", "available")) for z in zones]

    def hardware_profiles(self) -> builtins.list[HardwareProfile]:
        out = []
        for it in self.t.pages(self.t.ec2, "describe_instance_types", "InstanceTypes"):
            storage = (it.get("InstanceStorageInfo") or {}).get("TotalSizeInGB", 0)
            archs = (it.get("ProcessorInfo") or {}).get("SupportedArchitectures") or ["x86_64"]
            if "x86_64" in archs:  # i386-and-x86_64 types (t2) run 64-bit images too
                archs = ["x86_64"]
            out.append(
                HardwareProfile(
                    it["InstanceType"],
                    it["InstanceType"],
                    it["VCpuInfo"]["DefaultVCpus"],
                    it["MemoryInfo"]["SizeInMiB"] / 1024,
                    storage,
                    archs[0],
                )
            )
        return sorted(out, key=lambda p: p.id)

    def images(self) -> builtins.list[Image]:
        return [
            Image(
                i["ImageId"],
                i.get("Name") or i["ImageId"],
                i.get("Description") or "",
                i.get("Architecture", "x86_64"),
                conv.IMAGE_STATES.get(i.get("State", ""), "unknown"),
                i.get("OwnerId", ""),
            )
            for i in self.t.pages(self.t.ec2, "describe_images", "Images", Owners=["self"])
        ]

    # ---- planning --------------------------------------------------------------------------

    def _instance_types(self) -> set[str]:
        if self._types is None:
            self._types = {
                it["InstanceType"]
                for it in self.t.pages(self.t.ec2, "describe_instance_types", "InstanceTypes")
            }
        return self._types

    def _image_exists(self, image: str) -> bool:
        """Whether an AMI exists, asked once per image and driver (plans ask per instance)."""
        if image not in self._images:
            self._images[image] = self.read("image", image) is not None
        return self._images[image]

    def _zone_names(self) -> builtins.list[str]:
        if self._zones is None:
            self._zones = [r.id for r in self.realms()]
        return self._zones

    def plan_change(
        self, type: str, prior: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> PlannedChange:
        change = plan_from_schema(PORTABLE[type], prior, config)
        if type == "instance":
            self._check_instance(config, change)
        if type in ("instance", "volume"):
            realm = config.get("realm")
            if isinstance(realm, str) and realm not in self._zone_names():
                change.problems.append(
                    (
                        "realm",
                        f"availability zone {realm!r} is not in "
                        f"{self.t.settings.region} (zones: "
                        f"{', '.join(self._zone_names())})",
                    )
                )
        if type == "firewall" and not contains_unknown(config.get("rules")):
            try:
                change.planned["rules"] = check_rules(config.get("rules") or [])
            except InvalidRequestError as exc:
                change.problems.append(("rules", exc.message))
        if type == "instance" and prior is not None:
            size = config.get("size", Unknown)
            if size is not Unknown and size != prior.get("size"):
                change.planned["hardware_profile"] = size
        return change

    def _check_instance(self, config: Mapping[str, Any], change: PlannedChange) -> None:
        size, image = config.get("size"), config.get("image")
        if isinstance(size, str):
            if size not in self._instance_types():
                change.problems.append(
                    (
                        "size",
                        f"InvalidParameterValue: instance type {size!r} "
                        f"does not exist in {self.t.settings.region}",
                    )
                )
        elif size is not None and size is not Unknown:
            change.problems.append(
                ("size", "ec2 takes an instance type name here, such as t3.micro")
            )
        if isinstance(image, str):
            if not image.startswith("ami-"):
                change.problems.append(
                    ("image", f"ec2 takes an AMI id here (ami-...), not {image!r}")
                )
            elif not self._image_exists(image):
                change.problems.append(
                    (
                        "image",
                        f"InvalidAMIID.NotFound: the image id "
                        f"'[{image}]' does not exist in {self.t.settings.region}",
                    )
                )

    # ---- changes ---------------------------------------------------------------------------

    def create(
        self,
        type: str,
        desired: Mapping[str, Any],
        owner: Ownership,
        timeout: float | None = None,
    ) -> CloudObject:
        tags = {**{str(k): str(v) for k, v in (desired.get("tags") or {}).items()}, **owner.tags()}
        if desired.get("name") and type in ("instance", "volume", "snapshot"):
            tags[conv.NAME_TAG] = str(desired["name"])
        if type == "instance":
            return self._create_instance(desired, owner, tags, timeout)
        t, ec2 = self.t, self.t.ec2
        spec = conv.tag_spec(EC2_TYPES.get(type, type), tags)
        default_name = (
            f"{owner.stack}-{owner.address}".replace('"', "").replace("[", "-").replace("]", "")
        )
        if type == "key":
            name = str(desired.get("name") or default_name)
            try:
                if desired.get("public_key"):
                    made = t.call(
                        ec2,
                        "import_key_pair",
                        KeyName=name,
                        TagSpecifications=spec,
                        PublicKeyMaterial=str(desired["public_key"]).encode(),
                    )
                    obj = conv.key(made)
                else:
                    made = t.call(ec2, "create_key_pair", KeyName=name, TagSpecifications=spec)
                    obj = conv.key(made)
                    obj.attributes["private_key"] = made.get("KeyMaterial")
            except ConflictError:
                return self._adopt_duplicate("key", name, owner)
            obj.attributes["public_key"] = desired.get("public_key")
            return obj
        if type == "firewall":
            name = str(desired.get("name") or default_name)
            try:
                made = t.call(
                    ec2,
                    "create_security_group",
                    GroupName=name,
                    TagSpecifications=spec,
                    Description=str(desired.get("description") or "managed by nubes"),
                )
            except ConflictError:
                return self._adopt_duplicate("firewall", name, owner)
            rules = check_rules(desired.get("rules") or [])
            if rules:
                t.call(
                    ec2,
                    "authorize_security_group_ingress",
                    GroupId=made["GroupId"],
                    IpPermissions=conv.rules_to_permissions(rules),
                )
            return self._must_read("firewall", made["GroupId"])
        if type == "volume":
            zone = desired.get("realm") or self._zone_names()[0]
            made = t.call(
                ec2,
                "create_volume",
                Size=int(desired["size_gb"]),
                AvailabilityZone=zone,
                TagSpecifications=spec,
                ClientToken=owner.token[:64],
            )
            vol_id = made["VolumeId"]
            self._wait_volume(vol_id, "available", timeout)
            if desired.get("instance"):
                self._attach(vol_id, str(desired["instance"]), desired.get("device"), timeout)
            return self._must_read("volume", vol_id)
        if type == "snapshot":
            made = t.call(
                ec2,
                "create_snapshot",
                VolumeId=str(desired["volume"]),
                Description=str(desired.get("name") or default_name),
                TagSpecifications=spec,
            )
            snap = t.wait(
                f"snapshot {made['SnapshotId']}",
                lambda: self._settled_snapshot(made["SnapshotId"]),
                timeout,
            )
            return snap
        if type == "address":
            made = t.call(ec2, "allocate_address", Domain="vpc", TagSpecifications=spec)
            if desired.get("instance"):
                t.call(
                    ec2,
                    "associate_address",
                    AllocationId=made["AllocationId"],
                    InstanceId=str(desired["instance"]),
                )
            return self._must_read("address", made["AllocationId"])
        if type == "bucket":
            return self._create_bucket(str(desired["name"]), tags, owner)
        if type == "image":
            tags["nubes:source-instance"] = str(desired["instance"])
            made = t.call(
                ec2,
                "create_image",
                InstanceId=str(desired["instance"]),
                Name=str(desired["name"]),
                TagSpecifications=conv.tag_spec("image", tags),
            )
            return t.wait(
                f"image {made['ImageId']}", lambda: self._available_image(made["ImageId"]), timeout
            )
        raise InvalidRequestError(f"ec2 has no {type} resources")

    def _create_instance(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        params: dict[str, Any] = {
            "ImageId": desired["image"],
            "InstanceType": desired["size"],
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": owner.token[:64],
            "TagSpecifications": conv.tag_spec("instance", tags),
        }
        if desired.get("key"):
            params["KeyName"] = desired["key"]
        groups = [str(g) for g in desired.get("firewalls") or []]
        if groups:
            if all(g.startswith("sg-") for g in groups):
                params["SecurityGroupIds"] = groups
            else:
                params["SecurityGroups"] = groups
        if desired.get("realm"):
            params["Placement"] = {"AvailabilityZone": desired["realm"]}
        if desired.get("user_data"):
            params["UserData"] = str(desired["user_data"])
        made = self.t.call(self.t.ec2, "run_instances", **params)["Instances"][0]
        obj = conv.instance(made)
        try:
            obj = self._wait_instance(obj.id, ("running",), timeout)
            if desired.get("state") == "stopped":
                obj = self.act("instance", obj.id, "stop")
        except (TimeoutError_, ProviderError) as exc:
            raise CreateIncompleteError(str(exc), self.read("instance", obj.id) or obj) from None
        return obj

    def _adopt_duplicate(self, type: str, name: str, owner: Ownership) -> CloudObject:
        """A create refused as a duplicate after a lost response: ours if it has our token."""
        for obj in self.list(type, {TOKEN_TAG: owner.token}):
            if obj.attributes.get("name") == name:
                return obj
        raise ConflictError(
            f"a {type} named {name!r} already exists and is not this stack's",
            "InvalidKeyPair.Duplicate" if type == "key" else "InvalidGroup.Duplicate",
        )

    def _create_bucket(self, name: str, tags: dict[str, str], owner: Ownership) -> CloudObject:
        t = self.t
        params: dict[str, Any] = {"Bucket": name}
        if t.settings.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": t.settings.region}
        try:
            t.call(t.s3, "create_bucket", **params)
        except ConflictError as exc:
            # created by a run whose response or tagging was lost: adopt it if it is ours
            existing = self._bucket_tags(name) if exc.code == "BucketAlreadyOwnedByYou" else None
            if existing is None or existing.get(TOKEN_TAG, owner.token) != owner.token:
                raise
        # S3 cannot tag in the creating call; the journal still finds the bucket by its name
        t.call(t.s3, "put_bucket_tagging", Bucket=name, Tagging={"TagSet": conv.tag_list(tags)})
        return conv.bucket(name, tags)

    def _must_read(self, type: str, id: str) -> CloudObject:
        found = self.read(type, id)
        if found is None:
            raise NotFoundError(f"{type} {id} vanished right after it was created")
        return found

    def _wait_instance(
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

    def _wait_volume(self, id: str, state: str, timeout: float | None = None) -> CloudObject:
        def probe() -> CloudObject | None:
            found = self._must_read("volume", id)
            return found if found.attributes["state"] == state else None

        return self.t.wait(f"volume {id} to be {state}", probe, timeout)

    def _settled_snapshot(self, id: str) -> CloudObject | None:
        found = self._must_read("snapshot", id)
        if found.attributes["state"] == "error":
            raise CreateIncompleteError(f"snapshot {id} failed", found)
        return found if found.attributes["state"] == "completed" else None

    def _available_image(self, id: str) -> CloudObject | None:
        found = self._must_read("image", id)
        if found.attributes["state"] == "error":
            raise CreateIncompleteError(f"image {id} failed", found)
        return found if found.attributes["state"] == "available" else None

    def _attach(self, volume: str, instance: str, device: Any, timeout: float | None) -> None:
        self.t.call(
            self.t.ec2,
            "attach_volume",
            VolumeId=volume,
            InstanceId=instance,
            Device=str(device or "/dev/sdf"),
        )
        self._wait_volume(volume, "in-use", timeout)

    def _detach(self, volume: CloudObject) -> None:
        if volume.attributes.get("instance"):
            self.t.call(
                self.t.ec2,
                "detach_volume",
                VolumeId=volume.id,
                InstanceId=volume.attributes["instance"],
                Device=volume.attributes.get("device") or "/dev/sdf",
            )
            self._wait_volume(volume.id, "available")

    def update(
        self, type: str, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> CloudObject:
        t, ec2 = self.t, self.t.ec2
        changed = {k: v for k, v in desired.items() if prior.get(k) != v}
        if "tags" in changed or "name" in changed:
            self._retag(type, id, prior, desired)
        if type == "instance":
            if "firewalls" in changed:
                t.call(
                    ec2,
                    "modify_instance_attribute",
                    InstanceId=id,
                    Groups=[str(g) for g in desired.get("firewalls") or []],
                )
            if "size" in changed:
                self._resize(id, str(desired["size"]))
            if changed.get("state") in ("running", "stopped"):
                self.act("instance", id, "start" if changed["state"] == "running" else "stop")
        elif type == "firewall" and "rules" in changed:
            current = t.call(ec2, "describe_security_groups", GroupIds=[id])["SecurityGroups"][0]
            if current.get("IpPermissions"):
                t.call(
                    ec2,
                    "revoke_security_group_ingress",
                    GroupId=id,
                    IpPermissions=current["IpPermissions"],
                )
            rules = check_rules(desired.get("rules") or [])
            if rules:
                t.call(
                    ec2,
                    "authorize_security_group_ingress",
                    GroupId=id,
                    IpPermissions=conv.rules_to_permissions(rules),
                )
        elif type == "volume" and ("instance" in changed or "device" in changed):
            self._detach(self._must_read("volume", id))
            if desired.get("instance"):
                self._attach(id, str(desired["instance"]), desired.get("device"), None)
        elif type == "address" and "instance" in changed:
            current = t.call(ec2, "describe_addresses", AllocationIds=[id])["Addresses"][0]
            if current.get("AssociationId"):
                t.call(ec2, "disassociate_address", AssociationId=current["AssociationId"])
            if desired.get("instance"):
                t.call(
                    ec2, "associate_address", AllocationId=id, InstanceId=str(desired["instance"])
                )
        return self._must_read(type, id)

    def claim(self, type: str, id: str, owner: Ownership) -> None:
        """Tag an object imported into a stack with its ownership, as a create would have."""
        t = self.t
        tags = owner.tags()
        if type == "bucket":
            kept = self._bucket_tags(id)
            t.call(
                t.s3,
                "put_bucket_tagging",
                Bucket=id,
                Tagging={"TagSet": conv.tag_list({**kept, **tags})},
            )
            return
        target = id
        if type == "key" and not id.startswith("key-"):
            pairs = t.call(t.ec2, "describe_key_pairs", KeyNames=[id]).get("KeyPairs") or []
            target = pairs[0].get("KeyPairId", id) if pairs else id
        t.call(t.ec2, "create_tags", Resources=[target], Tags=conv.tag_list(tags))

    def unclaim(self, type: str, id: str) -> None:
        t = self.t
        if type == "bucket":
            kept = {k: v for k, v in self._bucket_tags(id).items() if not k.startswith("nubes:")}
            t.call(t.s3, "put_bucket_tagging", Bucket=id, Tagging={"TagSet": conv.tag_list(kept)})
            return
        target = id
        if type == "key" and not id.startswith("key-"):
            pairs = t.call(t.ec2, "describe_key_pairs", KeyNames=[id]).get("KeyPairs") or []
            target = pairs[0].get("KeyPairId", id) if pairs else id
        keys = [{"Key": k} for k in (STACK_TAG, ADDRESS_TAG, TOKEN_TAG)]
        t.call(t.ec2, "delete_tags", Resources=[target], Tags=keys)

    def _retag(
        self, type: str, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> None:
        t = self.t
        wanted = {str(k): str(v) for k, v in (desired.get("tags") or {}).items()}
        if desired.get("name") and type in ("instance", "volume", "snapshot"):
            wanted[conv.NAME_TAG] = str(desired["name"])
        if type == "bucket":
            keep = {k: v for k, v in self._bucket_tags(id).items() if k.startswith("nubes:")}
            t.call(
                t.s3,
                "put_bucket_tagging",
                Bucket=id,
                Tagging={"TagSet": conv.tag_list({**wanted, **keep})},
            )
            return
        old = set(prior.get("tags") or {}) - set(wanted)
        if old:
            t.call(t.ec2, "delete_tags", Resources=[id], Tags=[{"Key": k} for k in old])
        if wanted:
            t.call(t.ec2, "create_tags", Resources=[id], Tags=conv.tag_list(wanted))

    def _resize(self, id: str, size: str) -> None:
        """A new instance type needs a stop, a modify, and a start, as EC2 requires."""
        current = self._must_read("instance", id)
        was_running = current.attributes["state"] in ("pending", "running")
        if was_running:
            self.t.call(self.t.ec2, "stop_instances", InstanceIds=[id])
            self._wait_instance(id, ("stopped",))
        self.t.call(
            self.t.ec2, "modify_instance_attribute", InstanceId=id, InstanceType={"Value": size}
        )
        if was_running:
            self.t.call(self.t.ec2, "start_instances", InstanceIds=[id])
            self._wait_instance(id, ("running",))

    def delete(self, type: str, id: str) -> None:
        t, ec2 = self.t, self.t.ec2
        if type == "instance":
            t.call(ec2, "terminate_instances", InstanceIds=[id])
            # wait, so that what it used (security groups, volumes) can be deleted next
            t.wait(
                f"instance {id} to terminate",
                lambda: True if self.read("instance", id) is None else None,
            )
        elif type == "key":
            # by name: EC2 takes KeyPairId too, but moto ignores it and deletes nothing
            found = self.read("key", id)
            if found is not None:
                t.call(ec2, "delete_key_pair", KeyName=found.attributes["name"])
        elif type == "firewall":
            t.call(ec2, "delete_security_group", GroupId=id)
        elif type == "volume":
            found = self.read("volume", id)
            if found is None:
                return
            self._detach(found)
            t.call(ec2, "delete_volume", VolumeId=id)
        elif type == "snapshot":
            t.call(ec2, "delete_snapshot", SnapshotId=id)
        elif type == "address":
            current = t.call(ec2, "describe_addresses", AllocationIds=[id])["Addresses"][0]
            if current.get("AssociationId"):
                t.call(ec2, "disassociate_address", AssociationId=current["AssociationId"])
            t.call(ec2, "release_address", AllocationId=id)
        elif type == "bucket":
            t.call(t.s3, "delete_bucket", Bucket=id)
        elif type == "image":
            t.call(ec2, "deregister_image", ImageId=id)
        else:
            raise InvalidRequestError(f"ec2 has no {type} resources")

    # ---- blobs (S3 objects) ----------------------------------------------------------------

    def _blob(self, bucket: str, key: str, size: int, kind: str, modified: Any) -> Blob:
        stamp = (
            modified.strftime("%Y-%m-%dT%H:%M:%SZ")
            if hasattr(modified, "strftime")
            else str(modified or "")
        )
        return Blob(bucket, key, int(size or 0), kind or "application/octet-stream", stamp)

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        return [
            self._blob(bucket, o["Key"], o.get("Size", 0), "", o.get("LastModified"))
            for o in self.t.pages(self.t.s3, "list_objects_v2", "Contents", Bucket=bucket)
        ]

    def put_blob(self, bucket: str, key: str, data: BinaryIO, content_type: str) -> Blob:
        """S3's managed upload: multipart past a few MB, so memory stays flat."""
        self.t.upload(bucket, key, data, content_type)
        found = self.blob_info(bucket, key)
        if found is None:
            raise NotFoundError(f"blob {key} vanished right after it was written")
        return found

    def blob_info(self, bucket: str, key: str) -> Blob | None:
        try:
            got = self.t.call(self.t.s3, "head_object", Bucket=bucket, Key=key)
        except NotFoundError:
            return None
        return self._blob(
            bucket,
            key,
            got.get("ContentLength", 0),
            got.get("ContentType", ""),
            got.get("LastModified"),
        )

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        try:
            got = self.t.call(self.t.s3, "get_object", Bucket=bucket, Key=key)
        except NotFoundError:
            return None
        info = self._blob(
            bucket,
            key,
            got.get("ContentLength", 0),
            got.get("ContentType", ""),
            got.get("LastModified"),
        )
        return info, got["Body"].iter_chunks(1024 * 1024)

    def delete_blob(self, bucket: str, key: str) -> None:
        self.t.call(self.t.s3, "delete_object", Bucket=bucket, Key=key)

    def act(self, type: str, id: str, action: str) -> CloudObject:
        operation = {
            "start": "start_instances",
            "stop": "stop_instances",
            "reboot": "reboot_instances",
        }.get(action)
        if type != "instance" or operation is None:
            raise InvalidRequestError(f"no action {action!r} on {type}")
        self.t.call(self.t.ec2, operation, InstanceIds=[id])
        wanted = {"start": ("running",), "stop": ("stopped",), "reboot": ("running",)}[action]
        return self._wait_instance(id, wanted)
