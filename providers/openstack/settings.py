"""The openstack and rackspace provider blocks' settings (a kit settings model). Credentials
are not settings: they come from OpenStack's `OS_*` variables, a clouds.yaml entry named by
`cloud`, or the nubes credentials file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from nubes.providers.kit.settings import STRICT, parse_settings

TEXT = "a non-empty string"
URL = "an http:// or https:// URL"
SERVICES = ("compute", "image", "volume", "network", "object-store")
RACKSPACE_REGIONS = ("DFW", "ORD", "IAD", "LON", "SYD", "HKG")


class Settings(BaseModel):
    model_config = STRICT

    auth_url: str | None = Field(default=None, pattern=r"^https?://\S+$", description=URL)
    region: str | None = Field(default=None, min_length=1, description=TEXT)
    cloud: str | None = Field(
        default=None, min_length=1, description="the name of an entry in clouds.yaml"
    )
    project_name: str | None = Field(default=None, min_length=1, description=TEXT)
    identity_version: Literal["3", "2.0"] | None = Field(default=None, description='"3" or "2.0"')
    interface: Literal["public", "internal", "admin"] = Field(
        default="public", description="public, internal or admin"
    )
    endpoints: dict[str, str] = Field(
        default_factory=dict,
        description=f"a map from a service ({', '.join(SERVICES)}) to an http(s) URL",
    )
    network: str | None = Field(
        default=None, min_length=1, description="the name or id of the network servers join"
    )
    floating_network: str | None = Field(
        default=None, min_length=1, description="the name or id of the external network"
    )
    max_attempts: int = Field(default=8, ge=1, le=20, description="a whole number from 1 to 20")
    wait_seconds: float = Field(default=600.0, gt=0, description="a positive number")


def parse(config: Mapping[str, Any], driver: str) -> tuple[Settings | None, list[tuple[str, str]]]:
    settings, problems = parse_settings(Settings, driver, config)
    if settings is None:
        return None, problems
    for service, url in settings.endpoints.items():
        if service not in SERVICES:
            problems.append(
                (
                    "endpoints",
                    f"endpoints has no service {service!r} (services: {', '.join(SERVICES)})",
                )
            )
        elif not url.startswith(("http://", "https://")) or " " in url:
            problems.append(("endpoints", f"endpoints.{service} must be {URL}"))
    if (
        driver == "rackspace"
        and settings.region
        and settings.region.upper() not in RACKSPACE_REGIONS
    ):
        problems.append(
            ("region", f"region must be one of Rackspace's: {', '.join(RACKSPACE_REGIONS)}")
        )
    return (None if problems else settings), problems
