"""The commands that read: show, output, history, force-unlock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nubes.cli import render
from nubes.cli.outputs import print_outputs, shown_outputs
from nubes.cli.render import print_lines
from nubes.cli.session import (
    check,
    err_console,
    fail,
    handles_failures,
    json_option,
    open_session,
    out_console,
    sensitivity,
    stack_argument,
    state_dir_option,
)
from nubes.engine.plan.planfile import is_plan_file, plan_to_json, read_plan_file
from nubes.engine.sensitive import public_state


def _show_plan(result: Any) -> None:
    print_lines(out_console(), render.plan_text(result))


# ---- reading ---------------------------------------------------------------------------------


@click.command()
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
    print_outputs(shown_outputs(state.outputs, hidden))


@click.command()
@stack_argument
@click.argument("name", required=False)
@state_dir_option
@json_option
@handles_failures
def output(stack_file: str, name: str | None, state_dir: str, as_json: bool) -> None:
    """Print the stack's outputs, or one of them (with --json, its value as JSON)."""
    session = open_session(stack_file, state_dir, with_drivers=False)
    state = session.backend.read()
    outputs = shown_outputs(state.outputs, sensitivity(session)) if state else {}
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


@click.command()
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
                [{**e.to_json(), "stack_copy": e.location} for e in entries],
                indent=2,
            )
        )
        return
    if not entries:
        click.echo(f"No applies recorded for stack {session.stack.name}.")
        return
    for e in entries:
        click.echo(f"serial {e.serial:<4} {e.applied_at}  {e.digest[:19]}  {e.who}  {e.summary}")
        click.echo(f"            stack file as applied: {e.location}")


@click.command("force-unlock")
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


def register(group: click.Group) -> None:
    for command in (show, output, history, force_unlock):
        group.add_command(command)
