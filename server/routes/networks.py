"""Deltacloud 1.1's networks, subnets and network_interfaces: index, show, create and destroy,
over the portable network, subnet and network_interface types. Creates answer 200 with the new
object, as Deltacloud's do (its network routes set no 201)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.providers.protocol import CloudObject
from nubes.server import netviews
from nubes.server.calls import AsyncDriver
from nubes.server.deps import Base, Format, Paging, Params, ProviderDriver
from nubes.server.http import ApiError, form
from nubes.server.models import listed, shown
from nubes.server.paging import list_rows
from nubes.server.respond import api_owner, check_create, collection, read_one, single, supports
from nubes.server.storage import collection_routes

router = APIRouter()


async def _subnets_by_network(driver: AsyncDriver) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in await driver.list("subnet", {}):
        out.setdefault(str(s.attributes.get("network")), []).append(s.id)
    return out


async def _network_view(base: str, driver: AsyncDriver, obj: CloudObject) -> dict[str, Any]:
    return netviews.network(base, obj, (await _subnets_by_network(driver)).get(obj.id, []))


def _required(params: dict[str, str], *names: str) -> None:
    for name in names:
        if not params.get(name):
            raise ApiError(400, f"Required parameter '{name}' not found")


@router.get("/api/networks", responses=listed("networks"))
async def networks_index(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, page: Paging
) -> Response:
    supports(request, "network")
    subnets = await _subnets_by_network(driver)
    rows, total = await list_rows(driver, "network", page)
    return collection(
        fmt,
        "networks",
        rows,
        page,
        lambda n: netviews.network(base, n, subnets.get(n.id, [])),
        total,
    )


@router.get("/api/networks/{id}", responses=shown("networks"))
async def networks_show(
    request: Request, id: str, base: Base, fmt: Format, driver: ProviderDriver
) -> Response:
    obj = await read_one(request, "network", id)
    return single(fmt, "networks", await _network_view(base, driver, obj))


async def _create(
    request: Request, driver: AsyncDriver, type: str, desired: dict[str, Any], name: str | None
) -> CloudObject:
    supports(request, type)
    desired = {k: v for k, v in desired.items() if v not in (None, "")}
    await check_create(driver, type, desired)
    return await driver.create(type, desired, api_owner(name or f"api-{uuid.uuid4().hex[:8]}"))


@router.post(
    "/api/networks",
    openapi_extra=form(optional=("address_block", "name")),
    responses=shown("networks"),
)
async def networks_create(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, params: Params
) -> Response:
    desired = {
        "address_block": params.get("address_block") or "10.0.0.0/16",
        "name": params.get("name"),
    }
    made = await _create(request, driver, "network", desired, params.get("name"))
    return single(fmt, "networks", netviews.network(base, made))  # new: no subnets yet


@router.post(
    "/api/subnets",
    openapi_extra=form("network_id", "address_block", optional=("name", "realm_id")),
    responses=shown("subnets"),
)
async def subnets_create(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, params: Params
) -> Response:
    _required(params, "network_id", "address_block")
    await read_one(request, "network", params["network_id"])
    desired = {
        "network": params["network_id"],
        "address_block": params["address_block"],
        "name": params.get("name"),
        "realm": params.get("realm_id"),
    }
    made = await _create(request, driver, "subnet", desired, params.get("name"))
    return single(fmt, "subnets", netviews.subnet(base, made))


@router.post(
    "/api/network_interfaces",
    openapi_extra=form("instance", "network", optional=("name",)),
    responses=shown("network_interfaces"),
)
async def interfaces_create(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, params: Params
) -> Response:
    _required(params, "instance", "network")
    await read_one(request, "instance", params["instance"])
    await read_one(request, "subnet", params["network"])  # a subnet, where a driver has them
    desired = {
        "instance": params["instance"],
        "subnet": params["network"],
        "name": params.get("name"),
    }
    made = await _create(request, driver, "network_interface", desired, params.get("name"))
    return single(fmt, "network_interfaces", netviews.network_interface(base, made))


collection_routes(router, "networks", "network", netviews.network, only=("destroy",))
for _name, _type, _view in (
    ("subnets", "subnet", netviews.subnet),
    ("network_interfaces", "network_interface", netviews.network_interface),
):
    collection_routes(router, _name, _type, _view, only=("index", "show", "destroy"))
