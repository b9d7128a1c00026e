"""The executor: carries out a plan's changes, in parallel, recording each one in state.

Apply never re-diffs. Values the plan knew are sent as planned; values it could not know (an id
of an object created earlier in the same apply) are evaluated from the stack once what they
depend on is done. A writer thread writes the state whenever operations have changed it (at
most every WRITE_EVERY seconds, or WRITE_PAUSE times a write's time), so writing costs the apply
the same share however many operations it carries; the journal holds every intent and every
created id before the state does, so an apply interrupted before a write loses nothing: the next
run adopts what the journal names.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nubes.engine.apply.hooks import Hooks, NoHooks, Op, OpKind
from nubes.engine.apply.ordering import operations
from nubes.engine.diag import Diagnostics, error
from nubes.engine.drivers import Drivers
from nubes.engine.graph import Outcome, walk
from nubes.engine.lang import Scope, evaluate
from nubes.engine.lang.budget import run_budget
from nubes.engine.lang.unknown import contains_unknown
from nubes.engine.plan.check import conform, value_problem
from nubes.engine.plan.differ import (
    base_scope,
    evaluate_attributes,
    instance_names,
    no_instances,
    set_value,
)
from nubes.engine.plan.model import Action, Change, Plan
from nubes.engine.state.backend import Backend
from nubes.engine.state.model import OutputState, ResourceState, State, StateError
from nubes.providers.errors import (
    CancelledError,
    CreateIncompleteError,
    NotFoundError,
    ProviderError,
    TransientError,
)
from nubes.providers.planning import same_value
from nubes.providers.protocol import CloudObject, Ownership, VolumeData


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class ApplyResult:
    state: State
    outcomes: dict[Op, Outcome]
    diags: Diagnostics
    wrote: bool = True  # whether the state file was written (an apply that did nothing: no)

    def count(self, kind: OpKind, outcome: Outcome = Outcome.DONE) -> int:
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
        added = self.count(OpKind.CREATE)
        changed = self.count(OpKind.UPDATE)
        destroyed = self.count(OpKind.DELETE)
        text = f"{added} added, {changed} changed, {destroyed} destroyed"
        extra = [f"{len(self.failed)} failed"] if self.failed else []
        if self.skipped:
            extra.append(f"{len(self.skipped)} skipped")
        if self.not_started:
            extra.append(f"{len(self.not_started)} not started")
        return text + (f"; {', '.join(extra)}" if extra else "")


class _OpFailed(Exception):
    pass


WRITE_EVERY = 0.2  # seconds at least between two of an apply's state writes
# the pause after a write, in multiples of its time: writing takes at most a tenth of the apply.
# The write's own time undercounts what it costs: its new blocks are flushed again by the
# journal's and the cloud's fsyncs, and encoding it holds the interpreter from the workers.
WRITE_PAUSE = 9


def _snapshot(state: State) -> State:
    """The state as it is now, for writing while it changes: its collections copied (each
    resource's record is replaced when it changes, never changed in place)."""
    return dataclasses.replace(
        state,
        resources=dict(state.resources),
        outputs=dict(state.outputs),
        deposed=list(state.deposed),
    )


class Executor:
    def __init__(
        self,
        plan: Plan,
        drivers: Drivers,
        backend: Backend,
        hooks: Hooks,
        stop: threading.Event | None = None,
    ) -> None:
        self.plan = plan
        self.stop = stop or threading.Event()
        # the first failure to write state or journal (a full disk): it stops the apply, since
        # nothing done after it could be recorded
        self.fatal: StateError | None = None
        self.drivers = drivers
        self.backend = backend
        self.hooks = hooks
        self.state = plan.prior.copy()
        self.state.stack_digest = plan.stack.digest
        self.journal = backend.journal
        self.lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._changes = 0
        self._written = 0
        self._to_settle: list[tuple[int, str]] = []  # (change, journal key) once written
        self._write_seconds = 0.0
        self._wake = threading.Event()
        self._closing = threading.Event()
        self.diags = Diagnostics()
        self.scope: Scope = base_scope(plan.stack, plan.variables, drivers)
        for change in plan.changes:
            res = plan.stack.resources.get(change.addr.name)
            if res is not None and change.after is not None and not change.deposed:
                set_value(self.scope.names, res, change.addr, change.after)

    def _save(self) -> None:
        """Make every change so far durable before returning (the apply's first and last
        writes)."""
        self._changed()
        self._write_now()

    def _changed(self, settle: str | None = None) -> None:
        """A change to the state, written by the writer thread soon; the journal's intent
        `settle` is settled once a write holds the change. Operations do not wait for it: what
        they did is in the journal already (intent, then the object's id), so a run killed
        before the write is finished by the next one, which adopts what the journal names."""
        with self.lock:
            self._changes += 1
            if settle is not None:
                self._to_settle.append((self._changes, settle))
        self._wake.set()

    def _write_now(self) -> None:
        """Write the state with every change so far, then settle what it made durable."""
        with self._write_lock:
            with self.lock:  # a snapshot: operations go on while it is encoded and written
                covered = self._changes
                if self._written >= covered and not self._to_settle:
                    return
                snapshot = _snapshot(self.state) if self._written < covered else None
                settle = [key for ticket, key in self._to_settle if ticket <= covered]
                self._to_settle = [(t, k) for t, k in self._to_settle if t > covered]
            if snapshot is not None:
                started = time.monotonic()
                data = self.backend.stage(snapshot)
                self.state.serial = snapshot.serial
                self.backend.commit(data)
                self._write_seconds = time.monotonic() - started
            self._written = covered
        for key in settle:
            self.journal.settled(key)

    def write_in_background(self) -> threading.Thread:
        """The writer: a write whenever something changed, at most one every `WRITE_EVERY`
        seconds or WRITE_PAUSE times the last write's time (so writing takes at most a tenth of the
        apply, however large the state). A failed write stops the apply."""

        def loop() -> None:
            while not self._closing.is_set():
                self._wake.wait()
                self._wake.clear()
                try:
                    self._write_now()
                except StateError as exc:
                    with self.lock:
                        if self.fatal is None:
                            self.fatal = exc
                            self.diags.add(error(str(exc), "the apply stopped"))
                    self.stop.set()
                    return
                self._closing.wait(max(WRITE_EVERY, WRITE_PAUSE * self._write_seconds))

        thread = threading.Thread(target=loop, name="nubes-state-writer", daemon=True)
        thread.start()
        return thread

    def stop_writing(self, thread: threading.Thread) -> None:
        self._closing.set()
        self._wake.set()
        thread.join()

    def run(self, op: Op) -> None:
        started = time.monotonic()
        if op.kind is OpKind.NOOP:
            return
        self.hooks.started(op)
        try:
            new_id = self._perform(op)
        except _OpFailed as exc:
            self.hooks.failed(op, time.monotonic() - started, str(exc))
            raise
        except StateError as exc:
            with self.lock:
                if self.fatal is None:
                    self.fatal = exc
                    self.diags.add(error(str(exc), "the apply stopped", address=op.label))
            self.stop.set()
            self.hooks.failed(op, time.monotonic() - started, str(exc))
            raise
        except ProviderError as exc:
            message = f"{op.label}: {op.kind} failed: {exc.code}: {exc}"
            with self.lock:
                self.diags.add(error(message, address=op.label))
            self.hooks.failed(op, time.monotonic() - started, message)
            raise
        except Exception as exc:  # a driver bug: report it where the user sees the operation
            message = f"{op.label}: {op.kind} failed: {type(exc).__name__}: {exc}"
            with self.lock:
                self.diags.add(
                    error(message, "this is a bug in nubes or its driver", address=op.label)
                )
            self.hooks.failed(op, time.monotonic() - started, message)
            raise
        self.hooks.finished(op, time.monotonic() - started, new_id)

    def _fail(self, op: Op, message: str) -> _OpFailed:
        with self.lock:
            self.diags.add(error(message, address=op.label))
        return _OpFailed(message)

    def _perform(self, op: Op) -> str | None:
        if op.kind is OpKind.DELETE:
            return self._delete(op.change)
        change = op.change
        desired = self._desired(op)
        if any(contains_unknown((change.after or {}).get(k)) for k in desired):
            self._replan(op, desired)
        driver = self.drivers[change.provider]
        if op.kind is OpKind.UPDATE:
            assert change.id is not None and change.before is not None
            obj = driver.update(change.type, change.id, change.before, desired)
            self._record(change, obj, self._token_of(change), {**change.before, **desired})
            return obj.id
        token = uuid.uuid4().hex
        owner = Ownership(self.plan.stack.name, str(change.addr), token)
        key = f"create:{token}"
        res = self.plan.stack.resources[change.addr.name]
        self.journal.will_create(
            str(change.addr),
            change.provider,
            change.type,
            token,
            list(change.dependencies),
            list(change.sensitive),
        )
        try:
            obj = driver.create(change.type, desired, owner, res.timeouts.get("create"))
        except CreateIncompleteError as exc:
            # it exists but is not usable: keep it in state, tainted, so the next plan replaces it
            self.journal.created(token, exc.object.id)
            self._record(change, exc.object, token, desired, tainted=True, settle=key)
            raise
        except (TransientError, CancelledError):
            raise  # it may exist: the journal keeps the intent, the next run looks for it
        except ProviderError:
            self.journal.settled(key)  # refused: nothing was created
            raise
        self.journal.created(token, obj.id)
        self._copy_volume_data(change, obj)
        self._record(change, obj, token, desired, settle=key)
        return obj.id

    def _copy_volume_data(self, change: Change, obj: CloudObject) -> None:
        """A volume moving between clouds takes its data along, where both drivers can."""
        if change.type != "volume" or not change.before_provider or change.id is None:
            return
        source = self.drivers[change.before_provider]
        target = self.drivers[change.provider]
        if isinstance(source, VolumeData) and isinstance(target, VolumeData):
            target.import_volume(obj.id, source.export_volume(change.id))

    def _delete(self, change: Change) -> str:
        provider = change.before_provider or change.provider
        type_ = change.before_type or change.type
        assert change.id is not None
        key = f"delete:{change.id}"
        self.journal.will_delete(str(change.addr), provider, type_, change.id)
        try:
            self.drivers[provider].delete(type_, change.id)
        except NotFoundError:
            pass  # already gone: the goal is reached
        except TransientError:
            raise  # it may be gone: the journal keeps the intent, the next run looks
        except ProviderError:
            self.journal.settled(key)  # refused: it still exists, and state says so
            raise
        with self.lock:
            self._forget(change.addr, change.id)
        self._changed(settle=key)
        return change.id

    def _token_of(self, change: Change) -> str | None:
        with self.lock:
            current = self.state.resources.get(change.addr)
        return current.token if current is not None else None

    def _record(
        self,
        change: Change,
        obj: CloudObject,
        token: str | None,
        sent: Mapping[str, Any],
        tainted: bool = False,
        settle: str | None = None,
    ) -> None:
        """Put an object created or updated by `change` into state, to be written soon.

        What the cloud does not report back (EC2's user data, say) stays as it was sent."""
        schema = self.drivers[change.provider].schema()[change.type]
        attributes = {k: v for k, v in sent.items() if k in schema.attrs}
        attributes.update(obj.attributes)
        with self.lock:
            rs = ResourceState(
                change.addr,
                change.type,
                change.provider,
                obj.id,
                attributes,
                list(change.dependencies),
                tainted=tainted,
                sensitive=list(change.sensitive),
                token=token,
            )
            old = self.state.resources.get(change.addr)
            if old is not None and change.action.creates_first and old.id != obj.id:
                if tainted and change.action is Action.MIGRATE:
                    # the move failed: the old instance stays in service and in state; the
                    # half-built new one is recorded, to be cleaned up by the next apply
                    self.state.deposed.append(rs)
                    rs = old
                else:
                    self.state.deposed.append(old)
            self.state.resources[change.addr] = rs
            res = self.plan.stack.resources[change.addr.name]
            set_value(self.scope.names, res, change.addr, dict(obj.attributes))
        self._changed(settle)

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
            schema = self.drivers[change.provider].schema()[change.type]
            desired.update({k: conform(schema.attrs[k], v) for k, v in values.items()})
            for k in values:
                problem = value_problem(schema.attrs[k], desired[k])
                if problem:  # known only now: checked before the cloud sees it
                    raise self._fail(op, f"{change.addr}: {change.type}.{k} {problem}")
            still = sorted(k for k in unknown if contains_unknown(desired[k]))
            if still:
                raise self._fail(
                    op, f"{change.addr}: {', '.join(still)} still unknown at apply time"
                )
        return desired

    def _replan(self, op: Op, desired: dict[str, Any]) -> None:
        """As Terraform re-plans at apply: values the plan left unknown are known now, so the
        driver plans the change again. It must still be allowed, and agree with the saved plan
        wherever the saved plan knew a value; otherwise nothing is sent to the cloud."""
        change = op.change
        prior = change.before if op.kind is OpKind.UPDATE else None
        replanned = self.drivers[change.provider].plan_change(change.type, prior, desired)
        if replanned.problems:
            found = "; ".join(f"{attr}: {message}" for attr, message in replanned.problems)
            raise self._fail(op, f"{change.addr}: with the values known at apply, {found}")
        after = change.after or {}
        for name in desired:
            was, now = after.get(name), replanned.planned.get(name, after.get(name))
            if contains_unknown(was) or contains_unknown(now) or same_value(was, now):
                continue
            raise self._fail(
                op,
                f"{change.addr}: the driver now plans {change.type}.{name} differently from "
                "the saved plan; nothing was sent. Run nubes plan again.",
            )

    def _forget(self, addr: Any, id: str) -> None:
        current = self.state.resources.get(addr)
        if current is not None and current.id == id:
            del self.state.resources[addr]
        self.state.deposed = [r for r in self.state.deposed if r.id != id]


def apply(
    plan: Plan,
    drivers: Drivers,
    backend: Backend,
    options: ApplyOptions | None = None,
    hooks: Hooks | None = None,
) -> ApplyResult:
    with run_budget():  # values evaluated at apply share one budget, as a plan's do
        return _apply(plan, drivers, backend, options or ApplyOptions(), hooks)


def _apply(
    plan: Plan,
    drivers: Drivers,
    backend: Backend,
    options: ApplyOptions,
    hooks: Hooks | None,
) -> ApplyResult:
    ex = Executor(plan, drivers, backend, hooks or NoHooks(), options.stop)
    ops, deps = operations(plan.changes, plan.prior)
    if plan.recovered or plan.state_changed:
        ex._save()  # the refreshed state, with what recovery adopted, before anything changes
    for note in plan.recovered:
        ex.journal.settled(note.intent)

    def on_skip(op: Op, cause: Op) -> None:
        (hooks or NoHooks()).skipped(op, f"{cause.label} failed")

    writer = ex.write_in_background()
    try:
        outcomes = walk(ops, deps, ex.run, options.parallelism, options.stop, on_skip)
    finally:
        ex.stop_writing(writer)
    for op, outcome in outcomes.items():
        if outcome is Outcome.FAILED and not any(d.address == op.label for d in ex.diags):
            ex.diags.add(error(f"{op.label}: {op.kind} failed", address=op.label))
    if ex.fatal is not None:
        raise ex.fatal  # what was done is in the journal; the next run resolves it
    with ex.lock:
        outputs_before = {k: (v.value, v.sensitive) for k, v in ex.state.outputs.items()}
        _record_outputs(ex, plan)
        outputs_after = {k: (v.value, v.sensitive) for k, v in ex.state.outputs.items()}
    if ex._changes or outputs_after != outputs_before or plan.serial is None:
        ex._save()  # nothing done and nothing new: the state file stays exactly as it was
    if ex.fatal is not None:
        raise ex.fatal
    if not ex.journal.intents():
        ex.journal.clear()
    return ApplyResult(ex.state, outcomes, ex.diags, wrote=ex._written > 0)


def _record_outputs(ex: Executor, plan: Plan) -> None:
    held: Scope | None = None
    for name, change in plan.outputs.items():
        if change.action is Action.DELETE:
            ex.state.outputs.pop(name, None)
            continue
        output = plan.stack.outputs[name]
        result = evaluate(output.value, ex.scope, plan.stack.at, output.path, f"output.{name}")
        if result.diags or contains_unknown(result.value):
            # something it needs failed: its value from what the state holds now, or none (the
            # last known value may name an object this apply destroyed)
            held = held or _state_scope(ex, plan)
            result = evaluate(output.value, held, plan.stack.at, output.path, f"output.{name}")
            if result.diags or contains_unknown(result.value):
                ex.state.outputs.pop(name, None)
                continue
        ex.state.outputs[name] = OutputState(result.value, change.sensitive)


def _state_scope(ex: Executor, plan: Plan) -> Scope:
    """The names expressions see after the apply, each of the stack's instances as the state
    now holds it (none for one it holds no object for); lookups as the plan found them."""
    names = dict(ex.scope.names)
    for each in plan.stack.resources.values():
        if each.lookup is None:  # a lookup keeps its value: the state never holds one
            names[each.name] = no_instances(each)
    for change in plan.changes:
        res = plan.stack.resources.get(change.addr.name)
        if res is None or res.lookup is not None or change.after is None or change.deposed:
            continue  # not an instance of the stack as it is now
        rs = ex.state.resources.get(change.addr)
        set_value(names, res, change.addr, None if rs is None else {**rs.attributes, "id": rs.id})
    return Scope(names, ex.scope.sensitive)
