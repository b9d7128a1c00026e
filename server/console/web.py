"""What every console page shares: the templates, the signed-in user, the security headers, and
the static files (our own, and the npm packages' built files, served from `node_modules`)."""

from __future__ import annotations

import os
import posixpath
import re
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from nubes import __version__
from nubes.engine.state.model import StateError
from nubes.server.console import console_of
from nubes.server.console.sessions import COOKIE, Session
from nubes.server.http import ApiError, cross_site

HERE = Path(__file__).parent
# the npm packages' files the pages load: name -> path inside node_modules
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
NAV = [
    ("overview", "/console", "Overview"),
    ("instances", "/console/instances", "Instances"),
    ("images", "/console/images", "Images"),
    ("stacks", "/console/stacks", "Stacks"),
    ("activity", "/console/activity", "Activity"),
]


def node_modules() -> Path:
    """Where `make` installed the npm packages: NUBES_NODE_MODULES, else beside the source."""
    given = os.environ.get("NUBES_NODE_MODULES")
    if given:
        return Path(given)
    for folder in (HERE, *HERE.resolve().parents):
        if (folder / "node_modules").is_dir():
            return folder / "node_modules"
    return HERE.resolve().parents[1] / "node_modules"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + " UTC"


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["age"] = _age
templates.filters["when"] = _when
templates.filters["q"] = lambda s: quote(str(s), safe="")
templates.globals["urlencode"] = urlencode


MAX_NEXT = 2048  # characters of the page a login returns to (its query dropped past that)


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def signed_in(request: Request) -> Session:
    """The page's session; a page asked without one sends the browser to the login form."""
    session = await console_of(request.app).sessions.lookup(request.cookies.get(COOKIE))
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if len(target) > MAX_NEXT:  # a page's address, not a way to make a huge redirect
            target = request.url.path if len(request.url.path) <= MAX_NEXT else "/console"
        raise ApiError(
            303, "sign in first", {"Location": "/console/login?" + urlencode({"next": target})}
        )
    return session


Viewer = Annotated[Session, Depends(signed_in)]


def page(
    request: Request, session: Session, name: str, status: int = 200, **context: Any
) -> Response:
    seq = console_of(request.app).bus.last  # the page shows everything up to this event
    html = templates.get_template(f"{name}.html").render(
        seq=seq,
        user=session.user,
        csrf=session.csrf,
        nav=NAV,
        here=name,
        version=__version__,
        assets=(node_modules() / VENDOR["htmx.min.js"]).is_file(),
        **context,
    )
    return security_headers(HTMLResponse(html, status_code=status))


def redirect(location: str) -> Response:
    return security_headers(RedirectResponse(location, status_code=303))


def same_origin(request: Request) -> bool:
    """A form post from one of this server's pages (not another site's), as the API checks."""
    return not cross_site(request)


def safe_next(target: str | None) -> str:
    """Where to go after a login: a path of the console only (never another host, and never
    out of /console by `..`, an encoded slash or a backslash)."""
    path, _, query = (target or "").partition("?")
    if (
        not _CONSOLE_PATH.fullmatch(path)
        or posixpath.normpath(path) != path
        or "%" in path
        or any(ord(c) < 32 for c in target or "")
        or len(target or "") > MAX_NEXT
    ):
        return "/console"
    return path + (f"?{query}" if query else "")


_CONSOLE_PATH = re.compile(r"/console(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?")


async def console_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An error on a console page, as a page (a redirect where one is asked for)."""
    if status in (301, 302, 303, 307) and headers and "Location" in headers:
        if request.headers.get("hx-request") == "true":
            # htmx would follow a redirect and swap the page it leads to (the login form) into
            # a part of this one: it is told to take the whole window there instead
            return security_headers(
                Response(status_code=204, headers={"HX-Redirect": headers["Location"]})
            )
        return redirect(headers["Location"])
    try:
        session = await console_of(request.app).sessions.lookup(request.cookies.get(COOKIE))
    except StateError:  # the error being shown may be that very database's
        session = None
    html = templates.get_template("error.html").render(
        status=status,
        message=message,
        user=session.user if session else None,
        csrf=session.csrf if session else "",
        nav=NAV,
        here="",
        version=__version__,
    )
    response = HTMLResponse(html, status_code=status)
    for key, value in (headers or {}).items():
        if key.lower() != "location":
            response.headers[key] = value
    return security_headers(response)
