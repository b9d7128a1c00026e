"""Plan time and peak memory for stacks of 100 to 100,000 resources on the sim cloud.

Each size runs in a fresh process (peak RSS is per process). Two plans per size:
  * create  - nothing exists yet: load, check, graph, evaluate, diff;
  * refresh - everything exists (cloud and state seeded in bulk): one batched list call per type,
              then a no-op diff. Beside it, the alternative it replaces: one read per resource, as
              Terraform refreshes, timed over the same objects in the same process.
And the whole process: `nubes plan` with its output going to a file, against the planning alone,
with the plan's text made the new way (markup stripped by a regular expression) and the old
(rich's markup parser on every line), timed over the same lines.
Run: python bench/plan_scale.py [sizes...]
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = [100, 1_000, 10_000, 30_000, 100_000]
LATENCY_MS = 2


def stack_text(n: int) -> str:
    """n resources in groups of four: firewall, instance using it, volume and address on it."""
    lines = ["nubes: 1", "name: scale", "providers:", "  home: {driver: sim}", "resources:"]
    for g in range(n // 4):
        lines += [
            f"  fw{g}:",
            "    type: firewall",
            f"    name: fw-{g}",
            '    rules: [{protocol: tcp, ports: "22", sources: ["10.0.0.0/8"]}]',
            f"  web{g}:",
            "    type: instance",
            f"    name: web-{g}",
            "    image: ubuntu-24.04",
            "    size: small",
            "    realm: sim-1a",
            f'    firewalls: ["${{fw{g}.id}}"]',
            "    tags: {role: web, group: g" + str(g) + "}",
            f"  vol{g}:",
            "    type: volume",
            "    size_gb: 10",
            "    realm: sim-1a",
            f"    instance: ${{web{g}.id}}",
            f"  ip{g}:",
            "    type: address",
            f"    instance: ${{web{g}.id}}",
        ]
    return "\n".join(lines) + "\n"


def seed(stack_file: Path, state_dir: Path) -> None:
    """Create every object in the sim cloud and in state directly, in bulk (not timed)."""
    from nubes.engine.addrs import InstanceAddr
    from nubes.engine.state import LocalBackend, ResourceState, State
    from nubes.providers.protocol import Ownership
    from nubes.providers.rules import check_rules
    from nubes.providers.sim.cloud import SimCloud
    from nubes.providers.sim.config import SimConfig
    from nubes.providers.sim.driver import _store

    store = _store(state_dir / "sim" / "cloud.sqlite")
    cloud = SimCloud(store, SimConfig())
    state = State("scale")
    n = sum(1 for line in stack_file.read_text().splitlines() if line.startswith("  web"))
    with store.transaction():
        for g in range(n):
            own = {k: Ownership("scale", k, k) for k in (f"fw{g}", f"web{g}", f"vol{g}", f"ip{g}")}
            fw = cloud.create(
                "firewall",
                {
                    "name": f"fw-{g}",
                    "rules": check_rules(
                        [{"protocol": "tcp", "ports": "22", "sources": ["10.0.0.0/8"]}]
                    ),
                },
                own[f"fw{g}"],
            )
            web = cloud.create(
                "instance",
                {
                    "name": f"web-{g}",
                    "image": "img-ubuntu-2404",  # as an apply records it, resolved
                    "size": "small",
                    "realm": "sim-1a",
                    "firewalls": [fw.id],
                    "tags": {"role": "web", "group": f"g{g}"},
                },
                own[f"web{g}"],
            )
            vol = cloud.create(
                "volume", {"size_gb": 10, "realm": "sim-1a", "instance": web.id}, own[f"vol{g}"]
            )
            ip = cloud.create("address", {"instance": web.id}, own[f"ip{g}"])
            for name, row, deps in (
                (f"fw{g}", fw, []),
                (f"web{g}", web, [f"fw{g}"]),
                (f"vol{g}", vol, [f"web{g}"]),
                (f"ip{g}", ip, [f"web{g}"]),
            ):
                addr = InstanceAddr(name)
                state.resources[addr] = ResourceState(
                    addr, row.type, "home", row.id, cloud.to_object(row).attributes, deps
                )
    LocalBackend(state_dir, "scale").write(state)


def measure(n: int, mode: str) -> dict[str, float]:
    from nubes.engine.drivers import configure_drivers
    from nubes.engine.gcpause import gc_paused
    from nubes.engine.plan import PlanOptions, plan
    from nubes.engine.stack import load_stack, resolve_variables
    from nubes.engine.state import LocalBackend

    work = Path(tempfile.mkdtemp(prefix=f"nubes-bench-{n}-"))
    stack_file = work / "scale.yaml"
    stack_file.write_text(stack_text(n))
    state_dir = work / "state"
    if mode == "refresh":
        seed(stack_file, state_dir)
    started = time.perf_counter()
    with gc_paused():  # as the CLI runs its load and plan
        stack, _ = load_stack(stack_file)
        assert stack is not None
        values, _ = resolve_variables(stack, {}, [], {})
        drivers, _ = configure_drivers(stack, values, state_dir, {})
        state = LocalBackend(state_dir, "scale").read()
        sim = drivers["home"]
        calls_before = sim.calls  # type: ignore[attr-defined]
        result, diags = plan(stack, values, state, drivers, PlanOptions())
    elapsed = time.perf_counter() - started
    assert result is not None, [d.summary for d in diags][:5]
    actions = {str(c.action) for c in result.changes}
    assert actions == ({"create"} if mode == "create" else {"no-op"}), actions
    out = {
        "seconds": elapsed,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "calls": sim.calls - calls_before,  # type: ignore[attr-defined]
    }
    if mode == "create":  # the plan's text, as `nubes plan` writes it to a file: new and old
        from rich.text import Text

        from nubes.cli.render import plain_text, plan_text

        started = time.perf_counter()
        lines = list(plan_text(result))
        out["lines_seconds"] = time.perf_counter() - started
        out["lines"] = len(lines)
        started = time.perf_counter()
        "".join(plain_text(line) + "\n" for line in lines)
        out["print_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        "".join(Text.from_markup(line).plain + "\n" for line in lines)
        out["rich_seconds"] = time.perf_counter() - started
    if mode == "refresh":  # the alternative: one read per resource, as Terraform refreshes
        assert state is not None
        # a real cloud answers each call after a while: give every call 2 ms
        from nubes.providers.protocol import DriverContext
        from nubes.providers.sim import SimDriver

        sim = SimDriver()
        sim.configure({"latency_ms": LATENCY_MS}, DriverContext(state_dir, {}))
        started = time.perf_counter()
        before = sim.calls  # type: ignore[attr-defined]
        for rs in state.resources.values():
            sim.read(rs.type, rs.id)
        out["per_read_seconds"] = time.perf_counter() - started
        out["per_read_calls"] = sim.calls - before  # type: ignore[attr-defined]
        started = time.perf_counter()
        before = sim.calls  # type: ignore[attr-defined]
        for type_ in ("firewall", "instance", "volume", "address"):
            sim.list(type_, {"nubes:stack": "scale"})
        out["batched_seconds"] = time.perf_counter() - started
        out["batched_calls"] = sim.calls - before  # type: ignore[attr-defined]
    return out


def whole_process(n: int) -> tuple[float, float]:
    """Seconds and peak MB of `nubes plan` as a process, its output going to a file."""
    work = Path(tempfile.mkdtemp(prefix=f"nubes-bench-process-{n}-"))
    (work / "scale.yaml").write_text(stack_text(n))
    started = time.perf_counter()
    with open(work / "plan.txt", "w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "nubes", "plan", "scale.yaml", "--state-dir", "state"],
            cwd=work,
            stdout=out,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def loading(n: int) -> dict[str, float]:
    """Loading the stack's YAML: the parser's events built into values (now), against the node
    tree alone that the loader held before it built values and positions from it (so the old
    loader's peak was higher still); memory by tracemalloc."""
    import tracemalloc

    import yaml

    from nubes.engine.stack.yamlpos import _Loader, load_yaml

    text = stack_text(n)
    out: dict[str, float] = {}
    with gc_off():  # times first, untraced (tracemalloc slows Python code, not libyaml's)
        started = time.perf_counter()
        _, positions, _ = load_yaml(text, "scale.yaml")
        out["events_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        positions.at(())  # the table, made when the first diagnostic needs it
        out["table_seconds"] = time.perf_counter() - started
        del positions
        started = time.perf_counter()
        node = yaml.compose(text, Loader=_Loader)
        out["tree_seconds"] = time.perf_counter() - started
        del node
        tracemalloc.start()
        _, positions, _ = load_yaml(text, "scale.yaml")
        out["events_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        before = tracemalloc.get_traced_memory()[0]
        positions.at(())
        out["table_mb"] = (tracemalloc.get_traced_memory()[0] - before) / 1e6
        del positions
        tracemalloc.stop()
        tracemalloc.start()
        node = yaml.compose(text, Loader=_Loader)
        out["tree_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        del node
        tracemalloc.stop()
    return out


@contextlib.contextmanager
def gc_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]), sys.argv[3])))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        print(json.dumps(loading(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or SIZES
    rows = []
    for mode in ("create", "refresh"):
        for n in sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), mode],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append((mode, n, json.loads(out.stdout)))
    print("\nnubes plan on the sim cloud (no latency); each row a fresh process\n")
    print(
        f"{'plan':<8} {'resources':>9} {'seconds':>8} {'x prev':>7} {'per 1k':>7} "
        f"{'peak MB':>8} {'API calls':>9}"
    )
    prev: dict[str, float] = {}
    for mode, n, r in rows:
        ratio = f"{r['seconds'] / prev[mode]:.1f}" if mode in prev else "-"
        prev[mode] = r["seconds"]
        print(
            f"{mode:<8} {n:>9,} {r['seconds']:>8.2f} {ratio:>7} "
            f"{r['seconds'] / n * 1000:>7.3f} {r['peak_mb']:>8.0f} {r['calls']:>9,}"
        )
    print(
        f"\nrefresh alone, every API call taking {LATENCY_MS} ms: nubes' batched list against "
        "one read per resource (Terraform's way)\n"
    )
    print(
        f"{'resources':>9} {'batched s':>9} {'calls':>6} {'per-read s':>10} {'calls':>7} "
        f"{'speed-up':>8}"
    )
    for mode, n, r in rows:
        if mode == "refresh":
            print(
                f"{n:>9,} {r['batched_seconds']:>9.3f} {r['batched_calls']:>6} "
                f"{r['per_read_seconds']:>10.3f} {r['per_read_calls']:>7,} "
                f"{r['per_read_seconds'] / r['batched_seconds']:>7.1f}x"
            )
    print(
        "\nReal clouds answer in 20-200 ms, not 2: the gap grows with the latency, since "
        "per-resource reads pay it once per resource."
    )
    print(
        "\nnubes plan as a process (create plan, output to a file) against the planning "
        "alone; its start (a plan of 4 resources as a process: the interpreter, imports and "
        "exit) and what remains, the printing; the plan's text made the new way and the old "
        "(rich's parser per line)\n"
    )
    start = min(whole_process(4)[0] for _ in range(3))
    print(
        f"{'resources':>9} {'plan s':>7} {'process s':>9} {'start s':>7} {'printing s':>10} "
        f"{'of plan':>7} {'peak MB':>8} {'lines':>9} {'text s':>7} {'print s':>8} "
        f"{'old print s':>11} {'x':>5}"
    )
    for mode, n, r in rows:
        if mode == "create":
            whole, peak = whole_process(n)
            printing = whole - r["seconds"] - start
            print(
                f"{n:>9,} {r['seconds']:>7.2f} {whole:>9.2f} {start:>7.2f} {printing:>10.2f} "
                f"{100 * printing / r['seconds']:>6.0f}% {peak:>8.0f} "
                f"{r['lines']:>9,} {r['lines_seconds']:>7.2f} {r['print_seconds']:>8.2f} "
                f"{r['rich_seconds']:>11.2f} {r['rich_seconds'] / r['print_seconds']:>4.1f}x"
            )
    print("targets: printing adds at most 50 % to the planning time (the 'of plan' column)")
    print(
        "\nloading the stack's YAML (tracemalloc peak): values built from the parser's events, "
        "against the node tree alone that the loader held before building values and positions "
        "from it; the position table is now made when a diagnostic first needs one\n"
    )
    print(
        f"{'resources':>9} {'events s':>8} {'MB':>6} {'tree s':>7} {'MB':>6} {'x MB':>5} "
        f"{'table s':>7} {'table MB':>8}"
    )
    for n in sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--load", str(n)], capture_output=True, text=True, check=True
        )
        r = json.loads(done.stdout)
        print(
            f"{n:>9,} {r['events_seconds']:>8.2f} {r['events_mb']:>6.0f} {r['tree_seconds']:>7.2f} "
            f"{r['tree_mb']:>6.0f} {r['tree_mb'] / r['events_mb']:>5.1f} "
            f"{r['table_seconds']:>7.2f} {r['table_mb']:>8.0f}"
        )
    print(
        "targets: a 100,000-resource create plan under 500 MB peak, a refresh plan under 600 MB "
        "(the peak MB columns)"
    )


if __name__ == "__main__":
    main()
