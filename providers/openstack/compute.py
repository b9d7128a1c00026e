"""Nova servers, key pairs, and images made from servers (Glance), one handler each."""

from __future__ import annotations

import base64
import builtins
import contextlib
from collections.abc import Mapping
from typing import Any

from nubes.providers.errors import (
    ConflictError,
    CreateIncompleteError,
    NotFoundError,
    ProviderError,
    TimeoutError_,
)
from nubes.providers.kit import checks, ownership
from nubes.providers.kit.handlers import NoChecks, ReplacedOnly
from nubes.providers.openstack import converters as conv
from nubes.providers.openstack.context import OpenStack
from nubes.providers.protocol import CloudObject, Ownership, PlannedChange
from nubes.providers.values import Unknown


def default_name(owner: Ownership) -> str:
    """A name for an object the stack left unnamed: `<stack>-<address>`."""
    text = f"{owner.stack}-{owner.address}"
    return text.replace('"', "").replace("[", "-").replace("]", "")


def matches(obj: CloudObject, filters: Mapping[str, str]) -> bool:
    return all(obj.tags.get(k) == v for k, v in filters.items())


class Instances:
    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        # Nova filters servers by name, status, tags, never by metadata: one paged list,
        # filtered here (the groups' ids and the flavors are asked once per refresh)
        docs = list(self.os.pages("compute", "/servers/detail", "servers"))
        if not docs:
            return []
        names = self.os.flavor_names()
        groups = self.os.group_ids() if any(d.get("security_groups") for d in docs) else {}
        found = [conv.instance(d, names, groups) for d in docs]
        return [o for o in found if matches(o, filters) and o.attributes["state"] != "terminated"]

    def read(self, id: str) -> CloudObject | None:
        doc = self.os.nova("GET", f"/servers/{id}") or {}
        server = doc.get("server")
        if not server:
            return None
        found = self.os.instance(server)
        return None if found.attributes["state"] == "terminated" else found

    def plan(
        self, prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
    ) -> None:
        size, image = config.get("size"), config.get("image")
        if isinstance(size, str):
            if self.os.flavor_id(size) is None:
                names = ", ".join(f["name"] for f in self.os.flavors())
                change.problems.append(
                    ("size", f"badRequest: Flavor {size} could not be found (flavors: {names})")
                )
        elif size is not None and size is not Unknown:
            change.problems.append(
                ("size", "openstack takes a flavor name here, such as m1.small, or a size map")
            )
        if isinstance(image, str) and not self.os.image_exists(image):
            change.problems.append(("image", f"badRequest: Can not find requested image {image!r}"))
        checks.check_realm(
            config,
            self.os.zone_names,
            self.os.region or "this region",
            change,
            ("availability zone", "zones"),
        )
        checks.plan_profile(prior, config, change)

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        size = str(desired["size"])
        body: dict[str, Any] = {
            "name": str(desired.get("name") or default_name(owner)),
            "imageRef": str(desired["image"]),
            "flavorRef": self.os.flavor_id(size) or size,
            "metadata": {k: str(v)[:255] for k, v in tags.items()},
        }
        if desired.get("key"):
            body["key_name"] = str(desired["key"])
        groups = [str(g) for g in desired.get("firewalls") or []]
        if groups:
            body["security_groups"] = [{"name": g} for g in groups]
        if desired.get("realm"):
            body["availability_zone"] = str(desired["realm"])
        if desired.get("user_data"):
            body["user_data"] = base64.b64encode(str(desired["user_data"]).encode()).decode()
        network = self.os.network(self.os.settings.network, external=False)
        version = self.os.microversion()
        if network:
            body["networks"] = [{"uuid": network}]
        elif version and tuple(int(n) for n in version.split(".")) >= (2, 37):
            body["networks"] = "auto"

        def post() -> str:
            return str(
                (self.os.nova("POST", "/servers", json={"server": body}) or {})["server"]["id"]
            )

        id = self.os.create_once("instance", post, lambda: ownership.earlier(self.list, owner))
        try:
            obj = self.os.wait_server(id, ("running",), timeout)
            if desired.get("state") == "stopped":
                obj = self.act(id, "stop")
        except (TimeoutError_, ProviderError) as exc:
            found = self.os.read("instance", id) or CloudObject("instance", id, {"id": id}, tags)
            raise CreateIncompleteError(str(exc), found) from None
        return obj

    def update(
        self, id: str, prior: Mapping[str, Any], desired: Mapping[str, Any], changed: set[str]
    ) -> None:
        if "firewalls" in changed:
            before = {str(g) for g in prior.get("firewalls") or []}
            after = {str(g) for g in desired.get("firewalls") or []}
            for group in sorted(after - before):
                self.os.nova(
                    "POST", f"/servers/{id}/action", json={"addSecurityGroup": {"name": group}}
                )
            for group in sorted(before - after):
                self.os.nova(
                    "POST", f"/servers/{id}/action", json={"removeSecurityGroup": {"name": group}}
                )
        if "size" in changed:
            self._resize(id, str(desired["size"]))
        if "state" in changed and desired.get("state") in ("running", "stopped"):
            current = self.os.must_read("instance", id).attributes["state"]
            if current != desired["state"]:
                self.act(id, "start" if desired["state"] == "running" else "stop")

    def _resize(self, id: str, size: str) -> None:
        """Nova resizes in place: resize, wait for VERIFY_RESIZE, confirm."""
        flavor = self.os.flavor_id(size) or size
        self.os.nova("POST", f"/servers/{id}/action", json={"resize": {"flavorRef": flavor}})
        self.os.wait_server(id, (), raw=("VERIFY_RESIZE",))
        self.os.nova("POST", f"/servers/{id}/action", json={"confirmResize": None})
        self.os.wait_server(id, ("running", "stopped"))

    def delete(self, id: str) -> None:
        try:
            self.os.nova("DELETE", f"/servers/{id}")
        except NotFoundError:
            return
        # wait, so that what it used (groups, volumes, addresses) can be deleted next
        self.os.wait(
            f"instance {id} to be deleted",
            lambda: True if self.os.read("instance", id) is None else None,
        )

    def act(self, id: str, action: str) -> CloudObject:
        body: dict[str, Any] = {
            "start": {"os-start": None},
            "stop": {"os-stop": None},
        }.get(action, {"reboot": {"type": "SOFT"}})
        self.os.nova("POST", f"/servers/{id}/action", json=body)
        wanted = ("stopped",) if action == "stop" else ("running",)
        return self.os.wait_server(id, wanted)


