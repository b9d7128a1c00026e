"""What every stack command does first: load the stack, its variables, drivers and state.

Problems become `Fail(diags)`, which the command wrapper prints and turns into exit code 1
before anything is changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nubes.engine import operations
from nubes.engine.backends import open_backend
from nubes.engine.diag import Diagnostic, Diagnostics, error
from nubes.engine.drivers import Drivers
from nubes.engine.gcpause import gc_paused
from nubes.engine.operations import Loaded
from nubes.engine.sensitive import Sensitivity, declared_schemas, stack_sensitivity
from nubes.engine.stack import Stack, load_stack
from nubes.engine.state import Backend, StateError
from nubes.engine.state.stores import Store

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


class Fail(Exception):
    """Stop the command: print these diagnostics and exit with `code`."""

    def __init__(self, diags: Iterable[Diagnostic], code: int = 1) -> None:
        self.diags = list(diags)
        self.code = code
        super().__init__("; ".join(d.summary for d in self.diags))


def fail(summary: str, detail: str = "") -> Fail:
    return Fail([error(summary, detail)])


# rich is imported where output is made, not at start-up (bench/cli_startup.py)
def out_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def handles_failures(fn: F) -> F:
    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Fail as exc:
            from nubes.cli.diagview import print_diagnostics

            as_json = bool(kwargs.get("as_json"))
            print_diagnostics(out_console() if as_json else err_console(), exc.diags, as_json)
            raise SystemExit(exc.code) from None
        except StateError as exc:
            from nubes.cli.diagview import print_diagnostics

            print_diagnostics(err_console(), [error(str(exc))])
            raise SystemExit(1) from None

    return run  # type: ignore[return-value]


@dataclass
class Session:
    stack: Stack
    variables: dict[str, Any]
    state_dir: Path
    backend: Backend
    drivers: Drivers | None = None
    store: Store | None = None

    @property
    def workspace(self) -> str:
        return self.stack.workspace

    @property
    def loaded(self) -> Loaded:
        """The stack ready for the engine's operations (a session opened with drivers)."""
        if self.drivers is None:
            raise RuntimeError("this session was opened without drivers")
        return Loaded(self.stack, self.variables, self.drivers)


def parse_var_options(pairs: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise fail(f"--var {pair!r} must be written NAME=VALUE")
        out[name.strip()] = value
    return out


def open_session(
    stack_file: str,
    state_dir: str,
    var_pairs: Iterable[str] = (),
    var_files: Iterable[str] = (),
    with_drivers: bool = True,
) -> Session:
    """Load a stack; `with_drivers=False` is for commands that only read state, which need
    neither the drivers nor the variables' values."""
    with gc_paused():  # one command at a time: the whole process is this load
        stack, diags = load_stack(stack_file)
    if stack is None:
        raise Fail(diags)
    directory = Path(state_dir)
    store, backend = backend_options(stack, directory)
    if not with_drivers:
        return Session(stack, {}, directory, backend, None, store)
    given = parse_var_options(var_pairs)
    loaded, more = operations.configure(stack, given, list(var_files), os.environ, directory)
    if loaded is None:
        raise Fail(more)
    return Session(stack, loaded.variables, directory, backend, loaded.drivers, store)


def given_option(name: str) -> str | None:
    """What --backend-config or --workspace said (options every stack command takes)."""
    ctx = click.get_current_context(silent=True)
    value = ctx.meta.get(f"nubes.{name}") if ctx is not None else None
    return str(value) if value else None


def backend_options(
    stack: Stack, state_dir: Path, must_exist: bool = True
) -> tuple[Store, Backend]:
    """The store and backend the command's options, the environment and the stack choose."""
    store, backend, diags = open_backend(
        stack,
        state_dir,
        given_option("backend_config"),
        given_option("workspace"),
        os.environ,
        must_exist,
    )
    if store is None or backend is None:
        raise Fail(diags)
    return store, backend


def sensitivity(session: Session) -> Sensitivity:
    """What to hide when showing this stack's state: from the stack and the drivers' schemas
    (which need no configuring), whatever state recorded."""
    schemas = session.drivers.schemas() if session.drivers else declared_schemas(session.stack)
    return stack_sensitivity(session.stack, schemas)


def check(diags: Diagnostics) -> None:
    if diags.has_errors:
        raise Fail(diags)


# ---- shared options --------------------------------------------------------------------------


def stack_argument(fn: F) -> F:
    return click.argument("stack_file", metavar="STACK", type=click.Path(dir_okay=False))(fn)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"nubes.{param.name}"] = value
    return value


def state_dir_option(fn: F) -> F:
    """--state-dir, and where in it (or in the stack's backend) the state is: --workspace and
    --backend-config, read by open_session."""
    fn = click.option(
        "--workspace",
        metavar="NAME",
        expose_value=False,
        callback=_remember,
        help="Workspace of the state (also NUBES_WORKSPACE; else nubes workspace select's).",
    )(fn)
    fn = click.option(
        "--backend-config",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_remember,
        help="YAML file of backend settings; its keys win over the stack's backend block.",
    )(fn)
    return click.option(
        "--state-dir",
        default="state",
        envvar="NUBES_STATE_DIR",
        show_default=True,
        help="Folder holding state (also NUBES_STATE_DIR).",
    )(fn)


def var_options(fn: F) -> F:
    fn = click.option(
        "--var",
        "var_pairs",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable (repeatable); wins over --var-file and NUBES_VAR_*.",
    )(fn)
    return click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(),
        help="YAML file of variable values (repeatable).",
    )(fn)


def lock_option(fn: F) -> F:
    return click.option(
        "--lock-timeout",
        type=float,
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help="Wait this long for the state lock.",
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(fn)


def apply_options(fn: F) -> F:
    fn = click.option(
        "--parallelism",
        type=click.IntRange(1, 256),
        default=10,
        show_default=True,
        help="Operations in flight at once.",
    )(fn)
    return click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")(fn)
