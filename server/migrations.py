"""Migration as a reviewed plan (additive to Deltacloud's API): move instances to another cloud
the way a stack's user does, by changing the resource's `provider:`, planned for review first.

* `POST /api/migrations` (JSON `{"instances": ["PROVIDER/ID", ...], "target": "PROVIDER",
  "allow_data_loss": false}`) -> 201: for each stack that manages a chosen instance, the stack
  file with the resource's `provider:` changed, planned (created on the target first, what
  depends on it moved, the source destroyed last), with the plan's diagnostics, and the
  instances that cannot be moved with the reason. An instance no stack manages is first
  imported into a stack of its own (`console-stacks/moved-PROVIDER-ID.yaml` in the state
  folder, its image by portable name and its size by CPUs and memory), which the server lists
  from then on.
* `GET /api/migrations/{id}`; `DELETE` -> 204 (discarded).
* `POST /api/migrations/{id}/apply` -> 202, a job applying exactly the reviewed plans, stack by
  stack, each checked under its lock (the state and the stack file unchanged since the review).
  A stack whose apply succeeds has its file rewritten with the new provider (so the next plan
  agrees); one whose target failed keeps its file, and its source instance stays in service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from nubes.engine import operations
from nubes.engine.apply import EventHooks
from nubes.engine.importing import import_object, other_stacks_problem
from nubes.engine.operations import Loaded
from nubes.engine.plan import Plan, PlanOptions
from nubes.engine.plan.planfile import plan_to_json
from nubes.engine.stack import Stack, digest_text, parse_stack
from nubes.engine.state import LocalBackend, StateError
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import Claims, Ownership
from nubes.server.console.inventory import portable_images as portable_names
from nubes.server.http import ApiError, api_root, bad_text
from nubes.server.kept import Kept
from nubes.server.respond import json_body
from nubes.server.stacks import Job, StackFiles, _diags_json, new_job, offload

MAX_INSTANCES = 500
MAX_KEPT = 100
KEEP_SECONDS = 3600.0
_SCALAR = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s#,{}\[\]]+")


@dataclass
class StackMove:
    stack: str
    file: Path
    original_digest: str  # of the file as it was reviewed
    text: str  # the file with the new provider
    resources: list[str]
    plan: Plan | None
    loaded: Loaded | None
    diagnostics: list[dict[str, Any]]
    adopted: Adopted | None = None  # a stack of its own, made when the migration is applied

    def view(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "file": str(self.file),
            "resources": self.resources,
            "plan": plan_to_json(self.plan) if self.plan else None,
            "diagnostics": self.diagnostics,
            "ready": self.plan is not None,
            "new_stack": self.adopted is not None,
        }


@dataclass
class Migration:
    id: str
    target: str
    who: str
    moves: list[StackMove]
    refused: list[dict[str, str]]
    allow_data_loss: bool
    made_at: float = field(default_factory=time.time)
    job: str | None = None

    def view(self, base: str) -> dict[str, Any]:
        href = f"{base}/migrations/{self.id}"
        return {
            "id": self.id,
            "href": href,
            "target": self.target,
            "made_by": self.who,
            "made_at": self.made_at,
            "allow_data_loss": self.allow_data_loss,
            "stacks": [m.view() for m in self.moves],
            "refused": self.refused,
            "applied_by_job": self.job,
            "apply": f"{href}/apply",
        }


def with_provider(stack: Stack, resource: str, target: str) -> tuple[str | None, str | None]:
    """The stack file's text with `resource`'s `provider:` set to `target`, or why not."""
    res = stack.resources.get(resource)
    if res is None:
        return None, f"the stack has no resource {resource}"
    path = (*res.path, "provider")
    if not stack.positions.written(path):
        return None, f"{resource} takes the default provider: give it a provider: line first"
    where = stack.at(path)
    lines = stack.text.split("\n")
    line = lines[where.line - 1]
    start = where.column - 1
    found = _SCALAR.match(line, start)
    if found is None or "${" in found.group(0):
        return None, f"{resource}'s provider is an expression: edit the stack to move it"
    lines[where.line - 1] = line[:start] + json.dumps(target) + line[found.end() :]
    return "\n".join(lines), None


def _write_stack(path: Path, text: str) -> None:
    """The stack file replaced atomically, keeping its mode."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plan_migration(
    files: StackFiles,
    providers: list[str],
    picked: list[str],
    target: str,
    allow_data_loss: bool,
    review_dir: Path,
) -> tuple[list[StackMove], list[dict[str, str]]]:
    """Group the chosen instances by the stack resource that manages them, and plan each stack
    with those resources moved (runs in a thread: it refreshes the clouds). An instance no stack
    manages is planned in a stack of its own, imported into a state in `review_dir`: the review
    changes no state, no stack file and no cloud."""
    managed = files.managed()
    stacks = files.stacks()
    adopted: dict[str, Adopted] = {}
    wanted: dict[str, set[str]] = {}
    refused = []
    for item in dict.fromkeys(picked):  # each once
        provider, _, id_ = item.partition("/")
        if provider not in providers or not id_ or bad_text(id_):
            refused.append({"instance": item, "reason": "name an instance as PROVIDER/ID"})
            continue
        if provider == target:
            refused.append({"instance": item, "reason": f"it is on {target} already"})
            continue
        owner = managed.get((provider, id_))
        if owner is None:
            found, why = adopt(files, provider, id_, review_dir)
            if found is None:
                refused.append({"instance": item, "reason": why})
                continue
            adopted[found.stack.name] = found
            stacks[found.stack.name] = found.stack
            owner = (found.stack.name, "server")
        owner_stack, address = owner
        wanted.setdefault(owner_stack, set()).add(address.split("[", 1)[0])
    moves = []
    for name, resources in sorted(wanted.items()):
        stack = stacks[name]
        text: str | None = stack.text
        problems = []
        if target not in stack.providers:
            problems.append(
                {
                    "severity": "error",
                    "summary": f"stack {name} declares no provider {target!r}: add it to the "
                    "stack's providers (a stack's providers match the server's by name)",
                }
            )
        for resource in sorted(resources) if not problems else ():
            assert text is not None
            edited, cannot = with_provider(_reparsed(stack, text), resource, target)
            if edited is None:
                problems.append({"severity": "error", "summary": f"{resource}: {cannot}"})
            else:
                text = edited
        move = StackMove(
            name, stack.file, stack.digest, text or "", sorted(resources), None, None, problems
        )
        move.adopted = adopted.get(name)
        moves.append(move)
        if problems:
            continue
        new_stack, diags = parse_stack(move.text, stack.file)
        if new_stack is None:
            move.diagnostics = _diags_json(diags)
            continue
        found_loaded, diags = operations.configure(
            new_stack, {}, [], files.environ, files.state_dir
        )
        if found_loaded is None:
            move.diagnostics = _diags_json(diags)
            continue
        plan, diags = operations.plan(
            found_loaded,
            move.adopted.backend if move.adopted else files.backend(name),
            PlanOptions(allow_data_loss=allow_data_loss),
            operations.Locking.SHARED,
            0.0,
            "plan (migration)",
        )
        move.plan, move.loaded, move.diagnostics = plan, found_loaded, _diags_json(diags)
    return moves, refused