class Keys(NoChecks, ReplacedOnly):  # everything forces a new key pair
    """Nova key pairs have no metadata: a key is its name. A create that meets its own name
    (a retry after a lost answer) adopts it when the public key is the same."""

    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        if filters:
            return []  # key pairs carry no tags, so none is any stack's by tag
        return [conv.key(k) for k in self.os.pages("compute", "/os-keypairs", "keypairs")]

    def read(self, id: str) -> CloudObject | None:
        doc = self.os.nova("GET", f"/os-keypairs/{id}") or {}
        return conv.key(doc["keypair"]) if doc.get("keypair") else None

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        name = str(desired.get("name") or default_name(owner)).replace(" ", "-")
        body: dict[str, Any] = {"name": name}
        if desired.get("public_key"):
            body["public_key"] = str(desired["public_key"]).strip()
        try:
            made = (self.os.nova("POST", "/os-keypairs", json={"keypair": body}) or {})["keypair"]
        except ConflictError:
            found = self.read(name)
            wanted = body.get("public_key")
            if found is None or not wanted or found.attributes["public_key"] != wanted:
                raise ConflictError(
                    f"a key pair named {name!r} already exists and is not this stack's",
                    "conflictingRequest",
                ) from None
            return found
        obj = conv.key(made)
        obj.attributes["private_key"] = made.get("private_key")
        return obj

    def delete(self, id: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.os.nova("DELETE", f"/os-keypairs/{id}")


class Images(NoChecks, ReplacedOnly):
    """Images made from a server (Nova's createImage), owned through their properties."""

    def __init__(self, os: OpenStack) -> None:
        self.os = os

    def list(self, filters: Mapping[str, str]) -> builtins.list[CloudObject]:
        project = self.os.keystone.token.project_id
        params: dict[str, Any] = {"owner": project} if project else {}
        params.update(filters)  # Glance filters on any property: the owner's tags are ones
        return [conv.image(d) for d in self.os.pages("image", "/v2/images", "images", params)]

    def read(self, id: str) -> CloudObject | None:
        try:
            doc = self.os.service("image").json("GET", f"/v2/images/{id}")
        except NotFoundError:
            return None
        if not doc or doc.get("status") in ("deleted", "pending_delete"):
            return None
        return conv.image(doc)

    def create(
        self,
        desired: Mapping[str, Any],
        owner: Ownership,
        tags: dict[str, str],
        timeout: float | None,
    ) -> CloudObject:
        metadata = {k if k.startswith("nubes:") else f"tag:{k}": str(v) for k, v in tags.items()}
        server = str(desired["instance"])
        action = {"createImage": {"name": str(desired["name"]), "metadata": metadata}}

        def post() -> str:
            answer = self.os.nova("POST", f"/servers/{server}/action", json=action) or {}
            if answer.get("image_id"):
                return str(answer["image_id"])
            # before microversion 2.45 Nova names the image only in a Location header
            found = ownership.earlier(self.list, owner)
            if found is None:
                raise ProviderError("Nova made an image but did not say which", "NoImageId")
            return found.id

        image_id = self.os.create_once("image", post, lambda: ownership.earlier(self.list, owner))

        def settled() -> CloudObject | None:
            found = self.os.must_read("image", str(image_id))
            if found.attributes["state"] == "error":
                raise CreateIncompleteError(f"image {image_id} failed", found)
            return found if found.attributes["state"] == "available" else None

        return self.os.wait(f"image {image_id}", settled, timeout)

    def delete(self, id: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.os.service("image").request("DELETE", f"/v2/images/{id}")


__all__ = ["Images", "Instances", "Keys", "default_name", "matches"]
