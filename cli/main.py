"""The `nubes` command line. Every command that works on a stack takes the stack file first."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from nubes import __version__
from nubes.cli import render
from nubes.cli.catalog_cmd import register_catalog_command
from nubes.cli.diagview import print_diagnostics
from nubes.cli.progress import JsonProgress, LiveProgress, PlainProgress
from nubes.cli.render import print_lines
from nubes.cli.serve_cmd import register_serve_command
from nubes.cli.session import (
    Fail,
    Session,
    apply_options,
    check,
    err_console,
    fail,
    handles_failures,
    json_option,
    lock_option,
    open_session,
    out_console,
    sensitivity,
    stack_argument,
    state_dir_option,
    var_options,
)
from nubes.cli.state_cmds import register_state_commands
from nubes.engine.apply import ApplyOptions, ApplyResult, apply
from nubes.engine.drivers import configure_drivers
from nubes.engine.graph import build_graph, to_dot
from nubes.engine.plan import Plan, PlanOptions, plan_from_backend
from nubes.engine.plan.differ import base_scope
from nubes.engine.plan.planfile import is_plan_file, plan_to_json, read_plan_file, write_plan_file
from nubes.engine.plan.validate import validate_stack
from nubes.engine.sensitive import Sensitivity, public_state
from nubes.engine.stack import digest_text
from nubes.engine.state import LocalBackend, OutputState
from nubes.engine.state.lock import whoami

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


class NubesGroup(click.Group):
    """Click, with nubes' exit codes: a usage error is an error (1), as in Terraform; click's
    own 2 would read as "changes present" to scripts using --detailed-exitcode."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort as exc:
            interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
            err_console().print("Interrupted; nothing was changed." if interrupted else "Aborted.")
            raise SystemExit(130 if interrupted else 1) from None
        except click.ClickException as exc:
            exc.show()
            raise SystemExit(1) from None
        if isinstance(code, int):
            raise SystemExit(code)
        return code


@click.group(cls=NubesGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="nubes")
def cli() -> None:
    """nubes: one declarative tool and one API for machines on many clouds.

    Write a stack (a YAML file of resources), then `nubes plan STACK` to see what would change and
    `nubes apply STACK` to make it so. State is kept under ./state (or --state-dir). The embedded
    `sim` cloud needs no credentials. Set NUBES_DEBUG=1 to see tracebacks of internal errors.
    """


# ---- validate ----------------------------------------------------------------------------------


@cli.command()
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
    assert session.drivers is not None
    graph, diags = validate_stack(session.stack, session.variables, session.drivers)
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
        out_console().print(
            f"[green]The stack is valid:[/] {session.stack.name}, "
            f"{len(session.stack.resources)} resources, "
            f"{len(graph.instances)} instances."
        )


# ---- plan ------------------------------------------------------------------------------------


def _make_plan(
    session: Session,
    destroy: bool = False,
    refresh: bool = True,
    allow_data_loss: bool = False,
    recover: bool = True,
) -> Plan:
    assert session.drivers is not None
    result, diags = plan_from_backend(
        session.stack,
        session.variables,
        session.backend,
        session.drivers,
        PlanOptions(destroy=destroy, refresh=refresh, allow_data_loss=allow_data_loss),
        recover=recover,
    )
    if result is None:
        raise Fail(diags)
    if diags:
        print_diagnostics(err_console(), diags)
    return result


def _show_plan(result: Plan) -> None:
    print_lines(out_console(), render.plan_lines(result))


