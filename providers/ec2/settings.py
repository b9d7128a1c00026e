"""The ec2 provider block's settings (a kit settings model). Credentials are not settings: they
come from the environment, AWS's own files, or the nubes credentials file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from nubes.providers.kit.settings import STRICT, parse_settings

TEXT = "a non-empty string"


class Settings(BaseModel):
    model_config = STRICT

    region: str = Field(default="us-east-1", min_length=1, description=TEXT)
    endpoint: str | None = Field(
        default=None, pattern=r"^https?://\S+$", description="an http:// or https:// URL"
    )
    profile: str | None = Field(default=None, min_length=1, description=TEXT)
    max_attempts: int = Field(default=8, ge=1, le=20, description="a whole number from 1 to 20")
    wait_seconds: float = Field(default=600.0, gt=0, description="a positive number")


def parse(config: Mapping[str, Any]) -> tuple[Settings | None, list[tuple[str, str]]]:
    return parse_settings(Settings, "ec2", config)
