"""The FastAPI application: Deltacloud's entry point and collections over the configured drivers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from nubes import __version__
from nubes.engine.diag import DiagnosticsError
from nubes.engine.drivers import configure_providers
from nubes.engine.state import LockHeld, StateError
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import Ownership
from nubes.providers.registry import driver_names
from nubes.server import views
from nubes.server.aggregate import register_aggregate_routes
from nubes.server.auth import Authenticator
from nubes.server.blobs import register_blob_routes
from nubes.server.calls import AsyncDriver, Calls
from nubes.server.config import ServerConfig
from nubes.server.http import (
    ApiError,
    BodyLimit,
    bad_text,
    error_response,
    form,
    make_middleware,
    provider_status,
    public_base,
    render,
)
from nubes.server.stacks import register_stack_routes
from nubes.server.storage import KINDS, register_storage_routes

COLLECTIONS = [
    "drivers",
    "realms",
    "hardware_profiles",
    "images",
    "instances",
    "instance_states",
    "keys",
    "storage_volumes",
    "storage_snapshots",
    "addresses",
    "firewalls",
    "buckets",
]
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text}
    for code, text in [
        (304, "not modified since the ETag given in If-None-Match"),
        (400, "a missing or invalid parameter"),
        (401, "no valid credentials (Basic or Bearer)"),
        (403, "a change sent from another site's page (Origin or Sec-Fetch-Site)"),
        (404, "no such object"),
        (405, "an action the object's state does not allow"),
        (406, "an unknown format"),
        (408, "a request body that stopped arriving (limits.body_seconds)"),
        (409, "the stack's state is locked by a running apply"),
        (413, "a body larger than the server's limit"),
        (500, "the server cannot read its own data (a damaged state file), or a bug"),
        (501, "the driver does not support this collection"),
        (502, "the cloud refused (quota, credentials)"),
        (504, "the cloud did not answer in time"),
    ]
}
OWNER_ID = "nubes"  # Deltacloud's owner_id of the objects it lists
# the portable type behind each collection a driver may or may not support
TYPES = {
    "images": "image",
    "instances": "instance",
    "keys": "key",
    **{name: type_ for name, (type_, _) in KINDS.items()},
}


def _base(request: Request) -> str:
    return public_base(request) + "/api"


def _fmt(request: Request) -> str:
    return str(request.scope["state"]["format"])


def _driver(request: Request) -> AsyncDriver:
    """The request's provider's driver; every call on it is awaited and runs off the loop."""
    calls: Calls = request.app.state.calls
    return calls.driver(request.scope["state"]["provider"])


def _supports(request: Request, type: str) -> None:
    if type not in _driver(request).raw.info().types:
        raise ApiError(501, f"the {request.scope['state']['provider']} provider has no {type}s")


# parameters that are text, where line breaks belong; every other one is a name or an id
TEXT_PARAMS = frozenset({"user_data", "public_key", "description", "blob_data"})
MAX_PARAM = 1024  # characters of a name or an id


def _check_param(key: str, value: Any) -> str:
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


async def _params(request: Request) -> dict[str, str]:
    """Parameters from the query, a form body (as Deltacloud clients send) or a JSON body."""
    params: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "format"}
    body = await request.body()
    kind = request.headers.get("content-type", "")
    if body and "json" in kind:
        try:
            doc = json.loads(body)
        except RecursionError:
            raise ApiError(400, "the JSON body nests too deeply") from None
        except ValueError:
            raise ApiError(400, "the body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "the body must be a JSON object")
        params.update({str(k): v for k, v in doc.items()})
    elif body:
        params.update({k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()})
    return {str(k): _check_param(str(k), v) for k, v in params.items() if v is not None}


def _one(items: list[dict[str, Any]], id: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == id:
            return item
    raise ApiError(404, f"{what} {id} not found")


def _collection(request: Request, name: str, items: list[dict[str, Any]]) -> Response:
    root = ET.Element(name)
    for item in items:
        root.append(views.element(views.SINGULAR[name], item))
    return render(_fmt(request), 200, {name: items}, root)


def _single(
    request: Request,
    name: str,
    item: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    tag = views.SINGULAR[name]
    return render(_fmt(request), status, {tag: item}, views.element(tag, item), headers)


def create_app(config: ServerConfig, state_dir: Path, environ: Mapping[str, str]) -> FastAPI:
    drivers, diags = configure_providers(
        config.providers, config.positions, config.directory, {}, state_dir, environ
    )
    if diags.has_errors:
        raise DiagnosticsError(diags)
    app = FastAPI(
        title="nubes",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.config = config
    app.state.drivers = drivers
    limits = config.limits
    app.state.calls = Calls(drivers.by_provider, limits.provider_threads, limits.provider_seconds)
    app.middleware("http")(make_middleware(config, Authenticator(config)))
    app.add_middleware(BodyLimit, config=config)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(ProviderError)
    async def provider_error(request: Request, exc: ProviderError) -> Response:
        return error_response(request, provider_status(exc), f"{exc.code}: {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(ClientDisconnect)
    async def body_ended(request: Request, exc: ClientDisconnect) -> Response:
        limit = request.scope["state"].get("body_limit", 0)
        if request.scope["state"].get("body_too_slow"):
            return error_response(request, 408, "the body did not arrive in time")
        if request.scope["state"].get("body_too_large"):
            return error_response(
                request, 413, f"the body is larger than the {limit:,} bytes allowed"
            )
        return error_response(request, 400, "the request's body ended before it was complete")

    @app.exception_handler(LockHeld)
    async def locked(request: Request, exc: LockHeld) -> Response:
        return error_response(request, 409, str(exc))

    @app.exception_handler(StateError)
    async def state_error(request: Request, exc: StateError) -> Response:
        return error_response(request, 500, f"the server's state cannot be used: {exc}")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        # every answer keeps the documented shape; the message names the bug, not its trace
        return error_response(request, 500, f"a bug in nubes: {type(exc).__name__}")

    @app.get("/api")
    async def entry(request: Request) -> Response:
        base = _base(request)
        state = request.scope["state"]
        provider = state["provider"]
        info = _driver(request).raw.info()
        links: list[dict[str, Any]] = []
        for name in COLLECTIONS:
            if name in TYPES and TYPES[name] not in info.types:
                continue  # a collection appears only where the driver supports it
            links.append(
                {
                    "rel": name,
                    "href": f"{base}/{name}",
                    "features": [
                        {"name": f.name, "rel": f.rel, "params": list(f.params)}
                        for f in info.features.get(name, ())
                    ],
                }
            )
        driver = config.providers[provider].driver
        root = ET.Element(
            "api", {"version": views.API_VERSION, "driver": driver, "provider": provider}
        )
        for entry_link in links:
            node = ET.SubElement(
                root, "link", {"href": entry_link["href"], "rel": entry_link["rel"]}
            )
            for feature in entry_link["features"]:
                f = ET.SubElement(node, "feature", {"name": feature["name"], "rel": feature["rel"]})
                for param in feature["params"]:
                    ET.SubElement(f, "param", {"name": param})
        doc = {
            "api": {
                "version": views.API_VERSION,
                "driver": driver,
                "provider": provider,
                "links": links,
            }
        }
        return render(_fmt(request), 200, doc, root)

    # ---- drivers, realms, hardware profiles ------------------------------------------------

    @app.get("/api/drivers")
    async def drivers_index(request: Request) -> Response:
        base = _base(request)
        items = [
            views.driver(base, name, [p for p, b in config.providers.items() if b.driver == name])
            for name in driver_names()
        ]
        return _collection(request, "drivers", items)

    @app.get("/api/drivers/{id}")
    async def drivers_show(request: Request, id: str) -> Response:
        base = _base(request)
        wanted = {"mock": "sim"}.get(id, id)
        items = [
            views.driver(base, name, [p for p, b in config.providers.items() if b.driver == name])
            for name in driver_names()
        ]
        return _single(request, "drivers", _one(items, wanted, "driver"))

    @app.get("/api/realms")
    async def realms_index(request: Request) -> Response:
        base = _base(request)
        return _collection(
            request, "realms", [views.realm(base, r) for r in await _driver(request).realms()]
        )

    @app.get("/api/realms/{id}")
    async def realms_show(request: Request, id: str) -> Response:
        base = _base(request)
        items = [views.realm(base, r) for r in await _driver(request).realms()]
        return _single(request, "realms", _one(items, id, "realm"))

    @app.get("/api/hardware_profiles")
    async def hwp_index(request: Request) -> Response:
        base = _base(request)
        items = [
            views.hardware_profile(base, p) for p in await _driver(request).hardware_profiles()
        ]
        return _collection(request, "hardware_profiles", items)

    @app.get("/api/hardware_profiles/{id}")
    async def hwp_show(request: Request, id: str) -> Response:
        base = _base(request)
        items = [
            views.hardware_profile(base, p) for p in await _driver(request).hardware_profiles()
        ]
        return _single(request, "hardware_profiles", _one(items, id, "hardware profile"))

    # ---- images ----------------------------------------------------------------------------

    @app.get("/api/images")
    async def images_index(request: Request) -> Response:
        base = _base(request)
        owner = request.query_params.get("owner_id")
        items = [
            views.image(base, i)
            for i in await _driver(request).images()
            if owner in (None, i.owner)
        ]
        return _collection(request, "images", items)

    @app.get("/api/images/{id}")
    async def images_show(request: Request, id: str) -> Response:
        base = _base(request)
        items = [views.image(base, i) for i in await _driver(request).images()]
        return _single(request, "images", _one(items, id, "image"))

    @app.post("/api/images", status_code=201, openapi_extra=form("instance_id", optional=("name",)))
    async def images_create(request: Request) -> Response:
        params = await _params(request)
        if not params.get("instance_id"):
            raise ApiError(400, "instance_id is required to create an image")
        name = params.get("name") or f"image-{uuid.uuid4().hex[:8]}"
        made = await _driver(request).create(
            "image", {"name": name, "instance": params["instance_id"]}, _owner(name)
        )
        base = _base(request)
        found = [views.image(base, i) for i in await _driver(request).images() if i.id == made.id]
        item = (
            found[0] if found else {"id": made.id, "href": f"{base}/images/{made.id}", "name": name}
        )
        return _single(request, "images", item, 201, {"Location": item["href"]})

    @app.delete("/api/images/{id}", status_code=204)
    async def images_destroy(request: Request, id: str) -> Response:
        await _driver(request).delete("image", id)
        return Response(status_code=204)

    # ---- instances -------------------------------------------------------------------------

    async def _instance_view(request: Request, id: str) -> dict[str, Any]:
        obj = await _driver(request).read("instance", id)
        if obj is None:
            raise ApiError(404, f"instance {id} not found")
        return views.instance(_base(request), obj, OWNER_ID)

    @app.get("/api/instances")
    async def instances_index(request: Request) -> Response:
        base = _base(request)
        state = request.query_params.get("state")
        realm = request.query_params.get("realm_id")
        items = [
            views.instance(base, o, OWNER_ID) for o in await _driver(request).list("instance", {})
        ]
        items = [
            i
            for i in items
            if state in (None, i["state"], i["state"].lower())
            and (realm is None or (i["realm"] or {}).get("id") == realm)
        ]
        return _collection(request, "instances", items)

    @app.get("/api/instances/{id}")
    async def instances_show(request: Request, id: str) -> Response:
        return _single(request, "instances", await _instance_view(request, id))

    @app.post(
        "/api/instances",
        status_code=201,
        openapi_extra=form(
            "image_id",
            optional=(
                "hwp_id",
                "realm_id",
                "keyname",
                "user_data",
                "name",
                "firewalls",
                "hwp_cpu",
                "hwp_memory",
                "hwp_storage",
            ),
        ),
    )
    async def instances_create(request: Request) -> Response:
        params = await _params(request)
        image = params.get("image_id")
        if not image:
            raise ApiError(400, "image_id is required to create an instance")
        size: Any = params.get("hwp_id") or await _smallest(_driver(request))
        overrides = {
            k: params[k] for k in ("hwp_cpu", "hwp_memory", "hwp_storage") if params.get(k)
        }
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
        if params.get("firewalls"):
            desired["firewalls"] = [f for f in str(params["firewalls"]).split(",") if f]
        name = str(params.get("name") or f"api-{uuid.uuid4().hex[:8]}")
        await _check(_driver(request), "instance", desired)
        made = await _driver(request).create("instance", desired, _owner(name))
        item = views.instance(_base(request), made, OWNER_ID)
        return _single(request, "instances", item, 201, {"Location": item["href"]})

    @app.post("/api/instances/{id}/{action}", status_code=202)
    async def instances_act(request: Request, id: str, action: str) -> Response:
        if action not in ("start", "stop", "reboot", "destroy"):
            raise ApiError(404, f"instances have no action {action!r}")
        current = await _instance_view(request, id)
        allowed = [a["rel"] for a in current["actions"]]
        if action not in allowed:
            raise ApiError(
                405,
                f"instance {id} is {current['state']}; it allows "
                f"{', '.join(allowed) or 'no action'} now, not {action}",
            )
        if action == "destroy":
            await _driver(request).delete("instance", id)
            return Response(status_code=204)
        obj = await _driver(request).act("instance", id, action)
        item = views.instance(_base(request), obj, OWNER_ID)
        return _single(request, "instances", item, 202)

    @app.delete("/api/instances/{id}", status_code=204)
    async def instances_destroy(request: Request, id: str) -> Response:
        current = await _instance_view(request, id)
        if "destroy" not in [a["rel"] for a in current["actions"]]:
            raise ApiError(405, f"instance {id} is {current['state']}; stop it first")
        await _driver(request).delete("instance", id)
        return Response(status_code=204)

    helpers = SimpleNamespace(
        base=_base,
        driver=_driver,
        supports=_supports,
        params=_params,
        collection=_collection,
        single=_single,
        owner=_owner,
        check=_check,
    )
    register_blob_routes(app, helpers)  # before the generic bucket routes: its show lists blobs
    register_storage_routes(app, helpers)

    register_stack_routes(app, config, state_dir)
    register_aggregate_routes(app, config)

    @app.get("/api/instance_states")
    async def instance_states(request: Request) -> Response:
        states: dict[str, list[dict[str, str]]] = {}
        for state, action, to in views.TRANSITIONS:
            states.setdefault(state, []).append(
                {"auto": "true", "to": to} if action == "auto" else {"action": action, "to": to}
            )
        states.setdefault("finish", [])
        root = ET.Element("states")
        for name, transitions in states.items():
            node = ET.SubElement(root, "state", {"name": name})
            for t in transitions:
                ET.SubElement(node, "transition", t)
        doc = {"states": [{"name": n, "transitions": t} for n, t in states.items()]}
        return render(_fmt(request), 200, doc, root)

    # ---- keys ------------------------------------------------------------------------------

    @app.get("/api/keys")
    async def keys_index(request: Request) -> Response:
        _supports(request, "key")
        base = _base(request)
        return _collection(
            request, "keys", [views.key(base, o) for o in await _driver(request).list("key", {})]
        )

    @app.get("/api/keys/{id}")
    async def keys_show(request: Request, id: str) -> Response:
        _supports(request, "key")
        obj = await _driver(request).read("key", id)
        if obj is None:
            raise ApiError(404, f"key {id} not found")
        return _single(request, "keys", views.key(_base(request), obj))

    @app.post("/api/keys", status_code=201, openapi_extra=form("name", optional=("public_key",)))
    async def keys_create(request: Request) -> Response:
        _supports(request, "key")
        params = await _params(request)
        if not params.get("name"):
            raise ApiError(400, "name is required to create a key")
        desired = {"name": params["name"], "public_key": params.get("public_key")}
        made = await _driver(request).create("key", desired, _owner(str(params["name"])))
        item = views.key(_base(request), made, with_private_key=True)  # shown this once
        return _single(request, "keys", item, 201, {"Location": item["href"]})

    @app.delete("/api/keys/{id}", status_code=204)
    async def keys_destroy(request: Request, id: str) -> Response:
        _supports(request, "key")
        await _driver(request).delete("key", id)
        return Response(status_code=204)

    return app


async def _check(driver: AsyncDriver, type: str, desired: dict[str, Any]) -> None:
    """What a plan checks before a create (images, sizes, zones), answered as a 400."""
    schema = driver.raw.schema()[type]
    for attr, value in desired.items():
        problem = schema.attrs[attr].problem(value) if attr in schema.attrs else None
        if problem:
            raise ApiError(400, f"{attr} {problem}")
    problems = (await driver.plan_change(type, None, desired)).problems
    if problems:
        raise ApiError(400, "; ".join(f"{attr}: {message}" for attr, message in problems))


def _owner(name: str) -> Ownership:
    """Objects made through the API carry the stack name `api`, so `nubes inventory` and the
    journal's rules apply to them as to any other."""
    return Ownership("api", name, uuid.uuid4().hex)


async def _smallest(driver: AsyncDriver) -> str:
    fixed = [p for p in await driver.hardware_profiles() if not isinstance(p.cpus, tuple)]
    if not fixed:
        raise ApiError(400, "hwp_id is required: this provider has no fixed hardware profile")
    return min(fixed, key=lambda p: (p.cpus, p.memory_gb, p.id)).id
