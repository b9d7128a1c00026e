from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
