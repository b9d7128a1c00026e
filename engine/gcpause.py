"""Pausing Python's cyclic garbage collector around bulk, acyclic allocation.

Loading and planning a large stack allocate hundreds of thousands of small objects and free
almost none; each full collection scans them all, which makes the work grow faster than the
stack. These stages create no reference cycles worth collecting, so the collector may wait until
they finish (measured in bench/plan_scale.py).

The collector is one per process: only a front end that runs one thing at a time may pause it
(the CLI, around loading and planning). The engine never does, so that a server's threads never
turn it off under one another.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
