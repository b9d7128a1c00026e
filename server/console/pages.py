"""The console's pages: login, overview, instances, one instance, images and activity (the
stacks' and migration's pages are in stackpages.py)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from nubes.engine.activity import Via, matching
from nubes.providers.catalog import DEFAULT_IMAGES
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import InstanceMetrics
from nubes.server.calls import ProviderTimeout
from nubes.server.console import console_of
from nubes.server.console.inventory import STATES
from nubes.server.console.sessions import COOKIE, csrf_ok
from nubes.server.console.stackpages import HIDDEN
from nubes.server.console.table import PAGE_SIZES, SORTS, Query
from nubes.server.console.web import (
    HERE,
    VENDOR,
    Viewer,
    node_modules,
    page,
    redirect,
    safe_next,
    same_origin,
    security_headers,
    templates,
)
from nubes.server.http import ApiError
from nubes.server.views import ACTIONS

router = APIRouter(include_in_schema=False)
LOGIN_FIELD = 200  # characters of a user name or password the login form takes


@router.get("/console/login")
async def login_form(request: Request) -> Response:
    html = templates.get_template("login.html").render(
        next=safe_next(request.query_params.get("next")), error=None
    )
    from fastapi.responses import HTMLResponse

    return security_headers(HTMLResponse(html))


@router.post("/console/login")
async def login(request: Request) -> Response:
    from fastapi.responses import HTMLResponse

    console = console_of(request.app)
    form = await request.form()
    user = str(form.get("user") or "")[:LOGIN_FIELD]
    password = str(form.get("password") or "")[:LOGIN_FIELD]
    target = safe_next(str(form.get("next") or ""))
    if not same_origin(request):
        await _note(request, user or "(token)", "refused", "sent from another site's page")
        raise ApiError(403, "a login sent from another site's page is refused")
    client = request.client.host if request.client else "?"
    name = await request.app.state.auth.login(user, password, client)
    if name is None:
        await _note(request, user or "(token)", "refused")
        html = templates.get_template("login.html").render(
            next=target, error="That user name and password (or token) are not right."
        )
        return security_headers(HTMLResponse(html, status_code=401))
    session = await console.sessions.begin(name)
    await _note(request, name, "ok")
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="strict",
        secure=request.app.state.config.public_url is not None
        and request.app.state.config.public_url.startswith("https:"),
        path="/",
    )
    return response


async def _note(request: Request, who: str, result: str, detail: str = "") -> None:
    """A login in the activity log (written in a thread: the log may be a database). A name
    that is no configured user is not written as typed: it may be a password or a token
    typed in the wrong field."""
    console = console_of(request.app)
    if who not in request.app.state.config.users:
        who = "(token)" if result == "ok" else "(unknown user)"
    await request.app.state.calls.run(
        "activity", console.activity.record, who, Via.CONSOLE, "login", "console", result, detail
    )


@router.post("/console/logout")
async def logout(request: Request, session: Viewer) -> Response:
    form = await request.form()
    if not same_origin(request) or not csrf_ok(session, str(form.get("csrf") or "")):
        raise ApiError(403, "a logout needs the page's CSRF token")
    await console_of(request.app).sessions.finish(request.cookies.get(COOKIE))
    response = redirect("/console/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/console")
async def overview(request: Request, session: Viewer) -> Response:
    console = console_of(request.app)
    await console.inventory.ready(1.0)
    now = time.time()
    cards = [c.card(now) for c in console.inventory.clouds.values()]
    series = await request.app.state.calls.run("files", console.inventory.series)
    return page(request, session, "overview", cards=cards, series=series)


@router.get("/console/instances")
async def instances(request: Request, session: Viewer) -> Response:
    console = console_of(request.app)
    await console.inventory.ready(1.0)
    query, problems = Query.parse(dict(request.query_params))
    inv = console.inventory
    found = console.sorted.page(inv.rows(), inv.version, query)
    stacks = inv.stack_names()
    context: dict[str, Any] = {
        "found": found,
        "q": found.query,  # its page within the pages there are
        "problems": problems,
        "providers": list(inv.clouds),
        "states": STATES,
        "stacks": stacks,
        "sorts": SORTS,
        "sizes": sorted({*PAGE_SIZES, query.size}),  # a size from the address stays chosen
        "unreachable": [c.card() for c in inv.clouds.values() if c.error],
    }
    if request.headers.get("hx-request") == "true":  # htmx asks for the table alone
        return page(request, session, "instances_table", **context)
    return page(request, session, "instances", **context)


@router.get("/console/instances/{provider}/{id}")
async def instance(request: Request, session: Viewer, provider: str, id: str) -> Response:
    console = console_of(request.app)
    if provider not in console.inventory.clouds:
        raise ApiError(404, f"no cloud {provider!r}")
    calls = request.app.state.calls
    driver = calls.drivers[provider]
    problem: str | None = None
    obj = None
    try:  # the cloud's own answer, within the time allowed; else the inventory's
        obj = await calls.within(provider, driver.read, "instance", id)
    except ProviderError as exc:
        problem = f"{exc.code}: {exc}"
    except ProviderTimeout as exc:
        problem = f"{provider} {exc}: the inventory's copy"
    row = console.inventory.row(provider, id)
    if obj is None and row is None:
        raise ApiError(404, f"no instance {id!r} on {provider!r}")
    attributes = dict(obj.attributes) if obj is not None else {}
    targets = [p for p in console.inventory.clouds if p != provider]
    return page(
        request,
        session,
        "instance",
        provider=provider,
        id=id,
        row=row,
        attributes={k: v for k, v in sorted(attributes.items()) if k not in HIDDEN},
        tags=dict(obj.tags) if obj is not None else {},
        problem=problem,
        metrics=isinstance(driver, InstanceMetrics),
        targets=targets,
        allowed=ACTIONS.get(str(attributes.get("state") or (row or {}).get("state")), []),
    )


@router.get("/console/images")
async def images(request: Request, session: Viewer) -> Response:
    console = console_of(request.app)
    calls = request.app.state.calls
    providers = list(console.inventory.clouds)
    listed = await calls.gather(lambda name, d: d.images(), providers)
    per_cloud: dict[str, list[Any]] = {}
    problems: dict[str, str] = {}
    for name, found in listed.items():
        if isinstance(found, BaseException):
            problems[name] = f"{getattr(found, 'code', type(found).__name__)}: {found}"
        else:
            per_cloud[name] = sorted(found, key=lambda i: i.name.lower())
    names = await calls.gather(
        lambda name, d: console.inventory.image_names(name),
        [p for p in providers if p in per_cloud],
    )
    matrix = []
    for portable in sorted(DEFAULT_IMAGES):
        where = {}
        for name in providers:
            ids = names.get(name)
            if isinstance(ids, dict):
                where[name] = [i for i, n in ids.items() if n == portable]
        matrix.append((portable, where))
    return page(
        request,
        session,
        "images",
        providers=providers,
        per_cloud=per_cloud,
        problems=problems,
        matrix=matrix,
    )


def _activity(request: Request) -> tuple[list[Any], dict[str, str]]:
    console = console_of(request.app)
    filters = {k: request.query_params.get(k, "")[:200] for k in ("who", "via", "result", "q")}
    entries = matching(
        console.activity.entries(),
        filters["who"],
        filters["via"],
        filters["result"],
        filters["q"],
    )
    entries.reverse()  # newest first
    return entries, filters


@router.get("/console/activity")
async def activity(request: Request, session: Viewer) -> Response:
    calls = request.app.state.calls
    entries, filters = await calls.run("files", _activity, request)
    return page(
        request,
        session,
        "activity",
        entries=entries[:500],
        total=len(entries),
        filters=filters,
        vias=[str(v) for v in Via],
    )


@router.get("/console/activity.csv")
async def activity_csv(request: Request, session: Viewer) -> Response:
    calls = request.app.state.calls
    entries, _ = await calls.run("files", _activity, request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "who", "via", "action", "target", "result", "detail"])
    for e in entries:
        row = [e.to_json()["at_text"], e.who, e.via, e.action, e.target, e.result, e.detail]
        # a cell a spreadsheet would run as a formula is written as text
        writer.writerow(["'" + c if c[:1] in FORMULA_STARTS else c for c in map(str, row)])
    return security_headers(
        Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="nubes-activity.csv"'},
        )
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection
STATIC = {"console.js": "text/javascript", "console.css": "text/css"}


@router.get("/console/static/{name}")
async def static(name: str) -> Response:
    if name in STATIC:
        path = HERE / "static" / name
    elif name in VENDOR:
        path = node_modules() / VENDOR[name]
    else:
        raise ApiError(404, f"no file {name!r}")
    if not path.is_file():
        raise ApiError(404, f"{name} is not installed here: run make (it runs npm ci)")
    kind = STATIC.get(name) or ("text/css" if name.endswith(".css") else "text/javascript")
    response = FileResponse(path, media_type=kind)
    response.headers["Cache-Control"] = "max-age=3600"
    return security_headers(response)
