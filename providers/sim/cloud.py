"""The sim cloud's behaviour: what each operation does to the stored objects.

This is the "cloud side". It enforces what real clouds enforce (unique key and firewall names,
a volume attached to one instance, a firewall in use cannot be deleted, quotas), so that
mistakes in the engine's ordering show up here as they would on a real cloud.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from nubes.providers.errors import ConflictError, InvalidRequestError, NotFoundError, QuotaError
from nubes.providers.kit import ownership
from nubes.providers.kit.choose import smallest_profile
from nubes.providers.listeners import check_listeners
from nubes.providers.protocol import (
    PORTABLE,
    TOKEN_TAG,
    CloudObject,
    HardwareProfile,
    Image,
    Ownership,
)
from nubes.providers.rules import check_rules
from nubes.providers.sim import catalog
from nubes.providers.sim.config import SimConfig
from nubes.providers.sim.store import Row, Store

_PREFIX = {
    "instance": "i",
    "key": "key",
    "firewall": "fw",
    "volume": "vol",
    "snapshot": "snap",
    "address": "eip",
    "bucket": "bkt",
    "image": "img",
    "network": "net",
    "subnet": "subnet",
    "load_balancer": "lb",
    "network_interface": "eni",
}


BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's rule


def new_id(type: str) -> str:
    return f"{_PREFIX[type]}-{uuid.uuid4().hex[:12]}"


def _user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("nubes:")}


class SimCloud:
    def __init__(self, store: Store, config: SimConfig) -> None:
        self.store = store
        self.config = config
        self.region = config.region
        self.profiles = catalog.profiles_of(config.catalog)
        self.public_images = catalog.images_of(config.catalog)
        self.realms = catalog.realms_of(config.catalog, config.region)

    # ---- reads -----------------------------------------------------------------------------

    def to_object(self, row: Row) -> CloudObject:
        schema = PORTABLE[row.type].attrs
        attrs = {k: v for k, v in row.attrs.items() if k in schema}
        if row.type == "instance":
            ready = row.attrs.get("ready_at")
            if attrs.get("state") == "pending" and ready is not None and time.time() >= ready:
                attrs["state"] = "error" if row.attrs.get("fails_boot") else "running"
        attrs["id"] = row.id
        attrs["tags"] = _user_tags(row.tags)
        return CloudObject(row.type, row.id, attrs, dict(row.tags))

    def get(self, type: str, id: str) -> Row:
        row = self.store.get(id, type)
        if row is None or row.region != self.region:
            raise NotFoundError(f"{type} {id} does not exist", f"{type.capitalize()}NotFound")
        return row

    def images(self) -> list[Image]:
        own = [
            Image(
                r.id,
                r.attrs["name"],
                r.attrs.get("description", ""),
                state=r.attrs["state"],
                owner="self",
            )
            for r in self.store.select("image", self.region)
        ]
        return [*self.public_images, *own]

    def find_image(self, ref: str) -> Image:
        for image in self.images():
            if ref in (image.id, image.name):
                return image
        names = ", ".join(i.name for i in self.public_images)
        raise InvalidRequestError(
            f"image {ref!r} does not exist in {self.region} (public images: {names})",
            "InvalidImage.NotFound",
        )

    def find_profile(self, size: Any) -> tuple[HardwareProfile, dict[str, float]]:
        profiles = self.profiles
        if isinstance(size, str):
            for p in profiles:
                if p.id == size:
                    return p, _fixed_values(p)
            raise InvalidRequestError(
                f"hardware profile {size!r} does not exist (profiles: "
                f"{', '.join(p.id for p in profiles)})",
                "InvalidParameterValue",
            )
        if isinstance(size, Mapping) and "profile" in size:
            return _ranged(
                self.profiles, str(size["profile"]), size
            )  # Deltacloud's hwp_id with overrides
        if isinstance(size, Mapping):
            return _pick_profile(self.profiles, size)
        raise InvalidRequestError("size must be a profile name or {cpus, memory_gb}")

    def check_realm(self, realm: str | None) -> str:
        names = [r.id for r in self.realms]
        if realm is None:
            return names[0]
        if realm not in names:
            raise InvalidRequestError(
                f"realm {realm!r} is not in region {self.region} (realms: {', '.join(names)})",
                "InvalidParameterValue",
            )
        return realm

    # ---- create ----------------------------------------------------------------------------

    def create(
        self, type: str, desired: Mapping[str, Any], owner: Ownership, fails_boot: bool = False
    ) -> Row:
        """Create an object; a repeated request with the same token returns the same object
        (as EC2's ClientToken does), so a retried create never makes a duplicate."""
        tags = {**{str(k): str(v) for k, v in (desired.get("tags") or {}).items()}, **owner.tags()}
        maker = getattr(self, f"_new_{type}")
        with self.store.transaction():
            same = self.store.select(type, self.region, {TOKEN_TAG: owner.token})
            if same:
                return same[0]
            attrs = maker(desired, owner)
            if fails_boot:
                attrs["fails_boot"] = True
            row = Row(new_id(type), type, self.region, attrs, tags, time.time())
            if type in ("bucket", "load_balancer"):  # named by their name, as S3 and ELB do
                row.id = attrs["name"]
            self.store.insert(row)
        return row

    def _default_name(self, desired: Mapping[str, Any], owner: Ownership) -> str:
        name = desired.get("name")
        return str(name) if name else f"{owner.stack}-{owner.address}".replace('"', "")

    def _new_instance(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        image = self.find_image(str(desired.get("image")))
        profile, values = self.find_profile(desired.get("size"))
        if profile.architecture != image.architecture:
            raise InvalidRequestError(
                f"image {image.name} is {image.architecture}; profile {profile.id} is "
                f"{profile.architecture}",
                "InvalidParameterCombination",
            )
        realm = self.check_realm(desired.get("realm"))
        subnet = self._subnet_for(desired, realm)
        if subnet is not None:
            realm = subnet.attrs["realm"]
        if desired.get("key"):
            self._by_name("key", str(desired["key"]))
        firewalls = [str(f) for f in desired.get("firewalls") or []]
        for firewall in firewalls:
            self._by_name("firewall", firewall)
        limit = self.config.max_instances
        if limit is not None and self.store.count("instance", self.region) >= limit:
            raise QuotaError(
                f"instance quota of {limit} reached in {self.region}", "InstanceLimitExceeded"
            )
        n = self.store.next_number("instance")
        now = time.time()
        wanted = desired.get("state") or "running"
        return {
            "name": self._default_name(desired, owner),
            "image": desired.get("image"),
            "image_id": image.id,
            "size": desired.get("size"),
            "hardware_profile": profile.id,
            "cpus": values["cpus"],
            "memory_gb": values["memory_gb"],
            "realm": realm,
            "key": desired.get("key"),
            "firewalls": firewalls,
            "user_data": desired.get("user_data"),
            "state": "pending" if wanted == "running" else "stopped",
            "ready_at": now + self.config.boot_seconds,
            "public_ip": str(ipaddress.ip_address("198.51.100.0") + (n % 250) + 1),
            "private_ip": _private_ip(subnet, n),
            "subnet": subnet.id if subnet is not None else None,
            "launched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }

    def _subnet_for(self, desired: Mapping[str, Any], realm: str) -> Row | None:
        """The subnet an instance starts in, which must be in the realm it asked for."""
        if not desired.get("subnet"):
            return None
        subnet = self._by_name("subnet", str(desired["subnet"]))
        if desired.get("realm") and subnet.attrs["realm"] != realm:
            raise InvalidRequestError(
                f"subnet {subnet.id} is in {subnet.attrs['realm']}, not in realm {realm}",
                "InvalidParameterCombination",
            )
        return subnet

    def _new_key(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        name = self._default_name(desired, owner)
        self._unique_name("key", name, "InvalidKeyPair.Duplicate")
        public = desired.get("public_key")
        private = None
        if not public:
            secret = secrets.token_bytes(32)
            private = (
                "-----BEGIN SIM PRIVATE KEY-----\n"
                + secret.hex()
                + "\n-----END SIM PRIVATE KEY-----\n"
            )
            public = "ssh-sim " + hashlib.sha256(secret).hexdigest() + f" {name}"
        digest = hashlib.md5(str(public).encode(), usedforsecurity=False).hexdigest()
        return {
            "name": name,
            "public_key": public,
            "fingerprint": ":".join(digest[i : i + 2] for i in range(0, 32, 2)),
            "private_key": private,
        }

    def _new_firewall(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        name = self._default_name(desired, owner)
        self._unique_name("firewall", name, "InvalidGroup.Duplicate")
        return {
            "name": name,
            "description": desired.get("description") or "",
            "rules": check_rules(desired.get("rules") or []),
        }

    def _new_volume(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        size = desired.get("size_gb")
        if not isinstance(size, int | float) or isinstance(size, bool) or not 1 <= size <= 16384:
            raise InvalidRequestError(
                "size_gb must be between 1 and 16384", "InvalidParameterValue"
            )
        attrs = {
            "name": self._default_name(desired, owner),
            "size_gb": size,
            "realm": self.check_realm(desired.get("realm")),
            "instance": None,
            "device": None,
            "state": "available",
            "data": "",
        }
        if desired.get("instance"):
            self._attach(attrs, str(desired["instance"]), desired.get("device"))
        return attrs

    def _new_snapshot(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        volume = self.get("volume", str(desired.get("volume")))
        return {
            "name": self._default_name(desired, owner),
            "volume": volume.id,
            "size_gb": volume.attrs["size_gb"],
            "state": "completed",
            "data": volume.attrs.get("data", ""),
        }

    def _new_address(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        n = self.store.next_number("address")
        attrs: dict[str, Any] = {
            "ip": str(ipaddress.ip_address("203.0.113.0") + (n % 250) + 1),
            "instance": None,
        }
        if desired.get("instance"):
            attrs["instance"] = self._live_instance(str(desired["instance"])).id
        return attrs

    def _new_bucket(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        name = str(desired.get("name"))
        if not BUCKET_NAME.fullmatch(name):
            raise InvalidRequestError(
                f"bucket name {name[:80]!r} must be 3-63 lowercase letters, digits, dots and "
                "hyphens, starting and ending with a letter or digit",
                "InvalidBucketName",
            )
        if self.store.get(name) is not None:
            raise ConflictError(f"bucket {name!r} already exists", "BucketAlreadyExists")
        return {"name": name}

    def _new_network(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        block = _block(desired.get("address_block"), 16, 28)
        return {
            "name": self._default_name(desired, owner),
            "address_block": str(block),
            "state": "available",
        }

    def _new_subnet(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        network = self.get("network", str(desired.get("network")))
        block = _block(desired.get("address_block"), 16, 28)
        outer = _block(network.attrs["address_block"], 0, 32)
        if not block.subnet_of(outer):
            raise InvalidRequestError(
                f"address block {block} is not inside network {network.id}'s {outer}",
                "InvalidSubnet.Range",
            )
        for other in self.store.select("subnet", self.region):
            if other.attrs.get("network") == network.id and block.overlaps(
                ipaddress.ip_network(other.attrs["address_block"])
            ):
                raise ConflictError(
                    f"address block {block} overlaps subnet {other.id}'s "
                    f"{other.attrs['address_block']}",
                    "InvalidSubnet.Conflict",
                )
        return {
            "name": self._default_name(desired, owner),
            "network": network.id,
            "address_block": str(block),
            "realm": self.check_realm(desired.get("realm")),
            "state": "available",
        }

    def _new_network_interface(
        self, desired: Mapping[str, Any], owner: Ownership
    ) -> dict[str, Any]:
        instance = self._live_instance(str(desired.get("instance")))
        subnet = self._by_name("subnet", str(desired.get("subnet")))
        if subnet.attrs["realm"] != instance.attrs["realm"]:
            raise InvalidRequestError(
                f"subnet {subnet.id} is in {subnet.attrs['realm']} but instance {instance.id} "
                f"is in {instance.attrs['realm']}",
                "InvalidParameterCombination",
            )
        return {
            "name": self._default_name(desired, owner),
            "instance": instance.id,
            "subnet": subnet.id,
            "ip_address": _private_ip(subnet, self.store.next_number("network_interface"), True),
        }

    def _new_load_balancer(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        name = str(desired.get("name") or ownership.balancer_name(owner))
        for other in self.store.select("load_balancer", self.region):  # as ELB: in any case
            if str(other.attrs["name"]).lower() == name.lower():
                raise ConflictError(
                    f"a load_balancer named {other.attrs['name']!r} already exists",
                    "DuplicateLoadBalancerName",
                )
        taken = self.store.get(name)  # its id is its name, and the sim has one space of ids
        if taken is not None:
            raise ConflictError(
                f"the name {name!r} is the id of {taken.type} {taken.id} in {taken.region}",
                "DuplicateLoadBalancerName",
            )
        instances = self._balanced(desired.get("instances"))
        realms = sorted({self.check_realm(str(r)) for r in desired.get("realms") or []})
        if not realms:  # those of its instances, or the region's first
            realms = sorted({i.attrs["realm"] for i in instances}) or [self.check_realm(None)]
        return {
            "name": name,
            "realms": realms,
            "listeners": check_listeners(desired.get("listeners")),
            "instances": [i.id for i in instances],
            "public_address": f"{name.lower()}.{self.region}.elb.sim.nubes.invalid",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def _balanced(self, ids: Any) -> list[Row]:
        rows = [self._live_instance(str(i)) for i in ids or []]
        if len({r.id for r in rows}) != len(rows):
            raise InvalidRequestError("an instance is listed twice", "InvalidParameterValue")
        return rows

    def _new_image(self, desired: Mapping[str, Any], owner: Ownership) -> dict[str, Any]:
        source = self._live_instance(str(desired.get("instance")))
        return {
            "name": str(desired.get("name")),
            "instance": source.id,
            "description": f"from {source.id}",
            "state": "available",
        }

    # ---- update ----------------------------------------------------------------------------

    def update(self, type: str, id: str, desired: Mapping[str, Any]) -> Row:
        """Change what `desired` holds (the changed attributes only), by the type's own rules
        (`_update_<type>`; a type without one only takes new tags)."""
        with self.store.transaction():
            row = self.get(type, id)
            if "tags" in desired:
                keep = {k: v for k, v in row.tags.items() if k.startswith("nubes:")}
                row.tags = {**{str(k): str(v) for k, v in (desired["tags"] or {}).items()}, **keep}
            changer = getattr(self, f"_update_{type}", None)
            if changer is not None:
                changer(row, desired)
            self.store.save(row)
        return row

    def _update_firewall(self, row: Row, desired: Mapping[str, Any]) -> None:
        if "rules" in desired:
            row.attrs["rules"] = check_rules(desired["rules"] or [])

    def _update_volume(self, row: Row, desired: Mapping[str, Any]) -> None:
        attrs = row.attrs
        if desired.get("name"):
            attrs["name"] = desired["name"]
        wanted = desired.get("instance") or None
        if wanted != attrs.get("instance"):
            self._detach(attrs)
            if wanted:
                self._attach(attrs, str(wanted), desired.get("device"))

    def _update_address(self, row: Row, desired: Mapping[str, Any]) -> None:
        wanted = desired.get("instance") or None
        row.attrs["instance"] = self._live_instance(str(wanted)).id if wanted else None

    def _update_load_balancer(self, row: Row, desired: Mapping[str, Any]) -> None:
        if "listeners" in desired:
            row.attrs["listeners"] = check_listeners(desired["listeners"])
        if "register" in desired or "deregister" in desired:  # ELB's calls: one change each
            gone = set(desired.get("deregister") or [])
            members = [m for m in row.attrs.get("instances") or [] if m not in gone]
            for added in self._balanced(desired.get("register")):
                if added.id not in members:
                    members.append(added.id)
            row.attrs["instances"] = members

    def _update_network(self, row: Row, desired: Mapping[str, Any]) -> None:
        if desired.get("name"):
            row.attrs["name"] = desired["name"]

    _update_subnet = _update_network
    _update_network_interface = _update_network

    def _update_instance(self, row: Row, desired: Mapping[str, Any]) -> None:
        attrs = row.attrs
        if desired.get("name"):
            attrs["name"] = desired["name"]
        if "firewalls" in desired:
            attrs["firewalls"] = [str(f) for f in desired.get("firewalls") or []]
            for firewall in attrs["firewalls"]:
                self._by_name("firewall", firewall)
        if "size" in desired and desired["size"] != attrs.get("size"):
            profile, values = self.find_profile(desired["size"])
            attrs.update(size=desired["size"], hardware_profile=profile.id, **values)
            if self.to_object(row).attributes["state"] == "running":
                # a new size needs a stop and a start, as on real clouds
                attrs.update(state="pending", ready_at=time.time() + self.config.boot_seconds)
        wanted = desired.get("state")
        if wanted in ("running", "stopped"):
            self._set_state(row, "start" if wanted == "running" else "stop")

    # ---- actions and delete ----------------------------------------------------------------

    def act(self, id: str, action: str) -> Row:
        with self.store.transaction():
            row = self.get("instance", id)
            self._set_state(row, action)
            self.store.save(row)
        return row

    def _set_state(self, row: Row, action: str) -> None:
        state = self.to_object(row).attributes["state"]
        allowed = {
            "start": ("stopped", "running"),
            "stop": ("running", "pending", "stopped"),
            "reboot": ("running",),
        }
        if action not in allowed:
            raise InvalidRequestError(f"unknown instance action {action!r}")
        if state not in allowed[action]:
            raise ConflictError(
                f"instance {row.id} is {state}; cannot {action} it", "IncorrectInstanceState"
            )
        if action == "stop":
            row.attrs.update(state="stopped")
        else:
            if state != "running" or action == "reboot":
                row.attrs.update(state="pending", ready_at=time.time() + self.config.boot_seconds)

    def delete(self, type: str, id: str) -> None:
        """Delete, after the type's own rules (`_delete_<type>`) allowed it and let go of what
        the object held."""
        with self.store.transaction():
            row = self.get(type, id)
            release = getattr(self, f"_delete_{type}", None)
            if release is not None:
                release(row)
            self.store.delete(id)

    def _delete_firewall(self, row: Row) -> None:
        names = {row.id, row.attrs.get("name")}
        users = [
            i.id
            for i in self.store.select("instance", self.region)
            if names & set(i.attrs.get("firewalls", []))
        ]
        if users:
            raise ConflictError(
                f"firewall {row.id} is in use by {', '.join(users)}", "DependencyViolation"
            )

    def _delete_instance(self, row: Row) -> None:
        for vol in self.store.referring("volume", self.region, "instance", row.id):
            self._detach(vol.attrs)
            self.store.save(vol)
        for addr in self.store.referring("address", self.region, "instance", row.id):
            addr.attrs["instance"] = None
            self.store.save(addr)
        for balancer in self.store.select("load_balancer", self.region):
            if row.id in balancer.attrs.get("instances", []):
                balancer.attrs["instances"].remove(row.id)  # as ELB deregisters a terminated one
                self.store.save(balancer)

        for nic in self.store.referring("network_interface", self.region, "instance", row.id):
            self.store.delete(nic.id)  # as Deltacloud's mock: an instance's go with it

    def _delete_network(self, row: Row) -> None:
        self._refuse_if_used(row, "subnet", "network")

    def _delete_subnet(self, row: Row) -> None:
        self._refuse_if_used(row, "instance", "subnet")
        self._refuse_if_used(row, "network_interface", "subnet")

    def _refuse_if_used(self, row: Row, type: str, attr: str) -> None:
        users = [u.id for u in self.store.referring(type, self.region, attr, row.id)]
        if users:
            raise ConflictError(
                f"{row.type} {row.id} is in use by {', '.join(users)}", "DependencyViolation"
            )

    def _delete_volume(self, row: Row) -> None:
        if row.attrs.get("instance"):
            self._detach(row.attrs)

    def _delete_bucket(self, row: Row) -> None:
        if self.store.blob_list(row.id):
            raise ConflictError(f"bucket {row.id} is not empty", "BucketNotEmpty")

    # ---- helpers ---------------------------------------------------------------------------

    def _by_name(self, type: str, ref: str) -> Row:
        row = self.store.get(ref, type)
        if row is not None and row.region == self.region:
            return row
        named = self.store.by_name(type, self.region, ref)
        if named is not None:
            return named
        raise InvalidRequestError(
            f"{type} {ref!r} does not exist in {self.region}",
            f"Invalid{type.capitalize()}.NotFound",
        )

    def _unique_name(self, type: str, name: str, code: str) -> None:
        if self.store.by_name(type, self.region, name) is not None:
            raise ConflictError(f"a {type} named {name!r} already exists", code)

    def _live_instance(self, id: str) -> Row:
        row = self.get("instance", id)
        if row.attrs.get("state") == "terminated":
            raise ConflictError(f"instance {id} is terminated", "IncorrectInstanceState")
        return row

    def _attach(self, attrs: dict[str, Any], instance: str, device: Any) -> None:
        target = self._live_instance(instance)
        if target.attrs["realm"] != attrs["realm"]:
            raise InvalidRequestError(
                f"volume is in {attrs['realm']} but instance {instance} is in "
                f"{target.attrs['realm']}",
                "InvalidVolume.ZoneMismatch",
            )
        used = {
            v.attrs.get("device")
            for v in self.store.referring("volume", self.region, "instance", instance)
        }
        if not device:
            device = next(f"/dev/sd{c}" for c in "fghijklmnop" if f"/dev/sd{c}" not in used)
        elif device in used:
            raise ConflictError(
                f"device {device} is already in use on {instance}", "InvalidParameterValue"
            )
        attrs.update(instance=target.id, device=device, state="in-use")

    def _detach(self, attrs: dict[str, Any]) -> None:
        attrs.update(instance=None, device=None, state="available")


def _block(value: Any, widest: int, narrowest: int) -> ipaddress.IPv4Network:
    """An IPv4 address block of a size clouds take (AWS's /16 to /28)."""
    try:
        block = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise InvalidRequestError(
            f"{str(value)[:60]!r} is not an address block: {exc}", "InvalidParameterValue"
        ) from None
    if not isinstance(block, ipaddress.IPv4Network):
        raise InvalidRequestError("address blocks are IPv4 CIDRs", "InvalidParameterValue")
    if not widest <= block.prefixlen <= narrowest:
        raise InvalidRequestError(
            f"address block {block} must be between /{widest} and /{narrowest}",
            "InvalidParameterValue",
        )
    return block


def _private_ip(subnet: Row | None, n: int, from_top: bool = False) -> str:
    """The n-th address of a subnet: instances count up from its start, extra interfaces down
    from its end, so the two never meet in a subnet that is not full."""
    if subnet is None:
        return str(ipaddress.ip_address("10.0.0.0") + (n % 65000) + 10)
    block = ipaddress.ip_network(subnet.attrs["address_block"])
    usable = block.num_addresses - 5  # as AWS, which keeps the first four and the last
    if from_top:
        return str(block.broadcast_address - 1 - (n % usable))
    return str(block.network_address + 4 + (n % usable))


def _fixed_values(p: HardwareProfile) -> dict[str, float]:
    def low(v: float | tuple[float, float]) -> float:
        return v[0] if isinstance(v, tuple) else v

    return {"cpus": low(p.cpus), "memory_gb": low(p.memory_gb)}


def _pick_profile(
    profiles: list[HardwareProfile], size: Mapping[str, Any]
) -> tuple[HardwareProfile, dict[str, float]]:
    """The profile a requirement picks, by the rule the engine's plan used (kit.choose)."""
    best, why = smallest_profile(list(profiles), size)
    if best is None:
        raise InvalidRequestError(why or "no hardware profile fits", "InvalidParameterValue")
    if isinstance(best.cpus, tuple):  # ranged: it takes the requested values
        return best, {
            "cpus": float(size.get("cpus", 1)),
            "memory_gb": float(size.get("memory_gb", 0)),
        }
    return best, _fixed_values(best)


def _ranged(
    profiles: list[HardwareProfile], profile: str, size: Mapping[str, Any]
) -> tuple[HardwareProfile, dict[str, float]]:
    """A named profile with requested values, which must lie in its ranges."""
    found = next((p for p in profiles if p.id == profile), None)
    if found is None:
        raise InvalidRequestError(
            f"hardware profile {profile!r} does not exist", "InvalidParameterValue"
        )
    values = {
        "cpus": float(size.get("cpus", _low(found.cpus))),
        "memory_gb": float(size.get("memory_gb", _low(found.memory_gb))),
    }
    for key, span in (("cpus", found.cpus), ("memory_gb", found.memory_gb)):
        low, high = span if isinstance(span, tuple) else (span, span)
        if not low <= values[key] <= high:
            raise InvalidRequestError(
                f"{key} {values[key]:g} is outside {profile}'s {low:g}-{high:g}",
                "InvalidParameterValue",
            )
    return found, values


def _low(value: float | tuple[float, float]) -> float:
    return value[0] if isinstance(value, tuple) else value
