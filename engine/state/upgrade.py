"""State format upgrades: one function per older format, each lifting a document one version.

Old documents are kept readable forever; tests/state_formats holds a stored document of each
older format, read through these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.state.model import STATE_FORMAT



def _from_1(doc: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: `tainted: bool` becomes `status`; resources gain `token` (unknown: null)."""
    resources = []
    for r in [*doc.get("resources", []), *doc.get("deposed", [])]:
        r = dict(r)
        r["status"] = "tainted" if r.pop("tainted", False) else "ready"
        r.setdefault("token", None)
        resources.append(r)
    n = len(doc.get("resources", []))
    return {**doc, "format": 2, "resources": resources[:n], "deposed": resources[n:]}


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_1}


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    while doc["format"] < STATE_FORMAT:
        doc = UPGRADES[doc["format"]](doc)
    return doc