ADOPTED = "console-stacks"  # the state folder's subfolder of stacks the console made


@dataclass
class Adopted:
    """A stack of its own for an instance no stack managed, as reviewed: written (file, state,
    the cloud's ownership tags) only when the migration is applied."""

    stack: Stack
    path: Path  # where its file will be
    text: str  # the stack file, the instance where it is now
    backend: LocalBackend  # the review's state (and files), with the instance imported
    provider: str
    id: str
    token: str | None


def adopt(
    files: StackFiles, provider: str, id_: str, review_dir: Path
) -> tuple[Adopted | None, str]:
    """A stack of its own for an instance no stack manages, with the instance imported into a
    state of the review's own: (adopted, "") or (None, why not)."""
    from nubes.engine.addrs import InstanceAddr
    from nubes.providers.catalog import DEFAULT_IMAGES

    driver = files.provider_drivers.get(provider)
    if driver is None or provider not in files.provider_configs:
        return None, f"no provider {provider!r}"
    try:
        obj = driver.read("instance", id_)
        profiles = {p.id: p for p in driver.hardware_profiles()}
        names = portable_names(provider, driver)
    except ProviderError as exc:
        return None, f"reading it failed: {exc.code}: {exc}"
    if obj is None:
        return None, f"{provider} has no instance {id_}"
    a = obj.attributes
    image = str(a.get("image") or "")
    portable = image if image in DEFAULT_IMAGES else names.get(str(a.get("image_id") or image))
    if portable is None:
        return None, (
            f"its image {image or '?'} has no portable name in the catalog, so no other cloud "
            "can start it: add the image to a catalog and import it into a stack yourself"
        )
    for field_, what in (("key", "key pair"), ("firewalls", "firewalls")):
        if a.get(field_):
            return None, (
                f"it uses the {what} {a[field_]}, which exist only on {provider}: write a stack "
                f"with the {what} and the instance, import both (nubes import), and migrate that"
            )
    profile = profiles.get(str(a.get("hardware_profile") or ""))
    if profile is None or isinstance(profile.cpus, tuple) or isinstance(profile.memory_gb, tuple):
        size: Any = {"cpus": a.get("cpus") or 1, "memory_gb": a.get("memory_gb") or 1}
    else:
        size = {"cpus": profile.cpus, "memory_gb": profile.memory_gb}
    name = "moved-" + re.sub(r"[^A-Za-z0-9_-]", "-", f"{provider}-{id_}")[:80]
    server: dict[str, Any] = {
        "type": "instance",
        "provider": provider,
        "name": str(a.get("name") or id_),
        "image": portable,
        "size": size,
    }
    doc = {
        "nubes": 1,
        "name": name,
        "providers": {
            n: {"driver": c.driver, **c.config} for n, c in files.provider_configs.items()
        },
        "resources": {"server": server},
    }
    import yaml

    text = f"# made by the nubes console to move {provider}/{id_}\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=False
    )
    if a.get("user_data"):  # the new one boots as the old one did: on one line, as JSON
        text += f"    user_data: {json.dumps(str(a['user_data']))}\n"
    path = files.state_dir / ADOPTED / f"{name}.yaml"
    if path.exists() or files.backend(name).read() is not None:
        return None, f"a stack {name} exists already: migrate it from its own page"
    stack, diags = parse_stack(text, path)
    if stack is None:
        return None, "; ".join(d.summary for d in diags)
    found, diags = operations.configure(stack, {}, [], files.environ, files.state_dir)
    if found is None:
        return None, "; ".join(d.summary for d in diags)
    claimed = other_stacks_problem(files.backend(name), provider, obj)
    if claimed:
        return None, claimed[0]
    backend = LocalBackend(review_dir, name)
    review_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    imported, diags = import_object(
        stack, found.drivers, backend, InstanceAddr("server"), id_, claim=False
    )
    if imported is None:
        return None, "; ".join(d.summary for d in diags)
    return Adopted(stack, path, text, backend, provider, id_, imported.token), ""


