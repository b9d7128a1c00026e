"""Metrics the sim makes up for its instances: plausible, and the same on every read.

Each running instance has one sample a minute over its last six minutes of uptime (fewer when it
started less than six minutes ago; none while it is stopped). A sample's values come from a load
that is a fixed function of the instance's id and the minute, so two reads of one minute agree;
CPU use falls with more CPUs, and disk and network traffic grow with the load and the memory.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from nubes.providers.protocol import METRIC_UNITS, Metric, Sample

PERIOD = 60  # seconds a sample covers
SAMPLES = 6

# per unit of load and GB of memory, in a minute
SCALE = {
    "diskReadRequestCount": 600.0,
    "diskReadSector": 9600.0,
    "diskWriteRequestCount": 300.0,
    "diskWriteSector": 4800.0,
    "nicInputByte": 2_000_000.0,
    "nicInputPacket": 1800.0,
    "nicOutputByte": 5_000_000.0,
    "nicOutputPacket": 3600.0,
}


def _load(instance: str, minute: int, name: str) -> tuple[float, float, float]:
    """(low, high, mean) of a load in [0, 1] for one instance, minute and measure."""
    digest = hashlib.sha256(f"{instance}/{minute}/{name}".encode()).digest()
    base = 0.15 + 0.6 * digest[0] / 255  # every instance works, none is pinned at 100 %
    spread = 0.05 + 0.2 * digest[1] / 255
    low, high = max(0.0, base - spread), min(1.0, base + spread)
    return low, high, (low + high) / 2


def metrics(
    instance: str,
    launched_at: str | None,
    running: bool,
    cpus: float,
    memory_gb: float,
    now: float | None = None,
) -> list[Metric]:
    now = time.time() if now is None else now
    started = _epoch(launched_at) if launched_at else now
    last = int(now // PERIOD) - 1  # the newest whole minute
    first = max(int(started // PERIOD), last - SAMPLES + 1)
    minutes = range(first, last + 1) if running else range(0)
    out = []
    for name, unit in METRIC_UNITS.items():
        samples = []
        for minute in minutes:
            low, high, mean = _load(instance, minute, name)
            if name == "cpuUtilization":
                factor = 100.0 / max(1.0, cpus**0.5)
            else:
                factor = SCALE[name] * max(0.5, memory_gb) ** 0.5
            stamp = datetime.fromtimestamp(minute * PERIOD, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            samples.append(
                Sample(
                    stamp, round(low * factor, 2), round(high * factor, 2), round(mean * factor, 2)
                )
            )
        out.append(Metric(name, unit, tuple(samples)))
    return out


def _epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
