"""What every request goes through: matrix parameters, authentication, the chosen format and
provider, and Deltacloud's headers on every answer (including errors, in the same format)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree as ET

from fastapi import Request
from fastapi.responses import Response

from nubes import __version__
from nubes.engine.state.model import StateError
from nubes.providers.constraints import control_character
from nubes.providers.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TimeoutError_,
    TransientError,
)
from nubes.providers.registry import ALIASES, api_name
from nubes.server.auth import Authenticator
from nubes.server.config import ServerConfig
from nubes.server.console.sessions import COOKIE, SessionStore, csrf_ok
from nubes.server.views import API_VERSION, to_xml

FORMATS = {"xml": "application/xml", "json": "application/json"}


class ApiError(Exception):
    """An answer other than success: status, message, and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def provider_status(exc: ProviderError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidRequestError):
        return 400
    if isinstance(exc, ConflictError):
        return 405
    if isinstance(exc, TransientError | TimeoutError_):
        return 504
    if isinstance(exc, QuotaError | AuthError):
        return 502
    return 500


MAX_SEGMENT = 1024  # characters of one path segment (an id, a name), decoded
MAX_PARAM = 1024  # characters of a parameter's name, and of its value but for TEXT_PARAMS
# parameters that are text, where line breaks belong; every other one is a name or an id
TEXT_PARAMS = frozenset({"user_data", "public_key", "description", "blob_data"})
MAX_QUERY = 8192  # characters of a read's whole query, as it arrives (still encoded)


def split_matrix(raw_path: str) -> tuple[str, dict[str, str]]:
    """`/api;driver=ec2;provider=x/instances` -> (`/api/instances`, {driver, provider}).

    Split on the raw, still percent-encoded path: a `;` written as `%3B` belongs to the id it is
    in, and only a literal `;` starts matrix parameters. A trailing slash is dropped (answering
    it with a redirect would build a URL from the request's Host header)."""
    matrix: dict[str, str] = {}
    parts = []
    for segment in raw_path.split("/"):
        name, *params = segment.split(";")
        for param in params:
            key, _, value = param.partition("=")
            matrix[unquote(key)] = unquote(value)
        decoded = unquote(name)
        if len(decoded) > MAX_SEGMENT:
            raise ApiError(400, f"a path segment is longer than {MAX_SEGMENT:,} characters")
        parts.append(decoded)
    path = "/".join(parts)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path, matrix


def choose_format(request: Request) -> str:
    asked = request.query_params.get("format")
    if asked is not None:
        if asked not in FORMATS:
            raise ApiError(406, f"unknown format {asked[:40]!r}: use xml or json")
        return asked
    accept = request.headers.get("accept", "").strip().lower()
    if not accept:
        return "xml"
    best: tuple[float, int, str] | None = None
    for order, item in enumerate(accept.split(",")):
        kind, *options = (part.strip() for part in item.split(";"))
        weight = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        fmt = {
            "application/json": "json",
            "application/xml": "xml",
            "text/xml": "xml",
            "text/event-stream": "json",  # /api/events (its errors come as JSON)
        }.get(kind)
        if fmt is None and kind in ("*/*", "application/*"):
            fmt = "xml"
        if fmt is not None and weight > 0 and (best is None or (weight, -order) > best[:2]):
            best = (weight, -order, fmt)
    if best is None:
        raise ApiError(
            406, f"cannot answer in {accept[:100]}: use application/xml or application/json"
        )
    return best[2]


def _driver_of(config: ServerConfig, provider: str) -> str:
    return config.providers[provider].driver


def choose_provider(request: Request, config: ServerConfig, matrix: dict[str, str]) -> str:
    driver = matrix.get("driver") or request.headers.get("x-deltacloud-driver")
    provider = matrix.get("provider") or request.headers.get("x-deltacloud-provider")
    candidates = list(config.providers)
    if driver:
        driver = ALIASES.get(driver, driver)
        candidates = [n for n, p in config.providers.items() if p.driver == driver]
        if not candidates:
            raise ApiError(400, f"this server has no provider with driver {driver!r}")
    if provider:
        drivers = request.app.state.drivers.by_provider
        chosen = [n for n in candidates if provider in (n, drivers[n].info().location)]
        if chosen:
            return chosen[0]
        # Deltacloud's mock driver ignores the provider it is given: so does the sim, as mock
        if driver == "sim" or (
            driver is None and _driver_of(config, config.default_provider) == "sim"
        ):
            sims = [n for n in candidates if _driver_of(config, n) == "sim"]
            if sims:
                return config.default_provider if config.default_provider in sims else sims[0]
        # a cloud's driver takes only the regions this server is configured for (Deltacloud
        # would send the request there and fail at the cloud; nubes says so at once)
        raise ApiError(
            400, f"no provider {provider!r}" + (f" for driver {driver!r}" if driver else "")
        )
    if config.default_provider in candidates:
        return config.default_provider
    return candidates[0]


