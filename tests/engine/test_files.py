"""Files a stack reads stay in its folder, judged by what was really opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.engine.files import InputFileError, read_inside, read_regular
from tests.helpers import write


def test_what_was_opened_is_checked_not_only_the_path(tmp_path: Path) -> None:
    """The path is checked, then opened: a link swapped in between (a race) is caught by
    looking at the opened file itself."""
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    (tmp_path / "secret").write_text("outside\n")
    (stack_dir / "link").symlink_to(tmp_path / "secret")  # as if swapped in after the check
    with pytest.raises(InputFileError, match="leaves the stack's folder"):
        read_regular(stack_dir / "link", 1000, inside=stack_dir.resolve())
    (stack_dir / "inner").write_text("inside\n")
    (stack_dir / "ok-link").symlink_to("inner")  # a link within the folder is fine
    assert read_inside(stack_dir, "ok-link", 1000) == "inside\n"
    with pytest.raises(InputFileError, match="leaves the stack's folder"):
        read_inside(stack_dir, "link", 1000)


def test_validate_touches_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "deep"
    write(
        tmp_path / "s.yaml",
        f"""
        nubes: 1
        name: quiet
        providers:
          home: {{driver: sim, data_dir: "{elsewhere}"}}
        resources:
          b: {{type: bucket, name: quiet-b}}
        """,
    )
    state = tmp_path / "state"
    result = CliRunner().invoke(
        cli, ["validate", str(tmp_path / "s.yaml"), "--state-dir", str(state)]
    )
    assert result.exit_code == 0, result.output
    assert not elsewhere.exists() and not (tmp_path / "elsewhere").exists()
    assert not state.exists() or not any(state.iterdir())


def test_one_failure_in_many_instances_is_said_once(tmp_path: Path) -> None:
    write(
        tmp_path / "s.yaml",
        """
        nubes: 1
        name: many
        resources:
          b: {type: bucket, count: 50, name: "${jsondecode('nope')}-${count.index}"}
        """,
    )
    result = CliRunner().invoke(
        cli, ["validate", str(tmp_path / "s.yaml"), "--state-dir", str(tmp_path / "st")]
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    assert "(and 49 more like it)" in errors[0]