def _take_adopted(move: StackMove, files: StackFiles, job: Job) -> str | None:
    """Make an adopted stack real (call it holding its lock): the stack file, the state as
    reviewed, the cloud's ownership tags. None, or why it cannot be."""
    adopted = move.adopted
    assert adopted is not None
    backend = files.backend(move.stack)
    if move.file.exists() or backend.read() is not None:
        return f"{move.stack}: a stack of that name appeared since the review; nothing was changed"
    driver = files.provider_drivers[adopted.provider]
    try:
        obj = driver.read("instance", adopted.id)
    except ProviderError as exc:
        return f"{move.stack}: reading {adopted.id} failed: {exc}; nothing was changed"
    if obj is None:
        return f"{move.stack}: {adopted.id} is gone since the review; nothing was changed"
    claimed = other_stacks_problem(backend, adopted.provider, obj)
    if claimed:
        return f"{move.stack}: {claimed[0]}; nothing was changed"
    if isinstance(driver, Claims) and adopted.token:
        try:
            driver.claim("instance", adopted.id, Ownership(move.stack, "server", adopted.token))
        except ProviderError as exc:
            return f"{move.stack}: tagging {adopted.id} as the stack's failed: {exc}"
    move.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_new(move.file, adopted.text)
    backend.commit(adopted.backend.path.read_bytes())  # the state the plan was made against
    files.add(move.file)
    files.activity.record(
        job.who, job.via, "import", f"stack {move.stack}", "ok",
        f"server = instance {adopted.provider}/{adopted.id}",
    )  # fmt: skip
    return None


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _reparsed(stack: Stack, text: str) -> Stack:
    if text == stack.text:
        return stack
    again, _ = parse_stack(text, stack.file)
    return again or stack


