"""Deltacloud's realms, hardware profiles and images. A show asks the driver for the one object
(images and profiles by id), never for the whole collection; realms are a region's few zones."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.server import views
from nubes.server.deps import Base, Format, Paging, Params, ProviderDriver
from nubes.server.http import ApiError, form
from nubes.server.models import listed, shown
from nubes.server.respond import api_owner, collection, one, single

router = APIRouter()


@router.get("/api/realms", responses=listed("realms"))
async def realms_index(base: Base, fmt: Format, driver: ProviderDriver, page: Paging) -> Response:
    rows = await driver.realms()
    return collection(fmt, "realms", rows, page, lambda r: views.realm(base, r))


@router.get("/api/realms/{id}", responses=shown("realms"))
async def realms_show(id: str, base: Base, fmt: Format, driver: ProviderDriver) -> Response:
    items = [views.realm(base, r) for r in await driver.realms()]
    return single(fmt, "realms", one(items, id, "realm"))


@router.get("/api/hardware_profiles", responses=listed("hardware_profiles"))
async def hwp_index(base: Base, fmt: Format, driver: ProviderDriver, page: Paging) -> Response:
    rows = await driver.hardware_profiles()
    return collection(
        fmt, "hardware_profiles", rows, page, lambda p: views.hardware_profile(base, p)
    )


@router.get("/api/hardware_profiles/{id}", responses=shown("hardware_profiles"))
async def hwp_show(id: str, base: Base, fmt: Format, driver: ProviderDriver) -> Response:
    found = await driver.hardware_profile(id)
    if found is None:
        raise ApiError(404, f"hardware profile {id} not found")
    return single(fmt, "hardware_profiles", views.hardware_profile(base, found))


# Deltacloud's filters on a collection (filter_all): each narrows by one field
IMAGE_FILTERS = ("id", "architecture", "owner_id", "state")


@router.get("/api/images", responses=listed("images"))
async def images_index(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, page: Paging
) -> Response:
    wanted = {k: request.query_params[k] for k in IMAGE_FILTERS if request.query_params.get(k)}
    profiles = await driver.hardware_profiles()
    items = [
        view
        for view in (views.image(base, i, profiles) for i in await driver.images())
        if all(str(view.get(k, "")).lower() == v.lower() for k, v in wanted.items())
    ]
    return collection(fmt, "images", items, page)


@router.get("/api/images/{id}", responses=shown("images"))
async def images_show(id: str, base: Base, fmt: Format, driver: ProviderDriver) -> Response:
    found = await driver.image(id)
    if found is None:
        raise ApiError(404, f"image {id} not found")
    return single(fmt, "images", views.image(base, found, await driver.hardware_profiles()))


@router.post(
    "/api/images",
    status_code=201,
    openapi_extra=form("instance_id", optional=("name",)),
    responses=shown("images", 201),
)
async def images_create(
    base: Base, fmt: Format, driver: ProviderDriver, params: Params
) -> Response:
    if not params.get("instance_id"):
        raise ApiError(400, "instance_id is required to create an image")
    name = params.get("name") or f"image-{uuid.uuid4().hex[:8]}"
    made = await driver.create(
        "image", {"name": name, "instance": params["instance_id"]}, api_owner(name)
    )
    found = await driver.image(made.id)
    item = (
        views.image(base, found, await driver.hardware_profiles())
        if found is not None
        else {"id": made.id, "href": f"{base}/images/{made.id}", "name": name}
    )
    return single(fmt, "images", item, 201, {"Location": item["href"]})


@router.delete("/api/images/{id}", status_code=204)
async def images_destroy(id: str, driver: ProviderDriver) -> Response:
    await driver.delete("image", id)
    return Response(status_code=204)
