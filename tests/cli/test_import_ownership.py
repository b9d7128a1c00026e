"""One object, one stack: import tags the object as the stack's, state rm takes the tag off."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.providers.protocol import DriverContext, Ownership
from nubes.providers.sim import SimDriver
from tests.helpers import write


def run(tmp: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp / "state")])
    return done.exit_code, done.output


def tags(tmp: Path, id: str) -> dict[str, str]:
    with sqlite3.connect(tmp / "state" / "sim" / "cloud.sqlite") as db:
        found = db.execute("SELECT tags FROM objects WHERE id = ?", (id,)).fetchone()
    return dict(json.loads(found[0]))


def test_import_claims_and_state_rm_releases(tmp_path: Path) -> None:
    for name in ("one", "two"):
        write(
            tmp_path / f"{name}.yaml",
            f"nubes: 1\nname: {name}\nresources:\n  b: {{type: bucket, name: x}}\n",
        )
    sim = SimDriver()
    sim.configure({}, DriverContext(tmp_path / "state", {}))
    sim.create("bucket", {"name": "shared-bkt"}, Ownership("api", "shared", "t-1"))
    one, two = str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml")
    assert run(tmp_path, "import", one, "b", "shared-bkt")[0] == 0
    assert tags(tmp_path, "shared-bkt")["nubes:stack"] == "one"
    code, out = run(tmp_path, "import", two, "b", "shared-bkt")
    assert code == 1 and "belongs to stack 'one'" in out
    assert run(tmp_path, "state", "rm", one, "b")[0] == 0
    assert "nubes:stack" not in tags(tmp_path, "shared-bkt")
    assert run(tmp_path, "import", two, "b", "shared-bkt")[0] == 0
    assert tags(tmp_path, "shared-bkt")["nubes:stack"] == "two"
