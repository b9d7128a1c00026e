"""How long the command line takes to start: `nubes --help` and `nubes validate` of a
three-resource stack, against `python -c "import click"` (the least any click program costs).

Side by side in one run: this tree and the tree before commands were imported lazily (commit
BASELINE, checked out into a temporary git worktree), each run as `python -m` with the tree on
PYTHONPATH, with bytecode caches as a user has them (after one warm-up run; this machine sets
PYTHONDONTWRITEBYTECODE, which the bench lifts). Each command runs RUNS times; the table shows
the median wall time and its ratio to
the baseline. Targets: `--help` within 1.5x of the baseline, `validate` within 4x. The last row
is the floor: the libraries validating needs (click, a pydantic model built and used, jinja2's
sandbox, PyYAML), imported and nothing else.

Run: python bench/cli_startup.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "67210c7"  # main before the structure issue's work
RUNS = 15
STACK = """\
nubes: 1
name: three
providers:
  home: {driver: sim}
resources:
  key: {type: key}
  fw:
    type: firewall
    rules: [{protocol: tcp, ports: "22", sources: ["0.0.0.0/0"]}]
  web:
    type: instance
    image: ubuntu-24.04
    size: tiny
    key: ${key.name}
    firewalls: ["${fw.id}"]
"""


def median_seconds(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    times = []
    # one run first, which writes the bytecode caches a user's second run finds
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    for _ in range(RUNS):
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    return statistics.median(times)


# what validating cannot do without: click, one pydantic model built and used, jinja2's sandbox
# and PyYAML; the floor under any `nubes validate` built on the design's dependencies
LIBRARIES = """
import click, yaml, jinja2.sandbox
from pydantic import BaseModel, Field
class Spec(BaseModel):
    n: int = Field(default=1, ge=0)
Spec.model_validate({"n": 2})
"""


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="nubes-cli-startup-"))
    (work / "s.yaml").write_text(STACK)
    env = {**os.environ, "NO_COLOR": "1", "NUBES_STATE_DIR": str(work / "state")}
    # as a user runs it: with bytecode caches (a machine may turn them off for its own reasons;
    # then every run compiles every module from source, and that is what would be measured)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    trees: dict[str, tuple[Path, str]] = {"this tree": (ROOT, "nubes")}
    old_tree = work / "baseline"
    made = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), BASELINE],
        capture_output=True,
    )
    if made.returncode == 0:
        trees[f"before ({BASELINE})"] = (old_tree, "engine")  # the CLI's old home
    try:
        click_s = median_seconds([sys.executable, "-c", "import click"], work, env)
        floor_s = median_seconds([sys.executable, "-c", LIBRARIES], work, env)
        rows = []
        for label, (tree, module) in trees.items():
            tree_env = {**env, "PYTHONPATH": str(tree)}
            base = [sys.executable, "-m", module]
            help_s = median_seconds([*base, "--help"], work, tree_env)
            validate_s = median_seconds([*base, "validate", "s.yaml"], work, tree_env)
            rows.append((label, help_s, validate_s))
    finally:
        if made.returncode == 0:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)])
        shutil.rmtree(work, ignore_errors=True)
    print(f"median of {RUNS} runs; baseline python -c 'import click': {click_s * 1000:.0f} ms\n")
    print(f"{'tree':<22} {'--help ms':>10} {'x click':>8} {'validate ms':>12} {'x click':>8}")
    for label, help_s, validate_s in rows:
        print(
            f"{label:<22} {help_s * 1000:>10.0f} {help_s / click_s:>8.1f} "
            f"{validate_s * 1000:>12.0f} {validate_s / click_s:>8.1f}"
        )
    print(
        f"{'libraries validate needs':<22} {'':>10} {'':>8} {floor_s * 1000:>12.0f} "
        f"{floor_s / click_s:>8.1f}"
    )
    print("\ntargets: --help within 1.5x of the baseline, validate within 4x")


if __name__ == "__main__":
    main()
