"""Deltacloud's features, the optional parameters a collection takes, as drivers declare them
in their `DriverInfo` (each driver lists the ones its cloud supports)."""

from __future__ import annotations

from nubes.providers.protocol import Feature

USER_NAME = Feature("user_name", "create", ("name",))
USER_DATA = Feature("user_data", "create", ("user_data",))
AUTHENTICATION_KEY = Feature("authentication_key", "create", ("keyname",))
FIREWALLS = Feature("firewalls", "create", ("firewalls",))
REALM_FILTER = Feature("realm_filter", "index", ("realm_id",))
HARDWARE_PROFILE_OVERRIDES = Feature(
    "hardware_profile_overrides", "create", ("hwp_cpu", "hwp_memory", "hwp_storage")
)
OWNER_ID = Feature("owner_id", "index", ("owner_id",))

# the instance actions Deltacloud's instance views offer, by state
INSTANCE_ACTIONS = frozenset({"start", "stop", "reboot", "destroy"})
