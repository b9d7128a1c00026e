"""Pausing Python's cyclic garbage collector around bulk, acyclic allocation.

Loading and planning a large stack allocate hundreds of thousands of small objects and free
almost none; each full collection scans them all, which makes the work grow faster than the
stack. These stages create no reference cycles worth collecting, so the collector waits until
they finish (measured in bench/plan_scale.py).
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
