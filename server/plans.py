"""Reviewed plans (additive to Deltacloud's API): plan a stack, look at the plan, then apply
exactly it or discard it, as `nubes plan --out FILE` and `nubes apply FILE` do.

* `POST /api/stacks/{name}/plans` (body: optional `{"variables": {...}}`) -> 201, the plan.
* `GET /api/stacks/{name}/plans/{id}` -> the plan; `DELETE` -> 204 (discarded).
* `POST /api/stacks/{name}/plans/{id}/apply` -> 202, a job that applies that plan and nothing
  else: under the stack's lock it is checked as a saved plan file is (the state, the stack file
  and the journal must not have moved since); a stale plan fails the job and changes nothing.

A plan is kept for `KEEP_SECONDS` or until applied or discarded; the server keeps at most
`MAX_PLANS`, dropping the oldest.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from nubes.engine import operations
from nubes.engine.apply import EventHooks
from nubes.engine.drivers import Drivers
from nubes.engine.plan import Plan
from nubes.engine.plan.planfile import plan_to_json
from nubes.engine.state import StateError
from nubes.server.http import ApiError, api_root
from nubes.server.kept import Kept
from nubes.server.stacks import (
    Job,
    StackFiles,
    _diags_json,
    new_job,
    offload,
    plan_named,
)

KEEP_SECONDS = 3600.0
MAX_PLANS = 200


@dataclass
class Reviewed:
    id: str
    stack: str
    plan: Plan
    drivers: Drivers | None  # None: a review another server made (configured when applied)
    who: str
    made_at: float = field(default_factory=time.time)
    job: str | None = None  # the job that applied it

    def view(self, base: str) -> dict[str, Any]:
        href = f"{base}/stacks/{self.stack}/plans/{self.id}"
        return {
            "id": self.id,
            "href": href,
            "stack": self.stack,
            "made_at": self.made_at,
            "made_by": self.who,
            "lineage": self.plan.lineage,
            "serial": self.plan.serial,
            "applied_by_job": self.job,
            "apply": f"{href}/apply",
            "plan": plan_to_json(self.plan),
        }


class Plans:
    """This server's reviewed plans, in memory (nubes.server.shared.plans keeps them in a
    database every server shares). `get` and `take` block: call them in a thread."""

    def __init__(self) -> None:
        self._kept: Kept[Reviewed] = Kept(KEEP_SECONDS, MAX_PLANS)

    def add(self, reviewed: Reviewed) -> None:
        self._kept.add(reviewed)

    def get(self, stack: str, id: str) -> Reviewed:
        found = self._kept.get(id)
        if found is None or found.stack != stack:
            raise ApiError(404, f"stack {stack} has no plan {id} (plans are kept for an hour)")
        return found

    def take(self, stack: str, id: str) -> Reviewed:
        """The plan, removed: a plan is applied once."""
        self.get(stack, id)
        found = self._kept.take(id)
        if found is None:
            raise ApiError(404, f"plan {id} is being applied or was discarded")
        return found

    def close(self) -> None:
        pass


router = APIRouter()


def _plans(request: Request) -> Plans:
    plans: Plans = request.app.state.plans
    return plans


@router.post("/api/stacks/{name}/plans", status_code=201)
async def plans_create(request: Request, name: str) -> Response:
    found, result, diags = await plan_named(request, name)
    if result is None:
        return JSONResponse({"diagnostics": _diags_json(diags)}, status_code=400)
    user = str(request.scope["state"].get("user") or "")
    reviewed = Reviewed(uuid.uuid4().hex[:12], name, result, found.drivers, user)
    await offload(request, _plans(request).add, reviewed, pool="jobs")
    view = reviewed.view(api_root(request))
    return JSONResponse({"plan": view}, status_code=201, headers={"Location": view["href"]})


@router.get("/api/stacks/{name}/plans/{id}")
async def plans_show(request: Request, name: str, id: str) -> Response:
    reviewed = await offload(request, _plans(request).get, name, id[:64], pool="jobs")
    return JSONResponse({"plan": reviewed.view(api_root(request))})


@router.delete("/api/stacks/{name}/plans/{id}", status_code=204)
async def plans_discard(request: Request, name: str, id: str) -> Response:
    await offload(request, _plans(request).take, name, id[:64], pool="jobs")
    return Response(status_code=204)


@router.post("/api/stacks/{name}/plans/{id}/apply", status_code=202)
async def plans_apply(request: Request, name: str, id: str) -> Response:
    files: StackFiles = request.app.state.stack_files
    reviewed = await offload(request, _plans(request).take, name, id[:64], pool="jobs")
    job = await new_job(request, name)
    reviewed.job = job.id
    threading.Thread(target=apply_reviewed, args=(job, reviewed, files), daemon=True).start()
    view = job.view(api_root(request))
    return JSONResponse({"job": view}, status_code=202, headers={"Location": view["href"]})


def apply_reviewed(job: Job, reviewed: Reviewed, files: StackFiles) -> None:
    """Apply one reviewed plan, checked under the lock as a saved plan file is."""
    job.begin(plan=reviewed.id)
    backend = files.backend(reviewed.stack)
    try:
        with backend.lock(f"apply ({job.via})"):
            problems = operations.stale(reviewed.plan, backend)
            if problems.has_errors:
                job.diagnostics = _diags_json(problems)
                job.state, job.summary = "failed", next(iter(problems)).summary
                return
            job.emit("planned", summary=reviewed.plan.counts())
            drivers = reviewed.drivers or files.drivers_for(reviewed.plan)
            if drivers is None:
                job.state, job.summary = "failed", "the plan's providers cannot be configured"
                return
            outcome = operations.apply(
                reviewed.plan,
                drivers,
                backend,
                f"{job.who} ({job.via})",
                job.options(),
                EventHooks(job.add),
                files.activity,
                job.via,
            )
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
