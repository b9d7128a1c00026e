"""Firewall rules in the portable model, checked and normalized the same way for every cloud.

A rule is `{protocol, ports, sources}`: protocol tcp (default), udp, icmp or all; ports "22" or
"8000-8080" (empty: all); sources a list of CIDRs (default 0.0.0.0/0). Drivers plan with the
normalized form, so a rule written with defaults left out does not show as a change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from nubes.providers.errors import InvalidRequestError

_PROTOCOLS = {"tcp", "udp", "icmp", "all"}


def check_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise InvalidRequestError("rules must be a list")
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise InvalidRequestError(f"rule {i} must be a map of protocol, ports, sources")
        unknown = set(rule) - {"protocol", "ports", "sources"}
        if unknown:
            raise InvalidRequestError(f"rule {i}: unknown field(s) {', '.join(sorted(unknown))}")
        protocol = str(rule.get("protocol", "tcp"))
        if protocol not in _PROTOCOLS:
            raise InvalidRequestError(f"rule {i}: protocol must be one of tcp, udp, icmp, all")
        ports = str(rule.get("ports", "")) if rule.get("ports") is not None else ""
        if ports:
            low, _, high = ports.partition("-")
            if (
                not low.isdigit()
                or (high and not high.isdigit())
                or not (0 <= int(low) <= int(high or low) <= 65535)
            ):
                raise InvalidRequestError(f"rule {i}: ports {ports!r} must be like 22 or 8000-8080")
        sources = rule.get("sources") or ["0.0.0.0/0"]
        if not isinstance(sources, list):
            raise InvalidRequestError(f"rule {i}: sources must be a list of CIDRs")
        for source in sources:
            try:
                ipaddress.ip_network(str(source), strict=False)
            except ValueError:
                raise InvalidRequestError(f"rule {i}: {source!r} is not a CIDR") from None
        out.append({"protocol": protocol, "ports": ports, "sources": [str(s) for s in sources]})
    return out
