"""The commands that plan and change: validate, plan, apply, destroy, graph.

Each calls the engine's operations (`nubes.engine.operations`) and renders what they return.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from nubes.cli.session import (
    Fail,
    Session,
    apply_options,
    check,
    err_console,
    fail,
    given_option,
    handles_failures,
    json_option,
    lock_option,
    open_session,
    out_console,
    stack_argument,
    state_dir_option,
    var_options,
)
from nubes.engine import operations
from nubes.engine.apply import ApplyOptions, ApplyResult
from nubes.engine.backends import activity_of, open_backend
from nubes.engine.drivers import configure_drivers
from nubes.engine.gcpause import gc_paused
from nubes.engine.graph import build_graph, to_dot
from nubes.engine.plan import Plan, PlanOptions
from nubes.engine.plan.differ import base_scope
from nubes.engine.plan.planfile import is_plan_file, plan_to_json, read_plan_file, write_plan_file
from nubes.engine.state.lock import whoami


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


# ---- validate ----------------------------------------------------------------------------------


@click.command()
@stack_argument
@var_options
@state_dir_option
@json_option
@handles_failures
def validate(
    stack_file: str,
    var_pairs: tuple[str, ...],
    var_files: tuple[str, ...],
    state_dir: str,
    as_json: bool,
) -> None:
    """Check a stack without contacting any cloud: syntax, types, references, cycles, and every
    value that can be known without a cloud (evaluated, type-checked, bounds-checked)."""
    session = open_session(stack_file, state_dir, var_pairs, var_files)
    graph, diags = operations.validate(session.loaded)
    check(diags)
    assert graph is not None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "valid": True,
                    "stack": session.stack.name,
                    "instances": len(graph.instances),
                    "diagnostics": [],
                }
            )
        )
    else:
        click.echo(
            click.style("The stack is valid:", fg="green")
            + f" {session.stack.name}, {len(session.stack.resources)} resources, "
            f"{len(graph.instances)} instances.",
            color=False if os.environ.get("NO_COLOR") else None,
        )


# ---- plan ------------------------------------------------------------------------------------


def _make_plan(
    session: Session,
    options: PlanOptions,
    locking: operations.Locking = operations.Locking.HELD,
    lock_timeout: float = 0.0,
) -> Plan:
    with gc_paused():  # the CLI plans one thing at a time: nothing else runs beside it
        result, diags = operations.plan(
            session.loaded, session.backend, options, locking, lock_timeout
        )
    if result is None:
        raise Fail(diags)
    if diags:
        from nubes.cli.diagview import print_diagnostics

        print_diagnostics(err_console(), diags)
    return result


def _show_plan(result: Plan) -> None:
    from nubes.cli.render import plan_text, print_lines

    print_lines(out_console(), plan_text(result))


@click.command("plan")
@stack_argument
@var_options
@state_dir_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Save the plan; `nubes apply FILE` carries out exactly it.",
)
@click.option("--destroy", is_flag=True, help="Plan to destroy everything in state.")
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read what the clouds hold first.",
)
@click.option(
    "--allow-data-loss",
    is_flag=True,
    help="Let volumes move to a cloud that cannot take their data along (they start empty).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 with no changes, 1 on error, 2 when there are changes.",
)
@click.option(
    "--lock",
    type=bool,
    default=True,
    show_default=True,
    metavar="BOOL",
    help="Hold the state lock (shared) while planning; --lock=false plans beside a running "
    "apply, without resolving its unfinished work.",
)
@lock_option
@json_option
@handles_failures
def plan_cmd(
    stack_file: str,
    var_pairs: tuple[str, ...],
    var_files: tuple[str, ...],
    state_dir: str,
    out_file: str | None,
    destroy: bool,
    refresh: bool,
    allow_data_loss: bool,
    detailed_exitcode: bool,
    lock: bool,
    lock_timeout: float,
    as_json: bool,
) -> None:
    """Show what apply would change: refresh, diff with state, print the plan."""
    session = open_session(stack_file, state_dir, var_pairs, var_files)
    if not lock and out_file:
        raise fail(
            "--out needs the state lock: a plan made with --lock=false may miss an apply's "
            "unfinished work, so it cannot be saved"
        )
    result = _make_plan(
        session,
        PlanOptions(destroy=destroy, refresh=refresh, allow_data_loss=allow_data_loss),
        operations.Locking.SHARED if lock else operations.Locking.NONE,
        lock_timeout,
    )
    if as_json:
        click.echo(json.dumps(plan_to_json(result), indent=2))
    else:
        _show_plan(result)
    if out_file:
        write_plan_file(result, Path(out_file))
        if not as_json:
            out_console().print(
                f"\nSaved the plan to {out_file}. Apply exactly it with: nubes apply {out_file}"
            )
    if detailed_exitcode and result.has_changes:
        raise SystemExit(2)


# ---- apply and destroy -------------------------------------------------------------------------


def _confirm(auto_approve: bool, what: str) -> None:
    if auto_approve:
        return
    if not stdin_is_tty():
        raise fail(
            f"asking whether to {what} needs a terminal, and there is none to ask on",
            "run it with --auto-approve, or save a plan (nubes plan --out FILE) and apply that",
        )
    answer = click.prompt(
        f"\nDo you want to {what}? Only 'yes' will be accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        err_console().print(f"{what.capitalize()} cancelled; nothing was changed.")
        raise SystemExit(1)


def _run_apply(session: Session, result: Plan, parallelism: int, as_json: bool) -> ApplyResult:
    assert session.drivers is not None
    stop = threading.Event()
    from nubes.cli.progress import JsonProgress, LiveProgress, PlainProgress

    console = out_console()
    progress: Any
    if as_json:
        progress = JsonProgress(console)
    elif console.is_terminal:
        progress = LiveProgress(console)
    else:
        progress = PlainProgress(console)

    drivers = session.drivers

    def interrupted(signum: int, frame: Any) -> None:
        if drivers.cancel.is_set():
            os._exit(130)  # a third time: at once, whatever is in flight
        if stop.is_set():
            drivers.cancel.set()  # the clouds' waits end; the journal keeps what they made
            err_console().print(
                "\n[yellow]Stopping now:[/] no more waiting for the clouds. What they were "
                "still making is found by the next run. Ctrl-C again quits at once."
            )
            return
        stop.set()
        err_console().print(
            "\n[yellow]Interrupt received.[/] Finishing the operations in flight "
            "and saving state; press Ctrl-C again to stop waiting for them."
        )

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        outcome = operations.apply(
            result,
            session.drivers,
            session.backend,
            whoami(),
            ApplyOptions(parallelism=parallelism, stop=stop),
            progress,
            activity_of(session.store, session.state_dir),
        )
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
    if as_json:
        progress.emit(
            "change_summary",
            summary=outcome.summary(),
            failed=len(outcome.failed),
            skipped=len(outcome.skipped),
            interrupted=stop.is_set(),
        )
        outputs = {
            k: {"value": "(sensitive)" if v.sensitive else v.value, "sensitive": v.sensitive}
            for k, v in outcome.state.outputs.items()
        }
        progress.emit("outputs", outputs=outputs)
    else:
        if outcome.diags:
            from nubes.cli.diagview import print_diagnostics

            print_diagnostics(err_console(), outcome.diags)
        verb = "Destroy" if result.destroy else "Apply"
        if outcome.failed or stop.is_set():
            word = "interrupted" if stop.is_set() else "failed"
            console.print(f"\n[red bold]{verb} {word}.[/] {outcome.summary()}.")
            for op in outcome.skipped:
                console.print(f"  skipped: {op.label} ({op.kind})")
            for op in outcome.not_started:
                console.print(f"  not started: {op.label} ({op.kind})")
        else:
            console.print(f"\n[green bold]{verb} complete![/] Resources: {outcome.summary()}.")
        from nubes.cli.outputs import print_outputs

        print_outputs(outcome.state.outputs)
    if stop.is_set():
        raise SystemExit(130)
    if outcome.failed:
        raise SystemExit(1)
    return outcome


@click.command("apply")
@click.argument("target", metavar="STACK|PLANFILE", type=click.Path(dir_okay=False))
@var_options
@state_dir_option
@lock_option
@click.option(
    "--allow-data-loss",
    is_flag=True,
    help="Let volumes move to a cloud that cannot take their data along (they start empty).",
)
@apply_options
@json_option
@handles_failures
def apply_cmd(
    target: str,
    var_pairs: tuple[str, ...],
    var_files: tuple[str, ...],
    state_dir: str,
    lock_timeout: float,
    auto_approve: bool,
    allow_data_loss: bool,
    parallelism: int,
    as_json: bool,
) -> None:
    """Carry out a stack (planning it first and asking), or exactly a saved plan."""
    if is_plan_file(Path(target)):
        saved, diags = read_plan_file(Path(target))
        check(diags)
        assert saved is not None
        if var_pairs or var_files:
            raise fail("a saved plan already holds its variables; drop --var and --var-file")
        session = _session_for_plan(saved, state_dir)
        with session.backend.lock("apply", lock_timeout):
            check(operations.stale(saved, session.backend))
            _run_apply(session, saved, parallelism, as_json)
        return
    session = open_session(target, state_dir, var_pairs, var_files)
    with session.backend.lock("apply", lock_timeout):
        result = _make_plan(session, PlanOptions(allow_data_loss=allow_data_loss))
        _announce(result, as_json)
        if not result.has_changes and not result.drift:
            return
        if any(c.action.value != "no-op" for c in result.changes):
            _confirm(auto_approve, "perform these actions")
        _run_apply(session, result, parallelism, as_json)


def _announce(result: Plan, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"type": "planned", "plan": plan_to_json(result)}))
    else:
        _show_plan(result)


def _session_for_plan(saved: Plan, state_dir: str) -> Session:
    """A saved plan applies to the workspace it was made in, whatever is selected now."""
    directory = Path(state_dir)
    planned_in = saved.stack.workspace
    asked = given_option("workspace")
    if asked and asked != planned_in:
        raise fail(
            f"the plan was made in workspace {planned_in!r}, not {asked!r}",
            "a saved plan applies only to the state it was made against",
        )
    store, backend, diags = open_backend(
        saved.stack, directory, given_option("backend_config"), planned_in, os.environ
    )
    check(diags)
    assert store is not None and backend is not None
    drivers, more = configure_drivers(saved.stack, saved.variables, directory, os.environ)
    check(more)
    return Session(saved.stack, saved.variables, directory, backend, drivers, store)


@click.command()
@stack_argument
@var_options
@state_dir_option
@lock_option
@apply_options
@json_option
@handles_failures
def destroy(
    stack_file: str,
    var_pairs: tuple[str, ...],
    var_files: tuple[str, ...],
    state_dir: str,
    lock_timeout: float,
    auto_approve: bool,
    parallelism: int,
    as_json: bool,
) -> None:
    """Destroy everything the stack's state holds, dependents first."""
    session = open_session(stack_file, state_dir, var_pairs, var_files)
    with session.backend.lock("destroy", lock_timeout):
        result = _make_plan(session, PlanOptions(destroy=True))
        _announce(result, as_json)
        if not result.changes:
            return
        _confirm(auto_approve, "destroy all these resources")
        _run_apply(session, result, parallelism, as_json)


# ---- graph --------------------------------------------------------------------------------------


@click.command()
@stack_argument
@var_options
@state_dir_option
@handles_failures
def graph(
    stack_file: str, var_pairs: tuple[str, ...], var_files: tuple[str, ...], state_dir: str
) -> None:
    """Print the stack's resource instance graph as Graphviz DOT."""
    session = open_session(stack_file, state_dir, var_pairs, var_files)
    assert session.drivers is not None
    built, diags = build_graph(
        session.stack,
        session.drivers.schemas(),
        base_scope(session.stack, session.variables, session.drivers),
    )
    check(diags)
    assert built is not None
    click.echo(to_dot(built, session.stack.name, session.stack), nl=False)


def register(group: click.Group) -> None:
    for command in (validate, plan_cmd, apply_cmd, destroy, graph):
        group.add_command(command)
