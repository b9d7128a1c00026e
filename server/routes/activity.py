"""The server's live channel and its record (additive to Deltacloud's API):

* `GET /api/events`: server-sent events, numbered, of inventory changes (`instances`, `cloud`),
  and job progress (`job`); `Last-Event-ID` (or `?after=N`)
  resumes after a reconnect. The console's pages listen here.
* `GET /api/activity`: every change made through the CLI, the API or the console, newest first,
  filtered by `who`, `via`, `result` and text `q`, `limit` entries (at most 1,000).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from nubes.engine.activity import matching
from nubes.engine.state.model import StateError
from nubes.server.console import console_of
from nubes.server.console.sessions import COOKIE, SessionStore
from nubes.server.http import ApiError

router = APIRouter()


def _seq(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(400, "Last-Event-ID (or after) must be an event's number")
    return int(text)


SESSION_CHECK_SECONDS = 1.0  # a console page's channel ends this soon after its session


async def _while_signed_in(
    frames: AsyncIterator[bytes], sessions: SessionStore, cookie: str | None
) -> AsyncIterator[bytes]:
    """A console page's frames while its session holds (checked, not counted as a use, before
    a frame when a second has passed): after a sign-out, `signed_out` and the end."""
    checked = time.monotonic()
    try:
        async for frame in frames:
            if time.monotonic() - checked >= SESSION_CHECK_SECONDS:
                try:
                    holds = await sessions.lookup(cookie, touch=False) is not None
                except StateError:
                    holds = True  # the database is away: not a sign-out in disguise
                if not holds:
                    yield b"event: signed_out\ndata: {}\n\n"
                    return
                checked = time.monotonic()
            yield frame
    finally:
        await frames.aclose()  # type: ignore[attr-defined]


@router.get("/api/events", response_class=StreamingResponse)
async def events(request: Request) -> Response:
    console = console_of(request.app)
    after = _seq(request.headers.get("last-event-id") or request.query_params.get("after"))
    frames = console.bus.stream(after)
    if request.scope["state"].get("via") == "console":
        frames = _while_signed_in(frames, console.sessions, request.cookies.get(COOKIE))
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/api/activity")
async def activity(request: Request) -> Response:
    console = console_of(request.app)
    params = request.query_params
    limit_text = params.get("limit", "100")
    if (
        not limit_text.isascii()
        or not limit_text.isdigit()
        or len(limit_text) > 6
        or not 1 <= int(limit_text) <= 1000
    ):
        raise ApiError(400, "limit must be a whole number from 1 to 1,000")

    def read() -> list[dict[str, object]]:
        found = matching(
            console.activity.entries(),
            params.get("who", ""),
            params.get("via", ""),
            params.get("result", ""),
            params.get("q", ""),
        )
        return [e.to_json() for e in reversed(found[-int(limit_text) :])]

    entries = await request.app.state.calls.run("files", read)
    return JSONResponse({"activity": entries})