def render(
    fmt: str,
    status: int,
    doc: dict[str, Any],
    xml: ET.Element | Callable[[], ET.Element] | None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The answer in `fmt`; `xml` may be a function, called only when XML is asked for."""
    if fmt == "json":
        body = json.dumps(doc).encode()
    else:
        tree = xml() if callable(xml) else xml
        body = to_xml(tree) if tree is not None else b""
    headers = dict(headers or {})
    if status == 200:
        headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Response(
        body if status != 204 else b"", status_code=status, media_type=FORMATS[fmt], headers=headers
    )


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    state = request.scope.get("state", {})
    fmt = state.get("format", "xml")
    config: ServerConfig | None = state.get("config")
    provider = state.get("provider") or (config.default_provider if config else "")
    driver = (
        api_name(config.providers[provider].driver)
        if config and provider in config.providers
        else ""
    )
    doc = {"code": status, "message": message, "driver": driver, "provider": provider}
    # the path alone: an absolute-form request target must not put another host in the url
    url = public_base(request) + urlsplit(request.scope.get("path", "")).path[:MAX_SEGMENT]
    root = ET.Element("error", {"status": str(status), "url": url})
    for key, value in doc.items():
        ET.SubElement(root, key).text = str(value)
    return render(fmt, status, {"error": doc}, root, headers)


def _options(request: Request, path: str) -> Response:
    """The methods a path answers to, in `Allow`, for every route."""
    allowed: set[str] = set()
    # the routers' own routes (FastAPI may include routers lazily, as one entry each)
    table = getattr(request.app.state, "route_table", None) or request.app.routes
    for route in table:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.fullmatch(path):
            allowed |= set(getattr(route, "methods", None) or ())
    if not allowed:
        raise ApiError(404, f"no such resource: {path}")
    if "GET" in allowed:
        allowed.add("HEAD")
    return Response(status_code=204, headers={"Allow": ", ".join(sorted(allowed | {"OPTIONS"}))})


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match as RFC 9110 reads it: `*`, or a list of tags compared weakly."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def public_base(request: Request) -> str:
    """Where this server is reached: the configured public URL, else the address it is bound
    to. Never the request's Host header, which any client can set."""
    config: ServerConfig | None = request.scope.get("state", {}).get("config")
    if config is not None and config.public_url:
        return config.public_url
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    host = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{host}:{port}"


def api_root(request: Request) -> str:
    """The API's address for what belongs to no cloud (stacks, plans, jobs, migrations,
    drivers)."""
    return public_base(request) + "/api"


def api_base(request: Request) -> str:
    """The API's address as links to a cloud's objects give it: where the request chose its
    cloud by matrix parameters (`/api;driver=ec2/...`, `/api;provider=lab/...`), with that
    driver and the provider it resolved to, so that a link leads to the same cloud."""
    state = request.scope.get("state", {})
    matrix: dict[str, str] = state.get("matrix", {})
    if not (matrix.get("driver") or matrix.get("provider")):
        return api_root(request)
    chosen = {"driver": matrix.get("driver"), "provider": state.get("provider")}
    return api_root(request) + "".join(
        f";{key}={quote(str(value), safe='')}" for key, value in chosen.items() if value
    )


_CHANGES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def cross_site(request: Request) -> bool:
    """A change a browser sends from another site's page (a form posting here with the
    user's Basic credentials): refused. Clients that are not browsers send no Origin."""
    if request.method not in _CHANGES:
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.rstrip("/") != _origin(public_base(request))
    return request.headers.get("sec-fetch-site") in ("cross-site", "same-site")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def bad_text(value: str, multiline: bool = False) -> str | None:
    """Why `value` cannot be a name or an id (a control character), or None."""
    found = control_character(value, multiline)
    return None if found is None else f"holds the control character {found!r}"


def bad_param(key: str, value: str, query: bool = True) -> str | None:
    """Why a query (or, `query` False, a matrix) parameter cannot be taken: a control character,
    or a name or a value longer than a name may be; a query's TEXT_PARAMS are text. Or None."""
    text = query and key in TEXT_PARAMS
    if len(key) > MAX_PARAM or (len(value) > MAX_PARAM and not text):
        return f"is longer than {MAX_PARAM:,} characters"
    return bad_text(key) or bad_text(value, multiline=text)


def make_middleware(
    config: ServerConfig,
    auth: Authenticator,
    sessions: SessionStore | None = None,
    after_change: Callable[[Request, Response], Awaitable[None]] | None = None,
    on_first: Callable[[], None] | None = None,
) -> Callable[..., Awaitable[Response]]:
    """`after_change` sees every API change once it is answered (the activity log, an early
    refresh of the cloud it changed); `on_first` runs at the first request, on the loop."""
    default_driver = api_name(config.providers[config.default_provider].driver)
    started = False

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        nonlocal started
        if not started:
            started = True
            if on_first is not None:
                on_first()
        state = request.scope.setdefault("state", {})
        state["config"] = config
        state["format"] = "xml"
        if request.scope["path"] == "/console" or request.scope["path"].startswith("/console/"):
            if len(request.scope["path"]) > len("/console") and request.scope["path"].endswith("/"):
                request.scope["path"] = request.scope["path"].rstrip("/")  # never a redirect
            return await call_next(request)  # HTML pages: their own sign-in and errors
        try:
            raw = request.scope.get("raw_path") or request.scope["path"].encode()
            try:
                state["format"] = choose_format(request)
                unacceptable: ApiError | None = None
            except ApiError as exc:
                unacceptable = exc  # answered after authentication: 401 comes first
            path, matrix = split_matrix(raw.decode("latin-1"))
            request.scope["path"] = path
            state["matrix"] = matrix
            client = request.client.host if request.client else "?"
            open_path = (
                _OPEN.fullmatch(path) is not None
                and "force_auth" not in request.query_params
                and "force_auth" not in matrix  # /api;force_auth=1 asks it too
            )
            authorization = request.headers.get("authorization", "")
            user = None if open_path else await auth.user(authorization, client)
            session = None
            if user is None and not open_path and not authorization and sessions is not None:
                # a console page's call: the session's cookie, and for a change its CSRF token
                session = await sessions.lookup(request.cookies.get(COOKIE))
                if session is not None:
                    if request.method in _CHANGES and not csrf_ok(
                        session, request.headers.get("x-csrf-token")
                    ):
                        raise ApiError(403, "a change from a console session needs its CSRF token")
                    user = session.user
            state["user"] = user or ""
            state["via"] = "console" if session is not None else "api"
            if user is None and not open_path:
                raise ApiError(
                    401,
                    "authentication required",
                    {
                        "WWW-Authenticate": 'Basic realm="nubes", Bearer',
                        "X-Deltacloud-Driver": default_driver,
                    },
                )
            if unacceptable is not None:
                raise unacceptable
            if cross_site(request):
                raise ApiError(403, "a change sent from another site's page is refused")
            problem = bad_text(path) or next(
                (
                    f"parameter {k[:40]!r} {why}"
                    for k, v, query in [
                        *((k, v, True) for k, v in request.query_params.multi_items()),
                        *((k, v, False) for k, v in matrix.items()),
                    ]
                    if (why := bad_param(k, v, query))
                ),
                None,
            )
            if request.method in ("GET", "HEAD") and len(request.url.query) > MAX_QUERY:
                # a read's query comes back in its links; a create's may carry user data
                raise ApiError(414, f"the query is longer than {MAX_QUERY:,} characters")
            if problem:
                raise ApiError(
                    400,
                    f"the request {problem}" if "parameter" in problem else f"the path {problem}",
                )
            declared = request.headers.get("content-length")
            limit = state.get("body_limit")
            if declared is not None and limit is not None:
                if not declared.isdigit():
                    raise ApiError(400, "Content-Length must be a number")
                if int(declared) > limit:
                    raise ApiError(413, f"the body is larger than the {limit:,} bytes allowed")
            state["provider"] = choose_provider(request, config, matrix)
            if request.method == "OPTIONS":
                response = _options(request, path)
            elif request.method == "HEAD" and _BLOB.fullmatch(path) is None:
                # every GET route answers HEAD (headers, no body); a blob's HEAD is its own route
                request.scope["method"] = "GET"
                full = await call_next(request)
                response = Response(status_code=full.status_code, headers=dict(full.headers))
            else:
                response = await call_next(request)
                if request.method in _CHANGES and after_change is not None:
                    await after_change(request, response)
        except ApiError as exc:
            response = error_response(request, exc.status, exc.message, exc.headers)
        except StateError as exc:  # the shared database (sessions) is away
            response = error_response(request, 503, f"the server's database cannot be used: {exc}")
        except Exception as exc:  # a bug: the documented shape and headers, the connection kept
            response = error_response(request, 500, f"a bug in nubes: {type(exc).__name__}")
        provider = state.get("provider", config.default_provider)
        response.headers["Server"] = f"Apache-Deltacloud/{API_VERSION}"
        response.headers["X-Nubes-Version"] = __version__
        response.headers.setdefault(
            "X-Deltacloud-Driver", api_name(config.providers[provider].driver)
        )
        response.headers["X-Deltacloud-Provider"] = provider
        etag = response.headers.get("etag")
        if etag and request.method not in ("GET", "HEAD"):
            del response.headers["etag"]  # ETags are for reads
        elif etag and _matches(request.headers.get("if-none-match", ""), etag):
            return Response(
                status_code=304,
                headers={
                    k: v for k, v in response.headers.items() if k.lower() != "content-length"
                },
            )
        return response

    return middleware


# what Deltacloud serves without credentials (unless asked to check them with ?force_auth): the
# entry point and the drivers, which name the API's collections and no cloud's objects
_OPEN = re.compile(r"/api/?|/api/drivers(/[^/]+)?/?")
_BLOB = re.compile(r"/api/buckets/[^/]+/[^/]+")
_BLOB_FORM = re.compile(r"/api(;[^/]*)?/buckets/[^/]+/?")  # a form POST that creates a blob


def _multipart(scope: dict[str, Any]) -> bool:
    kind = dict(scope.get("headers") or []).get(b"content-type", b"")
    return kind.startswith(b"multipart/form-data")


_BLOB_UPLOAD = re.compile(r"/api(;[^/]*)?/buckets/[^/]+/[^/]+/?")


class BodyLimit:
    """Bounds every request body, in a wrapper around the whole application: a body declared
    larger than allowed is refused (413) before a byte of it is read, and one sent in chunks is
    counted as it arrives, so no request holds more than its limit. Blob uploads have their own
    (larger) limit; they stream to a spool file, never whole into memory."""

    def __init__(self, app: Any, config: ServerConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        blob = (scope["method"] == "PUT" and _BLOB_UPLOAD.fullmatch(scope["path"])) or (
            scope["method"] == "POST" and _BLOB_FORM.fullmatch(scope["path"]) and _multipart(scope)
        )
        limits = self.config.limits
        limit = limits.blob_bytes if blob else limits.request_bytes
        state = scope.setdefault("state", {})
        state["body_limit"] = limit
        seen, done = 0, False

        async def counted() -> Any:
            nonlocal seen, done
            if state.get("body_too_large") or state.get("body_too_slow"):
                return {"type": "http.disconnect"}
            if done:  # the body is in: what follows is the wait for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), limits.body_seconds)
            except TimeoutError:
                state["body_too_slow"] = True  # a client dripping its body holds nothing long
                return {"type": "http.disconnect"}
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if seen > limit:
                    # the rest is never read: the handler sees the body end, and answers 413
                    state["body_too_large"] = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


def form(*required: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An operation's parameters for the OpenAPI document: a form body (what Deltacloud clients
    send) or the same fields as JSON."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in (*required, *optional)},
    }
    if required:
        schema["required"] = list(required)
    return {
        "requestBody": {
            "required": bool(required),
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema},
                "application/json": {"schema": schema},
            },
        }
    }
