"""The FastAPI application: the configured drivers, the middleware (auth, limits, formats),
one error shape for every failure, and the routers of the collections (nubes.server.routes and
the storage, blob, stack and aggregate routers)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from nubes import __version__
from nubes.engine.diag import DiagnosticsError
from nubes.engine.drivers import configure_providers
from nubes.engine.state import LockHeld, StateError
from nubes.providers.errors import ProviderError
from nubes.server import aggregate, blobs, migrations, plans, stacks, storage
from nubes.server.auth import Authenticator
from nubes.server.calls import Calls
from nubes.server.config import ServerConfig
from nubes.server.console import Console, pages, stackpages
from nubes.server.console.bus import Bus
from nubes.server.console.inventory import Inventory
from nubes.server.console.record import after_change
from nubes.server.console.table import Sorted
from nubes.server.console.web import console_error
from nubes.server.http import (
    ApiError,
    BodyLimit,
    error_response,
    make_middleware,
    provider_status,
)
from nubes.server.models import ErrorAnswer
from nubes.server.routes import activity, balancers, compute, entry, instances, keys, networks
from nubes.server.shared import open_shared
from nubes.server.stacks import StackFiles

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, **({"model": ErrorAnswer} if code != 304 else {})}
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
        (503, "the server's shared database cannot be reached (servers sharing a backend)"),
        (502, "the cloud refused (quota, credentials)"),
        (504, "the cloud did not answer in time"),
    ]
}
# in order: the blob routes before the generic bucket routes (a bucket's show lists its blobs)
ROUTERS = [
    entry.router,
    compute.router,
    instances.router,
    blobs.router,
    storage.router,
    stacks.router,
    plans.router,
    migrations.router,
    aggregate.router,
    keys.router,
    networks.router,
    balancers.router,
    activity.router,
]


CONSOLE_ROUTERS = [pages.router, stackpages.router]


def _console(request: Request) -> bool:
    path = request.scope.get("path", "")
    return bool(path == "/console" or path.startswith("/console/"))


def create_app(config: ServerConfig, state_dir: Path, environ: Mapping[str, str]) -> FastAPI:
    drivers, diags = configure_providers(
        config.providers, config.positions, config.directory, {}, state_dir, environ
    )
    if diags.has_errors:
        raise DiagnosticsError(diags)
    bus = Bus()
    shared = open_shared(config.backend, state_dir, environ, config.public_url or "", bus)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        shared.close()
        files.close()

    app = FastAPI(
        lifespan=lifespan,
        redirect_slashes=False,  # a redirect would be built from the request's Host header
        title="nubes",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.config = config
    app.state.drivers = drivers
    app.state.shared = shared
    files = app.state.stack_files = StackFiles(
        list(config.stacks),
        state_dir,
        environ,
        config.providers,
        drivers.by_provider,
        shared.jobs,
        shared.activity,
        config.backend,
    )
    limits = config.limits
    calls = app.state.calls = Calls(
        drivers.by_provider, limits.provider_threads, limits.provider_seconds
    )
    app.state.console = console = Console(
        shared.sessions,
        bus,
        Inventory(
            calls,
            {name: p.driver for name, p in config.providers.items()},
            bus,
            state_dir / "console",
            files.managed,
            limits.refresh_seconds,
        ),
        shared.activity,
        Sorted(),
        state_dir,
    )
    app.state.plans = shared.plans
    app.state.migrations = migrations.Migrations()
    # reviews a stopped server left: their imported states go with them
    shutil.rmtree(state_dir / "console" / "reviews", ignore_errors=True)
    auth = app.state.auth = Authenticator(config)
    app.middleware("http")(
        make_middleware(config, auth, console.sessions, after_change, console.started)
    )
    app.add_middleware(BodyLimit, config=config)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if _console(request):
            return await console_error(request, exc.status, exc.message, exc.headers)
        return error_response(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(ProviderError)
    async def provider_error(request: Request, exc: ProviderError) -> Response:
        if _console(request):
            return await console_error(request, provider_status(exc), f"{exc.code}: {exc}")
        return error_response(request, provider_status(exc), f"{exc.code}: {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _console(request):
            return await console_error(request, exc.status_code, str(exc.detail))
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
        if _console(request):
            return await console_error(request, 409, str(exc))
        return error_response(request, 409, str(exc))

    @app.exception_handler(StateError)
    async def state_error(request: Request, exc: StateError) -> Response:
        message = f"the server's state cannot be used: {exc}"
        if _console(request):
            return await console_error(request, 500, message)
        return error_response(request, 500, message)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        # every answer keeps the documented shape; the message names the bug, not its trace
        if _console(request):
            return await console_error(request, 500, f"a bug in nubes: {type(exc).__name__}")
        return error_response(request, 500, f"a bug in nubes: {type(exc).__name__}")

    for router in ROUTERS:
        app.include_router(router)
    for router in CONSOLE_ROUTERS:
        app.include_router(router)
    app.state.route_table = [route for router in ROUTERS for route in router.routes]
    return app
