"""State format upgrades: one function per older format, each lifting a document one version.

Old documents are kept readable forever; tests/state_formats holds a stored document of each
older format, read through these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nubes.engine.state.model import STATE_FORMAT, StateError


def _from_1(doc: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: `tainted: bool` becomes `status`; resources gain `token` (unknown: null)."""
    resources = []
    listed, deposed = doc.get("resources") or [], doc.get("deposed") or []
    if not isinstance(listed, list) or not isinstance(deposed, list):
        raise StateError("resources and deposed must be lists")
    for r in [*listed, *deposed]:
        if not isinstance(r, dict):
            raise StateError("each resource must be an object")
        r = dict(r)
        tainted = r.pop("tainted", False)
        if not isinstance(tainted, bool):
            raise StateError(f"a resource's tainted must be true or false, not {tainted!r}")
        r["status"] = "tainted" if tainted else "ready"
        r.setdefault("token", None)
        resources.append(r)
    n = len(listed)
    return {**doc, "format": 2, "resources": resources[:n], "deposed": resources[n:]}


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_1}


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    while doc["format"] < STATE_FORMAT:
        if doc["format"] not in UPGRADES:
            raise StateError(f"format {doc['format']} was never a nubes state format")
        doc = UPGRADES[doc["format"]](doc)
    return doc
