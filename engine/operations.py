"""Validate, plan and apply as the front ends call them: the CLI, the server and the console.

Each operation is a whole step, so that no front end spells one out on its own: `load` reads a
stack, its variables and its drivers; `plan` takes the state lock it needs and resolves an
interrupted apply's intents only under it; `stale` is every check a saved plan must pass;
`apply` runs a plan and records the history of an apply that changed something. Problems come
back as diagnostics; nothing here prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nubes.engine.activity import Activity, Via
from nubes.engine.diag import Diagnostics, error
from nubes.engine.drivers import Drivers, configure_drivers
from nubes.engine.graph import Graph
from nubes.engine.plan import Plan, PlanOptions, plan_from_backend
from nubes.engine.plan.validate import validate_stack
from nubes.engine.stack import Stack, digest_text, load_stack, resolve_variables
from nubes.engine.state.backend import Backend

if TYPE_CHECKING:  # the executor is imported by apply, not by validate (CLI start-up)
    from nubes.engine.apply import ApplyOptions, ApplyResult, Hooks


@dataclass
class Loaded:
    """A stack with its variables' values and its configured drivers."""

    stack: Stack
    variables: dict[str, Any]
    drivers: Drivers
    # what reading other stacks' outputs (stack_outputs) needs: their stores' credentials
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    state_dir: Path = Path(".")


def load(
    stack_file: str | Path,
    given: Mapping[str, str],
    var_files: Iterable[str],
    environ: Mapping[str, str],
    state_dir: Path,
) -> tuple[Loaded | None, Diagnostics]:
    """Load a stack, resolve its variables (given > var files > NUBES_VAR_* > defaults) and
    configure its providers; None with the diagnostics when any of it fails."""
    stack, diags = load_stack(stack_file)
    if stack is None:
        return None, diags
    return configure(stack, given, var_files, environ, state_dir)


def configure(
    stack: Stack,
    given: Mapping[str, str],
    var_files: Iterable[str],
    environ: Mapping[str, str],
    state_dir: Path,
) -> tuple[Loaded | None, Diagnostics]:
    """The variables and drivers of a stack already loaded."""
    variables, diags = resolve_variables(stack, dict(given), list(var_files), environ)
    if diags.has_errors:
        return None, diags
    drivers, driver_diags = configure_drivers(stack, variables, state_dir, environ)
    diags.extend(driver_diags)
    if diags.has_errors:
        return None, diags
    return Loaded(stack, variables, drivers, environ, state_dir), diags


def validate(loaded: Loaded) -> tuple[Graph | None, Diagnostics]:
    """Everything that can be checked without a cloud (`nubes validate`)."""
    return validate_stack(loaded.stack, loaded.variables, loaded.drivers)


class Locking(Enum):
    """How a plan holds the state lock."""

    SHARED = "shared"  # take it shared, waiting up to the timeout; resolves interrupted work
    HELD = "held"  # the caller holds it (exclusively, to apply what it plans)
    NONE = "none"  # no lock (`--lock=false`): beside a running apply, its journal left alone


def plan(
    loaded: Loaded,
    backend: Backend,
    options: PlanOptions | None = None,
    locking: Locking = Locking.SHARED,
    lock_timeout: float = 0.0,
    operation: str = "plan",
) -> tuple[Plan | None, Diagnostics]:
    """Refresh, recover what an interrupted apply left, and diff (`nubes plan`). LockHeld
    and StateError are raised: they are about the state, not the stack."""
    if loaded.stack.stack_outputs:
        from nubes.engine.stack_outputs import read_stack_outputs

        # this plan's own copy: what it reads is never another plan's (a server plans one
        # parsed stack in several threads)
        stack = dataclasses.replace(loaded.stack, cache=dict(loaded.stack.cache))
        loaded = dataclasses.replace(loaded, stack=stack)

        read = read_stack_outputs(
            loaded.stack,
            loaded.variables,
            getattr(backend, "store", None),
            loaded.state_dir,
            loaded.environ,
        )
        if read.has_errors:  # with whatever is wrong in the stack itself
            from nubes.engine.graph import build_graph
            from nubes.engine.plan.differ import base_scope

            stack, drivers = loaded.stack, loaded.drivers
            _, more = build_graph(
                stack, drivers.schemas(), base_scope(stack, loaded.variables, drivers)
            )
            read.extend(d for d in more if d.severity == "error")
            return None, read
    args = (loaded.stack, loaded.variables, backend, loaded.drivers, options or PlanOptions())
    if locking is Locking.NONE:
        return plan_from_backend(*args, recover=False)
    if locking is Locking.HELD:
        return plan_from_backend(*args)
    with backend.lock(operation, lock_timeout, shared=True):
        return plan_from_backend(*args)


