"""`nubes workspace ...`, `nubes state push | pull` and `nubes backend migrate`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from nubes.cli.session import (
    Fail,
    backend_options,
    check,
    fail,
    handles_failures,
    lock_option,
    open_session,
    out_console,
    stack_argument,
    state_dir_option,
)
from nubes.engine.backends import (
    backend_config,
    chosen_workspace,
    create_workspace,
    select_workspace,
)
from nubes.engine.files import InputFileError, read_regular
from nubes.engine.stack import load_stack
from nubes.engine.state.codec import encode_state
from nubes.engine.state.settings import DEFAULT_WORKSPACE, workspace_problem
from nubes.engine.state.stores import open_store
from nubes.engine.transfer import migrate_stack, parse_pushed, push_state

MAX_PUSHED = 1024 * 1024 * 1024


def _name(name: str) -> str:
    problem = workspace_problem(name)
    if problem:
        raise fail(problem)
    return name


def register_workspace_commands(cli: click.Group) -> None:
    @cli.group("workspace")
    def workspace_group() -> None:
        """Several states of one stack (dev, staging, prod): list, new, select, show, delete."""

    @workspace_group.command("list")
    @stack_argument
    @state_dir_option
    @handles_failures
    def workspace_list(stack_file: str, state_dir: str) -> None:
        """List the stack's workspaces; * marks the one in use."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        assert session.store is not None
        for name in session.store.workspaces(session.stack.name):
            click.echo(f"{'*' if name == session.workspace else ' '} {name}")

    @workspace_group.command("show")
    @stack_argument
    @state_dir_option
    @handles_failures
    def workspace_show(stack_file: str, state_dir: str) -> None:
        """Print the workspace in use."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        click.echo(session.workspace)

    @workspace_group.command("new")
    @stack_argument
    @click.argument("name")
    @state_dir_option
    @handles_failures
    def workspace_new(stack_file: str, name: str, state_dir: str) -> None:
        """Create workspace NAME (an empty state) and select it."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        assert session.store is not None
        _name(name)
        if name in session.store.workspaces(session.stack.name):
            raise fail(f"workspace {name!r} already exists for stack {session.stack.name}")
        create_workspace(session.store, session.stack.name, name)
        select_workspace(session.state_dir, session.stack.name, name)
        out_console().print(
            f"Created and selected workspace {name!r} ({session.store.describe()})."
        )

    @workspace_group.command("select")
    @stack_argument
    @click.argument("name")
    @state_dir_option
    @handles_failures
    def workspace_select(stack_file: str, name: str, state_dir: str) -> None:
        """Use workspace NAME from now on (in this state folder)."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        assert session.store is not None
        if _name(name) not in session.store.workspaces(session.stack.name):
            raise fail(
                f"workspace {name!r} does not exist for stack {session.stack.name}",
                f"create it with `nubes workspace new {stack_file} {name}`",
            )
        select_workspace(session.state_dir, session.stack.name, name)
        out_console().print(f"Switched to workspace {name!r}.")

    @workspace_group.command("delete")
    @stack_argument
    @click.argument("name")
    @click.option("--force", is_flag=True, help="Delete it even if its state manages objects.")
    @state_dir_option
    @lock_option
    @handles_failures
    def workspace_delete(
        stack_file: str, name: str, force: bool, state_dir: str, lock_timeout: float
    ) -> None:
        """Delete workspace NAME's state (not the one in use, never the default)."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        assert session.store is not None
        if _name(name) == DEFAULT_WORKSPACE:
            raise fail("the default workspace cannot be deleted")
        if name == session.workspace:
            raise fail(
                f"workspace {name!r} is the one in use",
                f"select another first (nubes workspace select {stack_file} default)",
            )
        if name not in session.store.workspaces(session.stack.name):
            raise fail(f"workspace {name!r} does not exist for stack {session.stack.name}")
        backend = session.store.backend(session.stack.name, name)
        with backend.lock("workspace delete", lock_timeout):
            state = backend.read()
            if backend.journal.intents():
                raise fail(
                    f"workspace {name!r} has an interrupted apply's unfinished work",
                    "apply there first; nothing was deleted",
                )
            if state is not None and (state.resources or state.deposed) and not force:
                raise fail(
                    f"workspace {name!r} still manages {len(state.resources)} object(s); "
                    "nothing was deleted",
                    f"destroy them first (nubes destroy {stack_file} --workspace {name}), or "
                    "--force to leave them running unmanaged",
                )
            backend.delete()
        chosen, _ = chosen_workspace(session.state_dir, session.stack.name, None, {})
        if chosen == name:
            select_workspace(session.state_dir, session.stack.name, DEFAULT_WORKSPACE)
        out_console().print(f"Deleted workspace {name!r}.")


