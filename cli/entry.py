"""The console script's entry point: imports the CLI lazily, so that even a Ctrl-C that lands
while Python is still importing exits 130 with a sentence, not a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    try:
        from nubes.cli.main import main as run

        run()
    except KeyboardInterrupt:
        if os.environ.get("NUBES_DEBUG") == "1":
            raise
        sys.stderr.write("\nInterrupted; nothing was changed.\n")
        raise SystemExit(130) from None
