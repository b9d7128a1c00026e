"""The checks every driver's plan makes before anything reaches the cloud: the image, the
hardware profile and the realm exist (and agree on an architecture), and firewall rules are
valid, planned as the cloud will store them (defaults filled in).

Each check adds a problem to the `PlannedChange` in the cloud's own words and never raises; a
value not yet known (Unknown) is not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nubes.providers.errors import InvalidRequestError
from nubes.providers.listeners import check_listeners
from nubes.providers.protocol import PlannedChange
from nubes.providers.rules import check_rules
from nubes.providers.values import Unknown, contains_unknown


def check_rules_planned(config: Mapping[str, Any], change: PlannedChange) -> None:
    """A firewall's rules, normalised as the cloud stores them, or the problem with them."""
    if contains_unknown(config.get("rules")):
        return
    try:
        change.planned["rules"] = check_rules(config.get("rules") or [])
    except InvalidRequestError as exc:
        change.problems.append(("rules", exc.message))


def plan_profile(
    prior: Mapping[str, Any] | None, config: Mapping[str, Any], change: PlannedChange
) -> None:
    """An instance resized in place shows its new hardware profile in the plan (a cloud whose
    sizes are profile names: EC2's instance types, OpenStack's flavors)."""
    if prior is not None:
        wanted = config.get("size", Unknown)
        if wanted is not Unknown and wanted != prior.get("size"):
            change.planned["hardware_profile"] = wanted


def check_listeners_planned(config: Mapping[str, Any], change: PlannedChange) -> None:
    """A load balancer's listeners, normalised as the cloud stores them, or the problem."""
    if contains_unknown(config.get("listeners")):
        return
    try:
        change.planned["listeners"] = check_listeners(config.get("listeners") or [])
    except InvalidRequestError as exc:
        change.problems.append(("listeners", exc.message))


def check_realm(
    config: Mapping[str, Any],
    names: Callable[[], Sequence[str]],
    where: str,
    change: PlannedChange,
    noun: tuple[str, str] = ("realm", "realms"),
) -> None:
    """The realm a stack names is one of the cloud's; `where` (the region) and `noun` (what the
    cloud calls realms: EC2's availability zones) make the message the cloud's own."""
    realm = config.get("realm")
    if not isinstance(realm, str):
        return
    _known_realms("realm", [realm], names(), where, change, noun)


def check_realms(
    config: Mapping[str, Any],
    names: Callable[[], Sequence[str]],
    where: str,
    change: PlannedChange,
    noun: tuple[str, str] = ("realm", "realms"),
) -> None:
    """Each realm of a list (a load balancer's) is one of the cloud's (the schema plans them
    sorted, as clouds list them back)."""
    realms = config.get("realms")
    if not isinstance(realms, list) or contains_unknown(realms):
        return
    _known_realms("realms", realms, names(), where, change, noun)


def _known_realms(
    attr: str,
    realms: Sequence[Any],
    known: Sequence[str],
    where: str,
    change: PlannedChange,
    noun: tuple[str, str],
) -> None:
    for realm in realms:
        if realm not in known:
            change.problems.append(
                (attr, f"{noun[0]} {realm!r} is not in {where} ({noun[1]}: {', '.join(known)})")
            )


def check_value(
    attr: str, config: Mapping[str, Any], check: Callable[[Any], Any], change: PlannedChange
) -> Any:
    """Run `check` on a known, set value; its InvalidRequestError becomes the attribute's
    problem. Returns what the check found (None when skipped or refused)."""
    value = config.get(attr)
    if value is None or value is Unknown:
        return None
    try:
        return check(value)
    except InvalidRequestError as exc:
        change.problems.append((attr, exc.message))
        return None


def check_architectures(
    image: Any, profile: Any, change: PlannedChange, image_name: str, profile_name: str
) -> None:
    """An image and a profile of different architectures: the cloud would refuse the create."""
    if image is None or profile is None or image.architecture == profile.architecture:
        return
    change.problems.append(
        (
            "size",
            f"image {image_name} is {image.architecture}, but profile {profile_name} is "
            f"{profile.architecture}; choose a profile of the image's architecture",
        )
    )