@cli.command("plan")
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
    if lock:
        with session.backend.lock("plan", lock_timeout, shared=True):
            result = _make_plan(session, destroy, refresh, allow_data_loss)
    else:
        result = _make_plan(session, destroy, refresh, allow_data_loss, recover=False)
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
            f"{what} needs confirmation, and there is no terminal to ask on",
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
    console = out_console()
    progress: Any
    if as_json:
        progress = JsonProgress(console)
    elif console.is_terminal:
        progress = LiveProgress(console)
    else:
        progress = PlainProgress(console)

    def interrupted(signum: int, frame: Any) -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()
        err_console().print(
            "\n[yellow]Interrupt received.[/] Finishing the operations in flight "
            "and saving state; press Ctrl-C again to quit at once."
        )

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        outcome = apply(
            result,
            session.drivers,
            session.backend,
            ApplyOptions(parallelism=parallelism, stop=stop),
            progress,
        )
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
    if outcome.wrote:  # an apply that changed nothing leaves no trace
        session.backend.record_apply(
            outcome.state,
            result.stack.text,
            result.stack.digest,
            str(result.stack.file),
            whoami(),
            outcome.summary(),
        )
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
        _print_outputs(outcome.state.outputs)
    if stop.is_set():
        raise SystemExit(130)
    if outcome.failed:
        raise SystemExit(1)
    return outcome


def _shown_outputs(outputs: dict[str, OutputState], hidden: Sensitivity) -> dict[str, OutputState]:
    return {k: OutputState(v.value, hidden.output(k, v.sensitive)) for k, v in outputs.items()}


def _print_outputs(outputs: dict[str, Any]) -> None:
    if not outputs:
        return
    console = out_console()
    console.print("\nOutputs:\n")
    width = max(len(k) for k in outputs)
    for name, o in outputs.items():
        console.print(
            f"{name.ljust(width)} = {render.value_text(o.value, o.sensitive)}",
            highlight=False,
            markup=False,
        )


def _stale(session: Session, result: Plan) -> None:
    state = session.backend.read()
    now = (state.lineage, state.serial) if state else (None, None)
    if now != (result.lineage, result.serial):
        raise fail(
            "the saved plan is stale: the state changed since it was made",
            f"plan made against lineage {result.lineage} serial {result.serial}; the state is now "
            f"lineage {now[0]} serial {now[1]}. Run nubes plan again.",
        )
    try:
        text = Path(result.stack.file).read_text(encoding="utf-8")
    except OSError:
        text = None
    if text is not None and digest_text(text) != result.stack.digest:
        raise fail(
            f"the saved plan is stale: {result.stack.file} changed since it was made",
            "Run nubes plan again.",
        )
    pending = {i.key for i in session.backend.journal.intents()}
    if pending - {note.intent for note in result.recovered}:
        raise fail(
            "the saved plan is stale: an apply was interrupted after it was made",
            "Its unfinished work must be resolved first. Run nubes plan again.",
        )


@cli.command("apply")
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
            _stale(session, saved)
            _run_apply(session, saved, parallelism, as_json)
        return
    session = open_session(target, state_dir, var_pairs, var_files)
    with session.backend.lock("apply", lock_timeout):
        result = _make_plan(session, allow_data_loss=allow_data_loss)
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
    directory = Path(state_dir)
    drivers, diags = configure_drivers(saved.stack, saved.variables, directory, os.environ)
    check(diags)
    return Session(
        saved.stack, saved.variables, directory, LocalBackend(directory, saved.stack.name), drivers
    )


@cli.command()
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
        result = _make_plan(session, destroy=True)
        _announce(result, as_json)
        if not result.changes:
            return
        _confirm(auto_approve, "destroy all these resources")
        _run_apply(session, result, parallelism, as_json)


# ---- reading ---------------------------------------------------------------------------------


@cli.command()
@click.argument("target", metavar="STACK|PLANFILE", type=click.Path(dir_okay=False))
@state_dir_option
@json_option
@handles_failures
def show(target: str, state_dir: str, as_json: bool) -> None:
    """Show the state of a stack (secrets hidden), or a saved plan."""
    if is_plan_file(Path(target)):
        saved, diags = read_plan_file(Path(target))
        check(diags)
        assert saved is not None
        if as_json:
            click.echo(json.dumps(plan_to_json(saved), indent=2))
        else:
            _show_plan(saved)
        return
    session = open_session(target, state_dir, with_drivers=False)
    state = session.backend.read()
    if state is None:
        if as_json:
            click.echo(json.dumps({"stack": session.stack.name, "resources": [], "outputs": {}}))
        else:
            out_console().print(f"No state for stack {session.stack.name}: nothing applied yet.")
        return
    hidden = sensitivity(session)
    if as_json:
        click.echo(json.dumps(public_state(state, hidden), indent=2))
        return
    resources = sorted(state.resources.values(), key=lambda r: r.address)
    print_lines(
        out_console(),
        [line for rs in resources for line in render.resource_lines(rs, hidden.of(rs))],
    )
    _print_outputs(_shown_outputs(state.outputs, hidden))


