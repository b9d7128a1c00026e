"""What every request goes through: matrix parameters, authentication, the chosen format and
provider, and Deltacloud's headers on every answer (including errors, in the same format)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from fastapi import Request
from fastapi.responses import Response

from engine import __version__
from providers.constraints import control_character
from providers.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TimeoutError_,
    TransientError,
)
from providers.registry import ALIASES
from server.auth import Authenticator
from server.config import ServerConfig
from server.views import API_VERSION, to_xml

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


def split_matrix(path: str) -> tuple[str, dict[str, str]]:
    """`/api;driver=ec2;provider=x/instances` -> (`/api/instances`, {driver, provider})."""
    matrix: dict[str, str] = {}
    parts = []
    for segment in path.split("/"):
        name, *params = segment.split(";")
        for param in params:
            key, _, value = param.partition("=")
            matrix[unquote(key)] = unquote(value)
        parts.append(name)
    return "/".join(parts), matrix


def choose_format(request: Request) -> str:
    asked = request.query_params.get("format")
    if asked is not None:
        if asked not in FORMATS:
            raise ApiError(406, f"unknown format {asked!r}: use xml or json")
        return asked
    accept = request.headers.get("accept", "*/*").lower()
    if "json" in accept:
        return "json"
    if "xml" in accept or "*/*" in accept or not accept.strip():
        return "xml"
    raise ApiError(406, f"cannot answer in {accept}: use application/xml or application/json")


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
        chosen = [n for n in candidates if provider in (n, getattr(drivers.get(n), "region", None))]
        if not chosen:
            raise ApiError(
                400, f"no provider {provider!r}" + (f" for driver {driver!r}" if driver else "")
            )
        return chosen[0]
    if config.default_provider in candidates:
        return config.default_provider
    return candidates[0]


def render(
    fmt: str,
    status: int,
    doc: dict[str, Any],
    xml: ET.Element | None,
    headers: dict[str, str] | None = None,
) -> Response:
    xml_body = to_xml(xml) if xml is not None else b""
    body = json.dumps(doc).encode() if fmt == "json" else xml_body
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
    driver = config.providers[provider].driver if config and provider in config.providers else ""
    doc = {"code": status, "message": message, "driver": driver, "provider": provider}
    url = public_base(request) + request.scope.get("path", "")
    root = ET.Element("error", {"status": str(status), "url": url})
    for key, value in doc.items():
        ET.SubElement(root, key).text = str(value)
    return render(fmt, status, {"error": doc}, root, headers)


def _options(request: Request, path: str) -> Response:
    """The methods a path answers to, in `Allow`, for every route."""
    allowed: set[str] = set()
    for route in request.app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.fullmatch(path):
            allowed |= set(getattr(route, "methods", None) or ())
    if not allowed:
        raise ApiError(404, f"no such resource: {path}")
    if "GET" in allowed:
        allowed.add("HEAD")
    return Response(status_code=204, headers={"Allow": ", ".join(sorted(allowed | {"OPTIONS"}))})


def public_base(request: Request) -> str:
    """Where this server is reached: the configured public URL, else the address it is bound
    to. Never the request's Host header, which any client can set."""
    config: ServerConfig | None = request.scope.get("state", {}).get("config")
    if config is not None and config.public_url:
        return config.public_url
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    host = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{host}:{port}"


_CHANGES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def _cross_site(request: Request) -> bool:
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


def make_middleware(
    config: ServerConfig, auth: Authenticator
) -> Callable[..., Awaitable[Response]]:
    default_driver = config.providers[config.default_provider].driver

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path, matrix = split_matrix(request.scope["path"])
        request.scope["path"] = path
        state = request.scope.setdefault("state", {})
        state["config"] = config
        try:
            state["format"] = "xml"
            state["format"] = choose_format(request)
            client = request.client.host if request.client else "?"
            user = await auth.user(request.headers.get("authorization", ""), client)
            if user is None:
                raise ApiError(
                    401,
                    "authentication required",
                    {
                        "WWW-Authenticate": 'Basic realm="nubes", Bearer',
                        "X-Deltacloud-Driver": default_driver,
                    },
                )
            if _cross_site(request):
                raise ApiError(403, "a change sent from another site's page is refused")
            problem = bad_text(unquote(path))
            if problem:
                raise ApiError(400, f"the path {problem}")
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
            elif request.method == "HEAD":  # every GET route answers HEAD: headers, no body
                request.scope["method"] = "GET"
                full = await call_next(request)
                response = Response(status_code=full.status_code, headers=dict(full.headers))
            else:
                response = await call_next(request)
        except ApiError as exc:
            response = error_response(request, exc.status, exc.message, exc.headers)
        provider = state.get("provider", config.default_provider)
        response.headers["Server"] = f"Apache-Deltacloud/{API_VERSION}"
        response.headers["X-Nubes-Version"] = __version__
        response.headers.setdefault("X-Deltacloud-Driver", config.providers[provider].driver)
        response.headers["X-Deltacloud-Provider"] = provider
        etag = response.headers.get("etag")
        if etag and request.method not in ("GET", "HEAD"):
            del response.headers["etag"]  # ETags are for reads
        elif etag and request.headers.get("if-none-match") == etag:
            return Response(
                status_code=304,
                headers={
                    k: v for k, v in response.headers.items() if k.lower() != "content-length"
                },
            )
        return response

    return middleware


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
        blob = scope["method"] == "PUT" and _BLOB_UPLOAD.fullmatch(scope["path"])
        limits = self.config.limits
        limit = limits.blob_bytes if blob else limits.request_bytes
        state = scope.setdefault("state", {})
        state["body_limit"] = limit
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            if state.get("body_too_large"):
                return {"type": "http.disconnect"}
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
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
