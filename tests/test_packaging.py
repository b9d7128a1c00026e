"""The distribution installs one import name, `nubes`, and nothing else at the top level."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_only_the_nubes_package(tmp_path: Path) -> None:
    offline = ["--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path)]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, str(ROOT)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0 and "setuptools" in built.stderr.lower():
        pytest.skip(f"no setuptools in this environment to build with: {built.stderr[-200:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("nubes-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert top == {"nubes"}
    for package in ("engine", "providers", "server", "cli"):
        assert f"nubes/{package}/__init__.py" in names
    assert "nubes/engine/state/local.py" in names and "nubes/cli/main.py" in names
    assert not [n for n in names if n.startswith("nubes/") and "/tests/" in n]
