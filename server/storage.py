"""Deltacloud's storage, network and object collections: storage_volumes (attach, detach),
storage_snapshots, addresses (associate, disassociate), firewalls (rules) and buckets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.providers.protocol import CloudObject
from nubes.server import views
from nubes.server.deps import Base, Format, Paging, Params, ProviderDriver
from nubes.server.http import ApiError, api_base, form
from nubes.server.models import listed, shown
from nubes.server.paging import list_rows
from nubes.server.respond import (
    api_owner,
    check_create,
    collection,
    provider_driver,
    read_one,
    request_format,
    request_params,
    single,
    supports,
)

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


router = APIRouter()


ROUTES = ("index", "show", "create", "destroy")


def collection_routes(
    router: APIRouter,
    collection_name: str,
    type_: str,
    view: View,
    only: tuple[str, ...] = ROUTES,
) -> None:
    """A collection's generic routes on `router` (those of `only`): index, show, create (its
    fields from CREATE_FIELDS and `_create_params`) and destroy."""
    if "index" in only:

        @router.get(
            f"/api/{collection_name}",
            name=f"{collection_name}_index",
            responses=listed(collection_name),
        )
        async def index(
            request: Request, base: Base, fmt: Format, driver: ProviderDriver, page: Paging
        ) -> Response:
            supports(request, type_)
            rows, total = await list_rows(driver, type_, page)
            return collection(fmt, collection_name, rows, page, lambda o: view(base, o), total)

    if "show" in only:

        @router.get(
            f"/api/{collection_name}/{{id}}",
            name=f"{collection_name}_show",
            responses=shown(collection_name),
        )
        async def show(request: Request, id: str, base: Base, fmt: Format) -> Response:
            return single(fmt, collection_name, view(base, await read_one(request, type_, id)))

    if "create" in only:

        @router.post(
            f"/api/{collection_name}",
            name=f"{collection_name}_create",
            status_code=201,
            openapi_extra=form(*CREATE_FIELDS[type_][0], optional=CREATE_FIELDS[type_][1]),
            responses=shown(collection_name, 201),
        )
        async def create(
            request: Request, base: Base, fmt: Format, driver: ProviderDriver, params: Params
        ) -> Response:
            supports(request, type_)
            desired = {k: v for k, v in _create_params(type_, params).items() if v is not None}
            name = str(params.get("name") or f"api-{uuid.uuid4().hex[:8]}")
            await check_create(driver, type_, desired)
            made = await driver.create(type_, desired, api_owner(name))
            item = view(base, made)
            return single(fmt, collection_name, item, 201, {"Location": item["href"]})

    if "destroy" in only:

        @router.delete(
            f"/api/{collection_name}/{{id}}", name=f"{collection_name}_destroy", status_code=204
        )
        async def destroy(request: Request, id: str, driver: ProviderDriver) -> Response:
            await read_one(request, type_, id)
            await driver.delete(type_, id)
            return Response(status_code=204)


async def _change(
    request: Request, type: str, id: str, wanted: dict[str, Any], name: str, view: View
) -> Response:
    current = await read_one(request, type, id)
    updated = await provider_driver(request).update(type, id, current.attributes, wanted)
    return single(request_format(request), name, view(api_base(request), updated), 202)


@router.post(
    "/api/storage_volumes/{id}/attach",
    status_code=202,
    openapi_extra=form("instance_id", optional=("device",)),
    responses=shown("storage_volumes", 202),
)
async def attach(request: Request, id: str) -> Response:
    params = await request_params(request)
    if not params.get("instance_id"):
        raise ApiError(400, "instance_id is required to attach a volume")
    current = await read_one(request, "volume", id)
    if current.attributes.get("instance"):
        raise ApiError(405, f"volume {id} is attached; detach it first")
    return await _change(
        request,
        "volume",
        id,
        {"instance": params["instance_id"], "device": params.get("device")},
        "storage_volumes",
        views.volume,
    )


@router.post(
    "/api/storage_volumes/{id}/detach",
    status_code=202,
    responses=shown("storage_volumes", 202),
)
async def detach(request: Request, id: str) -> Response:
    if not (await read_one(request, "volume", id)).attributes.get("instance"):
        raise ApiError(405, f"volume {id} is not attached")
    return await _change(
        request,
        "volume",
        id,
        {"instance": None, "device": None},
        "storage_volumes",
        views.volume,
    )


@router.post(
    "/api/addresses/{id}/associate",
    status_code=202,
    openapi_extra=form("instance_id"),
    responses=shown("addresses", 202),
)
async def associate(request: Request, id: str) -> Response:
    params = await request_params(request)
    if not params.get("instance_id"):
        raise ApiError(400, "instance_id is required to associate an address")
    if (await read_one(request, "address", id)).attributes.get("instance"):
        raise ApiError(405, f"address {id} is associated; disassociate it first")
    return await _change(
        request, "address", id, {"instance": params["instance_id"]}, "addresses", views.address
    )


@router.post("/api/addresses/{id}/disassociate", status_code=202, responses=shown("addresses", 202))
async def disassociate(request: Request, id: str) -> Response:
    if not (await read_one(request, "address", id)).attributes.get("instance"):
        raise ApiError(405, f"address {id} is not associated")
    return await _change(request, "address", id, {"instance": None}, "addresses", views.address)


@router.post(
    "/api/firewalls/{id}/rules",
    status_code=201,
    openapi_extra=form(optional=("protocol", "port_from", "port_to", "ip_address")),
    responses=shown("firewalls", 201),
)
async def add_rule(request: Request, id: str) -> Response:
    params = await request_params(request)
    current = await read_one(request, "firewall", id)
    low, high = params.get("port_from"), params.get("port_to")
    ports = "" if not low else (str(low) if low == high or not high else f"{low}-{high}")
    rule = {
        "protocol": params.get("protocol", "tcp"),
        "ports": ports,
        "sources": [s for s in str(params.get("ip_address", "0.0.0.0/0")).split(",") if s],
    }
    rules = [*(current.attributes.get("rules") or []), rule]
    updated = await provider_driver(request).update(
        "firewall", id, current.attributes, {"rules": rules}
    )
    return single(
        request_format(request), "firewalls", views.firewall(api_base(request), updated), 201
    )


@router.delete("/api/firewalls/{id}/{rule_id}", status_code=204)
async def delete_rule(request: Request, id: str, rule_id: str) -> Response:
    current = await read_one(request, "firewall", id)
    rules = list(current.attributes.get("rules") or [])
    prefix, _, index = rule_id.rpartition("~")
    if prefix != id or not re.fullmatch(r"[0-9]{1,6}", index) or int(index) >= len(rules):
        raise ApiError(404, f"firewall {id} has no rule {rule_id}")
    rules.pop(int(index))
    await provider_driver(request).update("firewall", id, current.attributes, {"rules": rules})
    return Response(status_code=204)


for _name, (_type, _view) in KINDS.items():
    collection_routes(router, _name, _type, _view)
