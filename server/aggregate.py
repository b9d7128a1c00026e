"""One list across every configured provider (additive to Deltacloud's API):
`/api/clouds/instances`, `images`, `storage_volumes` and `addresses`, each object with its
provider; filters `provider` and `state`, and pages (`page`, `per_page`: nubes.server.paging)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.engine.drivers import Drivers
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import Driver, PagedListing
from nubes.providers.registry import api_name
from nubes.server import views
from nubes.server.calls import Calls, ProviderTimeout
from nubes.server.deps import Config, Format, Paging
from nubes.server.http import ApiError, api_root, render
from nubes.server.paging import page_items

KINDS = {
    "instances": "instance",
    "images": "image",
    "storage_volumes": "volume",
    "addresses": "address",
}


router = APIRouter()


@router.get("/api/clouds/{collection}")
async def clouds(
    request: Request, collection: str, config: Config, fmt: Format, page: Paging
) -> Response:
    if collection not in KINDS:
        raise ApiError(
            404, f"no aggregated collection {collection!r} (collections: {', '.join(KINDS)})"
        )
    type_ = KINDS[collection]
    drivers: Drivers = request.app.state.drivers
    wanted_provider = request.query_params.get("provider") or None  # empty: every cloud
    wanted_state = (request.query_params.get("state") or "").upper() or None
    api = api_root(request)
    unreachable: list[dict[str, str]] = []
    calls: Calls = request.app.state.calls
    wanted = [
        name
        for name, driver in drivers.by_provider.items()
        if wanted_provider in (None, name) and type_ in driver.schema()
    ]

    def listed(name: str, driver: Driver) -> Any:
        if type_ == "image":
            return driver.images()
        if page is not None and wanted_state is None and isinstance(driver, PagedListing):
            return driver.list_page(type_, {}, 0, 0)[0]  # how many, for now
        return driver.list(type_, {})

    # every provider at once, each within the time allowed: one slow cloud is reported as
    # unreachable instead of holding up the answer
    found = _answered(await calls.gather(listed, wanted), unreachable)
    total: int | None = None
    if page is not None and any(isinstance(f, int) for f in found.values()):
        # a page across clouds: each cloud that lists a page alone is asked for its share
        windows, total = _windows(found, page.start, page.size)

        def share(name: str, driver: Driver) -> list[Any]:
            assert isinstance(driver, PagedListing)
            return driver.list_page(type_, {}, *windows[name])[1]

        asked = [n for n, f in found.items() if isinstance(f, int) and windows[n][1]]
        pages = _answered(await calls.gather(share, asked), unreachable)
        found = {
            n: f[windows[n][0] : sum(windows[n])] if isinstance(f, list) else pages.get(n, [])
            for n, f in found.items()
        }
    rows = [
        (name, o)
        for name, objects in found.items()
        for o in objects
        if wanted_state is None or _state(type_, o) == wanted_state
    ]

    def view(row: tuple[str, Any]) -> dict[str, Any]:
        name, o = row
        base = f"{api};provider={quote(name, safe='')}"
        item = {
            "image": lambda: views.image(base, o),
            "instance": lambda: views.instance(base, o, "nubes"),
            "volume": lambda: views.volume(base, o),
            "address": lambda: views.address(base, o),
        }[type_]()
        return {**item, "provider": name, "driver": api_name(config.providers[name].driver)}

    items, headers = page_items(rows, view, page, total)

    def xml() -> ET.Element:
        root = ET.Element(collection)
        for item in items:
            root.append(views.element(views.SINGULAR[collection], item))
        for problem in unreachable:
            ET.SubElement(root, "unreachable", {"provider": problem["provider"]}).text = problem[
                "message"
            ]
        return root

    return render(fmt, 200, {collection: items, "unreachable": unreachable}, xml, headers)


def _answered(
    results: dict[str, Any | BaseException], unreachable: list[dict[str, str]]
) -> dict[str, Any]:
    """The providers' answers; those that failed or took too long go to `unreachable`."""
    out: dict[str, Any] = {}
    for name, found in results.items():
        if isinstance(found, ProviderError):
            unreachable.append({"provider": name, "message": f"{found.code}: {found}"})
        elif isinstance(found, ProviderTimeout):
            unreachable.append({"provider": name, "message": f"Timeout: {found}"})
        elif isinstance(found, BaseException):
            raise found
        else:
            out[name] = found
    return out


def _windows(
    found: dict[str, int | list[Any]], start: int, size: int
) -> tuple[dict[str, tuple[int, int]], int]:
    """Each provider's part (its first index, how many) of the page from `start` of `size`
    objects across them in order, given how many each holds (or all it holds); the total."""
    windows: dict[str, tuple[int, int]] = {}
    offset = 0
    for name, held in found.items():
        count = held if isinstance(held, int) else len(held)
        first = min(max(start - offset, 0), count)
        windows[name] = (first, max(0, min(start + size - offset, count) - first))
        offset += count
    return windows, offset


def _state(type_: str, obj: Any) -> str:
    """The state a listed object's view shows, from the object itself (so that a filtered page
    makes views of its own objects only)."""
    if type_ == "image":
        return str(obj.state).upper()
    if type_ == "instance":
        return views.instance_state(obj)
    if type_ == "volume":
        return str(obj.attributes.get("state") or "unknown").upper()
    return ""
