"""Plan and apply of 1,000 resources with the state in each store, side by side in one run.

Stores: the local folder (the alternative the remote ones stand beside), S3 on a real moto
server (conditional-write locks), S3 with a DynamoDB lock table, and a real PostgreSQL server
(started here, as the tests start it; its row is left out, saying why, where none is installed).
The sim cloud answers with no latency, so the figures are what the store costs: an apply writes
state once per group of finished operations (group commit) and the journal once per intent;
a no-change plan reads the state once. Run: python bench/backends.py [RESOURCES]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESOURCES = int(sys.argv[1]) if len(sys.argv) > 1 else 1000


def stack_text(n: int) -> str:
    return (
        "nubes: 1\nname: bench\nproviders:\n  home: {driver: sim}\nresources:\n"
        f"  b: {{type: bucket, count: {n}, name: 'bench-${{count.index}}'}}\n"
    )


def measure(config: Any, environ: dict[str, str]) -> tuple[float, float, float, int]:
    """(apply s, no-change plan s, destroy s, state versions written) for one store."""
    from nubes.engine import operations
    from nubes.engine.apply import ApplyOptions
    from nubes.engine.operations import Loaded
    from nubes.engine.plan import PlanOptions
    from nubes.engine.state.stores import open_store
    from tests.helpers import drivers_for, load

    work = Path(tempfile.mkdtemp(prefix="nubes-backends-"))
    stack_file = work / "bench.yaml"
    stack_file.write_text(stack_text(RESOURCES))
    stack, values = load(stack_file)
    drivers = drivers_for(stack, values, work / "state")
    store = open_store(config, work / "state", environ)
    backend = store.backend("bench")
    loaded = Loaded(stack, values, drivers)
    writes = [0]
    commit = backend.commit

    def counted(data: bytes) -> None:
        writes[0] += 1
        commit(data)

    backend.commit = counted  # type: ignore[method-assign]
    started = time.perf_counter()
    _, outcome, diags = operations.plan_and_apply(
        loaded, backend, "bench", lambda p: True, options=ApplyOptions(parallelism=10)
    )
    applied = time.perf_counter() - started
    assert outcome is not None and not outcome.failed, [d.summary for d in diags]
    started = time.perf_counter()
    again, _ = operations.plan(loaded, backend)
    planned_again = time.perf_counter() - started
    assert again is not None and not again.has_changes
    started = time.perf_counter()
    _, gone, _ = operations.plan_and_apply(
        loaded, backend, "bench", lambda p: True, PlanOptions(destroy=True), ApplyOptions(10)
    )
    destroyed = time.perf_counter() - started
    assert gone is not None and not gone.failed
    store.close()
    return applied, planned_again, destroyed, writes[0]


def main() -> None:
    import boto3

    from nubes.engine.state.settings import BackendConfig
    from tests import pg_harness
    from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto

    os.environ.update(FAKE_AWS_CREDENTIALS)
    rows: list[tuple[str, Any]] = []
    with ExitStack() as stack:
        moto, endpoint = start_moto()
        stack.callback(moto.kill)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench-state")
        s3.put_bucket_versioning(
            Bucket="bench-state", VersioningConfiguration={"Status": "Enabled"}
        )
        boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1").create_table(
            TableName="bench-locks",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        environ = dict(os.environ)
        rows.append(("local folder (the default)", BackendConfig("local", {})))
        s3_settings = {"bucket": "bench-state", "endpoint": endpoint}
        rows.append(("S3 (moto), conditional-write lock", BackendConfig("s3", s3_settings)))
        rows.append(
            (
                "S3 (moto), DynamoDB lock table",
                BackendConfig("s3", {**s3_settings, "prefix": "d/", "lock_table": "bench-locks"}),
            )
        )
        why = pg_harness.why_missing()
        if why is None:
            environ.update(stack.enter_context(pg_harness.postgres()))
            schema = f"b_{uuid.uuid4().hex[:8]}"
            rows.append(("PostgreSQL (real server)", BackendConfig("postgres", {"schema": schema})))
        print(f"{RESOURCES:,} resources (sim cloud, no latency), parallelism 10")
        head = f"{'store':<36}{'apply s':>9}{'plan s':>9}{'destroy s':>11}{'writes':>8}"
        print(f"{head}{'vs local':>10}")
        base = None
        for label, config in rows:
            if config.type == "local":
                config = BackendConfig("local", {"path": tempfile.mkdtemp(prefix="nubes-lb-")})
            applied, planned, destroyed, writes = measure(config, environ)
            base = base or applied
            print(
                f"{label:<36}{applied:>9.2f}{planned:>9.2f}{destroyed:>11.2f}{writes:>8,}"
                f"{applied / base:>9.1f}x"
            )
        if why is not None:
            print(f"PostgreSQL left out: {why}")


if __name__ == "__main__":
    main()
