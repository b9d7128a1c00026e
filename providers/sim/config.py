"""The sim provider block's settings (a kit settings model) and their checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from nubes.providers.kit.settings import STRICT, parse_settings
from nubes.providers.sim.catalog import DEFAULT_REGION

AT_LEAST_0 = "a number of at least 0"
WHOLE = "a whole number of at least 0"
BELOW_1 = "a number of at least 0 and below 1"


class SimConfig(BaseModel):
    model_config = STRICT

    region: str = Field(default=DEFAULT_REGION, min_length=1, description="a non-empty string")
    # whose realms, hardware profiles and public images: the sim's, or Deltacloud mock's
    catalog: Literal["nubes", "mock"] = Field(default="nubes", description="nubes or mock")
    data_dir: str | None = Field(default=None, min_length=1, description="a path")
    latency_ms: float = Field(default=0.0, ge=0, description=AT_LEAST_0)
    boot_seconds: float = Field(default=0.0, ge=0, description=AT_LEAST_0)
    fail_rate: float = Field(default=0.0, ge=0, lt=1, description=BELOW_1)
    seed: int | None = Field(default=None, ge=0, description=WHOLE)
    max_instances: int | None = Field(default=None, ge=0, description=WHOLE)
    max_retries: int = Field(default=8, ge=0, description=WHOLE)
    # deadline for one operation's retries
    retry_seconds: float = Field(default=120.0, ge=0, description=AT_LEAST_0)
    # share of instances that never reach running
    boot_fail_rate: float = Field(default=0.0, ge=0, lt=1, description=BELOW_1)
    # how long a write waits for another process holding the database
    busy_seconds: float = Field(default=5.0, ge=0, description=AT_LEAST_0)
    # when set, the cloud wants an API key whose SHA-256 this is (the key itself comes from
    # NUBES_SIM_API_KEY or the credentials file, never from the stack)
    api_key_sha256: str | None = Field(
        default=None, pattern="^[0-9a-fA-F]{64}$", description="a SHA-256 hex digest"
    )


def parse_config(config: Mapping[str, Any]) -> tuple[SimConfig, list[tuple[str, str]]]:
    parsed, problems = parse_settings(SimConfig, "sim", config)
    if parsed is None:
        return SimConfig(), problems
    if parsed.api_key_sha256:
        parsed = parsed.model_copy(update={"api_key_sha256": parsed.api_key_sha256.lower()})
    return parsed, problems
