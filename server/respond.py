"""What every API route shares: the request's provider and format, its parameters (checked at
the boundary), and answers in Deltacloud's XML or JSON. Routers import these; none of them is a
closure over the app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

from fastapi import Request
from fastapi.responses import Response

from nubes.providers.kit.choose import smallest_profile
from nubes.providers.protocol import CloudObject, Ownership
from nubes.server import views
from nubes.server.calls import AsyncDriver, Calls
from nubes.server.http import (
    MAX_PARAM,
    TEXT_PARAMS,
    ApiError,
    bad_text,
    render,
)
from nubes.server.paging import Page, page_items

T = TypeVar("T")

OWNER_ID = "nubes"  # Deltacloud's owner_id of the objects it lists


def request_format(request: Request) -> str:
    return str(request.scope["state"]["format"])


def provider_driver(request: Request) -> AsyncDriver:
    """The request's provider's driver; every call on it is awaited and runs off the loop."""
    calls: Calls = request.app.state.calls
    return calls.driver(request.scope["state"]["provider"])


def supports(request: Request, type: str) -> None:
    if type not in provider_driver(request).raw.info().types:
        raise ApiError(501, f"the {request.scope['state']['provider']} provider has no {type}s")


async def read_one(request: Request, type: str, id: str) -> CloudObject:
    """The request's provider's object, or 404 (501 where it has no such type)."""
    supports(request, type)
    obj = await provider_driver(request).read(type, id)
    if obj is None:
        raise ApiError(404, f"{type} {id} not found")
    return obj


def needs(type: str) -> Callable[[Request], None]:
    """A route dependency: the request's provider must serve `type` (else 501)."""

    def check(request: Request) -> None:
        supports(request, type)

    return check


def check_param(key: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise ApiError(400, f"{key} must be a single value")
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        text.encode("utf-8")
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, f"{key!r} is not valid text") from None
    problem = bad_text(key) or bad_text(text, multiline=key in TEXT_PARAMS)
    if problem:
        raise ApiError(400, f"{key} {problem}")
    if key not in TEXT_PARAMS and len(text) > MAX_PARAM:
        raise ApiError(400, f"{key} is longer than {MAX_PARAM:,} characters")
    return text


def json_body(body: bytes, invalid: str) -> Any:
    """A request's JSON body; 400 with `invalid` when it is not JSON, or nests too deeply."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ApiError(400, "the JSON body nests too deeply") from None
    except ValueError:
        raise ApiError(400, invalid) from None


async def request_params(request: Request) -> dict[str, str]:
    """Parameters from the query, a form body (as Deltacloud clients send) or a JSON body."""
    params: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "format"}
    body = await request.body()
    kind = request.headers.get("content-type", "")
    if body and "json" in kind:
        doc = json_body(body, "the body is not valid JSON")
        if not isinstance(doc, dict):
            raise ApiError(400, "the body must be a JSON object")
        params.update({str(k): v for k, v in doc.items()})
    elif body:
        params.update({k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()})
    return {str(k): check_param(str(k), v) for k, v in params.items() if v is not None}


def one(items: list[dict[str, Any]], id: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == id:
            return item
    raise ApiError(404, f"{what} {id} not found")


def collection(
    fmt: str,
    name: str,
    rows: Sequence[T],
    page: Page | None = None,
    view: Callable[[T], dict[str, Any]] | None = None,
    total: int | None = None,
) -> Response:
    """A collection's answer: `{name: [...]}` or `<name><singular/>...</name>`, of `rows` as
    `view` shows them (rows that are views already without one); only the page's are shown.
    With `total`, `rows` are the page's rows alone (nubes.server.paging.list_rows)."""
    items, headers = page_items(rows, view or _as_is, page, total)

    def xml() -> ET.Element:
        root = ET.Element(name)
        for item in items:
            root.append(views.element(views.SINGULAR[name], item))
        return root

    return render(fmt, 200, {name: items}, xml, headers)


def _as_is(row: Any) -> dict[str, Any]:
    item: dict[str, Any] = row
    return item


def single(
    fmt: str,
    name: str,
    item: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """One object's answer, under its singular name."""
    tag = views.SINGULAR[name]
    return render(fmt, status, {tag: item}, views.element(tag, item), headers)


async def check_create(driver: AsyncDriver, type: str, desired: dict[str, Any]) -> None:
    """What a plan checks before a create (images, sizes, zones), answered as a 400."""
    schema = driver.raw.schema()[type]
    for attr, value in desired.items():
        problem = schema.attrs[attr].problem(value) if attr in schema.attrs else None
        if problem:
            raise ApiError(400, f"{attr} {problem}")
    problems = (await driver.plan_change(type, None, desired)).problems
    if problems:
        raise ApiError(400, "; ".join(f"{attr}: {message}" for attr, message in problems))


def api_owner(name: str) -> Ownership:
    """Objects made through the API carry the stack name `api`, so `nubes inventory` and the
    journal's rules apply to them as to any other."""
    return Ownership("api", name, uuid.uuid4().hex)


async def smallest_profile_id(driver: AsyncDriver, architecture: str = "x86_64") -> str:
    """The profile a create without `hwp_id` gets: the smallest fixed one that fits (kit.choose,
    the rule plans use) of the image's architecture."""
    fixed = [p for p in await driver.hardware_profiles() if not isinstance(p.cpus, tuple)]
    best, _ = smallest_profile(fixed, {"arch": architecture})
    if best is None:
        raise ApiError(
            400, f"hwp_id is required: this provider has no fixed {architecture} hardware profile"
        )
    return best.id
