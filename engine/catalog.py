"""Resolving portable names (images, sizes, realms) to what each provider calls them.

An image is a portable name from the catalog (resolved per provider: a native id, or lookup
criteria sent to the driver, newest match winning) or anything else, which passes through to the
driver as a native id. A size is a profile name, or a requirement `{cpus, memory_gb, disk_gb,
arch}` met by the smallest fixed profile (ties broken by CPUs, memory, disk, then name) or else
by a ranged profile that takes the requested values. A realm may be a portable name mapped in the
catalog. The plan shows each choice beside the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nubes.engine.lang.unknown import contains_unknown
from nubes.engine.stack.model import Catalog, Provider
from nubes.providers.errors import ProviderError
from nubes.providers.kit.choose import size_text, smallest_profile
from nubes.providers.protocol import Driver, HardwareProfile


@dataclass(frozen=True)
class Resolved:
    value: Any  # what the driver is given
    note: str | None = None  # the portable spelling, shown in the plan
    problem: str | None = None


class Resolver:
    """Resolves portable names for one plan, asking each provider at most once per name."""

    def __init__(
        self, catalog: Catalog, drivers: Mapping[str, Driver], providers: Mapping[str, Provider]
    ) -> None:
        self.catalog = catalog
        self.drivers = drivers
        self.providers = providers
        self._images: dict[tuple[str, str], Resolved] = {}
        self._profiles: dict[str, list[HardwareProfile]] = {}

    def _entry(self, table: Mapping[str, Mapping[str, Any]], name: str, provider: str) -> Any:
        entries = table.get(name, {})
        return entries.get(provider, entries.get(self.providers[provider].driver))

    def _available(self, table: Mapping[str, Mapping[str, Any]], provider: str) -> str:
        driver = self.providers[provider].driver
        names = sorted(n for n, e in table.items() if provider in e or driver in e)
        return ", ".join(names) or "none"

    def image(self, provider: str, value: Any) -> Resolved:
        if not isinstance(value, str) or value not in self.catalog.images:
            return Resolved(value)  # a native id: the driver checks it
        key = (provider, value)
        if key not in self._images:
            self._images[key] = self._resolve_image(provider, value)
        return self._images[key]

    def _resolve_image(self, provider: str, name: str) -> Resolved:
        spec = self._entry(self.catalog.images, name, provider)
        driver = self.providers[provider].driver
        if spec is None:
            return Resolved(
                name,
                problem=(
                    f"image {name!r} is not in the catalog for provider {provider!r} ({driver}); "
                    f"available there: {self._available(self.catalog.images, provider)}"
                ),
            )
        if isinstance(spec, str):
            return Resolved(spec, name)
        try:
            found = self.drivers[provider].lookup("image", spec)
        except ProviderError as exc:
            return Resolved(name, problem=f"looking up image {name!r} on {provider!r}: {exc}")
        if found is None:
            return Resolved(
                name,
                problem=(
                    f"image {name!r} finds nothing on provider {provider!r} ({driver}) with "
                    f"{json.dumps(spec)}"
                ),
            )
        return Resolved(found.id, name)

    def size(self, provider: str, value: Any) -> Resolved:
        if not isinstance(value, Mapping) or contains_unknown(value):
            return Resolved(value)
        if provider not in self._profiles:
            try:
                self._profiles[provider] = self.drivers[provider].hardware_profiles()
            except ProviderError as exc:
                return Resolved(value, problem=f"reading hardware profiles of {provider!r}: {exc}")
        best, why = smallest_profile(self._profiles[provider], value)
        if best is None:
            return Resolved(value, problem=f"on provider {provider!r}: {why}")
        if isinstance(best.cpus, tuple):  # ranged: it takes the requested values
            return Resolved(dict(value), f"{best.id}, sized {size_text(value)}")
        return Resolved(best.id, size_text(value))

    def realm(self, provider: str, value: Any) -> Resolved:
        if not isinstance(value, str) or value not in self.catalog.realms:
            return Resolved(value)
        zone = self._entry(self.catalog.realms, value, provider)
        if zone is None:
            return Resolved(
                value,
                problem=(
                    f"realm {value!r} has no zone for provider {provider!r}; mapped there: "
                    f"{self._available(self.catalog.realms, provider)}"
                ),
            )
        return Resolved(zone, value)
