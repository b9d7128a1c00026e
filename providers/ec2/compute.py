"""EC2 instances, key pairs and AMIs, one handler each (kit.handlers)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.context import Ec2, default_name
from nubes.providers.errors import (
    ConflictError,
    CreateIncompleteError,
    ProviderError,
    TimeoutError_,
)
from nubes.providers.kit import checks, ownership
from nubes.providers.kit.handlers import NoChecks, ReplacedOnly
from nubes.providers.protocol import TOKEN_TAG, CloudObject, Ownership, PlannedChange
from nubes.providers.values import Unknown

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


class Instances:
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        live = [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
        return conv.instances(
            self.ec2.described("describe_instances", "Reservations", filters, live)
        )

    def read(self, id: str) -> CloudObject | None:
        t = self.ec2.t
        found = conv.instances(
            t.call(t.ec2, "describe_instances", InstanceIds=[id])["Reservations"]
        )
        return found[0] if found and found[0].attributes["state"] != "terminated" else None

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        region = self.ec2.region
        size, image = config.get("size"), config.get("image")
        if isinstance(size, str):
            if size not in self.ec2.instance_types():
                change.problems.append(
                    (
                        "size",
                        f"InvalidParameterValue: instance type {size!r} does not exist in {region}",
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
            elif not self.ec2.image_exists(image):
                change.problems.append(
                    (
                        "image",
                        f"InvalidAMIID.NotFound: the image id "
                        f"'[{image}]' does not exist in {region}",
                    )
                )
        checks.check_realm(
            config, self.ec2.zone_names, region, change, ("availability zone", "zones")
        )
        checks.plan_profile(prior, config, change)

    def create(
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
        if desired.get("subnet"):
            params["SubnetId"] = str(desired["subnet"])
        if desired.get("user_data"):
            params["UserData"] = str(desired["user_data"])
        t = self.ec2.t
        made = t.call(t.ec2, "run_instances", **params)["Instances"][0]
        obj = conv.instance(made)
        try:
            obj = self.ec2.wait_instance(obj.id, ("running",), timeout)
            if desired.get("state") == "stopped":
                obj = self.act(obj.id, "stop")
        except (TimeoutError_, ProviderError) as exc:
            made = self.ec2.read("instance", obj.id) or obj
            raise CreateIncompleteError(str(exc), made) from None
        return obj

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        t = self.ec2.t
        if "firewalls" in changed:
            t.call(
                t.ec2,
                "modify_instance_attribute",
                InstanceId=id,
                Groups=[str(g) for g in desired.get("firewalls") or []],
            )
        if "size" in changed:
            self._resize(id, str(desired["size"]))
        if "state" in changed and desired.get("state") in ("running", "stopped"):
            self.act(id, "start" if desired["state"] == "running" else "stop")

    def _resize(self, id: str, size: str) -> None:
        """A new instance type needs a stop, a modify, and a start, as EC2 requires."""
        t = self.ec2.t
        current = self.ec2.must_read("instance", id)
        was_running = current.attributes["state"] in ("pending", "running")
        if was_running:
            t.call(t.ec2, "stop_instances", InstanceIds=[id])
            self.ec2.wait_instance(id, ("stopped",))
        t.call(t.ec2, "modify_instance_attribute", InstanceId=id, InstanceType={"Value": size})
        if was_running:
            t.call(t.ec2, "start_instances", InstanceIds=[id])
            self.ec2.wait_instance(id, ("running",))

    def delete(self, id: str) -> None:
        t = self.ec2.t
        t.call(t.ec2, "terminate_instances", InstanceIds=[id])
        # wait, so that what it used (security groups, volumes) can be deleted next
        t.wait(
            f"instance {id} to terminate",
            lambda: True if self.ec2.read("instance", id) is None else None,
        )

    def act(self, id: str, action: str) -> CloudObject:
        operation = {"start": "start_instances", "stop": "stop_instances"}.get(
            action, "reboot_instances"
        )
        self.ec2.t.call(self.ec2.t.ec2, operation, InstanceIds=[id])
        wanted = ("stopped",) if action == "stop" else ("running",)
        return self.ec2.wait_instance(id, wanted)


class Keys(NoChecks, ReplacedOnly):  # everything but tags forces a new key
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        return [conv.key(k) for k in self.ec2.described("describe_key_pairs", "KeyPairs", filters)]

    def read(self, id: str) -> CloudObject | None:
        param = {"KeyPairIds": [id]} if id.startswith("key-") else {"KeyNames": [id]}
        return conv.key(self.ec2.describe_one("describe_key_pairs", "KeyPairs", **param))

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        name = str(desired.get("name") or default_name(owner))
        spec = conv.tag_spec("key-pair", tags)
        try:
            if desired.get("public_key"):
                made = t.call(
                    t.ec2,
                    "import_key_pair",
                    KeyName=name,
                    TagSpecifications=spec,
                    PublicKeyMaterial=str(desired["public_key"]).encode(),
                )
                obj = conv.key(made)
            else:
                made = t.call(t.ec2, "create_key_pair", KeyName=name, TagSpecifications=spec)
                obj = conv.key(made)
                obj.attributes["private_key"] = made.get("KeyMaterial")
        except ConflictError:
            # a create whose response was lost: the key carries our token
            return ownership.adopt(
                "key",
                owner,
                lambda: self.list({TOKEN_TAG: owner.token}),
                name,
                "InvalidKeyPair.Duplicate",
            )
        obj.attributes["public_key"] = desired.get("public_key")
        return obj

    def delete(self, id: str) -> None:
        # by name: EC2 takes KeyPairId too, but moto ignores it and deletes nothing
        found = self.ec2.read("key", id)
        if found is not None:
            self.ec2.t.call(self.ec2.t.ec2, "delete_key_pair", KeyName=found.attributes["name"])


class Images(NoChecks, ReplacedOnly):  # everything but tags forces a new image
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        images = self.ec2.described("describe_images", "Images", filters, Owners=["self"])
        return [conv.image(i) for i in images]

    def read(self, id: str) -> CloudObject | None:
        images = self.ec2.t.call(self.ec2.t.ec2, "describe_images", ImageIds=[id])["Images"]
        return conv.image(images[0]) if images else None

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        t = self.ec2.t
        tags = {**tags, "nubes:source-instance": str(desired["instance"])}
        made = t.call(
            t.ec2,
            "create_image",
            InstanceId=str(desired["instance"]),
            Name=str(desired["name"]),
            TagSpecifications=conv.tag_spec("image", tags),
        )
        image_id = made["ImageId"]
        return t.wait(
            f"image {image_id}", lambda: self.ec2.settled("image", image_id, "available"), timeout
        )

    def delete(self, id: str) -> None:
        self.ec2.t.call(self.ec2.t.ec2, "deregister_image", ImageId=id)