@cli.command()
@stack_argument
@click.argument("name", required=False)
@state_dir_option
@json_option
@handles_failures
def output(stack_file: str, name: str | None, state_dir: str, as_json: bool) -> None:
    """Print the stack's outputs, or one of them (with --json, its value as JSON)."""
    session = open_session(stack_file, state_dir, with_drivers=False)
    state = session.backend.read()
    outputs = _shown_outputs(state.outputs, sensitivity(session)) if state else {}
    if name is not None:
        if name not in outputs:
            raise fail(
                f"no output named {name!r}",
                f"outputs: {', '.join(outputs) or 'none (apply the stack first)'}",
            )
        value = outputs[name]
        if as_json:
            click.echo(json.dumps(value.value))
        elif isinstance(value.value, str) and not value.sensitive:
            click.echo(value.value)
        else:
            click.echo(render.value_text(value.value, value.sensitive))
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    k: {
                        "value": "(sensitive)" if v.sensitive else v.value,
                        "sensitive": v.sensitive,
                    }
                    for k, v in outputs.items()
                }
            )
        )
        return
    for key, value in outputs.items():
        click.echo(f"{key} = {render.value_text(value.value, value.sensitive)}")


@cli.command()
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
    click.echo(to_dot(built, session.stack.name), nl=False)


@cli.command()
@stack_argument
@state_dir_option
@json_option
@handles_failures
def history(stack_file: str, state_dir: str, as_json: bool) -> None:
    """List the applies of a stack: when, by whom, which stack file version, what changed."""
    session = open_session(stack_file, state_dir, with_drivers=False)
    entries = session.backend.history()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "serial": e.serial,
                        "applied_at": e.applied_at,
                        "digest": e.digest,
                        "file": e.file,
                        "who": e.who,
                        "summary": e.summary,
                        "stack_copy": str(e.stack_file),
                    }
                    for e in entries
                ],
                indent=2,
            )
        )
        return
    if not entries:
        click.echo(f"No applies recorded for stack {session.stack.name}.")
        return
    for e in entries:
        click.echo(f"serial {e.serial:<4} {e.applied_at}  {e.digest[:19]}  {e.who}  {e.summary}")
        click.echo(f"            stack file as applied: {e.stack_file}")


@cli.command("force-unlock")
@stack_argument
@click.argument("lock_id")
@state_dir_option
@handles_failures
def force_unlock(stack_file: str, lock_id: str, state_dir: str) -> None:
    """Break the state lock LOCK_ID held by a run on another host (a shared state folder).

    A lock held on this host is never broken: its holder is alive (the lock is a kernel lock,
    released when a process dies), and stopping it is the way."""
    session = open_session(stack_file, state_dir, with_drivers=False)
    info = session.backend.force_unlock(lock_id)
    err_console().print(
        f"[yellow]Broke lock {info.id}[/], held by {info.describe()} on host {info.host}. "
        "If that run is still going, it now runs beside the next one: make sure it has stopped."
    )


register_state_commands(cli)
register_catalog_command(cli)
register_serve_command(cli)


def main() -> None:
    try:
        cli.main(prog_name="nubes")
    except Exception as exc:  # a bug: say so without a traceback unless asked for one
        if os.environ.get("NUBES_DEBUG") == "1":
            raise
        err_console().print(
            f"[red bold]internal error:[/] {type(exc).__name__}: {exc}\n"
            "This is a bug in nubes. Run with NUBES_DEBUG=1 for the traceback."
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
