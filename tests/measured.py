"""Running nubes as a process and measuring what it cost: CPU time (not wall-clock time, which a
busy machine stretches) and peak memory.

The peak is the child's own VmHWM, read as it exits: the kernel's ru_maxrss would also count the
memory of the (large) test process it was forked from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAUNCH = """
import atexit, os, resource, sys
cap = 2 * 1024**3  # address space: a runaway allocation fails instead of swapping
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["NUBES_TEST_PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(report)
sys.argv = ["nubes", *sys.argv[1:]]
from nubes.cli.entry import main
main()
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float  # user and system time of the process
    peak_mb: float  # its largest resident set


def run_nubes(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as peak,
    ):
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            env={
                **os.environ,
                **(env or {}),
                "NO_COLOR": "1",
                "PYTHONPATH": str(ROOT),
                "NUBES_TEST_PEAK_FILE": peak.name,
            },
        )
        watchdog = threading.Timer(120, proc.kill)  # a hang fails the test instead of CI
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        reported = Path(peak.name).read_text().strip()
        return Run(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            usage.ru_utime + usage.ru_stime,
            int(reported) / 1024 if reported else float("inf"),
        )
