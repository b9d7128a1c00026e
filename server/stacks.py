"""Stacks over HTTP (additive to Deltacloud's API): list, plan, apply as a job, state, history.

An apply runs in a thread as a job, holding the stack's state lock exactly as `nubes apply` does;
its progress events (the CLI's JSON events) are kept and streamed as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from nubes.engine import operations
from nubes.engine.activity import Activity, ActivityLog, Via
from nubes.engine.apply import EventHooks
from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers, configure_drivers
from nubes.engine.operations import Loaded
from nubes.engine.plan import Plan
from nubes.engine.plan.planfile import plan_to_json
from nubes.engine.sensitive import declared_schemas, public_state, stack_sensitivity
from nubes.engine.stack import Stack, load_stack
from nubes.engine.stack.model import Provider
from nubes.engine.state import Backend, StateError
from nubes.engine.state.lock import whoami
from nubes.engine.state.settings import DEFAULT_WORKSPACE, BackendConfig
from nubes.engine.state.stores import Store, open_store
from nubes.providers.protocol import Driver
from nubes.server import views
from nubes.server.calls import Calls
from nubes.server.console.record import record
from nubes.server.http import ApiError, api_root
from nubes.server.jobs import Job, Jobs
from nubes.server.models import (
    HistoryAnswer,
    JobAnswer,
    PlanDoc,
    StackAnswer,
    StacksAnswer,
    StateDoc,
    json_only,
)
from nubes.server.respond import json_body


def _diags_json(diags: Diagnostics) -> list[dict[str, Any]]:
    return [d.to_json() for d in diags]


class StackFiles:
    """The server's stacks, parsed once per version of each file, and their configured drivers
    once per stack version and variables (a request re-reads nothing that did not change)."""

    def __init__(
        self,
        paths: list[Path],
        state_dir: Path,
        environ: Mapping[str, str],
        providers: Mapping[str, Provider] | None = None,
        drivers: Mapping[str, Driver] | None = None,
        jobs: Jobs | None = None,
        activity: Activity | None = None,
        default_backend: BackendConfig | None = None,
    ) -> None:
        # the configured stacks, and those the console made (migrating instances no stack
        # managed) in the state folder's console-stacks/
        made = sorted((state_dir / "console-stacks").glob("*.yaml"))
        self.paths = [*paths, *(p for p in made if p not in paths)]
        self.provider_configs = dict(providers or {})
        self.provider_drivers = dict(drivers or {})
        self.state_dir = state_dir
        self.environ = environ
        self._lock = threading.Lock()
        self._parsed: dict[Path, tuple[tuple[int, int, int], Stack | None]] = {}
        self._loaded: OrderedDict[tuple[str, str], Loaded] = OrderedDict()
        self.jobs = jobs or Jobs()
        self.activity: Activity = activity or ActivityLog(state_dir)
        # stacks without a backend block keep their state here (the server's backend block)
        self.default_backend = default_backend
        self._stores: dict[str, Store] = {}
        self.drift: dict[str, dict[str, float]] = {}  # stack -> the last reviewed plan's drift

    def add(self, path: Path) -> None:
        with self._lock:
            if path not in self.paths:
                self.paths.append(path)

    def stacks(self) -> dict[str, Stack]:
        found: dict[str, Stack] = {}
        for path in self.paths:
            stack = self._stack(path)
            if stack is not None:
                found[stack.name] = stack
        return found

    def _stack(self, path: Path) -> Stack | None:
        try:
            st = path.stat()
        except OSError:
            return None
        version = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            seen = self._parsed.get(path)
        if seen is not None and seen[0] == version:
            return seen[1]
        stack, _ = load_stack(path)
        with self._lock:
            self._parsed[path] = (version, stack)
        return stack

    def loaded(self, stack: Stack, given: dict[str, str]) -> tuple[Loaded | None, Diagnostics]:
        key = (stack.digest, json.dumps(given, sort_keys=True))
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key], Diagnostics()
        loaded, diags = operations.configure(stack, given, [], self.environ, self.state_dir)
        if loaded is not None:
            with self._lock:
                self._loaded[key] = loaded
                while len(self._loaded) > MAX_LOADED:
                    self._loaded.popitem(last=False)
        return loaded, diags

    def drivers_for(self, planned: Plan) -> Drivers | None:
        """The drivers a plan made on another server applies through."""
        drivers, diags = configure_drivers(
            planned.stack, planned.variables, self.state_dir, self.environ
        )
        return None if diags.has_errors else drivers

    def backend(self, name: str) -> Backend:
        """The state of stack `name` in its backend (its own block, else the server's), in the
        workspace NUBES_WORKSPACE of the server's environment names (default: `default`)."""
        return self.backend_of(name, self.stacks().get(name))

    def backend_of(self, name: str, stack: Stack | None) -> Backend:
        """`backend(name)` for a stack already looked up (None: a stack no file names)."""
        config = (stack.backend if stack else None) or self.default_backend
        key = json.dumps(config.to_json() if config else None, sort_keys=True)
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = open_store(config, self.state_dir, self.environ)
        workspace = self.environ.get("NUBES_WORKSPACE") or DEFAULT_WORKSPACE
        if stack is not None:
            stack.workspace = workspace
        return store.backend(name, workspace)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()

    def managed(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(provider, native id) -> (stack, address) of every instance the stacks manage."""
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for name, stack in self.stacks().items():
            try:
                state = self.backend_of(name, stack).read()
            except StateError:
                continue
            for rs in state.resources.values() if state else ():
                if rs.type == "instance":
                    found[(rs.provider, rs.id)] = (name, str(rs.address))
        return found


MAX_LOADED = 32  # stack versions with their drivers kept configured


router = APIRouter()


def _files(request: Request) -> StackFiles:
    files: StackFiles = request.app.state.stack_files
    return files


async def offload(request: Request, fn: Any, *args: Any, pool: str = "files") -> Any:
    """Blocking work (files, plans, clouds) in a thread, never on the event loop; a stack's
    plans in the stack's own pool, so a slow cloud of one stack holds up no other."""
    calls: Calls = request.app.state.calls
    return await calls.run(pool, fn, *args)


async def stack_named(request: Request, name: str) -> Stack:
    files = _files(request)
    stack = (await offload(request, files.stacks)).get(name)
    if stack is None:
        raise ApiError(404, f"this server has no stack {name!r}")
    return stack


async def variables(request: Request, stack: Stack) -> dict[str, str]:
    """The variables a request gives, as text (as --var gives them); checked when loaded."""
    body = await request.body()
    if not body:
        return {}
    doc = json_body(body, 'the body must be JSON: {"variables": {...}}')
    raw = doc.get("variables", {}) if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise ApiError(400, "variables must be a JSON object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


async def loaded(request: Request, stack: Stack, given: dict[str, str]) -> Loaded:
    files = _files(request)
    found, diags = await offload(request, files.loaded, stack, given)
    if found is None:
        raise ApiError(400, "; ".join(d.summary for d in diags if d.severity == "error"))
    return cast(Loaded, found)


def item(request: Request, name: str, stack: Stack) -> dict[str, Any]:
    files = _files(request)
    state = files.backend(name).read()
    return {
        "name": name,
        "href": views.href_of(api_root(request), "stacks", name),
        "file": str(stack.file),
        "digest": stack.digest,
        "resources": len(stack.resources),
        "serial": state.serial if state else None,
    }


@router.get("/api/stacks", responses=json_only(StacksAnswer))
async def stacks_index(request: Request) -> Response:
    files = _files(request)

    def listed() -> list[dict[str, Any]]:
        return [item(request, name, stack) for name, stack in files.stacks().items()]

    return JSONResponse({"stacks": await offload(request, listed)})


@router.get("/api/stacks/{name}", responses=json_only(StackAnswer))
async def stacks_show(request: Request, name: str) -> Response:
    stack = await stack_named(request, name)
    return JSONResponse({"stack": await offload(request, item, request, name, stack)})


async def plan_named(request: Request, name: str) -> tuple[Loaded, Plan | None, Diagnostics]:
    """Plan the server's stack `name` with the request's variables, in the stack's own pool."""
    files = _files(request)
    stack = await stack_named(request, name)
    found = await loaded(request, stack, await variables(request, stack))
    result, diags = await offload(
        request,
        operations.plan,
        found,
        files.backend(stack.name),
        None,
        operations.Locking.SHARED,
        0.0,
        "plan (api)",
        pool=f"stack:{stack.name}",
    )
    return found, result, diags


@router.post("/api/stacks/{name}/plan", responses=json_only(PlanDoc))
async def stacks_plan(request: Request, name: str) -> Response:
    _, result, diags = await plan_named(request, name)
    if result is None:
        return JSONResponse({"diagnostics": _diags_json(diags)}, status_code=400)
    return JSONResponse(plan_to_json(result))


@router.post("/api/stacks/{name}/apply", status_code=202, responses=json_only(JobAnswer, 202))
async def stacks_apply(request: Request, name: str) -> Response:
    files = _files(request)
    stack = await stack_named(request, name)
    found = await loaded(request, stack, await variables(request, stack))
    job = await new_job(request, name)
    threading.Thread(target=run_apply, args=(job, found, files), daemon=True).start()
    view = job.view(api_root(request))
    return JSONResponse({"job": view}, status_code=202, headers={"Location": view["href"]})


async def new_job(request: Request, stack: str, kind: str = "apply") -> Job:
    """A job of this request's user, its progress published on the live channel; its start is
    in the activity log before it runs (once it is known, so a job the store refused is not
    logged as started)."""
    state = request.scope["state"]
    console = request.app.state.console
    bus = console.bus
    loop = asyncio.get_running_loop()

    def publish(data: dict[str, Any]) -> None:
        bus.publish("job", data)
        if data["event"].get("type") == "job_end":  # what it changed shows soon everywhere
            loop.call_soon_threadsafe(console.inventory.poke_all)

    job = Job(
        uuid.uuid4().hex[:12],
        stack,
        kind=kind,
        who=str(state.get("user") or whoami()),
        via=Via.CONSOLE if state.get("via") == "console" else Via.API,
        publish=publish,
    )
    await offload(request, _files(request).jobs.add, job, pool="jobs")  # before its id is told
    await record(request, 202)
    return job


def run_apply(job: Job, found: Loaded, files: StackFiles) -> None:
    job.begin()

    def review(planned: Plan) -> bool:
        job.emit("planned", summary=planned.counts())
        return not job.stop.is_set()  # cancelled while it planned: nothing is applied

    try:
        planned, outcome, diags = operations.plan_and_apply(
            found,
            files.backend(found.stack.name),
            f"{job.who} ({job.via})",
            review,
            options=job.options(),
            hooks=EventHooks(job.add),
            operation=f"apply ({job.via})",
            activity=files.activity,
            via=job.via,
        )
        if planned is None:
            job.diagnostics = _diags_json(diags)
            job.state, job.summary = "failed", "the plan failed"
        elif outcome is None:
            job.state = "succeeded"
            job.summary = "nothing applied" if job.stop.is_set() else "no changes"
        else:
            job.recorded = True  # the apply wrote its outcome in the activity log
            job.summary = outcome.summary()
            job.diagnostics = _diags_json(outcome.diags)
            job.state = "failed" if outcome.failed else "succeeded"
    except StateError as exc:
        job.state, job.summary = "failed", str(exc)
    except Exception as exc:  # a bug: the job says so instead of vanishing
        job.state, job.summary = "failed", f"a bug in nubes: {type(exc).__name__}: {exc}"
    finally:
        job.end(files.activity)


async def job_named(request: Request, id: str) -> Job:
    jobs = _files(request).jobs
    job = await offload(request, jobs.get, id, pool="jobs") if len(id) <= 64 else None
    if job is None:
        raise ApiError(404, f"no job {id[:64]}")
    return cast(Job, job)


@router.get("/api/jobs/{id}", responses=json_only(JobAnswer))
async def jobs_show(request: Request, id: str) -> Response:
    job = await job_named(request, id)
    return JSONResponse({"job": job.view(api_root(request))})


@router.post("/api/jobs/{id}/cancel", status_code=202, responses=json_only(JobAnswer, 202))
async def jobs_cancel(request: Request, id: str) -> Response:
    """Stop a job starting anything more (from any server of the team); 409 once it ended."""
    await job_named(request, id)
    job = await offload(request, _files(request).jobs.cancel, id, pool="jobs")
    if job is None or job.finished:
        state = job.state if job is not None else "gone"
        raise ApiError(409, f"job {id} has already ended ({state})")
    return JSONResponse({"job": job.view(api_root(request))}, status_code=202)


@router.get("/api/jobs/{id}/events")
async def jobs_events(request: Request, id: str) -> Response:
    await job_named(request, id)
    jobs = _files(request).jobs

    async def stream() -> AsyncIterator[bytes]:
        # waits on the event loop, reads in a thread: an idle listener holds no thread
        sent = 0
        while True:
            try:
                batch, finished, sent = await offload(
                    request, jobs.events_after, id, sent, pool="jobs"
                )
            except StateError:  # the database is away for a moment: the stream waits
                batch, finished = [], False
            for e in batch:
                yield f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
            if finished and not batch:
                return
            if not batch:
                await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream")


POLL_SECONDS = 0.2  # how often a job's stream looks for new events


@router.get("/api/stacks/{name}/state", responses=json_only(StateDoc))
async def stacks_state(request: Request, name: str) -> Response:
    files = _files(request)
    stack = await stack_named(request, name)
    state = await offload(request, lambda: files.backend(stack.name).read())
    if state is None:
        raise ApiError(404, f"stack {name} has no state yet")
    hidden = stack_sensitivity(stack, declared_schemas(stack))
    return JSONResponse(public_state(state, hidden))


@router.get("/api/stacks/{name}/history", responses=json_only(HistoryAnswer))
async def stacks_history(request: Request, name: str) -> Response:
    files = _files(request)
    stack = await stack_named(request, name)
    entries = await offload(request, lambda: files.backend(stack.name).history())
    return JSONResponse({"history": [e.to_json() for e in entries]})
