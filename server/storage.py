"""Deltacloud's storage, network and object collections: storage_volumes (attach, detach),
storage_snapshots, addresses (associate, disassociate), firewalls (rules) and buckets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from nubes.providers.protocol import CloudObject
from nubes.server import views
from nubes.server.http import ApiError, form

View = Callable[[str, CloudObject], dict[str, Any]]
# collection -> (portable type, view)
KINDS: dict[str, tuple[str, View]] = {
    "storage_volumes": ("volume", views.volume),
    "storage_snapshots": ("snapshot", views.snapshot),
    "addresses": ("address", views.address),
    "firewalls": ("firewall", views.firewall),
    "buckets": ("bucket", views.bucket),
}


# required and optional fields of each create, for the OpenAPI document
CREATE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "volume": (("capacity",), ("realm_id", "name")),
    "snapshot": (("volume_id",), ("name",)),
    "address": ((), ()),
    "firewall": (("name",), ("description",)),
    "bucket": (("name",), ()),
}


def _create_params(type: str, params: dict[str, Any]) -> dict[str, Any]:
    """A Deltacloud create request as portable attributes."""
    if type == "volume":
        if not params.get("capacity"):
            raise ApiError(400, "capacity (GB) is required to create a storage volume")
        try:
            size = int(params["capacity"])
        except (TypeError, ValueError):
            raise ApiError(400, "capacity must be a whole number of GB") from None
        return {"size_gb": size, "realm": params.get("realm_id"), "name": params.get("name")}
    if type == "snapshot":
        if not params.get("volume_id"):
            raise ApiError(400, "volume_id is required to create a storage snapshot")
        return {"volume": params["volume_id"], "name": params.get("name")}
    if type == "firewall":
        if not params.get("name"):
            raise ApiError(400, "name is required to create a firewall")
        return {"name": params["name"], "description": params.get("description")}
    if type == "bucket":
        if not params.get("name"):
            raise ApiError(400, "name is required to create a bucket")
        return {"name": params["name"]}
    return {}  # an address needs nothing


def register_storage_routes(app: FastAPI, helpers: Any) -> None:
    h = helpers

    async def read(request: Request, type: str, id: str) -> CloudObject:
        h.supports(request, type)
        obj = await h.driver(request).read(type, id)
        if obj is None:
            raise ApiError(404, f"{type} {id} not found")
        return obj

    for collection, (type_, view) in KINDS.items():

        def make(collection: str = collection, type_: str = type_, view: View = view) -> None:
            @app.get(f"/api/{collection}", name=f"{collection}_index")
            async def index(request: Request) -> Response:
                h.supports(request, type_)
                base = h.base(request)
                items = [view(base, o) for o in await h.driver(request).list(type_, {})]
                return h.collection(request, collection, items)

            @app.get(f"/api/{collection}/{{id}}", name=f"{collection}_show")
            async def show(request: Request, id: str) -> Response:
                return h.single(
                    request, collection, view(h.base(request), await read(request, type_, id))
                )

            @app.post(
                f"/api/{collection}",
                name=f"{collection}_create",
                status_code=201,
                openapi_extra=form(*CREATE_FIELDS[type_][0], optional=CREATE_FIELDS[type_][1]),
            )
            async def create(request: Request) -> Response:
                h.supports(request, type_)
                params = await h.params(request)
                desired = {k: v for k, v in _create_params(type_, params).items() if v is not None}
                name = str(params.get("name") or f"api-{uuid.uuid4().hex[:8]}")
                await h.check(h.driver(request), type_, desired)
                made = await h.driver(request).create(type_, desired, h.owner(name))
                item = view(h.base(request), made)
                return h.single(request, collection, item, 201, {"Location": item["href"]})

            @app.delete(f"/api/{collection}/{{id}}", name=f"{collection}_destroy", status_code=204)
            async def destroy(request: Request, id: str) -> Response:
                await read(request, type_, id)
                await h.driver(request).delete(type_, id)
                return Response(status_code=204)

        make()

    async def change(
        request: Request, type: str, id: str, wanted: dict[str, Any], collection: str, view: View
    ) -> Response:
        current = await read(request, type, id)
        updated = await h.driver(request).update(type, id, current.attributes, wanted)
        return h.single(request, collection, view(h.base(request), updated), 202)

    @app.post(
        "/api/storage_volumes/{id}/attach",
        status_code=202,
        openapi_extra=form("instance_id", optional=("device",)),
    )
    async def attach(request: Request, id: str) -> Response:
        params = await h.params(request)
        if not params.get("instance_id"):
            raise ApiError(400, "instance_id is required to attach a volume")
        current = await read(request, "volume", id)
        if current.attributes.get("instance"):
            raise ApiError(405, f"volume {id} is attached; detach it first")
        return await change(
            request,
            "volume",
            id,
            {"instance": params["instance_id"], "device": params.get("device")},
            "storage_volumes",
            views.volume,
        )

    @app.post("/api/storage_volumes/{id}/detach", status_code=202)
    async def detach(request: Request, id: str) -> Response:
        if not (await read(request, "volume", id)).attributes.get("instance"):
            raise ApiError(405, f"volume {id} is not attached")
        return await change(
            request,
            "volume",
            id,
            {"instance": None, "device": None},
            "storage_volumes",
            views.volume,
        )

    @app.post("/api/addresses/{id}/associate", status_code=202, openapi_extra=form("instance_id"))
    async def associate(request: Request, id: str) -> Response:
        params = await h.params(request)
        if not params.get("instance_id"):
            raise ApiError(400, "instance_id is required to associate an address")
        if (await read(request, "address", id)).attributes.get("instance"):
            raise ApiError(405, f"address {id} is associated; disassociate it first")
        return await change(
            request, "address", id, {"instance": params["instance_id"]}, "addresses", views.address
        )

    @app.post("/api/addresses/{id}/disassociate", status_code=202)
    async def disassociate(request: Request, id: str) -> Response:
        if not (await read(request, "address", id)).attributes.get("instance"):
            raise ApiError(405, f"address {id} is not associated")
        return await change(request, "address", id, {"instance": None}, "addresses", views.address)

    @app.post(
        "/api/firewalls/{id}/rules",
        status_code=201,
        openapi_extra=form(optional=("protocol", "port_from", "port_to", "ip_address")),
    )
    async def add_rule(request: Request, id: str) -> Response:
        params = await h.params(request)
        current = await read(request, "firewall", id)
        low, high = params.get("port_from"), params.get("port_to")
        ports = "" if not low else (str(low) if low == high or not high else f"{low}-{high}")
        rule = {
            "protocol": params.get("protocol", "tcp"),
            "ports": ports,
            "sources": [s for s in str(params.get("ip_address", "0.0.0.0/0")).split(",") if s],
        }
        rules = [*(current.attributes.get("rules") or []), rule]
        updated = await h.driver(request).update(
            "firewall", id, current.attributes, {"rules": rules}
        )
        return h.single(request, "firewalls", views.firewall(h.base(request), updated), 201)

    @app.delete("/api/firewalls/{id}/{rule_id}", status_code=204)
    async def delete_rule(request: Request, id: str, rule_id: str) -> Response:
        current = await read(request, "firewall", id)
        rules = list(current.attributes.get("rules") or [])
        prefix, _, index = rule_id.rpartition("~")
        if prefix != id or not re.fullmatch(r"[0-9]{1,6}", index) or int(index) >= len(rules):
            raise ApiError(404, f"firewall {id} has no rule {rule_id}")
        rules.pop(int(index))
        await h.driver(request).update("firewall", id, current.attributes, {"rules": rules})
        return Response(status_code=204)
