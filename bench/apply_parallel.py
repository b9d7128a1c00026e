"""Apply wall time of a wide and a deep graph, against the critical-path lower bound.

The sim cloud is given real-cloud delays (every API call `LATENCY_MS`, every instance
`BOOT_SECONDS` to boot). One create takes OP seconds (measured: one instance alone); the lower
bound of an apply is (longest chain) x OP when parallelism covers the graph's width. Each graph
is applied at parallelism 1 (one at a time, the naive executor this replaces), 10, and its width.
Run: python bench/apply_parallel.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATENCY_MS = 50
BOOT_SECONDS = 0.5
WIDE = 40
DEEP = 8

HEAD = f"""nubes: 1
name: bench
providers:
  home: {{driver: sim, latency_ms: {LATENCY_MS}, boot_seconds: {BOOT_SECONDS}}}
resources:
"""


def wide(n: int) -> str:
    return HEAD + (
        f"  web:\n    type: instance\n    count: {n}\n    image: ubuntu-24.04\n    size: tiny\n"
    )


def deep(n: int) -> str:
    out = HEAD
    for i in range(n):
        out += f"  n{i}:\n    type: instance\n    image: ubuntu-24.04\n    size: tiny\n"
        if i:
            out += f"    depends_on: [n{i - 1}]\n"
    return out


def timed_apply(text: str, parallelism: int) -> float:
    from nubes.engine.apply import ApplyOptions, apply
    from nubes.engine.plan import plan
    from nubes.engine.state import LocalBackend
    from tests.helpers import drivers_for, load

    work = Path(tempfile.mkdtemp(prefix="nubes-apply-"))
    stack_file = work / "bench.yaml"
    stack_file.write_text(text)
    state_dir = work / "state"
    stack, values = load(stack_file)
    drivers = drivers_for(stack, values, state_dir)
    backend = LocalBackend(state_dir, stack.name)
    result, diags = plan(stack, values, backend.read(), drivers)
    assert result is not None, [d.summary for d in diags]
    started = time.perf_counter()
    done = apply(result, drivers, backend, ApplyOptions(parallelism=parallelism))
    elapsed = time.perf_counter() - started
    assert not done.failed, [d.summary for d in done.diags]
    return elapsed


def state_writes(n: int, naive: bool) -> tuple[float, int]:
    """Apply n buckets with no latency: the cost is the state writes (the writer thread's,
    against one write per operation, each waited for)."""
    from nubes.engine.apply import executor

    original = executor.Executor._changed

    def one_write_per_operation(self: executor.Executor, settle: str | None = None) -> None:
        with self.lock:
            self._changes += 1
            self.backend.write(self.state)
        if settle is not None:
            self.journal.settled(settle)

    if naive:
        executor.Executor._changed = one_write_per_operation  # type: ignore[method-assign]
    try:
        text = (
            "nubes: 1\nname: writes\nresources:\n  b:\n    type: bucket\n"
            f"    count: {n}\n    name: b-${{count.index}}\n"
        )
        from tests.helpers import plan_and_apply

        work = Path(tempfile.mkdtemp(prefix="nubes-writes-"))
        (work / "s.yaml").write_text(text)
        started = time.perf_counter()
        done = plan_and_apply(work / "s.yaml", work / "state")
        return time.perf_counter() - started, done.state.serial
    finally:
        executor.Executor._changed = original  # type: ignore[method-assign]


def main() -> None:
    op = timed_apply(deep(1), 1)
    print(
        f"\napply on the sim cloud: {LATENCY_MS} ms per API call, {BOOT_SECONDS} s boot; "
        f"one instance create measured at {op:.3f} s\n"
    )
    print(
        f"{'graph':<14} {'width':>5} {'chain':>5} {'parallel':>8} {'seconds':>8} "
        f"{'bound s':>8} {'x bound':>7}"
    )
    for name, text, width, chain in (("wide", wide(WIDE), WIDE, 1), ("deep", deep(DEEP), 1, DEEP)):
        for parallelism in sorted({1, 10, width}):
            elapsed = timed_apply(text, parallelism)
            waves = -(-width // parallelism)  # ceil: rounds needed at this parallelism
            bound = chain * waves * op if parallelism < width else chain * op
            print(
                f"{name + ' (' + str(width * chain) + ')':<14} {width:>5} {chain:>5} "
                f"{parallelism:>8} {elapsed:>8.2f} {bound:>8.2f} {elapsed / bound:>7.2f}"
            )
    print(
        "\nbound: the critical path (longest chain x one create) when parallelism >= width; "
        "below it, x ceil(width / parallelism) rounds."
    )
    print(
        "\nstate writes, no latency, parallelism 10: the writer thread (a write at most every "
        "0.2 s) against one write per operation\n"
    )
    print(
        f"{'resources':>9} {'writer s':>8} {'writes':>7} {'one-each s':>10} {'writes':>7} "
        f"{'speed-up':>8}"
    )
    for n in (250, 1_000):
        fast, fast_writes = state_writes(n, naive=False)
        slow, slow_writes = state_writes(n, naive=True)
        print(
            f"{n:>9,} {fast:>8.2f} {fast_writes:>7,} {slow:>10.2f} {slow_writes:>7,} "
            f"{slow / fast:>7.1f}x"
        )


if __name__ == "__main__":
    main()
