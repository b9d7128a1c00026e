"""One list across every configured provider (additive to Deltacloud's API):
`/api/clouds/instances`, `images`, `storage_volumes` and `addresses`, each object with its
provider; filters `provider` and `state`."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from fastapi import FastAPI, Request
from fastapi.responses import Response

from engine.drivers import Drivers
from providers.errors import ProviderError
from server import views
from server.config import ServerConfig
from server.http import ApiError, render

KINDS = {
    "instances": "instance",
    "images": "image",
    "storage_volumes": "volume",
    "addresses": "address",
}


def register_aggregate_routes(app: FastAPI, config: ServerConfig) -> None:
    @app.get("/api/clouds/{collection}")
    async def clouds(request: Request, collection: str) -> Response:
        if collection not in KINDS:
            raise ApiError(
                404, f"no aggregated collection {collection!r} (collections: {', '.join(KINDS)})"
            )
        type_ = KINDS[collection]
        drivers: Drivers = request.app.state.drivers
        wanted_provider = request.query_params.get("provider")
        wanted_state = (request.query_params.get("state") or "").upper() or None
        api = str(request.base_url).rstrip("/") + "/api"
        items: list[dict[str, Any]] = []
        unreachable: list[dict[str, str]] = []
        for name, driver in drivers.by_provider.items():
            if wanted_provider not in (None, name) or type_ not in driver.schema():
                continue
            base = f"{api};provider={name}"
            try:
                if type_ == "image":
                    found = [views.image(base, i) for i in driver.images()]
                else:
                    view = {
                        "instance": lambda b, o: views.instance(b, o, "nubes"),
                        "volume": views.volume,
                        "address": views.address,
                    }[type_]
                    found = [view(base, o) for o in driver.list(type_, {})]
            except ProviderError as exc:
                unreachable.append({"provider": name, "message": f"{exc.code}: {exc}"})
                continue
            for item in found:
                if wanted_state is None or str(item.get("state", "")).upper() == wanted_state:
                    items.append(
                        {**item, "provider": name, "driver": config.providers[name].driver}
                    )
        root = ET.Element(collection)
        for item in items:
            root.append(views.element(views.SINGULAR[collection], item))
        for problem in unreachable:
            ET.SubElement(root, "unreachable", {"provider": problem["provider"]}).text = problem[
                "message"
            ]
        return render(
            str(request.scope["state"]["format"]),
            200,
            {collection: items, "unreachable": unreachable},
            root,
        )
