"""Apply at scale on the embedded sim cloud: 1,000 and 10,000 resources, no latency.

Two tables, each old against new in one run:
* the sim's creates: N objects made one after another through the sim cloud, with its lookups
  indexed (a retried create's token, unique names, what refers to an object) against the same
  cloud with those indexes dropped (every lookup a scan of every object: what it did before);
* `nubes apply` of a stack of N resources (keys, buckets and instances with a volume each) with
  the state in the local folder, each in a fresh process, its state writer pausing 9 times a
  write's time between writes (now) against 4 times (before): its time, its growth from 1,000
  to 10,000 (the target: at most 11x, that is linear), and the 10,000 apply against 60 s.
Run: python bench/apply_scale.py [SIZES...]   (default 1000 10000)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = [int(a) for a in sys.argv[1:] if a.isdigit()] or [1000, 10_000]
OLD_LIMIT = 10_000  # the scanning cloud is measured up to this many objects


def stack_text(n: int) -> str:
    """n resources: a quarter instances (each with a volume attached), keys and buckets."""
    q = n // 4
    return f"""nubes: 1
name: scale
providers:
  home: {{driver: sim, boot_seconds: 0}}
resources:
  k: {{type: key, count: {q}, name: "k-${{count.index}}"}}
  b: {{type: bucket, count: {n - 3 * q}, name: "scale-${{count.index}}"}}
  vm:
    type: instance
    count: {q}
    image: ubuntu-24.04
    size: tiny
    name: "vm-${{count.index}}"
  disk:
    type: volume
    count: {q}
    size_gb: 1
    realm: sim-1a
    instance: ${{vm[count.index].id}}
"""


def seed(n: int, indexed: bool) -> float:
    """Seconds to create n keys one by one through the sim cloud, as apply's creates do."""
    from nubes.providers.protocol import Ownership
    from nubes.providers.sim.cloud import SimCloud
    from nubes.providers.sim.config import SimConfig
    from nubes.providers.sim.store import INDEXED_ATTRS, Store

    store = Store(Path(tempfile.mkdtemp(prefix="nubes-seed-")) / "cloud.sqlite")
    if not indexed:
        for name in ("name", "token", *INDEXED_ATTRS):
            store._db.execute(f"DROP INDEX objects_{name}")
    cloud = SimCloud(store, SimConfig())
    started = time.perf_counter()
    for i in range(n):
        cloud.create("key", {"name": f"k-{i}"}, Ownership("seed", f"k[{i}]", f"t-{i}"))
    took = time.perf_counter() - started
    store.close()
    return took


def apply_time(n: int, pause: int) -> tuple[float, int]:
    from nubes.engine import operations
    from nubes.engine.apply import ApplyOptions, executor
    from nubes.engine.operations import Loaded
    from nubes.engine.state import LocalBackend
    from tests.helpers import drivers_for, load

    work = Path(tempfile.mkdtemp(prefix="nubes-apply-scale-"))
    stack_file = work / "scale.yaml"
    stack_file.write_text(stack_text(n))
    stack, values = load(stack_file)
    drivers = drivers_for(stack, values, work / "state")
    backend = LocalBackend(work / "state", stack.name)
    executor.WRITE_PAUSE = pause
    started = time.perf_counter()
    _, outcome, diags = operations.plan_and_apply(
        Loaded(stack, values, drivers), backend, "bench", lambda p: True, options=ApplyOptions()
    )
    took = time.perf_counter() - started
    assert outcome is not None and not outcome.failed, [d.summary for d in diags][:3]
    state = backend.read()
    return took, len(state.resources) if state else 0


def fresh_apply(n: int, pause: int) -> float:
    """The apply of n resources in a process of its own, as a user runs it (not after the
    seeding above in this one), in seconds."""
    args = [sys.executable, __file__, "--apply", str(n), str(pause)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> None:
    print("sim cloud: N keys created one by one (each create looks up its token and its name)")
    print(f"{'objects':>8} {'indexed s':>10} {'per create ms':>14} {'scanning s':>11} {'x':>6}")
    for n in SIZES:
        new = seed(n, True)
        old = seed(n, False) if n <= OLD_LIMIT else None
        old_text = f"{old:11.2f} {old / new:5.1f}x" if old is not None else f"{'(skipped)':>11}"
        print(f"{n:8,} {new:10.2f} {1000 * new / n:14.3f} {old_text}")
    print()
    print("nubes apply, local state, sim with no latency (keys, buckets, instances + volumes)")
    heads = f"{'pause 9x s':>11} {'per res ms':>11} {'growth':>7} {'pause 4x s':>11} {'growth':>7}"
    print(f"{'resources':>9} {heads}")
    first: dict[int, float] = {}
    for n in SIZES:
        row = f"{n:9,}"
        for pause in (9, 4):
            took = fresh_apply(n, pause)
            growth = f"{took / first[pause]:6.1f}x" if pause in first else f"{'':>7}"
            row += f" {took:11.2f}" + (f" {1000 * took / n:11.3f}" if pause == 9 else "")
            row += f" {growth}"
            first.setdefault(pause, took)
        print(row)
    print("targets: growth at most 11x from 1,000 to 10,000; the 10,000 apply under 60 s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--apply"]:
        took, made = apply_time(int(sys.argv[2]), int(sys.argv[3]))
        assert made == int(sys.argv[2]), made
        print(took)
    else:
        main()
