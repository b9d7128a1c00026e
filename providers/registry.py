"""Finding a driver by name, importing only the one asked for."""

from __future__ import annotations

import importlib

from nubes.providers.protocol import Driver

_DRIVERS: dict[str, str] = {
    "sim": "nubes.providers.sim:SimDriver",
    "ec2": "nubes.providers.ec2:Ec2Driver",
    "openstack": "nubes.providers.openstack:OpenStackDriver",
    "rackspace": "nubes.providers.openstack:RackspaceDriver",
}
# names other tools use for the same driver (Deltacloud's clients select "mock")
ALIASES = {"mock": "sim"}
# what the API calls a driver, where Deltacloud's clients know it by another name
API_NAMES = {"sim": "mock"}


def api_name(driver: str) -> str:
    """The driver's name as Deltacloud reports it (`mock` for the sim)."""
    return API_NAMES.get(driver, driver)


def driver_names() -> list[str]:
    return sorted(_DRIVERS)


def load_driver(name: str) -> Driver | None:
    """A new, unconfigured driver, or None if no driver has this name."""
    target = _DRIVERS.get(ALIASES.get(name, name))
    if target is None:
        return None
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    driver: Driver = cls()
    return driver
