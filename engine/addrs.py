"""Addresses of resources and resource instances, as immutable values.

The string form is the user's own syntax: `web`, `web[0]`, `web["eu"]`. Plans and states are keyed
by these values, never by loose strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

InstanceKey = int | str | None

_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_ADDR_RE = re.compile(rf"^({_NAME})(?:\[(\d+|\"(?:[^\"\\]|\\.)*\")\])?$")
NAME_RE = re.compile(rf"^{_NAME}$")


@dataclass(frozen=True, slots=True, order=True)
class ResourceAddr:
    name: str

    def instance(self, key: InstanceKey = None) -> InstanceAddr:
        return InstanceAddr(self.name, key)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class InstanceAddr:
    name: str
    key: InstanceKey = None

    @property
    def resource(self) -> ResourceAddr:
        return ResourceAddr(self.name)

    def __str__(self) -> str:
        if self.key is None:
            return self.name
        if isinstance(self.key, int):
            return f"{self.name}[{self.key}]"
        return f"{self.name}[{json.dumps(self.key)}]"

    def sort_key(self) -> tuple[str, int, int, str]:
        if self.key is None:
            return (self.name, 0, 0, "")
        if isinstance(self.key, int):
            return (self.name, 1, self.key, "")
        return (self.name, 2, 0, self.key)

    def __lt__(self, other: InstanceAddr) -> bool:
        return self.sort_key() < other.sort_key()


def parse_instance_addr(text: str) -> InstanceAddr | None:
    """Parse `web`, `web[0]` or `web["key"]`; None when the text is not an address."""
    m = _ADDR_RE.match(text.strip())
    if m is None:
        return None
    name, key = m.group(1), m.group(2)
    if key is None:
        return InstanceAddr(name)
    if key.startswith('"'):
        return InstanceAddr(name, json.loads(key))
    return InstanceAddr(name, int(key))
