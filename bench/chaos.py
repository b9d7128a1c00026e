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
With `--store s3` or `--store postgres` the state lives in S3 (a real moto server, a prefix per
kill point) or PostgreSQL (a real server, a schema per kill point) instead of the local folder.
Run: python bench/chaos.py [kill points] [--store local|s3|postgres]
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos_harness import full_apply_seconds, run_kill_point, use_backend  # noqa: E402


def _applies(outs: list) -> str:
    counts = [o.applies for o in outs]
    return f"{max(counts)}/{sum(counts) / len(counts):.2f}"


def stores(kind: str, stack: ExitStack) -> Callable[[str], Any]:
    """A function giving each kill point a store of its own (None: the local folder)."""
    if kind == "local":
        return lambda name: None
    from nubes.engine.state.settings import BackendConfig
    from tests import pg_harness
    from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto

    environ = {**os.environ, **FAKE_AWS_CREDENTIALS}
    if kind == "s3":
        import boto3

        moto, endpoint = start_moto()
        stack.callback(moto.kill)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys()).create_bucket(
            Bucket="chaos-state"
        )
        environ["NUBES_LOCK_LEASE_SECONDS"] = "5"

        def s3(name: str) -> Any:
            config = BackendConfig(
                "s3", {"bucket": "chaos-state", "prefix": f"{name}/", "endpoint": endpoint}
            )
            use_backend(config, environ)
            return config

        return s3
    why = pg_harness.why_missing()
    if why:
        raise SystemExit(f"--store postgres: {why}")
    environ.update(stack.enter_context(pg_harness.postgres()))

    def postgres(name: str) -> Any:
        config = BackendConfig("postgres", {"schema": name.replace("-", "_")})
        use_backend(config, environ)
        return config

    return postgres


def _keys() -> dict[str, str]:
    from tests.helpers import FAKE_AWS_CREDENTIALS

    return {
        "aws_access_key_id": FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--store")]
    kind = "local"
    for i, a in enumerate(sys.argv):
        if a == "--store" and i + 1 < len(sys.argv):
            kind = sys.argv[i + 1]
            args.remove(kind)
        elif a.startswith("--store="):
            kind = a.split("=", 1)[1]
    with ExitStack() as stack:
        run(int(args[0]) if args else 100, kind, stores(kind, stack))


def run(points: int, kind: str, store_for: Callable[[str], Any]) -> None:
    rng = random.Random(20261127)
    base = Path(tempfile.mkdtemp(prefix="nubes-chaos-"))
    windows = {}
    for s in ("create", "change"):
        store_for(f"measure_{s}")
        windows[s] = full_apply_seconds(base / f"measure-{s}", s)
    rows: dict[tuple[str, float], list] = {}
    started = time.monotonic()
    failures = []
    for i in range(points):
        scenario = "create" if i % 2 == 0 else "change"
        fail_rate = 0.2 if (i // 2) % 2 else 0.0
        at = rng.uniform(0.2, windows[scenario])
        store_for(f"run_{i}")
        outcome = run_kill_point(base / f"run{i}", scenario, at, fail_rate, seed=i)
        rows.setdefault((scenario, fail_rate), []).append(outcome)
        if not outcome.ok:
            failures.append(outcome)
    elapsed = time.monotonic() - started
    print(
        f"\nchaos: {points} SIGKILLs of nubes apply at random instants, then apply again "
        f"({elapsed:.0f} s); state in the {kind} store"
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
