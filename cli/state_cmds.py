"""`nubes state list|show|rm|mv` and `nubes import`: working on state by hand."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import click

from nubes.cli import render
from nubes.cli.backend_cmds import add_transfer_commands
from nubes.cli.session import (
    Fail,
    Session,
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
from nubes.engine.activity import Via
from nubes.engine.addrs import InstanceAddr, parse_instance_addr
from nubes.engine.backends import activity_of
from nubes.engine.drivers import configure_drivers
from nubes.engine.importing import destination_problem, import_object
from nubes.engine.inventory import inventory
from nubes.engine.stack import Stack, resolve_variables
from nubes.engine.state import ResourceState, State
from nubes.engine.state.lock import whoami
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import Claims


def _addr(text: str) -> InstanceAddr:
    addr = parse_instance_addr(text)
    if addr is None:
        raise fail(f"{text!r} is not a resource address", 'write it like web, web[0] or web["eu"]')
    return addr


def _state(session_state: State | None, stack: str) -> State:
    if session_state is None:
        raise fail(f"no state for stack {stack}: nothing applied yet")
    return session_state


def _check_destination(stack: Stack, addr: InstanceAddr, type: str, verb: str, what: str) -> None:
    problem = destination_problem(stack, addr, type, verb, what)
    if problem:
        raise fail(*problem)


def _release_tags(session: Session, removed: list[ResourceState]) -> None:
    """Forgotten objects belong to no stack any more: their ownership tags go, where the cloud
    can be reached (else they stay, and `nubes inventory` lists them as orphans)."""
    variables, diags = resolve_variables(session.stack, {}, [], os.environ)
    drivers, more = configure_drivers(session.stack, variables, session.state_dir, os.environ)
    if diags.has_errors or more.has_errors:
        err_console().print("The cloud was not asked to untag them (its provider is not usable).")
        return
    for rs in removed:
        driver = drivers.by_provider.get(rs.provider)
        if not isinstance(driver, Claims):
            continue
        try:
            driver.unclaim(rs.type, rs.id)
        except ProviderError as exc:
            err_console().print(f"{rs.address}: its ownership tags stay ({exc.code}: {exc}).")


def _record(session: Session, action: str, detail: str) -> None:
    """The change in the activity log the console shows."""
    activity_of(session.store, session.state_dir).record(
        whoami(), Via.CLI, action, f"stack {session.stack.name}", "ok", detail
    )


def register_state_commands(cli: click.Group) -> None:
    @cli.group("state")
    def state_group() -> None:
        """Inspect and edit a stack's state (the objects nubes manages)."""

    add_transfer_commands(state_group)

    @state_group.command("list")
    @stack_argument
    @state_dir_option
    @json_option
    @handles_failures
    def state_list(stack_file: str, state_dir: str, as_json: bool) -> None:
        """List the addresses in state."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        state = session.backend.read()
        resources = sorted(state.resources.values(), key=lambda r: r.address) if state else []
        if as_json:
            click.echo(
                json.dumps(
                    [
                        {
                            "address": str(r.address),
                            "type": r.type,
                            "provider": r.provider,
                            "id": r.id,
                        }
                        for r in resources
                    ]
                )
            )
            return
        for r in resources:
            click.echo(str(r.address))

    @state_group.command("show")
    @stack_argument
    @click.argument("address")
    @state_dir_option
    @handles_failures
    def state_show(stack_file: str, address: str, state_dir: str) -> None:
        """Show one object in state (secrets hidden)."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        state = _state(session.backend.read(), session.stack.name)
        rs = state.resources.get(_addr(address))
        if rs is None:
            raise fail(f"{address} is not in state")
        render.print_lines(out_console(), render.resource_lines(rs, sensitivity(session).of(rs)))

    @state_group.command("rm")
    @stack_argument
    @click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
    @state_dir_option
    @lock_option
    @handles_failures
    def state_rm(
        stack_file: str, addresses: tuple[str, ...], state_dir: str, lock_timeout: float
    ) -> None:
        """Forget objects: they stay in the cloud, but nubes no longer manages them."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        wanted = [_addr(a) for a in addresses]
        with session.backend.lock("state rm", lock_timeout):
            state = _state(session.backend.read(), session.stack.name)
            missing = [str(a) for a in wanted if a not in state.resources]
            if missing:
                raise fail(f"not in state: {', '.join(missing)}; nothing was changed")
            removed = []
            for addr in wanted:
                rs = state.resources.pop(addr)
                removed.append(rs)
                out_console().print(f"Removed {addr} ({rs.type} {rs.id}) from state.")
            session.backend.write(state)
            _record(session, "state rm", ", ".join(map(str, wanted)))
            _release_tags(session, removed)

    @state_group.command("mv")
    @stack_argument
    @click.argument("source")
    @click.argument("destination")
    @state_dir_option
    @lock_option
    @handles_failures
    def state_mv(
        stack_file: str, source: str, destination: str, state_dir: str, lock_timeout: float
    ) -> None:
        """Give an object in state a new address (after renaming it in the stack)."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        src, dst = _addr(source), _addr(destination)
        with session.backend.lock("state mv", lock_timeout):
            state = _state(session.backend.read(), session.stack.name)
            if src not in state.resources:
                raise fail(f"{source} is not in state")
            if dst in state.resources:
                raise fail(f"{destination} is already in state; nothing was changed")
            rs = state.resources[src]
            _check_destination(session.stack, dst, rs.type, "move", f"{source} ({rs.type})")
            del state.resources[src]
            rs.address = dst
            state.resources[dst] = rs
            for other in state.resources.values():
                other.dependencies = [destination if d == source else d for d in other.dependencies]
            session.backend.write(state)
            _record(session, "state mv", f"{source} -> {destination}")
            out_console().print(f"Moved {source} to {destination}.")

    @cli.command("inventory")
    @stack_argument
    @var_options
    @state_dir_option
    @json_option
    @handles_failures
    def inventory_cmd(
        stack_file: str,
        var_pairs: tuple[str, ...],
        var_files: tuple[str, ...],
        state_dir: str,
        as_json: bool,
    ) -> None:
        """List every object in the stack's clouds that carries the stack's tag: managed (in
        state), orphan (tagged but not in state) or missing (in state but gone)."""
        session = open_session(stack_file, state_dir, var_pairs, var_files)
        assert session.drivers is not None
        items, diags = inventory(session.stack.name, session.backend.read(), session.drivers)
        check(diags)
        if as_json:
            click.echo(json.dumps([asdict(i) for i in items], indent=2))
            return
        if not items:
            click.echo(f"No objects carry the tag of stack {session.stack.name}.")
            return
        widths = [max(len(getattr(i, f)) for i in items) for f in ("status", "address", "type")]
        for i in items:
            click.echo(
                f"{i.status:<{widths[0]}}  {i.address:<{widths[1]}}  {i.type:<{widths[2]}}  "
                f"{i.provider}  {i.id}"
            )
        counts = {
            s: sum(1 for i in items if i.status == s) for s in ("managed", "orphan", "missing")
        }
        click.echo(
            f"\n{counts['managed']} managed, {counts['orphan']} orphan, "
            f"{counts['missing']} missing."
        )

    @cli.command("import")
    @stack_argument
    @click.argument("address")
    @click.argument("native_id", metavar="ID")
    @var_options
    @state_dir_option
    @lock_option
    @handles_failures
    def import_cmd(
        stack_file: str,
        address: str,
        native_id: str,
        var_pairs: tuple[str, ...],
        var_files: tuple[str, ...],
        state_dir: str,
        lock_timeout: float,
    ) -> None:
        """Bring an existing cloud object under the stack's management at ADDRESS."""
        session = open_session(stack_file, state_dir, var_pairs, var_files)
        assert session.drivers is not None
        addr = _addr(address)
        hidden = sensitivity(session).resources.get(addr.name, frozenset())
        imported, diags = import_object(
            session.stack, session.drivers, session.backend, addr, native_id, hidden, lock_timeout
        )
        if imported is None:
            raise Fail(diags)
        res = session.stack.resources[addr.name]
        _record(session, "import", f"{address} = {res.type} {native_id}")
        out_console().print(
            f"Imported {res.type} {native_id} as {address}. "
            "Run nubes plan to see how it differs from the stack."
        )


register = register_state_commands  # what nubes.cli.main calls when one of these commands runs
