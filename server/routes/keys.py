"""Deltacloud's keys. A generated private key (`pem`) appears in the answer to its create and
nowhere else."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from nubes.providers.protocol import CloudObject
from nubes.server import views
from nubes.server.calls import AsyncDriver
from nubes.server.deps import Base, Format, Paging, Params, ProviderDriver
from nubes.server.http import ApiError, form
from nubes.server.models import listed, shown
from nubes.server.paging import list_rows
from nubes.server.respond import api_owner, collection, needs, single

router = APIRouter(dependencies=[Depends(needs("key"))])


@router.get("/api/keys", responses=listed("keys"))
async def keys_index(base: Base, fmt: Format, driver: ProviderDriver, page: Paging) -> Response:
    rows, total = await list_rows(driver, "key", page)
    return collection(fmt, "keys", rows, page, lambda o: views.key(base, o), total)


async def _find(driver: AsyncDriver, ref: str) -> CloudObject:
    """A key by its id or by its name (Deltacloud's clients name keys by their names)."""
    obj = await driver.read("key", ref)
    if obj is None:
        obj = next(
            (k for k in await driver.list("key", {}) if k.attributes.get("name") == ref), None
        )
    if obj is None:
        raise ApiError(404, f"key {ref} not found")
    return obj


@router.get("/api/keys/{id}", responses=shown("keys"))
async def keys_show(id: str, base: Base, fmt: Format, driver: ProviderDriver) -> Response:
    return single(fmt, "keys", views.key(base, await _find(driver, id)))


@router.post(
    "/api/keys",
    status_code=201,
    openapi_extra=form("name", optional=("public_key",)),
    responses=shown("keys", 201),
)
async def keys_create(base: Base, fmt: Format, driver: ProviderDriver, params: Params) -> Response:
    if not params.get("name"):
        raise ApiError(400, "name is required to create a key")
    desired = {"name": params["name"], "public_key": params.get("public_key")}
    made = await driver.create("key", desired, api_owner(str(params["name"])))
    item = views.key(base, made, with_private_key=True)  # shown this once
    return single(fmt, "keys", item, 201, {"Location": item["href"]})


@router.delete("/api/keys/{id}", status_code=204)
async def keys_destroy(id: str, driver: ProviderDriver) -> Response:
    await driver.delete("key", (await _find(driver, id)).id)
    return Response(status_code=204)
