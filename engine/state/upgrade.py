"""State format upgrades: one function per older format, each lifting a document one version.

There is only format 1 so far; when format 2 arrives, `_from_1` goes here, with stored format-1
documents in the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.state.model import STATE_FORMAT

UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    while doc["format"] < STATE_FORMAT:
        doc = UPGRADES[doc["format"]](doc)
    return doc
