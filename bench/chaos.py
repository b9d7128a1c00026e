"""Chaos: SIGKILL `nubes apply` at 100 random instants, apply again, check the cloud itself.

Two scenarios: `create` (the stack from nothing) and `change` (a change with create-before-destroy
replacements, a swapped firewall, more instances, a removed bucket). Kill instants are uniform over
the whole apply (measured first). Half the kill points also run with the sim cloud's `fail_rate`
at 0.2 (throttling errors, half of them after the cloud acted). After the second apply the sim
cloud's own store must hold exactly the stack's objects: no duplicate, no orphan, nothing
missing, state equal to the cloud, and a fresh plan with no changes. The applies it took to
get there are counted: the target is one (a converging apply), and more fails the run.

The alternative this replaces is an apply without the journal: what it would leave is counted from
the same runs as "would be orphans" (objects created by the killed run that its state never
recorded, which only the journal's token lets the next run adopt).
Run: python bench/chaos.py [kill points]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos_harness import full_apply_seconds, run_kill_point  # noqa: E402


def _applies(outs: list) -> str:
    counts = [o.applies for o in outs]
    return f"{max(counts)}/{sum(counts) / len(counts):.2f}"


def main() -> None:
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rng = random.Random(20261127)
    base = Path(tempfile.mkdtemp(prefix="nubes-chaos-"))
    windows = {s: full_apply_seconds(base / f"measure-{s}", s) for s in ("create", "change")}
    rows: dict[tuple[str, float], list] = {}
    started = time.monotonic()
    failures = []
    for i in range(points):
        scenario = "create" if i % 2 == 0 else "change"
        fail_rate = 0.2 if (i // 2) % 2 else 0.0
        at = rng.uniform(0.2, windows[scenario])
        outcome = run_kill_point(base / f"run{i}", scenario, at, fail_rate, seed=i)
        rows.setdefault((scenario, fail_rate), []).append(outcome)
        if not outcome.ok:
            failures.append(outcome)
    elapsed = time.monotonic() - started
    print(
        f"\nchaos: {points} SIGKILLs of nubes apply at random instants, then apply again "
        f"({elapsed:.0f} s)"
    )
    print(
        f"uninterrupted apply: create {windows['create']:.2f} s, change "
        f"{windows['change']:.2f} s; kills uniform over that window\n"
    )
    print(
        f"{'scenario':<8} {'faults':>6} {'kills':>5} {'mid-run':>7} {'intents':>7} "
        f"{'unrec.*':>7} {'dupl.':>5} {'orphans':>7} {'missing':>7} {'converged':>9} "
        f"{'applies':>7}"
    )
    for (scenario, fail_rate), outs in sorted(rows.items()):
        print(
            f"{scenario:<8} {fail_rate:>6.1f} {len(outs):>5} "
            f"{sum(o.killed for o in outs):>7} {sum(o.recovered for o in outs):>7} "
            f"{sum(o.unrecorded for o in outs):>7} "
            f"{sum(len(o.duplicates) for o in outs):>5} {sum(len(o.orphans) for o in outs):>7} "
            f"{sum(len(o.missing) for o in outs):>7} "
            f"{sum(o.converged for o in outs):>5}/{len(outs):<3} "
            f"{_applies(outs):>7}"
        )
    print(
        "\nintents: unfinished intents the killed run left in the journal, resolved by the next "
        "apply.\n* unrec.: objects in the cloud that the killed run created but its state never "
        "recorded. Without the journal's tokens each is an orphan, and re-creating its address "
        "makes a duplicate; here the next apply adopted every one (orphans and dupl. stay 0)."
        "\napplies: the applies each kill point needed until a plan had nothing left to do "
        "(target 1), shown as max/mean."
    )
    if failures:
        print(f"\n{len(failures)} kill points did not converge cleanly:")
        for f in failures:
            print(f"  {f}")
        raise SystemExit(1)
    print(
        f"\nall {points} kill points converged in one apply: no orphan, no duplicate, "
        "nothing missing."
    )


if __name__ == "__main__":
    main()