def clouds_of(picked: list[str]) -> set[str]:
    return {item.partition("/")[0] for item in picked}


def review_dir(files: StackFiles, id: str) -> Path:
    """Where a review keeps the states of the stacks it would make (gone with the review)."""
    return files.state_dir / "console" / "reviews" / id


def _forget(migration: Migration) -> None:
    for move in migration.moves:
        if move.adopted is not None:
            shutil.rmtree(move.adopted.backend.state_dir, ignore_errors=True)


class Migrations:
    def __init__(self) -> None:
        self._kept: Kept[Migration] = Kept(KEEP_SECONDS, MAX_KEPT, _forget)

    def add(self, migration: Migration) -> None:
        self._kept.add(migration)

    def get(self, id: str) -> Migration:
        found = self._kept.get(id)
        if found is None:
            raise ApiError(404, f"no migration {id} (reviewed migrations are kept for an hour)")
        return found

    def take(self, id: str) -> Migration:
        found = self._kept.take(id)
        if found is None:
            raise ApiError(404, f"no migration {id}, or it is being applied or was discarded")
        return found


router = APIRouter()


def _migrations(request: Request) -> Migrations:
    found: Migrations = request.app.state.migrations
    return found


@router.post("/api/migrations", status_code=201)
async def migrations_create(request: Request) -> Response:
    doc = json_body(
        await request.body(), 'the body must be JSON: {"instances": [...], "target": "..."}'
    )
    if not isinstance(doc, dict):
        raise ApiError(400, 'the body must be a JSON object: {"instances": [...], "target": "..."}')
    picked, target = doc.get("instances"), doc.get("target")
    allow = doc.get("allow_data_loss", False)
    providers = list(request.app.state.config.providers)
    if not isinstance(picked, list) or not picked or not all(isinstance(i, str) for i in picked):
        raise ApiError(400, "instances must be a list of PROVIDER/ID strings")
    if len(picked) > MAX_INSTANCES:
        raise ApiError(400, f"at most {MAX_INSTANCES} instances in one migration")
    if not isinstance(target, str) or target not in providers:
        raise ApiError(
            400, f"target must be one of this server's providers: {', '.join(providers)}"
        )
    if not isinstance(allow, bool):
        raise ApiError(400, "allow_data_loss must be true or false")
    files: StackFiles = request.app.state.stack_files
    id_ = uuid.uuid4().hex[:12]
    moves, refused = await offload(
        request,
        plan_migration,
        files,
        providers,
        [i[:2048] for i in picked],
        target,
        allow,
        review_dir(files, id_),
        # a pool per set of clouds involved: a hung cloud holds up only migrations touching it
        pool="migrate:"
        + ",".join(sorted({p for p in clouds_of(picked) if p in providers} | {target})),
    )
    user = str(request.scope["state"].get("user") or "")
    migration = Migration(id_, target, user, moves, refused, allow)
    _migrations(request).add(migration)
    view = migration.view(api_root(request))
    return JSONResponse({"migration": view}, status_code=201, headers={"Location": view["href"]})


