"""The `nubes` command line. Every command that works on a stack takes the stack file first.

Commands are imported when they run, not before: `nubes --help` costs click and this module, and
a command costs what it uses (measured in bench/cli_startup.py).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from nubes import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# name -> (the module whose `register(group)` adds it, the start of its help). The help is what
# `nubes --help` lists without importing the module; a test keeps it equal to the command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "apply": (
        "nubes.cli.run_cmds",
        "Carry out a stack (planning it first and asking), or exactly a saved plan.",
    ),
    "backend": (
        "nubes.cli.backend_cmds",
        "Where states live: migrate a stack's states to another backend.",
    ),
    "catalog": (
        "nubes.cli.catalog_cmd",
        "What each portable image, size and realm resolves to on each provider of the stack: "
        "can the stack run there?",
    ),
    "destroy": (
        "nubes.cli.run_cmds",
        "Destroy everything the stack's state holds, dependents first.",
    ),
    "emulate": (
        "nubes.cli.emulate_cmd",
        "Run an emulated CLOUD on HOST:PORT until interrupted (OpenStack: Keystone, Nova, "
        "Glance, Cinder, Neutron and Swift; Rackspace: the same with Rackspace's catalog).",
    ),
    "force-unlock": (
        "nubes.cli.read_cmds",
        "Break the state lock LOCK_ID held by a run on another host (a shared state folder).",
    ),
    "graph": ("nubes.cli.run_cmds", "Print the stack's resource instance graph as Graphviz DOT."),
    "history": (
        "nubes.cli.read_cmds",
        "List the applies of a stack: when, by whom, which stack file version, what changed.",
    ),
    "import": (
        "nubes.cli.state_cmds",
        "Bring an existing cloud object under the stack's management at ADDRESS.",
    ),
    "inventory": (
        "nubes.cli.state_cmds",
        "List every object in the stack's clouds that carries the stack's tag: managed (in "
        "state), orphan (tagged but not in state) or missing (in state but gone).",
    ),
    "output": (
        "nubes.cli.read_cmds",
        "Print the stack's outputs, or one of them (with --json, its value as JSON).",
    ),
    "plan": (
        "nubes.cli.run_cmds",
        "Show what apply would change: refresh, diff with state, print the plan.",
    ),
    "serve": (
        "nubes.cli.serve_cmd",
        "Serve Deltacloud's REST API (and stacks) in front of the configured drivers.",
    ),
    "show": ("nubes.cli.read_cmds", "Show the state of a stack (secrets hidden), or a saved plan."),
    "state": (
        "nubes.cli.state_cmds",
        "Inspect and edit a stack's state (the objects nubes manages).",
    ),
    "workspace": (
        "nubes.cli.backend_cmds",
        "Several states of one stack (dev, staging, prod): list, new, select, show, delete.",
    ),
    "validate": (
        "nubes.cli.run_cmds",
        "Check a stack without contacting any cloud: syntax, types, references, cycles, and "
        "every value that can be known without a cloud (evaluated, type-checked, "
        "bounds-checked).",
    ),
}


def _say_error(text: str) -> None:
    from nubes.cli.session import err_console

    err_console().print(text)


class NubesGroup(click.Group):
    """Click, with commands loaded on use and nubes' exit codes: a usage error is an error (1),
    as in Terraform; click's own 2 would read as "changes present" to scripts using
    --detailed-exitcode."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0]).register(self)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, click.Command(n, help=COMMANDS[n][1]).get_short_help_str(limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                # entry.py says so without importing anything (a Ctrl-C during an import leaves
                # modules half made, which _say_error's imports would trip over)
                raise KeyboardInterrupt from None
            _say_error("Aborted.")
            raise SystemExit(1) from None
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


def main() -> None:
    try:
        cli.main(prog_name="nubes")
    except Exception as exc:  # a bug: say so without a traceback unless asked for one
        if os.environ.get("NUBES_DEBUG") == "1":
            raise
        _say_error(
            f"[red bold]internal error:[/] {type(exc).__name__}: {exc}\n"
            "This is a bug in nubes. Run with NUBES_DEBUG=1 for the traceback."
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
