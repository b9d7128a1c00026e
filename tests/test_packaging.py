"""The distribution installs one import name, `nubes`, and nothing else at the top level."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_only_the_nubes_package(tmp_path: Path) -> None:
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("nubes", "engine", "providers", "server", "cli"):
        shutil.copytree(
            ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = tmp_path / "wheels"
    offline = ["--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels)]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, str(source)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0 and "setuptools" in built.stderr.lower():
        pytest.skip(f"no setuptools in this environment to build with: {built.stderr[-200:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("nubes-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert top == {"nubes"}
    for package in ("engine", "providers", "server", "cli"):
        assert f"nubes/{package}/__init__.py" in names
    assert "nubes/engine/state/local.py" in names and "nubes/cli/main.py" in names
    assert not [n for n in names if n.startswith("nubes/") and "/tests/" in n]