@router.get("/api/migrations/{id}")
async def migrations_show(request: Request, id: str) -> Response:
    return JSONResponse({"migration": _migrations(request).get(id).view(api_root(request))})


@router.delete("/api/migrations/{id}", status_code=204)
async def migrations_discard(request: Request, id: str) -> Response:
    await offload(request, _forget, _migrations(request).take(id))
    return Response(status_code=204)


@router.post("/api/migrations/{id}/apply", status_code=202)
async def migrations_apply(request: Request, id: str) -> Response:
    found = _migrations(request).get(id)
    if not any(m.plan is not None for m in found.moves):
        raise ApiError(400, "nothing in this migration can be applied: see its diagnostics")
    migration = _migrations(request).take(id)
    job = await new_job(request, ",".join(m.stack for m in migration.moves), kind="migrate")
    migration.job = job.id
    files: StackFiles = request.app.state.stack_files
    threading.Thread(target=run_migration, args=(job, migration, files), daemon=True).start()
    view = job.view(api_root(request))
    return JSONResponse({"job": view}, status_code=202, headers={"Location": view["href"]})


def run_migration(job: Job, migration: Migration, files: StackFiles) -> None:
    job.begin(migration=migration.id, target=migration.target)
    results = []
    try:
        for move in migration.moves:
            if job.stop.is_set():
                results.append(f"{move.stack}: not moved (cancelled)")
                continue
            if move.plan is None or move.loaded is None:
                results.append(f"{move.stack}: not planned")
                continue
            results.append(_apply_move(job, move, files))
        failed = any(not r.endswith("moved") for r in results)
        job.state = "failed" if failed else "succeeded"
        job.summary = "; ".join(results)
        _forget(migration)
    except Exception as exc:  # a bug: the job says so instead of vanishing
        job.state, job.summary = "failed", f"a bug in nubes: {type(exc).__name__}: {exc}"
    finally:
        job.end(files.activity)


def _apply_move(job: Job, move: StackMove, files: StackFiles) -> str:
    assert move.plan is not None and move.loaded is not None
    backend = files.backend(move.stack)
    try:
        with backend.lock(f"migrate ({job.via})"):
            if move.adopted is not None:
                cannot = _take_adopted(move, files, job)
                if cannot is not None:
                    return cannot
            # operations.stale's checks, but against the file as reviewed (the plan's stack is
            # the edited copy, which is written only after the apply)
            state = backend.read()
            now = (state.lineage, state.serial) if state else (None, None)
            on_disk = digest_text(move.file.read_text(encoding="utf-8"))
            if now != (move.plan.lineage, move.plan.serial) or on_disk != move.original_digest:
                job.emit("stale", stack=move.stack)
                return (
                    f"{move.stack}: the state or the stack file changed since the review; "
                    "nothing was changed"
                )
            if backend.journal.intents():
                return f"{move.stack}: an interrupted apply must be resolved first (plan it)"
            outcome = operations.apply(
                move.plan,
                move.loaded.drivers,
                backend,
                f"{job.who} ({job.via})",
                job.options(),
                EventHooks(job.add),
                files.activity,
                job.via,
            )
            job.diagnostics.extend(_diags_json(outcome.diags))
            if outcome.failed:
                return (
                    f"{move.stack}: {outcome.summary()}; the target failed, the source instances "
                    "stay in service and the stack file is unchanged"
                )
            try:
                _write_stack(move.file, move.text)
            except OSError as exc:
                return (
                    f"{move.stack}: {outcome.summary()}; moved, but {move.file} could not be "
                    f"rewritten ({exc.strerror}): set its provider: by hand, or the next plan "
                    "moves it back"
                )
            return f"{move.stack}: {outcome.summary()}; moved"
    except (StateError, OSError) as exc:
        return f"{move.stack}: {exc}"
