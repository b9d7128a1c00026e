"""The executor: carries out a plan's changes, in parallel, recording each one in state.

Apply never re-diffs. Values the plan knew are sent as planned; values it could not know (an id
of an object created earlier in the same apply) are evaluated from the stack once what they
depend on is done. State is written after every completed operation, so an interrupted apply
loses nothing it finished.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from engine.apply.hooks import Hooks, NoHooks, Op
from engine.apply.ordering import operations
from engine.diag import Diagnostics, error
from engine.drivers import Drivers
from engine.graph import Outcome, walk
from engine.lang import Scope, evaluate
from engine.lang.unknown import contains_unknown
from engine.plan.differ import base_scope, evaluate_attributes, instance_names, set_value
from engine.plan.model import Action, Plan
from engine.state.local import LocalBackend
from engine.state.model import OutputState, ResourceState, State
from providers.errors import NotFoundError, ProviderError
from providers.protocol import Ownership


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class ApplyResult:
    state: State
    outcomes: dict[Op, Outcome]
    diags: Diagnostics

    def count(self, kind: str, outcome: Outcome = Outcome.DONE) -> int:
        return sum(1 for op, o in self.outcomes.items() if op.kind == kind and o is outcome)

    @property
    def failed(self) -> list[Op]:
        return [op for op, o in self.outcomes.items() if o is Outcome.FAILED]

    @property
    def skipped(self) -> list[Op]:
        return [op for op, o in self.outcomes.items() if o is Outcome.SKIPPED]

    @property
    def not_started(self) -> list[Op]:
        return [op for op, o in self.outcomes.items() if o is Outcome.NOT_STARTED]

    def summary(self) -> str:
        added = self.count("create")
        changed = self.count("update")
        destroyed = self.count("delete")
        text = f"{added} added, {changed} changed, {destroyed} destroyed"
        extra = [f"{len(self.failed)} failed"] if self.failed else []
        if self.skipped:
            extra.append(f"{len(self.skipped)} skipped")
        if self.not_started:
            extra.append(f"{len(self.not_started)} not started")
        return text + (f"; {', '.join(extra)}" if extra else "")


class _OpFailed(Exception):
    pass


class Executor:
    def __init__(self, plan: Plan, drivers: Drivers, backend: LocalBackend, hooks: Hooks) -> None:
        self.plan = plan
        self.drivers = drivers
        self.backend = backend
        self.hooks = hooks
        self.state = plan.prior.copy()
        self.state.stack_digest = plan.stack.digest
        self.lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._changes = 0
        self._written = 0
        self.diags = Diagnostics()
        self.scope: Scope = base_scope(plan.stack, plan.variables, drivers)
        for change in plan.changes:
            res = plan.stack.resources.get(change.addr.name)
            if res is not None and change.after is not None and not change.deposed:
                set_value(self.scope.names, res, change.addr, change.after)

    def _save(self) -> None:
        """Make every change so far durable before returning.

        Group commit: operations that finish while a write is under way are all carried by the
        next write, so parallel work is not serialized behind one write per operation.
        """
        with self.lock:
            self._changes += 1
            ticket = self._changes
        with self._write_lock:
            if self._written >= ticket:
                return  # a write that began after our change already made it durable
            with self.lock:
                covered = self._changes
                data = self.backend.stage(self.state)
            self.backend.commit(data)
            self._written = covered

    def run(self, op: Op) -> None:
        started = time.monotonic()
        if op.kind == "noop":
            return
        self.hooks.started(op)
        try:
            new_id = self._perform(op)
        except _OpFailed as exc:
            self.hooks.failed(op, time.monotonic() - started, str(exc))
            raise
        except ProviderError as exc:
            message = f"{op.label}: {op.kind} failed: {exc.code}: {exc}"
            with self.lock:
                self.diags.add(error(message, address=op.label))
            self.hooks.failed(op, time.monotonic() - started, message)
            raise
        self.hooks.finished(op, time.monotonic() - started, new_id)

    def _fail(self, op: Op, message: str) -> _OpFailed:
        with self.lock:
            self.diags.add(error(message, address=op.label))
        return _OpFailed(message)

    def _perform(self, op: Op) -> str | None:
        change = op.change
        if op.kind == "delete":
            provider = change.before_provider or change.provider
            type_ = change.before_type or change.type
            assert change.id is not None
            with contextlib.suppress(NotFoundError):  # already gone: the goal is reached
                self.drivers[provider].delete(type_, change.id)
            with self.lock:
                self._forget(change.addr, change.id)
            self._save()
            return change.id
        desired = self._desired(op)
        driver = self.drivers[change.provider]
        if op.kind == "create":
            owner = Ownership(self.plan.stack.name, str(change.addr), uuid.uuid4().hex)
            obj = driver.create(change.type, desired, owner)
        else:
            assert change.id is not None and change.before is not None
            obj = driver.update(change.type, change.id, change.before, desired)
        with self.lock:
            rs = ResourceState(
                change.addr,
                change.type,
                change.provider,
                obj.id,
                obj.attributes,
                list(change.dependencies),
                sensitive=list(change.sensitive),
            )
            old = self.state.resources.get(change.addr)
            if op.kind == "create" and old is not None and change.action is Action.CREATE_DELETE:
                self.state.deposed.append(old)
            self.state.resources[change.addr] = rs
            res = self.plan.stack.resources[change.addr.name]
            set_value(self.scope.names, res, change.addr, dict(obj.attributes))
        self._save()
        return obj.id

    def _desired(self, op: Op) -> dict[str, Any]:
        change = op.change
        res = self.plan.stack.resources[change.addr.name]
        assert change.after is not None
        desired = {k: change.after.get(k) for k in res.attributes}
        unknown = {k for k, v in desired.items() if contains_unknown(v)}
        if unknown:
            diags = Diagnostics()
            with self.lock:
                names = dict(self.scope.names)
            instance_names(names, res, change.addr, change.each_value)
            local = Scope(names, self.scope.sensitive)
            values, _ = evaluate_attributes(
                res, change.addr, local, self.plan.stack, diags, only=unknown
            )
            if diags.has_errors:
                raise self._fail(op, "; ".join(d.summary for d in diags))
            desired.update(values)
            still = sorted(k for k in unknown if contains_unknown(desired[k]))
            if still:
                raise self._fail(
                    op, f"{change.addr}: {', '.join(still)} still unknown at apply time"
                )
        return desired

    def _forget(self, addr: Any, id: str) -> None:
        current = self.state.resources.get(addr)
        if current is not None and current.id == id:
            del self.state.resources[addr]
        self.state.deposed = [r for r in self.state.deposed if r.id != id]


def apply(
    plan: Plan,
    drivers: Drivers,
    backend: LocalBackend,
    options: ApplyOptions | None = None,
    hooks: Hooks | None = None,
) -> ApplyResult:
    options = options or ApplyOptions()
    ex = Executor(plan, drivers, backend, hooks or NoHooks())
    ops, deps = operations(plan.changes, plan.prior)
    ex._save()  # the refreshed state, before anything changes

    def on_skip(op: Op, cause: Op) -> None:
        (hooks or NoHooks()).skipped(op, f"{cause.label} failed")

    outcomes = walk(ops, deps, ex.run, options.parallelism, options.stop, on_skip)
    for op, outcome in outcomes.items():
        if outcome is Outcome.FAILED and not any(d.address == op.label for d in ex.diags):
            ex.diags.add(error(f"{op.label}: {op.kind} failed", address=op.label))
    with ex.lock:
        _record_outputs(ex, plan)
    ex._save()
    return ApplyResult(ex.state, outcomes, ex.diags)


def _record_outputs(ex: Executor, plan: Plan) -> None:
    for name, change in plan.outputs.items():
        if change.action is Action.DELETE:
            ex.state.outputs.pop(name, None)
            continue
        output = plan.stack.outputs[name]
        result = evaluate(output.value, ex.scope, plan.stack.at, output.path, f"output.{name}")
        if result.diags or contains_unknown(result.value):
            continue  # something it needs failed; keep the last known value
        ex.state.outputs[name] = OutputState(result.value, change.sensitive)
