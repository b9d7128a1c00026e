"""The rules every driver and the engine share for choosing: the smallest hardware profile that
fits a size requirement, and the newest image that matches.

A requirement `{cpus, memory_gb, disk_gb, arch}` is met by the smallest fixed profile of that
architecture (ties broken by CPUs, memory, disk, then id), or else by a ranged profile whose
ranges hold the requested values (the first by id). A profile without local storage (0 GB) takes
network disks of any size. The newest image is the one created last; among images with no date,
the last by name (a versioned series: ubuntu-24.04-20240101 before ...0301), then by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nubes.providers.protocol import HardwareProfile, Image

SIZE_KEYS = {"cpus", "memory_gb", "disk_gb", "arch"}


def _span(value: float | tuple[float, float]) -> tuple[float, float]:
    return value if isinstance(value, tuple) else (value, value)


def size_text(requirement: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in requirement.items()) + "}"


def smallest_profile(
    profiles: list[HardwareProfile], requirement: Mapping[str, Any]
) -> tuple[HardwareProfile | None, str | None]:
    """The profile a requirement picks, or None and why not."""
    unknown = set(requirement) - SIZE_KEYS
    if unknown:
        return None, f"size takes {', '.join(sorted(SIZE_KEYS))}, not {', '.join(sorted(unknown))}"
    try:
        cpus = float(requirement.get("cpus", 1))
        memory = float(requirement.get("memory_gb", 0))
        disk = float(requirement.get("disk_gb", 0))
    except (TypeError, ValueError):
        return None, "cpus, memory_gb and disk_gb must be numbers"
    arch = str(requirement.get("arch", "x86_64"))

    def fits(p: HardwareProfile) -> bool:
        # a profile with no local storage (0) takes network disks of any size
        top_disk = _span(p.storage_gb)[1]
        return (
            p.architecture == arch
            and _span(p.cpus)[1] >= cpus
            and _span(p.memory_gb)[1] >= memory
            and (top_disk == 0 or top_disk >= disk)
        )

    fixed = [p for p in profiles if not isinstance(p.cpus, tuple) and fits(p)]
    if fixed:
        return min(fixed, key=lambda p: (p.cpus, p.memory_gb, p.storage_gb, p.id)), None
    ranged = [
        p
        for p in profiles
        if isinstance(p.cpus, tuple)
        and fits(p)
        and _span(p.cpus)[0] <= cpus
        and _span(p.memory_gb)[0] <= memory
    ]
    if ranged:
        return min(ranged, key=lambda p: p.id), None
    return None, (
        f"no {arch} hardware profile has at least {cpus:g} cpus, {memory:g} GB of "
        f"memory and {disk:g} GB of disk"
    )


def newest_image(images: Iterable[Image]) -> Image | None:
    """The newest of `images` (already filtered to those that match), None when there are none."""
    return max(images, key=lambda i: (i.created, i.name, i.id), default=None)
