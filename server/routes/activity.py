"""The server's live channel and its record (additive to Deltacloud's API):

* `GET /api/events`: server-sent events, numbered, of inventory changes (`instances`, `cloud`),
  and job progress (`job`); `Last-Event-ID` (or `?after=N`)
  resumes after a reconnect. The console's pages listen here.
* `GET /api/activity`: every change made through the CLI, the API or the console, newest first,
  filtered by `who`, `via`, `result` and text `q`, `limit` entries (at most 1,000).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from nubes.engine.activity import matching
from nubes.server.console import console_of
from nubes.server.http import ApiError

router = APIRouter()


def _seq(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(400, "Last-Event-ID (or after) must be an event's number")
    return int(text)


@router.get("/api/events", response_class=StreamingResponse)
async def events(request: Request) -> Response:
    console = console_of(request.app)
    after = _seq(request.headers.get("last-event-id") or request.query_params.get("after"))
    return StreamingResponse(
        console.bus.stream(after),
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
