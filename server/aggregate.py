"""One list across every configured provider (additive to Deltacloud's API):
`/api/clouds/instances`, `images`, `storage_volumes` and `addresses`, each object with its
provider; filters `provider` and `state`."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.engine.drivers import Drivers
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import Driver
from nubes.providers.registry import api_name
from nubes.server import views
from nubes.server.calls import Calls, ProviderTimeout
from nubes.server.deps import Config, Format
from nubes.server.http import ApiError, public_base, render

KINDS = {
    "instances": "instance",
    "images": "image",
    "storage_volumes": "volume",
    "addresses": "address",
}


router = APIRouter()


@router.get("/api/clouds/{collection}")
async def clouds(request: Request, collection: str, config: Config, fmt: Format) -> Response:
    if collection not in KINDS:
        raise ApiError(
            404, f"no aggregated collection {collection!r} (collections: {', '.join(KINDS)})"
        )
    type_ = KINDS[collection]
    drivers: Drivers = request.app.state.drivers
    wanted_provider = request.query_params.get("provider")
    wanted_state = (request.query_params.get("state") or "").upper() or None
    api = public_base(request) + "/api"
    items: list[dict[str, Any]] = []
    unreachable: list[dict[str, str]] = []
    calls: Calls = request.app.state.calls
    wanted = [
        name
        for name, driver in drivers.by_provider.items()
        if wanted_provider in (None, name) and type_ in driver.schema()
    ]

    def listed(name: str, driver: Driver) -> list[dict[str, Any]]:
        base = f"{api};provider={name}"
        if type_ == "image":
            return [views.image(base, i) for i in driver.images()]
        view = {
            "instance": lambda b, o: views.instance(b, o, "nubes"),
            "volume": views.volume,
            "address": views.address,
        }[type_]
        return [view(base, o) for o in driver.list(type_, {})]

    # every provider at once, each within the time allowed: one slow cloud is reported as
    # unreachable instead of holding up the answer
    for name, found in (await calls.gather(listed, wanted)).items():
        if isinstance(found, ProviderError):
            unreachable.append({"provider": name, "message": f"{found.code}: {found}"})
            continue
        if isinstance(found, ProviderTimeout):
            unreachable.append({"provider": name, "message": f"Timeout: {found}"})
            continue
        if isinstance(found, BaseException):
            raise found
        for item in found:
            if wanted_state is None or str(item.get("state", "")).upper() == wanted_state:
                items.append(
                    {**item, "provider": name, "driver": api_name(config.providers[name].driver)}
                )
    root = ET.Element(collection)
    for item in items:
        root.append(views.element(views.SINGULAR[collection], item))
    for problem in unreachable:
        ET.SubElement(root, "unreachable", {"provider": problem["provider"]}).text = problem[
            "message"
        ]
    return render(
        fmt,
        200,
        {collection: items, "unreachable": unreachable},
        root,
    )
