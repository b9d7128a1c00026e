"""What the machine does to nubes (a full disk, a read-only or looping state folder, a damaged or
foreign state file) is a clear error naming the path and what to do: exit 1, no traceback, no
"internal error", and nothing written. Tests that need a file system of their own mount a tmpfs
and skip, saying so, where mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import write

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "nubes_child.py"


def stack_text(data_dir: Path, count: int = 3) -> str:
    return f"""
nubes: 1
name: env
providers:
  home: {{driver: sim, data_dir: "{data_dir}"}}
resources:
  b: {{type: bucket, count: {count}, name: "env-${{count.index}}"}}
"""


def nubes(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nubes", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )


def clean_failure(done: subprocess.CompletedProcess[str], wanted: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert wanted in out, out
    assert "Traceback" not in out and "internal error" not in out and "bug in nubes" not in out


def cloud(data_dir: Path) -> list[str]:
    db = data_dir / "cloud.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return sorted(json.loads(r[0])["name"] for r in conn.execute("SELECT attrs FROM objects"))


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.suffix != ".lock"
    }


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB file system of the test's own."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
    return filler


def test_a_read_only_state_folder(tmp_path: Path, tmpfs: Path) -> None:
    data = tmp_path / "cloud"
    write(tmp_path / "s.yaml", stack_text(data, 2))
    assert (
        nubes(tmp_path, "apply", "s.yaml", "--auto-approve", "--state-dir", str(tmpfs)).returncode
        == 0
    )
    write(tmp_path / "s.yaml", stack_text(data, 3))
    before, objects = files(tmpfs), cloud(data)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    done = nubes(tmp_path, "apply", "s.yaml", "--auto-approve", "--state-dir", str(tmpfs))
    clean_failure(done, "read-only")
    assert str(tmpfs) in done.stderr
    assert files(tmpfs) == before and cloud(data) == objects
    planned = nubes(tmp_path, "plan", "s.yaml", "--state-dir", str(tmpfs))
    assert planned.returncode == 0, planned.stderr  # reading still works
    assert "1 to add" in planned.stdout


def test_a_full_disk_before_the_apply_changes_nothing(tmp_path: Path, tmpfs: Path) -> None:
    data = tmp_path / "cloud"
    write(tmp_path / "s.yaml", stack_text(data))
    (tmpfs / "state").mkdir()
    fill(tmpfs)
    done = nubes(tmp_path, "apply", "s.yaml", "--auto-approve", "--state-dir", str(tmpfs / "state"))
    clean_failure(done, "the disk is full")
    assert cloud(data) == []


def test_a_disk_filling_up_mid_apply_then_one_apply_converges(tmp_path: Path, tmpfs: Path) -> None:
    data = tmp_path / "cloud"
    write(tmp_path / "s.yaml", stack_text(data))
    state = tmpfs / "state"
    release = tmp_path / "release"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            "--stall-creates",
            str(release),
            "--",
            "apply",
            "s.yaml",
            "--auto-approve",
            "--parallelism",
            "1",
            "--state-dir",
            str(state),
        ],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "stalled").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    filler = fill(tmpfs)
    release.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "the disk is full" in out + err and "Traceback" not in out + err
    assert "bug in nubes" not in out + err
    filler.unlink()
    again = nubes(tmp_path, "apply", "s.yaml", "--auto-approve", "--state-dir", str(state))
    assert again.returncode == 0, again.stdout + again.stderr
    assert cloud(data) == ["env-0", "env-1", "env-2"]  # nothing duplicated
    check = nubes(tmp_path, "plan", "s.yaml", "--detailed-exitcode", "--state-dir", str(state))
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_state_folder_that_is_a_symlink_loop(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", stack_text(tmp_path / "cloud"))
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for command in (["plan", "s.yaml"], ["apply", "s.yaml", "--auto-approve"]):
        done = nubes(tmp_path, *command, "--state-dir", "loop")
        clean_failure(done, "loop")
    assert cloud(tmp_path / "cloud") == []


BAD_STATES = [
    ("nested", "[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ("format true", '{"format": true, "serial": 1, "lineage": "x", "stack": "env"}', "not a nubes"),
    ("serial text", '{"format": 2, "serial": "7", "lineage": "x", "stack": "env"}', "serial"),
    ("other stack", '{"format": 2, "serial": 1, "lineage": "x", "stack": "web"}', "stack 'web'"),
    ("format 0", '{"format": 0, "serial": 1, "lineage": "x", "stack": "env"}', "not a nubes"),
    (
        "resource id number",
        '{"format": 2, "serial": 1, "lineage": "x", "stack": "env", "resources": '
        '[{"address": "b[0]", "type": "bucket", "provider": "home", "id": 5}]}',
        "resources[0].id must be a string",
    ),
]


@pytest.mark.parametrize(("name", "text", "wanted"), BAD_STATES, ids=[b[0] for b in BAD_STATES])
def test_a_damaged_state_file_is_refused(tmp_path: Path, name: str, text: str, wanted: str) -> None:
    write(tmp_path / "s.yaml", stack_text(tmp_path / "cloud"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "env.json").write_text(text)
    before = files(tmp_path / "state")
    for command in (["plan", "s.yaml"], ["apply", "s.yaml", "--auto-approve"], ["show", "s.yaml"]):
        clean_failure(nubes(tmp_path, *command), wanted)
    assert files(tmp_path / "state") == before
    assert cloud(tmp_path / "cloud") == []


def test_utf16_state_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", stack_text(tmp_path / "cloud"))
    (tmp_path / "state").mkdir()
    doc = {"format": 2, "serial": 1, "lineage": "x", "stack": "env", "resources": []}
    (tmp_path / "state" / "env.json").write_bytes(json.dumps(doc).encode("utf-16"))
    clean_failure(nubes(tmp_path, "plan", "s.yaml"), "corrupt")


MORE_BAD_STATES = [
    (
        "format 1 tainted as text",
        '{"format": 1, "serial": 1, "lineage": "x", "stack": "env", "resources": [{"address": '
        '"b[0]", "type": "bucket", "provider": "home", "id": "env-0", "tainted": "false"}]}',
        "tainted must be true or false",
    ),
    (
        "one object live and deposed",
        '{"format": 2, "serial": 1, "lineage": "x", "stack": "env", "resources": [{"address": '
        '"b[0]", "type": "bucket", "provider": "home", "id": "env-0"}], "deposed": [{"address": '
        '"b[0]", "type": "bucket", "provider": "home", "id": "env-0"}]}',
        "both managed as b[0] and deposed",
    ),
    (
        "lone surrogate",
        '{"format": 2, "serial": 1, "lineage": "x", "stack": "env", "resources": [{"address": '
        '"b[0]", "type": "bucket", "provider": "home", "id": "env-\\ud800"}]}',
        "lone surrogate",
    ),
    (
        "NaN",
        '{"format": 2, "serial": 1, "lineage": "x", "stack": "env", "outputs": {"o": {"value": '
        "NaN}}}",
        "NaN is not a number",
    ),
    (
        "attributes 900 deep",
        '{"format": 2, "serial": 1, "lineage": "x", "stack": "env", "resources": [{"address": '
        '"b[0]", "type": "bucket", "provider": "home", "id": "env-0", "attributes": {"a": '
        + "[" * 900
        + "]" * 900
        + "}}]}",
        "nests deeper than",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "wanted"), MORE_BAD_STATES, ids=[b[0] for b in MORE_BAD_STATES]
)
def test_a_state_that_would_mislead_is_refused(
    tmp_path: Path, name: str, text: str, wanted: str
) -> None:
    write(tmp_path / "s.yaml", stack_text(tmp_path / "cloud"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "env.json").write_text(text)
    for command in (["plan", "s.yaml"], ["show", "s.yaml"], ["show", "s.yaml", "--json"]):
        clean_failure(nubes(tmp_path, *command), wanted)


def test_a_symlinked_folder_in_the_state_folder_is_not_written_through(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(tmp_path / "s.yaml", stack_text(tmp_path / "cloud"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "history").symlink_to(elsewhere)
    done = nubes(tmp_path, "apply", "s.yaml", "--auto-approve")
    clean_failure(done, "is a symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_an_apply_that_changes_nothing_leaves_no_history(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", stack_text(tmp_path / "cloud", 1))
    assert nubes(tmp_path, "apply", "s.yaml", "--auto-approve").returncode == 0
    history = files(tmp_path / "state" / "history")
    taken = stack_text(tmp_path / "cloud", 2).replace('name: "env-${count.index}"', 'name: "env-0"')
    write(tmp_path / "s.yaml", taken)  # b[1] would be env-0, which exists: refused at create
    failed = nubes(tmp_path, "apply", "s.yaml", "--auto-approve")
    assert failed.returncode == 1
    assert files(tmp_path / "state" / "history") == history
