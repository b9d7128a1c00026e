"""The layers the design draws, checked in the source: drivers never import the engine or a
front end; the engine opens no socket and prints nothing; only front ends use click and rich."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize(
    ("package", "banned"),
    [
        ("providers", ("nubes.engine", "nubes.server", "nubes.cli", "click", "rich")),
        ("engine", ("nubes.server", "nubes.cli", "click", "rich", "fastapi", "uvicorn", "httpx")),
        ("server", ("nubes.cli", "click", "rich")),
        # an emulator shares nothing with the drivers it judges, nor with any front end
        (
            "emulators",
            ("nubes.providers", "nubes.engine", "nubes.server", "nubes.cli", "click", "rich"),
        ),
    ],
)
def test_a_layer_imports_nothing_above_it(package: str, banned: tuple[str, ...]) -> None:
    wrong = [
        (where, name)
        for where, name in imports(package)
        if any(name == b or name.startswith(f"{b}.") for b in banned)
    ]
    assert wrong == []


def test_the_engine_prints_nothing_and_opens_no_socket() -> None:
    for path in sorted((ROOT / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                owner = getattr(getattr(func, "value", None), "id", "")
                assert name != "print", f"{path}:{node.lineno} prints"
                assert (owner, name) not in {
                    ("socket", "socket"),
                    ("socket", "create_connection"),
                }, f"{path}:{node.lineno} opens a socket"
