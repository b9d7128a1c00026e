"""Stacks over HTTP (additive to Deltacloud's API): list, plan, apply as a job, state, history.

An apply runs in a thread as a job, holding the stack's state lock exactly as `nubes apply` does;
its progress events (the CLI's JSON events) are kept and streamed as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from nubes.engine.apply import ApplyOptions, apply
from nubes.engine.apply.hooks import Op
from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import configure_drivers
from nubes.engine.plan import PlanOptions, plan_from_backend
from nubes.engine.plan.planfile import plan_to_json
from nubes.engine.sensitive import declared_schemas, public_state, stack_sensitivity
from nubes.engine.stack import Stack, load_stack, resolve_variables
from nubes.engine.state import LocalBackend, StateError
from nubes.engine.state.lock import whoami
from nubes.server import views
from nubes.server.calls import Calls
from nubes.server.config import ServerConfig
from nubes.server.http import ApiError, public_base


@dataclass
class Job:
    id: str
    stack: str
    state: str = "queued"  # queued, running, succeeded, failed
    summary: str = ""
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def emit(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def view(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "href": f"{base}/jobs/{self.id}",
            "stack": self.stack,
            "state": self.state,
            "summary": self.summary,
            "diagnostics": self.diagnostics,
            "events": f"{base}/jobs/{self.id}/events",
        }


class JobHooks:
    def __init__(self, job: Job) -> None:
        self.job = job

    def started(self, op: Op) -> None:
        self.job.emit("apply_start", address=op.label, action=op.kind)

    def finished(self, op: Op, seconds: float, id: str | None) -> None:
        self.job.emit(
            "apply_complete",
            address=op.label,
            action=op.kind,
            id=id,
            elapsed_seconds=round(seconds, 3),
        )

    def failed(self, op: Op, seconds: float, message: str) -> None:
        self.job.emit("apply_errored", address=op.label, action=op.kind, message=message)

    def skipped(self, op: Op, because: str) -> None:
        self.job.emit("apply_skipped", address=op.label, action=op.kind, reason=because)


def _diags_json(diags: Diagnostics) -> list[dict[str, Any]]:
    return [d.to_json() for d in diags]


def register_stack_routes(app: FastAPI, config: ServerConfig, state_dir: Path) -> None:
    jobs: dict[str, Job] = {}

    def stacks() -> dict[str, Stack]:
        found: dict[str, Stack] = {}
        for path in config.stacks:
            stack, _ = load_stack(path)
            if stack is not None:
                found[stack.name] = stack
        return found

    async def offload(request: Request, fn: Any, *args: Any, pool: str = "files") -> Any:
        """Blocking work (files, plans, clouds) in a thread, never on the event loop; a stack's
        plans in the stack's own pool, so a slow cloud of one stack holds up no other."""
        calls: Calls = request.app.state.calls
        return await calls.run(pool, fn, *args)

    async def stack_named(request: Request, name: str) -> Stack:
        stack = (await offload(request, stacks)).get(name)
        if stack is None:
            raise ApiError(404, f"this server has no stack {name!r}")
        return stack

    def base(request: Request) -> str:
        return public_base(request) + "/api"

    async def variables(request: Request, stack: Stack) -> dict[str, Any]:
        body = await request.body()
        given: dict[str, str] = {}
        if body:
            try:
                doc = json.loads(body)
            except RecursionError:
                raise ApiError(400, "the JSON body nests too deeply") from None
            except ValueError:
                raise ApiError(400, 'the body must be JSON: {"variables": {...}}') from None
            raw = doc.get("variables", {}) if isinstance(doc, dict) else None
            if not isinstance(raw, dict):
                raise ApiError(400, "variables must be a JSON object")
            given = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
        values, diags = resolve_variables(stack, given, [], os.environ)
        if diags.has_errors:
            raise ApiError(400, "; ".join(d.summary for d in diags))
        return values

    def planned(stack: Stack, values: dict[str, Any], destroy: bool = False) -> Any:
        drivers, diags = configure_drivers(stack, values, state_dir, os.environ)
        backend = LocalBackend(state_dir, stack.name)
        if diags.has_errors:
            return None, diags, drivers, backend
        result, plan_diags = plan_from_backend(
            stack, values, backend, drivers, PlanOptions(destroy=destroy)
        )
        diags.extend(plan_diags)
        return result, diags, drivers, backend

    def item(request: Request, name: str, stack: Stack) -> dict[str, Any]:
        state = LocalBackend(state_dir, name).read()
        return {
            "name": name,
            "href": views.href_of(base(request), "stacks", name),
            "file": str(stack.file),
            "digest": stack.digest,
            "resources": len(stack.resources),
            "serial": state.serial if state else None,
        }

    @app.get("/api/stacks")
    async def stacks_index(request: Request) -> Response:
        def listed() -> list[dict[str, Any]]:
            return [item(request, name, stack) for name, stack in stacks().items()]

        return JSONResponse({"stacks": await offload(request, listed)})

    @app.get("/api/stacks/{name}")
    async def stacks_show(request: Request, name: str) -> Response:
        stack = await stack_named(request, name)
        return JSONResponse({"stack": await offload(request, item, request, name, stack)})

    @app.post("/api/stacks/{name}/plan")
    async def stacks_plan(request: Request, name: str) -> Response:
        stack = await stack_named(request, name)
        values = await variables(request, stack)

        def locked_plan() -> Any:
            with LocalBackend(state_dir, stack.name).lock("plan (api)", shared=True):
                return planned(stack, values)

        result, diags, _, _ = await offload(request, locked_plan, pool=f"stack:{stack.name}")
        if result is None:
            return JSONResponse({"diagnostics": _diags_json(diags)}, status_code=400)
        return JSONResponse(plan_to_json(result))

    @app.post("/api/stacks/{name}/apply", status_code=202)
    async def stacks_apply(request: Request, name: str) -> Response:
        stack = await stack_named(request, name)
        values = await variables(request, stack)
        job = Job(uuid.uuid4().hex[:12], name)
        jobs[job.id] = job
        threading.Thread(target=run_apply, args=(job, stack, values), daemon=True).start()
        view = job.view(base(request))
        return JSONResponse({"job": view}, status_code=202, headers={"Location": view["href"]})

    def run_apply(job: Job, stack: Stack, values: dict[str, Any]) -> None:
        job.state = "running"
        job.emit("job_start", stack=stack.name)
        try:
            backend = LocalBackend(state_dir, stack.name)
            with backend.lock("apply (api)"):
                result, diags, drivers, backend = planned(stack, values)
                if result is None:
                    job.diagnostics = _diags_json(diags)
                    job.state, job.summary = "failed", "the plan failed"
                    return
                job.emit("planned", summary=result.counts())
                outcome = apply(result, drivers, backend, ApplyOptions(), JobHooks(job))
                if outcome.wrote:
                    backend.record_apply(
                        outcome.state,
                        stack.text,
                        stack.digest,
                        str(stack.file),
                        f"{whoami()} (api)",
                        outcome.summary(),
                    )
                job.summary = outcome.summary()
                job.diagnostics = _diags_json(outcome.diags)
                job.state = "failed" if outcome.failed else "succeeded"
        except StateError as exc:
            job.state, job.summary = "failed", str(exc)
        except Exception as exc:  # a bug: the job says so instead of vanishing
            job.state, job.summary = "failed", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            job.emit("job_end", state=job.state, summary=job.summary)
            job.done.set()

    def job_named(id: str) -> Job:
        if id not in jobs:
            raise ApiError(404, f"no job {id}")
        return jobs[id]

    @app.get("/api/jobs/{id}")
    async def jobs_show(request: Request, id: str) -> Response:
        return JSONResponse({"job": job_named(id).view(base(request))})

    @app.get("/api/jobs/{id}/events")
    async def jobs_events(request: Request, id: str) -> Response:
        job = job_named(id)

        async def stream() -> AsyncIterator[bytes]:
            # on the event loop, not in a thread: an idle listener holds no thread at all
            sent = 0
            while True:
                batch = job.events[sent:]
                finished = job.done.is_set()
                for event in batch:
                    yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
                sent += len(batch)
                if finished and sent >= len(job.events):
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/stacks/{name}/state")
    async def stacks_state(request: Request, name: str) -> Response:
        stack = await stack_named(request, name)
        state = await offload(request, LocalBackend(state_dir, stack.name).read)
        if state is None:
            raise ApiError(404, f"stack {name} has no state yet")
        hidden = stack_sensitivity(stack, declared_schemas(stack))
        return JSONResponse(public_state(state, hidden))

    @app.get("/api/stacks/{name}/history")
    async def stacks_history(request: Request, name: str) -> Response:
        stack = await stack_named(request, name)
        entries = await offload(request, LocalBackend(state_dir, stack.name).history)
        return JSONResponse(
            {
                "history": [
                    {
                        "serial": e.serial,
                        "applied_at": e.applied_at,
                        "digest": e.digest,
                        "file": e.file,
                        "who": e.who,
                        "summary": e.summary,
                    }
                    for e in entries
                ]
            }
        )
