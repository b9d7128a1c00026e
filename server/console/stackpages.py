"""The console's stack pages: the list (last apply, serial, lock, drift), and a stack's page
with a reviewed plan's structured diff, an apply's live progress and log, the history with the
diff of the stack file between applied versions, and the lock's holder. Planning, applying and
discarding are the API's calls (server/plans.py), made by the page's script."""

from __future__ import annotations

import difflib
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nubes.engine.plan.planfile import plan_to_json
from nubes.engine.state import StateError
from nubes.server.console.web import Viewer, page
from nubes.server.http import ApiError
from nubes.server.stacks import StackFiles, stack_named

router = APIRouter(include_in_schema=False)
HIDDEN = frozenset({"user_data", "private_key", "password"})  # never shown on a page


def _summary(files: StackFiles, name: str, stack: Any) -> dict[str, Any]:
    backend = files.backend(name)
    try:
        state = backend.read()
        problem = None
    except StateError as exc:
        state, problem = None, str(exc)
    history = backend.history()
    drift = files.drift.get(name)
    return {
        "name": name,
        "file": str(stack.file),
        "resources": len(stack.resources),
        "managed": len(state.resources) if state else 0,
        "serial": state.serial if state else None,
        "last": history[-1] if history else None,
        "lock": backend.lock_holder(),
        "drift": drift,
        "problem": problem,
    }


@router.get("/console/stacks")
async def stacks(request: Request, session: Viewer) -> Response:
    files: StackFiles = request.app.state.stack_files
    calls = request.app.state.calls

    def listed() -> list[dict[str, Any]]:
        return [_summary(files, n, s) for n, s in sorted(files.stacks().items())]

    return page(request, session, "stacks", stacks=await calls.run("files", listed))


def changed_attributes(change: dict[str, Any]) -> list[tuple[str, Any, Any, bool]]:
    """(name, before, after, forces replacement) of what a change changes: every attribute of
    a create, the differing ones of an update or a replacement, none of a delete."""
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    replace = set(change.get("requires_replace") or [])
    if change["action"] == "delete" or after is None:
        return []
    out: list[tuple[str, Any, Any, bool]] = []
    for key in sorted(set(before) | set(after) | set(unknown if isinstance(unknown, dict) else {})):
        later = (
            "(known after apply)"
            if isinstance(unknown, dict) and unknown.get(key)
            else after.get(key)
        )
        if change["action"] != "create" and before.get(key) == later:
            continue
        if later is None and key not in before:
            continue
        if key in HIDDEN:  # what may hold secrets: that it changes, never what it holds
            out.append((key, "(hidden)", "(hidden, changed)", key in replace))
            continue
        out.append((key, before.get(key), later, key in replace))
    return out


def _stack_file(entry: Any) -> str:
    try:
        return masked(entry.stack_text())
    except StateError:
        return ""


_SECRET_LINE = re.compile(r"^(\s*)(user_data|private_key|password)(\s*:\s*)(\S.*)?$")


def masked(text: str) -> str:
    """A stack file with the values of what may hold secrets hidden (a block scalar's lines
    too), for showing on a page."""
    out = []
    block_indent: int | None = None
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and (not line.strip() or indent > block_indent):
            continue  # a line of a hidden block scalar
        block_indent = None
        found = _SECRET_LINE.match(line)
        if found and found.group(4):
            out.append(f"{found.group(1)}{found.group(2)}{found.group(3)}(hidden)")
            if found.group(4)[:1] in ("|", ">"):
                block_indent = indent
            continue
        out.append(line)
    return "\n".join(out)


@router.get("/console/stacks/{name}")
async def stack(request: Request, session: Viewer, name: str) -> Response:
    files: StackFiles = request.app.state.stack_files
    calls = request.app.state.calls
    found = await stack_named(request, name)
    summary = await calls.run("files", _summary, files, name, found)
    history = await calls.run("files", lambda: files.backend(name).history())
    params = request.query_params
    reviewed = None
    if params.get("plan"):
        try:
            reviewed = await calls.run(
                "jobs", request.app.state.plans.get, name, params["plan"][:64]
            )
        except ApiError:
            reviewed = None
    plan_doc = plan_to_json(reviewed.plan) if reviewed else None
    if reviewed is not None:
        files.drift[name] = {"count": len(reviewed.plan.drift), "at": reviewed.made_at}
    job = await calls.run("jobs", files.jobs.get, params.get("job", "")[:64])
    diff = None
    wanted = params.get("diff", "")
    if wanted.isascii() and wanted.isdigit() and len(wanted) <= 12:
        serials = [e.serial for e in history]
        if int(wanted) in serials:
            i = serials.index(int(wanted))
            new = await calls.run("files", _stack_file, history[i])
            old = await calls.run("files", _stack_file, history[i - 1]) if i > 0 else ""
            before = f"serial {history[i - 1].serial}" if i > 0 else "nothing"
            diff = {
                "serial": int(wanted),
                "lines": list(
                    difflib.unified_diff(
                        old.splitlines(),
                        new.splitlines(),
                        before,
                        f"serial {wanted}",
                        lineterm="",
                    )
                ),
            }
    return page(
        request,
        session,
        "stack",
        s=summary,
        history=list(reversed(history)),
        reviewed=reviewed,
        plan=plan_doc,
        changed=changed_attributes,
        job=job,
        diff=diff,
        show=params.get("show", ""),
        shows=SHOWS,
        hidden=HIDDEN,
    )


# a plan's counts -> the actions each counts (a replacement both adds and destroys)
SHOWS = {
    "add": ["create", "delete-create", "create-delete"],
    "change": ["update"],
    "destroy": ["delete", "delete-create", "create-delete"],
    "migrate": ["migrate"],
}


@router.get("/console/migrate")
async def migrate(request: Request, session: Viewer) -> Response:
    """Choose a target for the picked instances (`i=PROVIDER/ID`, repeated); review a planned
    migration (`m=ID`); follow its apply (`job=ID`)."""
    files: StackFiles = request.app.state.stack_files
    console_inv = request.app.state.console.inventory
    picked = request.query_params.getlist("i")[:500]
    rows = []
    for item in picked:
        provider, _, id_ = item.partition("/")
        rows.append((item, console_inv.row(provider, id_)))
    sources = {item.partition("/")[0] for item in picked}
    targets = [p for p in console_inv.clouds if p not in sources or len(sources) > 1]
    migration = None
    if request.query_params.get("m"):
        try:
            migration = request.app.state.migrations.get(request.query_params["m"])
        except ApiError:
            migration = None
    job = await request.app.state.calls.run(
        "jobs", files.jobs.get, request.query_params.get("job", "")[:64]
    )
    return page(
        request,
        session,
        "migrate",
        picked=rows,
        targets=targets,
        migration=migration,
        view=migration.view("/api") if migration else None,
        changed=changed_attributes,
        job=job,
    )
