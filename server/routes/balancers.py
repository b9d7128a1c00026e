"""Deltacloud's load_balancers (create with a realm and a listener, register and unregister
instances, destroy) and metrics (per instance) collections."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.providers.errors import NotFoundError
from nubes.providers.protocol import InstanceMetrics
from nubes.server import netviews
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
    single,
    supports,
)

router = APIRouter()
CREATE = (
    "name",
    "realm_id",
    "listener_protocol",
    "listener_balancer_port",
    "listener_instance_port",
)


@router.get("/api/load_balancers", responses=listed("load_balancers"))
async def balancers_index(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, page: Paging
) -> Response:
    supports(request, "load_balancer")
    rows, total = await list_rows(driver, "load_balancer", page)
    return collection(
        fmt, "load_balancers", rows, page, lambda b: netviews.load_balancer(base, b), total
    )


@router.get("/api/load_balancers/{id}", responses=shown("load_balancers"))
async def balancers_show(request: Request, id: str, base: Base, fmt: Format) -> Response:
    obj = await read_one(request, "load_balancer", id)
    return single(fmt, "load_balancers", netviews.load_balancer(base, obj))


@router.post(
    "/api/load_balancers",
    status_code=201,
    openapi_extra=form(*CREATE),
    responses=shown("load_balancers", 201),
)
async def balancers_create(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, params: Params
) -> Response:
    supports(request, "load_balancer")
    for name in CREATE:
        if not params.get(name):
            raise ApiError(400, f"Required parameter '{name}' not found")
    protocol = params["listener_protocol"]
    if protocol not in ("HTTP", "TCP"):
        raise ApiError(400, "listener_protocol must be HTTP or TCP")
    desired = {
        "name": params["name"],
        "realms": [params["realm_id"]],
        "listeners": [
            {
                "protocol": protocol.lower(),
                "port": params["listener_balancer_port"],
                "instance_port": params["listener_instance_port"],
            }
        ],
    }
    await check_create(driver, "load_balancer", desired)
    made = await driver.create("load_balancer", desired, api_owner(params["name"]))
    item = netviews.load_balancer(base, made)
    return single(fmt, "load_balancers", item, 201, {"Location": item["href"]})


async def _members(request: Request, id: str, params: dict[str, str], register: bool) -> Response:
    if not params.get("instance_id"):
        raise ApiError(400, "Required parameter 'instance_id' not found")
    instance = params["instance_id"]
    current = await read_one(request, "load_balancer", id)
    members = list(current.attributes.get("instances") or [])
    if register:
        await read_one(request, "instance", instance)
        if instance in members:
            raise ApiError(405, f"instance {instance} is already registered with {id}")
        members.append(instance)
    else:
        if instance not in members:
            raise ApiError(405, f"instance {instance} is not registered with {id}")
        members.remove(instance)
    driver = provider_driver(request)
    updated = await driver.update("load_balancer", id, current.attributes, {"instances": members})
    return single(
        request_format(request),
        "load_balancers",
        netviews.load_balancer(api_base(request), updated),
    )


@router.post(
    "/api/load_balancers/{id}/register",
    openapi_extra=form("instance_id"),
    responses=shown("load_balancers"),
)
async def balancers_register(request: Request, id: str, params: Params) -> Response:
    return await _members(request, id, params, True)


@router.post(
    "/api/load_balancers/{id}/unregister",
    openapi_extra=form("instance_id"),
    responses=shown("load_balancers"),
)
async def balancers_unregister(request: Request, id: str, params: Params) -> Response:
    return await _members(request, id, params, False)


@router.delete("/api/load_balancers/{id}", status_code=204)
async def balancers_destroy(request: Request, id: str, driver: ProviderDriver) -> Response:
    await read_one(request, "load_balancer", id)
    await driver.delete("load_balancer", id)
    return Response(status_code=204)


def _metrics_driver(request: Request) -> None:
    if not isinstance(provider_driver(request).raw, InstanceMetrics):
        raise ApiError(501, f"the {request.scope['state']['provider']} provider has no metrics")


@router.get("/api/metrics", responses=listed("metrics"))
async def metrics_index(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, page: Paging
) -> Response:
    _metrics_driver(request)
    rows, total = await list_rows(driver, "instance", page)
    return collection(
        fmt, "metrics", rows, page, lambda i: netviews.metric(base, i.id, None), total
    )


@router.get("/api/metrics/{id}", responses=shown("metrics"))
async def metrics_show(
    request: Request, id: str, base: Base, fmt: Format, driver: ProviderDriver
) -> Response:
    _metrics_driver(request)
    try:
        found = await driver.metrics(id)
    except NotFoundError:
        raise ApiError(404, f"instance {id} not found") from None
    return single(fmt, "metrics", netviews.metric(base, id, found))
