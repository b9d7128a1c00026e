"""Which store and workspace a command works on: the stack's `backend:` block, a
`--backend-config FILE` over it, and the workspace chosen by `--workspace`, NUBES_WORKSPACE or
`nubes workspace select` (in that order; `default` otherwise).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nubes.engine.activity import Activity, ActivityLog
from nubes.engine.diag import Diagnostics, SourceRange
from nubes.engine.files import InputFileError, read_regular
from nubes.engine.stack import Stack
from nubes.engine.stack.yamlpos import load_yaml
from nubes.engine.state.backend import Backend
from nubes.engine.state.files import ensure_private_dir, open_private
from nubes.engine.state.model import State, StateError
from nubes.engine.state.settings import (
    DEFAULT_WORKSPACE,
    BackendConfig,
    parse_backend,
    workspace_problem,
)
from nubes.engine.state.stores import Store, open_store

MAX_BACKEND_FILE = 64 * 1024


def backend_config(
    stack: Stack | None, file: str | None
) -> tuple[BackendConfig | None, Diagnostics]:
    """The stack's backend block with `file`'s keys over it (a file naming another type
    replaces the block; no stack: the file alone); None for the local folder."""
    diags = Diagnostics()
    if not file:
        return (stack.backend if stack else None), diags
    try:
        text = read_regular(Path(file), MAX_BACKEND_FILE, "backend config file")
    except InputFileError as exc:
        diags.error(str(exc))
        return None, diags
    value, pos, errors = load_yaml(text, file)
    diags.extend(errors)
    if errors:
        return None, diags
    if not isinstance(value, dict):
        diags.error(
            "a backend config file must be a mapping such as {type: s3, ...}", where=pos.at(())
        )
        return None, diags
    base: dict[str, Any] = stack.backend.to_json() if stack and stack.backend else {}
    if "type" in value and value["type"] != base.get("type"):
        base = {}
    merged = {**base, **value}

    def at(path: tuple[Any, ...]) -> SourceRange:
        if stack is None or not base or (len(path) > 1 and path[1] in value):
            return pos.at(path[1:])
        return stack.at(path)

    def key_at(path: tuple[Any, ...]) -> SourceRange:
        if stack is None or not base or (len(path) > 1 and path[1] in value):
            return pos.key_at(path[1:])
        return stack.positions.key_at(path)

    return parse_backend(merged, at, key_at, diags), diags


def _selection_file(state_dir: Path, stack: str) -> Path:
    return state_dir / f"{stack}.workspace"


def chosen_workspace(
    state_dir: Path, stack: str, given: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """The workspace and what chose it (`--workspace`, NUBES_WORKSPACE, the selection)."""
    if given:
        return given, "--workspace"
    if environ.get("NUBES_WORKSPACE"):
        return environ["NUBES_WORKSPACE"], "NUBES_WORKSPACE"
    try:
        fd = open_private(_selection_file(state_dir, stack), os.O_RDONLY, create=False)
    except (OSError, StateError):
        return DEFAULT_WORKSPACE, "the default"
    with os.fdopen(fd, "rb") as f:
        name = f.read(256).decode("utf-8", "replace").strip()
    return (
        name or DEFAULT_WORKSPACE
    ), f"nubes workspace select ({_selection_file(state_dir, stack)})"


def select_workspace(state_dir: Path, stack: str, name: str) -> None:
    path = _selection_file(state_dir, stack)
    if name == DEFAULT_WORKSPACE:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    ensure_private_dir(state_dir)
    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as f:
        f.write(name + "\n")


def open_backend(
    stack: Stack,
    state_dir: Path,
    backend_file: str | None,
    workspace: str | None,
    environ: Mapping[str, str],
    must_exist: bool = True,
) -> tuple[Store | None, Backend | None, Diagnostics]:
    """The store and the stack's backend in the chosen workspace, which must exist (the
    default always does), else diagnostics. Sets `stack.workspace`."""
    config, diags = backend_config(stack, backend_file)
    if diags.has_errors:
        return None, None, diags
    name, chosen_by = chosen_workspace(state_dir, stack.name, workspace, environ)
    problem = workspace_problem(name)
    if problem:
        diags.error(problem, f"chosen by {chosen_by}")
        return None, None, diags
    store = open_store(config, state_dir, environ)
    if must_exist and name != DEFAULT_WORKSPACE and name not in store.workspaces(stack.name):
        diags.error(
            f"workspace {name!r} does not exist for stack {stack.name} in {store.describe()}",
            f"chosen by {chosen_by}; create it with `nubes workspace new STACK {name}`, or "
            "list them with `nubes workspace list STACK`",
        )
        return None, None, diags
    stack.workspace = name
    return store, store.backend(stack.name, name), diags


def create_workspace(store: Store, stack: str, name: str) -> Backend:
    """A new, empty state of `stack` in workspace `name` (which must not exist yet)."""
    backend = store.backend(stack, name)
    with backend.lock("workspace new"):
        if backend.read() is not None:
            raise StateError(f"workspace {name!r} already exists for stack {stack}")
        backend.write(State(stack))
    return backend


def activity_of(store: Store | None, state_dir: Path) -> Activity:
    """Where changes are recorded: a PostgreSQL store's table (the team's one log), else the
    activity file of the state folder."""
    from nubes.engine.state.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        from nubes.engine.state.pgactivity import PostgresActivity

        return PostgresActivity(store)
    return ActivityLog(state_dir)
