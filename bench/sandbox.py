"""The bounded sandbox against jinja2's own ImmutableSandboxedEnvironment, which it replaces.

Two tables, from one run:
1. What bounding costs an ordinary expression: evaluations per second of typical stack
   expressions (interpolation, filters, a template), bounded and plain.
2. What each way of building a big value costs: every case runs in a fresh process, once in
   nubes' sandbox and once in the plain one, capped at 10 s of CPU and 2 GiB of address space;
   the table shows CPU seconds, peak memory (VmHWM) and how it ended.

Run: python bench/sandbox.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ORDINARY = [
    '"web-" ~ var.env ~ "-" ~ count.index',
    'var.tags | dictsort | map("join", "=") | join(",")',
    'range(20) | map("string") | join(" ")',
    '"%05d" % count.index',
    'var.names | select("ne", "x") | map("upper") | list',
]

BOMBS = [
    ("~ of two 1M strings", '("x" * 1000000) ~ ("x" * 1000000)'),
    ("center(10**9)", '"x" | center(1000000000)'),
    ("indent(10**9)", '"x" | indent(1000000000)'),
    ("format width 10**9", '"%1000000000d" | format(1)'),
    ("% precision 10**9", '"%.1000000000f" % 1.0'),
    ("str.format width", '"{:>1000000000}".format(1)'),
    ("lipsum(n=10**6)", "lipsum(n=1000000)"),
    ("map over range(10**5)", 'range(100000) | map("center", 1000) | list | length'),
    ("chained powers", "2 ** 1024 ** 1024 ** 1024"),
    ("join of 10**5 x 1M", '(["x" * 1000000] * 100000) | join | length'),
    ("replace that grows", '(("a" * 1000000) | replace("a", "bbbbbbbbbb")) | length'),
    ("batch fill 10**9", "range(10) | batch(1000000000, 0) | list | length"),
    ("template nested loops", 'template("loop.j2")'),
]

CHILD = """
import os, resource, sys, time
sys.path.insert(0, {root!r})
resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
cap = 2 * 1024**3
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from pathlib import Path
folder = Path({folder!r})
expr = {expr!r}
kind = {kind!r}
started = time.process_time()
try:
    if kind == "nubes":
        from nubes.engine.diag import SourceRange
        from nubes.engine.lang import Scope, evaluate, make_functions
        scope = Scope({{"var": {{}}, **make_functions(folder)}})
        result = evaluate("${{" + expr + "}}", scope, lambda p: SourceRange("s", 1, 1), ("x",))
        outcome = "diagnostic" if result.diags else "value"
    else:
        from jinja2 import FileSystemLoader
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(str(folder)))
        env.globals["template"] = lambda name: env.get_template(name).render()
        try:
            env.compile_expression(expr)()
            outcome = "value"
        except MemoryError:
            outcome = "MemoryError"
        except Exception as exc:
            outcome = type(exc).__name__
except MemoryError:
    outcome = "MemoryError"
peak = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(outcome, time.process_time() - started, int(peak) / 1024)
"""


def run_case(kind: str, expr: str, folder: Path) -> tuple[str, float, float]:
    code = CHILD.format(root=str(ROOT), folder=str(folder), expr=expr, kind=kind)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode != 0 or not done.stdout.strip():
        ended = "killed: CPU limit" if done.returncode in (-9, -24, 152) else "crashed"
        if "MemoryError" in done.stderr:
            ended = "MemoryError"
        return ended, cpu, float("nan")
    outcome, _, peak = done.stdout.split()
    return outcome, cpu, float(peak)


def ordinary_rate(bounded: bool) -> float:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from nubes.engine.diag import SourceRange
    from nubes.engine.lang import Scope, evaluate, make_functions

    variables = {"env": "prod", "tags": {"a": "1", "b": "2"}, "names": ["x", "y", "z"]}
    if bounded:
        scope = Scope({"var": variables, "count": {"index": 3}, **make_functions(ROOT)})
        texts = ["${" + e + "}" for e in ORDINARY]
        at = lambda p: SourceRange("s", 1, 1)  # noqa: E731

        def once() -> None:
            for text in texts:
                evaluate(text, scope, at, ("x",))

    else:
        env = ImmutableSandboxedEnvironment()
        compiled = [env.compile_expression(e) for e in ORDINARY]

        def once() -> None:
            for c in compiled:
                c(var=variables, count={"index": 3})

    once()
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.0:
        once()
        n += len(ORDINARY)
    return n / (time.perf_counter() - started)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="nubes-sandbox-"))
    (folder / "loop.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    print("sandbox: bounded (nubes) against jinja2's ImmutableSandboxedEnvironment\n")
    bounded, plain = ordinary_rate(True), ordinary_rate(False)
    print(f"{'ordinary expressions':<26} {'nubes':>12} {'jinja2':>12}")
    print(f"{'evaluations per second':<26} {bounded:>12,.0f} {plain:>12,.0f}")
    print(f"(nubes parses once and evaluates with references resolved; {len(ORDINARY)} kinds)\n")
    print(
        f"{'case':<24} {'nubes: CPU s':>12} {'peak MB':>8} {'ended':<11} "
        f"{'jinja2: CPU s':>13} {'peak MB':>8} ended"
    )
    for name, expr in BOMBS:
        ours = run_case("nubes", expr, folder)
        theirs = run_case("plain", expr, folder)
        print(
            f"{name:<24} {ours[1]:>12.2f} {ours[2]:>8.0f} {ours[0]:<11} "
            f"{theirs[1]:>13.2f} {theirs[2]:>8.0f} {theirs[0]}"
        )
    print(
        "\nEach case runs in a fresh process (CPU time includes starting Python and importing "
        "jinja2, about 0.1 s), capped at 10 s of CPU and 2 GiB."
    )


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    main()
