"""The command line loads each command only when it runs, and says the same of it either way."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from nubes.cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.help is not None
    first_paragraph = command.help.split("\n\n")[0]
    assert " ".join(first_paragraph.split()) == COMMANDS[name][1]


def test_help_imports_no_command() -> None:
    code = (
        "import sys\n"
        "from nubes.cli.main import main\n"
        "sys.argv = ['nubes', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('nubes.engine', 'rich', "
        "'pydantic', 'jinja2', 'networkx', 'boto3')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_validate_imports_no_driver_it_does_not_use() -> None:
    code = (
        "import sys\n"
        "from nubes.cli.main import cli\n"
        "cli.get_command(None, 'validate')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('boto3', 'networkx', "
        "'fastapi', 'uvicorn', 'rich.live'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
