"""The sim provider block's settings and their checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nubes.providers.sim.catalog import DEFAULT_REGION


@dataclass(frozen=True)
class SimConfig:
    region: str = DEFAULT_REGION
    data_dir: Path | None = None
    latency_ms: float = 0.0
    boot_seconds: float = 0.0
    fail_rate: float = 0.0
    seed: int | None = None
    max_instances: int | None = None
    max_retries: int = 8
    retry_seconds: float = 120.0  # deadline for one operation's retries
    boot_fail_rate: float = 0.0  # share of instances that never reach running
    busy_seconds: float = 5.0  # how long a write waits for another process holding the database
    # when set, the cloud wants an API key whose SHA-256 this is (the key itself comes from
    # NUBES_SIM_API_KEY or the credentials file, never from the stack)
    api_key_sha256: str | None = None


_NUMBERS = {
    "latency_ms",
    "boot_seconds",
    "fail_rate",
    "retry_seconds",
    "boot_fail_rate",
    "busy_seconds",
}


def parse_config(config: Mapping[str, Any]) -> tuple[SimConfig, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for key, value in config.items():
        if key not in SimConfig.__dataclass_fields__:
            allowed = ", ".join(SimConfig.__dataclass_fields__)
            problems.append((key, f"unknown sim setting {key!r} (settings: {allowed})"))
        elif key in _NUMBERS:
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                problems.append((key, f"{key} must be a number of at least 0"))
            elif key in ("fail_rate", "boot_fail_rate") and value >= 1:
                problems.append((key, f"{key} must be below 1"))
            else:
                values[key] = float(value)
        elif key in ("seed", "max_instances", "max_retries"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append((key, f"{key} must be a whole number of at least 0"))
            else:
                values[key] = value
        elif key == "api_key_sha256":
            if not isinstance(value, str) or len(value) != 64:
                problems.append((key, "api_key_sha256 must be a SHA-256 hex digest"))
            else:
                values[key] = value.lower()
        elif key == "region":
            if not isinstance(value, str) or not value:
                problems.append((key, "region must be a non-empty string"))
            else:
                values[key] = value
        elif key == "data_dir":
            if not isinstance(value, str) or not value:
                problems.append((key, "data_dir must be a path"))
            else:
                values[key] = Path(value)
    return SimConfig(**values), problems
