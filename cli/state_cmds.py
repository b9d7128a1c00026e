"""`nubes state list|show|rm|mv` and `nubes import`: working on state by hand."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict

import click

from nubes.cli import render
from nubes.cli.session import (
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
from nubes.engine.addrs import InstanceAddr, parse_instance_addr
from nubes.engine.drivers import configure_drivers
from nubes.engine.inventory import inventory
from nubes.engine.stack import Stack, resolve_variables
from nubes.engine.state import Backend, ResourceState, State, StateError
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import STACK_TAG, Claims, CloudObject, Ownership


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
    """An address may only receive an object that the stack declares there, of its type."""
    res = stack.resources.get(addr.name)
    if res is None:
        raise fail(
            f"cannot {verb} {what} to {addr}: the stack has no resource {addr.name!r}",
            "write the resource into the stack first; nothing was changed",
        )
    if res.lookup is not None:
        raise fail(
            f"cannot {verb} {what} to {addr}: {addr.name} looks an object up, and nubes does not "
            "manage what it looks up; nothing was changed"
        )
    if res.type != type:
        raise fail(
            f"cannot {verb} {what} to {addr}: {addr.name} is a {res.type}, not a {type}",
            "an address only holds objects of its resource's type; nothing was changed",
        )
    expanded = "count" if res.count is not None else "for_each" if res.for_each is not None else ""
    fits = {
        "count": isinstance(addr.key, int),
        "for_each": isinstance(addr.key, str),
        "": addr.key is None,
    }[expanded]
    if not fits:
        raise fail(
            f"{addr} does not match how {addr.name} is declared",
            'use an index (web[0]) with count, a key (web["k"]) with for_each, '
            "and none otherwise; nothing was changed",
        )


def _check_unmanaged(state: State, stack: str, provider: str, obj: CloudObject) -> None:
    """An object is managed at one address of one stack, never two."""
    for rs in [*state.resources.values(), *state.deposed]:
        if rs.provider == provider and rs.type == obj.type and rs.id == obj.id:
            raise fail(
                f"{obj.type} {obj.id} is already managed as {rs.address}",
                "two addresses managing one object would change it twice and destroy it twice; "
                f"to give it a new address, use nubes state mv {rs.address} <new address>. "
                "Nothing was changed.",
            )
    owner = obj.tags.get(STACK_TAG)
    if owner is not None and owner not in (stack, "api"):
        raise fail(
            f"{obj.type} {obj.id} belongs to stack {owner!r} (as {obj.address or '?'})",
            f"forget it there first (nubes state rm, in stack {owner}), then import it here. "
            "Nothing was changed.",
        )


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


def _check_other_stacks(backend: Backend, provider: str, obj: CloudObject) -> None:
    """An object another stack in this state store manages (one that a cloud without tags, or
    an older nubes, left untagged) is refused too."""
    for name in backend.stack_names():
        if name == backend.stack:
            continue
        try:
            other = backend.sibling(name).read()
        except StateError:
            continue  # not a state of ours, or damaged: its own commands will say so
        if other is None:
            continue
        for rs in [*other.resources.values(), *other.deposed]:
            if rs.type == obj.type and rs.id == obj.id:
                raise fail(
                    f"{obj.type} {obj.id} is managed by stack {name!r} (as {rs.address})",
                    f"forget it there first (nubes state rm, in stack {name}), then import it "
                    "here. Nothing was changed.",
                )


def register_state_commands(cli: click.Group) -> None:
    @cli.group("state")
    def state_group() -> None:
        """Inspect and edit a stack's state (the objects nubes manages)."""

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
        res = session.stack.resources.get(addr.name)
        if res is None:
            raise fail(
                f"the stack has no resource {addr.name!r}",
                "write the resource into the stack first, then import into it",
            )
        _check_destination(session.stack, addr, res.type, "import", f"{res.type} {native_id}")
        with session.backend.lock("import", lock_timeout):
            state = session.backend.read() or State(session.stack.name)
            if addr in state.resources:
                raise fail(f"{address} is already in state (id {state.resources[addr].id})")
            try:
                obj = session.drivers[res.provider].read(res.type, native_id)
            except ProviderError as exc:
                raise fail(f"reading {res.type} {native_id} failed: {exc}") from None
            if obj is None:
                raise fail(f"provider {res.provider!r} has no {res.type} with id {native_id!r}")
            _check_unmanaged(state, session.stack.name, res.provider, obj)
            _check_other_stacks(session.backend, res.provider, obj)
            driver = session.drivers[res.provider]
            token = uuid.uuid4().hex
            if isinstance(driver, Claims):  # tagged as this stack's, as a create would have
                try:
                    driver.claim(res.type, obj.id, Ownership(session.stack.name, address, token))
                except ProviderError as exc:
                    raise fail(
                        f"tagging {res.type} {native_id} as this stack's failed: {exc}"
                    ) from None
            schema = driver.schema()[res.type]
            state.resources[addr] = ResourceState(
                addr,
                res.type,
                res.provider,
                obj.id,
                obj.attributes,
                sensitive=sorted(
                    schema.sensitive | sensitivity(session).resources.get(res.name, frozenset())
                ),
                token=token if isinstance(driver, Claims) else None,
            )
            session.backend.write(state)
        out_console().print(
            f"Imported {res.type} {native_id} as {address}. "
            "Run nubes plan to see how it differs from the stack."
        )


register = register_state_commands  # what nubes.cli.main calls when one of these commands runs
