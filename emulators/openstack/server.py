"""The emulator as an ASGI application (`Emulator`), and `serve`, which `nubes emulate
openstack` runs: it prints the Keystone auth URL and serves until interrupted.

Each request: strip the region prefix, route, check the token (401 with WWW-Authenticate as
keystonemiddleware answers) and the project in the path, read the microversion (406 outside the
range), apply the knobs (latency, injected faults, the rate limit), then run the handler under
the cloud's lock. Handlers are quick, so they run on the event loop; the latency knob sleeps
without holding anything, so a slow answer stalls no other request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

from nubes.emulators.openstack import compute, urls, volume
from nubes.emulators.openstack.calls import Answer, Call
from nubes.emulators.openstack.exceptions import (
    BadRequest,
    Fault,
    Injected,
    OpenStackError,
    OverLimit,
    Unauthorized,
)
from nubes.emulators.openstack.models import Cloud, Knobs

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

REGION = re.compile(r"^/regions/([^/]+)(/.*)$")
MAX_BODY = 64 * 1024 * 1024
log = logging.getLogger(__name__)


class Emulator:
    def __init__(self, cloud: Cloud | None = None) -> None:
        self.cloud = cloud or Cloud()
        self.random = random.Random()
        self.requests = 0
        self.faults = 0  # answers the fault knob injected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await self._send(
                    send,
                    Answer(413, raw=b"Request Entity Too Large", content_type="text/plain"),
                    "HEAD",
                )
                return
            if not message.get("more_body"):
                break
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("127.0.0.1", 80)))
        base = f"{scope.get('scheme', 'http')}://{host}"
        query = [
            tuple(p.split("=", 1)) if "=" in p else (p, "")
            for p in scope.get("query_string", b"").decode("latin-1").split("&")
            if p
        ]
        pairs = [(unquote_plus(k), unquote_plus(v)) for k, v in query]
        knobs = self.cloud.knobs
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        answer = self.handle(
            scope["method"], scope.get("path", "/"), pairs, headers, bytes(body), base
        )
        await self._send(send, answer, scope["method"])

    def handle(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        base: str,
    ) -> Answer:
        cloud = self.cloud
        with cloud.lock:
            self.requests += 1
            region = cloud.regions[0]
            found = REGION.match(path)
            if found is not None and found.group(1) in cloud.regions:
                region, path = found.group(1), found.group(2)
            call = Call(cloud, method, path, query, headers, body, base, region)
            try:
                return self._dispatch(call)
            except OpenStackError as exc:
                payload, content_type = exc.body()
                return Answer(
                    exc.status,
                    raw=payload if method != "HEAD" else b"",
                    headers=dict(exc.headers),
                    content_type=content_type,
                )
            except Exception as exc:  # a bug here: answered as Nova answers its own
                log.exception("%s %s failed", method, path)
                payload, content_type = Fault(f"Unexpected error: {type(exc).__name__}").body()
                return Answer(500, raw=payload, content_type=content_type)

    def _dispatch(self, call: Call) -> Answer:
        target = urls.route(call.method, call.path.rstrip("/") or "/")
        if target is None:
            raise Fault("The resource could not be found.", 404, "itemNotFound")
        if target == "405":
            raise Fault(
                "The method is not allowed for the requested URL.", 405, "HTTPMethodNotAllowed"
            )
        assert not isinstance(target, str)
        handler, service, parts = target
        parts.pop("version", None)
        extra: dict[str, str] = {}
        if service != "open":
            self._authorize(call, service, parts)
            self._limit(call)
            if self.cloud.knobs.fault_rate and self.random.random() < self.cloud.knobs.fault_rate:
                self.faults += 1
                raise Injected(503)
        if service == "compute":
            call.microversion = _microversion(
                call, "compute", compute.MIN_VERSION, compute.MAX_VERSION
            )
            text = _text(call.microversion)
            extra = {
                "OpenStack-API-Version": f"compute {text}",
                "X-OpenStack-Nova-API-Version": text,
                "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
            }
        elif service == "volume":
            call.microversion = _microversion(
                call, "volume", volume.MIN_VERSION, volume.MAX_VERSION
            )
            extra = {"OpenStack-API-Version": "volume " + _text(call.microversion)}
        answer: Answer = handler(call, **parts)
        answer.headers = {**extra, **answer.headers}
        answer.headers.setdefault("X-Openstack-Request-Id", f"req-{_request_id()}")
        return answer

    def _authorize(self, call: Call, service: str, parts: dict[str, str]) -> None:
        token = self.cloud.valid(call.headers.get("x-auth-token"))
        if token is None:
            raise Unauthorized(realm=call.base + "/identity")
        call.token = token
        if service == "identity":
            return
        if token.project is None:
            raise Unauthorized(
                "The request you have made requires a project-scoped token.",
                call.base + "/identity",
            )
        wanted = parts.get("project_id") if service in ("compute", "volume") else None
        account = parts.get("account")
        if account is not None:
            wanted = account.removeprefix("AUTH_")
        if wanted is not None and wanted != token.project:
            if service == "object":
                raise Fault("Forbidden", 403, "forbidden")
            raise BadRequest(
                f"Malformed request URL: URL's project_id '{wanted}' doesn't match Context's "
                f"project_id '{token.project}'"
            )

    def _limit(self, call: Call) -> None:
        limit = self.cloud.knobs.rate_limit
        if not limit or call.token is None:
            return
        now = time.monotonic()
        recent = [t for t in self.cloud.requests.get(call.token.id, []) if now - t < 60]
        if len(recent) >= limit:
            raise OverLimit(
                "This request was rate-limited.", retry_after=int(60 - (now - recent[0])) + 1
            )
        recent.append(now)
        self.cloud.requests[call.token.id] = recent

    async def _send(self, send: Send, answer: Answer, method: str) -> None:
        payload = answer.payload()
        headers = (
            [(b"content-type", answer.content_type.encode())]
            if (payload or answer.raw is not None or answer.status not in (204, 304))
            else []
        )
        length = answer.headers.pop("Content-Length", None)
        headers.append((b"content-length", (length or str(len(payload))).encode()))
        headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})


def _text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _request_id() -> str:
    return str(uuid.uuid4())


def _microversion(
    call: Call, service: str, least: tuple[int, int], most: tuple[int, int]
) -> tuple[int, int]:
    """The microversion a request asks for (OpenStack-API-Version, or Nova's own header), the
    least one without either; 406 outside what this service offers."""
    text: str | None = None
    header = call.headers.get("openstack-api-version", "")
    for part in header.split(","):
        words = part.split()
        if len(words) == 2 and words[0].lower() == service:
            text = words[1]
    if text is None and service == "compute":
        text = call.headers.get("x-openstack-nova-api-version")
    if text is None:
        return least
    if text.lower() == "latest":
        return most
    try:
        major, minor = (int(n) for n in text.split("."))
    except ValueError:
        raise Fault(f"Invalid API version request: {text}", 400, "badRequest") from None
    if not least <= (major, minor) <= most:
        raise Fault(
            f"Version {text} is not supported by the API. Minimum is {_text(least)} and "
            f"maximum is {_text(most)}.",
            406,
            "computeFault",
        )
    return major, minor


def app(knobs: Knobs | None = None, users: list[tuple[str, str, str]] | None = None) -> Emulator:
    cloud = Cloud(knobs)
    if users:
        cloud.reset(users)
    return Emulator(cloud)


def serve(
    host: str = "127.0.0.1",
    port: int = 5000,
    knobs: Knobs | None = None,
    ready: Callable[[str], None] | None = None,
    users: list[tuple[str, str, str]] | None = None,
) -> None:
    """Serve until interrupted; `ready` is told the auth URL once the socket listens. `users`
    are (name, password, project) triples, `demo/demo/demo` by default."""
    import socket

    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # an OSError here (the port is taken) is the caller's to tell
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app(knobs, users), log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started and ready is not None:
            ready(f"http://{host}:{bound}/identity")
        await task

    asyncio.run(run())


__all__ = ["Emulator", "Knobs", "app", "serve"]
