"""A cloud's object states mapped onto the portable ones, declared as a table.

A state the table does not name is `unknown`, never a guess: a cloud that adds a state shows it
as unknown until the table learns it.
"""

from __future__ import annotations

from collections.abc import Mapping

UNKNOWN = "unknown"


class StateMap:
    def __init__(self, table: Mapping[str, str], default: str = UNKNOWN) -> None:
        self.table = dict(table)
        self.default = default

    def __call__(self, native: str | None) -> str:
        return self.table.get(native or "", self.default)

    def get(self, native: str | None, default: str | None = None) -> str:
        """Mapping-style access, for converters written against a plain dict."""
        return self.table.get(native or "", self.default if default is None else default)
