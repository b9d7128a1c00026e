"""Run the nubes CLI in a child process with a fault armed at an exact point, for tests that
need a run to stop or die at a known step instead of at a wall-clock instant.

    python tests/nubes_child.py [--kill-after-record KIND:N] [--kill-before-record KIND:N]
                                [--stall-creates FILE] -- apply stack.yaml ...

--kill-after-record KIND:N   SIGKILL the process right after its N-th journal record of KIND is
                             on disk (KIND: intent-create, intent-delete, created, deleted,
                             settled, or any)
--kill-before-record KIND:N  SIGKILL it just before writing that record (for `created`: the
                             object exists in the cloud, the run never noted its id)
--stall-creates FILE    every driver create waits until FILE exists (after journaling its
                        intent), so other commands can be tried while an apply is mid-run
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def record_kind(record: dict[str, Any]) -> str:
    if "intent" in record:
        return f"intent-{record['intent']}"
    return next(iter(record))


def _arm_kill(when: str, spec: str) -> None:
    from nubes.engine.state import journal

    kind, _, number = spec.rpartition(":")
    wanted = int(number)
    original = journal.Journal._append
    seen = [0]

    def append(self: Any, record: dict[str, Any], durable: bool) -> None:
        hit = False
        if kind in ("any", record_kind(record)):
            seen[0] += 1
            hit = seen[0] == wanted
        if hit and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, record, durable)
        if hit:
            if self._fd is not None:
                os.fsync(self._fd)
            os.kill(os.getpid(), signal.SIGKILL)

    journal.Journal._append = append  # type: ignore[method-assign]


def _arm_stall(release: Path) -> None:
    from nubes.providers.sim.driver import SimDriver

    original = SimDriver.create

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        (release.parent / "stalled").touch()
        while not release.exists():
            time.sleep(0.02)
        return original(self, *args, **kwargs)

    SimDriver.create = create  # type: ignore[method-assign]


def main() -> None:
    args = sys.argv[1:]
    split = args.index("--")
    options, command = args[:split], args[split + 1 :]
    stall = None
    while options:
        flag, value = options.pop(0), options.pop(0)
        if flag in ("--kill-after-record", "--kill-before-record"):
            _arm_kill(flag.split("-")[3], value)
        elif flag == "--stall-creates":
            stall = Path(value)
        else:
            raise SystemExit(f"unknown option {flag}")
    if stall is not None:
        _arm_stall(stall)
    sys.argv = ["nubes", *command]
    from nubes.cli.entry import main as nubes

    nubes()


if __name__ == "__main__":
    main()
