"""Run the nubes CLI in a child process with a fault armed at an exact point, for tests that
need a run to stop or die at a known step instead of at a wall-clock instant.

    python tests/nubes_child.py [--kill-after-record N] [--kill-before-record N]
                                [--stall-creates FILE] -- apply stack.yaml ...

--kill-after-record N   SIGKILL the process right after its N-th journal record is on disk
--kill-before-record N  SIGKILL it just before writing its N-th record (the call it follows
                        has reached the cloud, its outcome is unrecorded)
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


def _arm_kill(after: int | None, before: int | None) -> None:
    from engine.state import journal

    original = journal.Journal._append
    seen = [0]

    def append(self: Any, record: dict[str, Any], durable: bool) -> None:
        seen[0] += 1
        if before is not None and seen[0] == before:
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, record, durable)
        if after is not None and seen[0] == after:
            if self._fd is not None:
                os.fsync(self._fd)
            os.kill(os.getpid(), signal.SIGKILL)

    journal.Journal._append = append  # type: ignore[method-assign]


def _arm_stall(release: Path) -> None:
    from providers.sim.driver import SimDriver

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
    after = before = None
    stall = None
    while options:
        flag, value = options.pop(0), options.pop(0)
        if flag == "--kill-after-record":
            after = int(value)
        elif flag == "--kill-before-record":
            before = int(value)
        elif flag == "--stall-creates":
            stall = Path(value)
        else:
            raise SystemExit(f"unknown option {flag}")
    if after is not None or before is not None:
        _arm_kill(after, before)
    if stall is not None:
        _arm_stall(stall)
    sys.argv = ["nubes", *command]
    from engine.cli.entry import main as nubes

    nubes()


if __name__ == "__main__":
    main()
