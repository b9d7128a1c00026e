"""Deltacloud's instances: list with filters, show, create (image, profile and its overrides,
realm, key, user data, firewalls), the state actions, destroy."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.providers.protocol import AttachedVolumes, CloudObject
from nubes.server import views
from nubes.server.calls import AsyncDriver
from nubes.server.deps import Base, Format, Paging, Params, ProviderDriver
from nubes.server.http import ApiError, form
from nubes.server.models import listed, shown
from nubes.server.paging import list_rows
from nubes.server.respond import (
    OWNER_ID,
    api_owner,
    check_create,
    collection,
    single,
    smallest_profile_id,
)

router = APIRouter()
CREATE_PARAMS = (
    "hwp_id",
    "realm_id",
    "keyname",
    "user_data",
    "name",
    "firewalls",
    "hwp_cpu",
    "hwp_memory",
    "hwp_storage",
)


def _view_of(
    base: str,
    driver: AsyncDriver,
    obj: CloudObject,
    can_image: bool | None = None,
    volumes: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    if can_image is None:
        can_image = "image" in driver.raw.info().types
    return views.instance(base, obj, OWNER_ID, can_image, (volumes or {}).get(obj.id, ()))


async def attached(driver: AsyncDriver, instances: Sequence[str]) -> dict[str, list[str]]:
    """The volumes attached to these instances: one indexed lookup where the driver has one,
    else one listing of the cloud's volumes (none where it has no volumes)."""
    if not instances:
        return {}
    if isinstance(driver.raw, AttachedVolumes):
        found: dict[str, list[str]] = await driver.attached_volumes(list(instances))
        return found
    if "volume" not in driver.raw.info().types:
        return {}
    wanted = set(instances)
    by_instance: dict[str, list[str]] = {}
    for volume in await driver.list("volume", {}):
        owner = volume.attributes.get("instance")
        if owner in wanted:
            by_instance.setdefault(str(owner), []).append(volume.id)
    return by_instance


async def _view(
    base: str, driver: AsyncDriver, id: str, with_volumes: bool = True
) -> dict[str, Any]:
    """The instance's view; `with_volumes` False where only its state and actions are read."""
    obj = await driver.read("instance", id)
    if obj is None:
        raise ApiError(404, f"instance {id} not found")
    volumes = await attached(driver, [id]) if with_volumes else None
    return _view_of(base, driver, obj, volumes=volumes)


def firewalls_of(params: dict[str, str]) -> list[str]:
    """Deltacloud's array form (`firewalls1=a&firewalls2=b`, in order) and the comma form."""
    numbered = sorted(
        (int(m.group(1)), v) for k, v in params.items() if (m := _NUMBERED.fullmatch(k)) and v
    )
    listed = [f for f in str(params.get("firewalls") or "").split(",") if f]
    return [v for _, v in numbered] + listed


_NUMBERED = re.compile(r"firewalls([1-9][0-9]{0,3})")  # firewalls1..firewalls9999


async def _default_profile(driver: AsyncDriver, image: str) -> str:
    """The smallest fixed profile of the image's architecture (a create without hwp_id)."""
    found = await driver.image(image)
    arch = found.architecture if found is not None else "x86_64"
    return await smallest_profile_id(driver, arch)


@router.get("/api/instances", responses=listed("instances"))
async def instances_index(
    request: Request, base: Base, fmt: Format, driver: ProviderDriver, page: Paging
) -> Response:
    state = request.query_params.get("state") or None  # empty: no filter, as for images
    realm = request.query_params.get("realm_id") or None
    can_image = "image" in driver.raw.info().types  # once, not per instance

    volumes: dict[str, list[str]] = {}

    def view(o: CloudObject) -> dict[str, Any]:
        return _view_of(base, driver, o, can_image, volumes)

    if state is None and realm is None:
        rows, total = await list_rows(driver, "instance", page)
        listed = rows if total is not None or page is None else page.of(rows)  # fetched alone
        volumes.update(await attached(driver, [o.id for o in listed]))
        return collection(fmt, "instances", rows, page, view, total)
    rows = [  # filtered: every instance is listed, and views made of the page's
        o
        for o in await driver.list("instance", {})
        if (state is None or state in (shown := views.instance_state(o), shown.lower()))
        and (realm is None or o.attributes.get("realm") == realm)
    ]
    volumes.update(
        await attached(driver, [o.id for o in (rows if page is None else page.of(rows))])
    )
    return collection(fmt, "instances", rows, page, view)


@router.get("/api/instances/{id}", responses=shown("instances"))
async def instances_show(id: str, base: Base, fmt: Format, driver: ProviderDriver) -> Response:
    return single(fmt, "instances", await _view(base, driver, id))


@router.post(
    "/api/instances",
    status_code=201,
    openapi_extra=form("image_id", optional=CREATE_PARAMS),
    responses=shown("instances", 201),
)
async def instances_create(
    base: Base, fmt: Format, driver: ProviderDriver, params: Params
) -> Response:
    image = params.get("image_id")
    if not image:
        raise ApiError(400, "image_id is required to create an instance")
    size: Any = params.get("hwp_id") or await _default_profile(driver, image)
    overrides = {k: params[k] for k in ("hwp_cpu", "hwp_memory", "hwp_storage") if params.get(k)}
    if overrides:
        try:
            size = {
                "profile": str(size),  # Deltacloud's hwp_id, sized by the overrides
                "cpus": float(overrides.get("hwp_cpu", 1)),
                "memory_gb": float(overrides.get("hwp_memory", 512)) / 1024,
            }
        except ValueError:
            raise ApiError(400, "hwp_cpu and hwp_memory must be numbers") from None
    desired: dict[str, Any] = {"image": image, "size": size}
    for param, attr in (
        ("realm_id", "realm"),
        ("keyname", "key"),
        ("name", "name"),
        ("user_data", "user_data"),
    ):
        if params.get(param):
            desired[attr] = params[param]
    firewalls = firewalls_of(params)
    if firewalls:
        desired["firewalls"] = firewalls
    name = str(params.get("name") or f"api-{uuid.uuid4().hex[:8]}")
    await check_create(driver, "instance", desired)
    made = await driver.create("instance", desired, api_owner(name))
    item = _view_of(base, driver, made)
    return single(fmt, "instances", item, 201, {"Location": item["href"]})


@router.post("/api/instances/{id}/{action}", status_code=202, responses=shown("instances", 202))
async def instances_act(
    id: str, action: str, base: Base, fmt: Format, driver: ProviderDriver
) -> Response:
    if action not in ("start", "stop", "reboot", "destroy"):
        raise ApiError(404, f"instances have no action {action!r}")
    current = await _view(base, driver, id, with_volumes=False)
    allowed = [a["rel"] for a in current["actions"]]
    if action not in allowed:
        raise ApiError(
            405,
            f"instance {id} is {current['state']}; it allows "
            f"{', '.join(allowed) or 'no action'} now, not {action}",
        )
    if action == "destroy":
        await driver.delete("instance", id)
        return Response(status_code=204)
    obj = await driver.act("instance", id, action)
    volumes = await attached(driver, [id])
    return single(fmt, "instances", _view_of(base, driver, obj, volumes=volumes), 202)


@router.delete("/api/instances/{id}", status_code=204)
async def instances_destroy(id: str, base: Base, driver: ProviderDriver) -> Response:
    current = await _view(base, driver, id, with_volumes=False)
    if "destroy" not in [a["rel"] for a in current["actions"]]:
        raise ApiError(405, f"instance {id} is {current['state']}; stop it first")
    await driver.delete("instance", id)
    return Response(status_code=204)
