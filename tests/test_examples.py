"""Every example stack under stacks/ loads and validates without touching a cloud."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli

STACKS = sorted((Path(__file__).resolve().parents[1] / "stacks").glob("*.yaml"))


@pytest.mark.parametrize("stack", STACKS, ids=[s.stem for s in STACKS])
def test_example_validates(stack: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["validate", str(stack), "--state-dir", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "The stack is valid" in result.output
