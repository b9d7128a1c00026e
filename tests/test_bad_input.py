"""The hostile and broken input corpus: every file in tests/bad_input must be refused cleanly.

Each case runs `nubes apply CASE --auto-approve` in its own process, against a copy of a state
and a sim cloud where a valid stack of the same name was applied, with its address space capped
at 2 GiB. It must exit 1 with the expected diagnostic, as `file:line:col: error:` unless the case
says `# position: none`, print no traceback, leave the state, the journal and the cloud exactly
as they were, and stay within CPU_CAP seconds of CPU and MEMORY_CAP MB of memory.

Header lines of a case: `# expect: TEXT` (required), `# args: ...` (extra CLI arguments),
`# position: none`, `# file NAME: TEXT` (a file beside the stack), `# outside NAME: TEXT`
(a file in the folder above, which the stack must not be able to read), `# symlink NAME: TARGET`,
`# fifo: NAME` (a named pipe), `# bigfile NAME: BYTES` (a sparse file of that size), and
`# validate: passes` for a case only a cloud can judge (an image the cloud does not have).
Every other case must also be refused the same way by `nubes validate`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from tests.measured import Run, run_nubes

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((Path(__file__).parent / "bad_input").glob("*.yaml"))
BASELINE = "nubes: 1\nname: bad\nresources:\n  keep: {type: bucket, name: bad-keep}\n"
CPU_CAP = 3.0  # seconds
MEMORY_CAP = 170  # MB: the interpreter and nubes (about 65), plus the 100 a bad input may cost


def _nubes(cwd: Path, *args: str) -> Run:
    return run_nubes(cwd, *args)


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
        m = re.match(
            r"# (expect|args|position|file|outside|symlink|fifo|bigfile|validate)( [^:]+)?: (.*)$",
            line,
        )
        if not m:
            break
        name = m.group(1) + (m.group(2) or "")
        found.setdefault(name, []).append(m.group(3))
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_input_is_refused_cleanly(
    case: Path, tmp_path: Path, baseline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
            elif kind == "fifo":
                os.mkfifo(work / value)
            elif kind == "bigfile":
                with open(work / name, "wb") as f:
                    f.truncate(int(value))  # sparse: costs no disk
    before = _snapshot(work / "state")
    args = shlex.split(headers.get("args", [""])[0])
    wanted = headers["expect"][0]
    result = _nubes(work, "apply", "stack.yaml", "--auto-approve", *args)
    err = result.stderr
    assert result.returncode == 1, (result.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err + result.stdout
    assert "internal error" not in err + result.stdout
    assert wanted in err, err[-3000:]
    if headers.get("position", ["yes"])[0] != "none":
        assert re.search(r"\.yaml:\d+:\d+: error: ", err), err[-2000:]
    assert _snapshot(work / "state") == before
    assert not (work / "state" / "bad.journal").exists()
    # bounded work: a diagnostic costs little more than starting nubes (0.5 s and 65 MB)
    assert result.cpu_seconds < CPU_CAP, f"{result.cpu_seconds:.1f} s of CPU"
    assert result.peak_mb < MEMORY_CAP, f"{result.peak_mb:.0f} MB resident"
    if headers.get("validate", ["fails"])[0] == "passes":
        return  # only a cloud can judge it
    # all that needs no cloud, validate finds too (in this process: it is the same code)
    monkeypatch.chdir(work)
    checked = CliRunner().invoke(cli, ["validate", "stack.yaml", *args], catch_exceptions=False)
    assert checked.exit_code == 1, checked.output
    assert wanted in checked.stderr, checked.stderr[-3000:]
    assert _snapshot(work / "state") == before


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50
