"""Every change made through the API (the console's included) goes in the activity log, with
its result, and asks the cloud it changed for an early refresh, so open pages see it soon."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from nubes.engine.activity import Via
from nubes.server.console import console_of
from nubes.server.views import SINGULAR


def describe(method: str, path: str, provider: str) -> tuple[str, str]:
    """(action, target) of an API change: `POST /api/instances/i-1/stop` -> ("stop",
    "instance sim/i-1")."""
    parts = [p for p in path.split("/")[2:] if p]
    if not parts:
        return method.lower(), "api"
    collection = parts[0]
    kind = SINGULAR.get(collection, collection.rstrip("s")).replace("_", " ")
    if collection in ("stacks", "migrations", "jobs"):
        # POST .../plans and POST /migrations plan; .../apply applies; DELETE discards
        rest = parts[1:]
        verb = "discard" if method == "DELETE" else "plan"
        if rest and rest[-1] in ("apply", "plan", "cancel"):
            verb = rest.pop()
        if rest and rest[-1] == "plans":
            rest.pop()
        rest = ["plan" if part == "plans" else part for part in rest]
        return verb, f"{kind} {' '.join(rest)}".strip()
    if len(parts) == 1:
        return "create", f"{kind} on {provider}"
    target = f"{kind} {provider}/{'/'.join(parts[1:2])}"
    if len(parts) >= 3 and method == "POST":
        return parts[2], target
    if method == "DELETE":
        return "destroy" if len(parts) == 2 else f"delete {'/'.join(parts[2:])}", target
    return method.lower(), target


def result_of(status: int, path: str) -> str:
    if status == 202 and path.endswith("/apply"):
        return "started"  # the job records how it ended
    if status < 400:
        return "ok"
    return "refused" if status < 500 and status != 409 else "failed"


async def after_change(request: Request, response: Response) -> None:
    console = console_of(request.app)
    state = request.scope["state"]
    provider = str(state.get("provider") or "")
    if not state.get("recorded"):
        await record(request, response.status_code)
    if response.status_code < 400:
        console.inventory.poke(provider)


async def record(request: Request, status: int) -> None:
    """The request's change in the activity log, with the result its status means. A request
    that starts a job records it before the job runs (so the job's end comes after its start),
    and after_change records it no more."""
    console = console_of(request.app)
    state = request.scope["state"]
    state["recorded"] = True
    provider = str(state.get("provider") or "")
    action, target = describe(request.method, request.scope["path"], provider)
    via = Via.CONSOLE if state.get("via") == "console" else Via.API
    detail = "" if status < 400 else f"HTTP {status}"
    await request.app.state.calls.run(
        "activity",  # a pool of its own: a slow log holds up no stack's pages
        console.activity.record,
        str(state.get("user") or "?"),
        via,
        action,
        target,
        result_of(status, request.scope["path"]),
        detail,
    )