def add_transfer_commands(state_group: click.Group) -> None:
    @state_group.command("pull")
    @stack_argument
    @state_dir_option
    @handles_failures
    def state_pull(stack_file: str, state_dir: str) -> None:
        """Print the stack's state document, whole (it holds the objects' secrets)."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        state = session.backend.read()
        if state is None:
            raise fail(f"no state for stack {session.stack.name}: nothing applied yet")
        sys.stdout.buffer.write(encode_state(state))

    @state_group.command("push")
    @stack_argument
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--force", is_flag=True, help="Replace another lineage or a newer serial.")
    @state_dir_option
    @lock_option
    @handles_failures
    def state_push(
        stack_file: str, file: str, force: bool, state_dir: str, lock_timeout: float
    ) -> None:
        """Make FILE (a state document, - for stdin) the stack's state."""
        session = open_session(stack_file, state_dir, with_drivers=False)
        try:
            raw = (
                sys.stdin.buffer.read(MAX_PUSHED + 1)
                if file == "-"
                else read_regular(Path(file), MAX_PUSHED, "state file").encode()
            )
        except InputFileError as exc:
            raise fail(str(exc)) from None
        state = parse_pushed(raw, file, session.stack.name)
        serial = push_state(session.backend, state, force, lock_timeout)
        out_console().print(
            f"Pushed {file} to {session.backend.describe()}: serial {serial}, "
            f"{len(state.resources)} object(s)."
        )


def register_backend_commands(cli: click.Group) -> None:
    @cli.group("backend")
    def backend_group() -> None:
        """Where states live: migrate a stack's states to another backend."""

    @backend_group.command("migrate")
    @stack_argument
    @click.option(
        "--to",
        "target_file",
        required=True,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Backend config file of the destination (the keys of a backend: block).",
    )
    @click.option("--force", is_flag=True, help="Replace a different state at the destination.")
    @state_dir_option
    @lock_option
    @handles_failures
    def backend_migrate(
        stack_file: str, target_file: str, force: bool, state_dir: str, lock_timeout: float
    ) -> None:
        """Copy the stack's states (every workspace) and history to another backend."""
        stack, diags = load_stack(stack_file)
        if stack is None:
            raise Fail(diags)
        directory = Path(state_dir)
        source, _ = backend_options(stack, directory, must_exist=False)
        target, more = backend_config(None, target_file)  # the destination is the file alone
        check(more)
        destination = open_store(target, directory, os.environ)
        if destination.describe() == source.describe():
            raise fail("the destination is the backend the stack already uses; nothing to do")
        copied = migrate_stack(source, destination, stack.name, force, lock_timeout)
        console = out_console()
        for c in copied:
            console.print(
                f"Copied workspace {c.workspace}: serial {c.serial}, {c.resources} object(s), "
                f"{c.history} apply record(s)."
            )
        console.print(
            f"Migrated stack {stack.name} from {source.describe()} to {destination.describe()}; "
            "the source is unchanged. Point the stack's backend block at the destination "
            "(or pass --backend-config) before the next apply."
        )


def register(group: click.Group) -> None:
    register_workspace_commands(group)
    register_backend_commands(group)
