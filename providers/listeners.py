"""Load balancer listeners in the portable model, checked and normalized alike for every cloud.

A listener is `{protocol, port, instance_port}`: protocol http (default), https, tcp or ssl; the
port the balancer listens on and the port of the instances it forwards to (default: the same).
Drivers plan with the normalized form (defaults filled in, sorted by port, as clouds list them),
so neither defaults left out nor the order written ever show as a change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nubes.providers.errors import InvalidRequestError

PROTOCOLS = ("http", "https", "tcp", "ssl")


_PORT = re.compile(
    "[1-9][0-9]{0,4}"
)  # ASCII digits, no leading zero: what every parser reads alike


def _port(value: Any, what: str) -> int:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if _PORT.fullmatch(text) is None:
        raise InvalidRequestError(
            f"{what} must be a port number between 1 and 65535, not {value!r}"
        )
    port = int(text)
    if not 1 <= port <= 65535:
        raise InvalidRequestError(f"{what} {port} must be between 1 and 65535")
    return port


def check_listeners(listeners: Any) -> list[dict[str, Any]]:
    if not isinstance(listeners, list):
        raise InvalidRequestError("listeners must be a list")
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, listener in enumerate(listeners):
        if not isinstance(listener, Mapping):
            raise InvalidRequestError(
                f"listener {i} must be a map of protocol, port, instance_port"
            )
        unknown = set(listener) - {"protocol", "port", "instance_port"}
        if unknown:
            raise InvalidRequestError(
                f"listener {i}: unknown field(s) {', '.join(sorted(map(str, unknown)))}"
            )
        protocol = str(listener.get("protocol") or "http").lower()
        if protocol not in PROTOCOLS:
            raise InvalidRequestError(
                f"listener {i}: protocol must be one of {', '.join(PROTOCOLS)}"
            )
        if "port" not in listener:
            raise InvalidRequestError(f"listener {i}: port is required")
        port = _port(listener["port"], f"listener {i}: port")
        if port in seen:
            raise InvalidRequestError(f"listener {i}: port {port} is already a listener's")
        seen.add(port)
        instance_port = _port(listener.get("instance_port", port), f"listener {i}: instance_port")
        out.append({"protocol": protocol, "port": port, "instance_port": instance_port})
    if not out:
        raise InvalidRequestError("a load balancer needs at least one listener")
    return sorted(out, key=lambda listener: listener["port"])  # as clouds list them back