def stale(saved: Plan, backend: Backend) -> Diagnostics:
    """Why a saved plan may not be applied now (empty when it may): the state moved on, the
    stack file changed, or an apply was interrupted since. Call it holding the lock."""
    diags = Diagnostics()
    state = backend.read()
    now = (state.lineage, state.serial) if state else (None, None)
    if now != (saved.lineage, saved.serial):
        diags.add(
            error(
                "the saved plan is stale: the state changed since it was made",
                f"plan made against lineage {saved.lineage} serial {saved.serial}; the state is "
                f"now lineage {now[0]} serial {now[1]}. Run nubes plan again.",
            )
        )
        return diags
    try:
        text = Path(saved.stack.file).read_text(encoding="utf-8")
    except OSError:
        text = None  # the plan carries the stack it was made from
    if text is not None and digest_text(text) != saved.stack.digest:
        diags.add(
            error(
                f"the saved plan is stale: {saved.stack.file} changed since it was made",
                "Run nubes plan again.",
            )
        )
        return diags
    pending = {i.key for i in backend.journal.intents()}
    if pending - {note.intent for note in saved.recovered}:
        diags.add(
            error(
                "the saved plan is stale: an apply was interrupted after it was made",
                "Its unfinished work must be resolved first. Run nubes plan again.",
            )
        )
    return diags


def apply(
    planned: Plan,
    drivers: Drivers,
    backend: Backend,
    who: str,
    options: ApplyOptions | None = None,
    hooks: Hooks | None = None,
    activity: Activity | None = None,
    via: Via = Via.CLI,
) -> ApplyResult:
    """Carry out a plan (the caller holds the exclusive lock) and record it in the history and
    the activity log; an apply that changed nothing leaves no trace."""
    from nubes.engine.apply import apply as execute

    outcome = execute(planned, drivers, backend, options, hooks)
    stopped = options is not None and options.stop.is_set() and bool(outcome.not_started)
    if activity is not None and (outcome.wrote or outcome.failed or stopped):
        activity.record(
            who.removesuffix(f" ({via})"),
            via,
            "destroy" if planned.destroy else "apply",
            f"stack {planned.stack.name}",
            "failed" if outcome.failed else "stopped" if stopped else "ok",
            outcome.summary(),
        )
    if outcome.wrote:
        backend.record_apply(
            outcome.state,
            planned.stack.text,
            planned.stack.digest,
            str(planned.stack.file),
            who,
            outcome.summary(),
        )
    return outcome


def plan_and_apply(
    loaded: Loaded,
    backend: Backend,
    who: str,
    review: Callable[[Plan], bool],
    plan_options: PlanOptions | None = None,
    options: ApplyOptions | None = None,
    hooks: Hooks | None = None,
    lock_timeout: float = 0.0,
    operation: str = "apply",
    activity: Activity | None = None,
    via: Via = Via.CLI,
) -> tuple[Plan | None, ApplyResult | None, Diagnostics]:
    """Plan and apply under one exclusive lock (`nubes apply STACK`, the API's apply job).
    `review` sees the plan first; the apply runs only if it returns True and there is
    something to do."""
    with backend.lock(operation, lock_timeout):
        planned, diags = plan(loaded, backend, plan_options, Locking.HELD)
        if planned is None or not review(planned):
            return planned, None, diags
        if not planned.has_changes and not planned.drift:
            return planned, None, diags
        outcome = apply(planned, loaded.drivers, backend, who, options, hooks, activity, via)
        return planned, outcome, diags
