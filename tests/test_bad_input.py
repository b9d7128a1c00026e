"""The hostile and broken input corpus: every file in tests/bad_input must be refused cleanly.

Each case runs `nubes apply CASE --auto-approve` in its own process, against a copy of a state
and a sim cloud where a valid stack of the same name was applied, with its address space capped
at 2 GiB and a 60 s limit. It must exit 1 with the expected diagnostic, as `file:line:col: error:`
unless the case says `# position: none`, print no traceback, and leave the state, the journal
and the cloud exactly as they were.

Header lines of a case: `# expect: TEXT` (required), `# args: ...` (extra CLI arguments),
`# position: none`, `# file NAME: TEXT` (a file beside the stack), `# outside NAME: TEXT`
(a file in the folder above, which the stack must not be able to read), `# symlink NAME: TARGET`.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((Path(__file__).parent / "bad_input").glob("*.yaml"))
BASELINE = "nubes: 1\nname: bad\nresources:\n  keep: {type: bucket, name: bad-keep}\n"


def _limits() -> None:
    cap = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _nubes(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=60,
        preexec_fn=_limits,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("baseline")
    (work / "ok.yaml").write_text(BASELINE)
    done = _nubes(work, "apply", "ok.yaml", "--auto-approve")
    assert done.returncode == 0, done.stderr
    return work / "state"


def _snapshot(state: Path) -> dict[str, str]:
    out = {}
    for path in sorted(state.rglob("*")):
        if (
            path.is_file()
            and path.suffix not in (".sqlite-wal", ".sqlite-shm", ".lock")
            and not path.name.endswith(("-wal", "-shm"))
            and path.suffix != ".sqlite"
        ):
            out[str(path.relative_to(state))] = hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(state / "sim" / "cloud.sqlite") as db:
        rows = db.execute("SELECT id, type, attrs, tags FROM objects ORDER BY id").fetchall()
    out["cloud"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def _headers(raw: bytes) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        m = re.match(r"# (expect|args|position|file|outside|symlink)( [^:]+)?: (.*)$", line)
        if not m:
            break
        name = m.group(1) + (m.group(2) or "")
        found.setdefault(name, []).append(m.group(3))
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_input_is_refused_cleanly(case: Path, tmp_path: Path, baseline: Path) -> None:
    raw = case.read_bytes()
    headers = _headers(raw)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(baseline, work / "state")
    stack = work / "stack.yaml"
    stack.write_bytes(raw)
    for key, values in headers.items():
        kind, _, name = key.partition(" ")
        for value in values:
            if kind == "file":
                (work / name).write_text(value + "\n")
            elif kind == "outside":
                (tmp_path / name).write_text(value + "\n")
            elif kind == "symlink":
                (work / name).symlink_to(value)
    before = _snapshot(work / "state")
    args = shlex.split(headers.get("args", [""])[0])
    result = _nubes(work, "apply", "stack.yaml", "--auto-approve", *args)
    err = result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err + result.stdout
    wanted = headers["expect"][0]
    assert wanted in err, err[-3000:]
    if headers.get("position", ["yes"])[0] != "none":
        assert re.search(r"\.yaml:\d+:\d+: error: ", err), err[-2000:]
    assert _snapshot(work / "state") == before
    assert not (work / "state" / "bad.journal").exists()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50
