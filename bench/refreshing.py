"""What the refresh benchmarks (ec2_refresh.py, openstack_refresh.py) share: the state a stack
would hold for every object a driver lists as the bench stack's, and a median of three runs."""

from __future__ import annotations

import statistics
import time
from typing import Any


def nubes_state(driver: Any, provider: str) -> Any:
    from nubes.engine.addrs import InstanceAddr
    from nubes.engine.state import ResourceState, State

    state = State("bench")
    for type_ in ("instance", "volume", "firewall"):
        for i, obj in enumerate(driver.list(type_, {"nubes:stack": "bench"})):
            addr = InstanceAddr(f"{type_}s", i)
            state.resources[addr] = ResourceState(addr, type_, provider, obj.id, obj.attributes)
    return state


def timed(fn: Any) -> tuple[float, int]:
    """The median seconds of three runs of `fn`, and the API calls it said it made."""
    runs = []
    calls = 0
    for _ in range(3):
        started = time.perf_counter()
        calls = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), calls
