"""The activity log in a PostgreSQL backend's `activity` table: what the CLI, the API and the
console change is recorded where the team's state is, so every `nubes serve` of the team (and
`nubes activity` on any laptop) shows the same log. Keeps the newest `KEEP` entries.

A failure to record (the database gone) never fails the change itself, as with the file.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

from nubes.engine.activity import KEEP, Entry, Via, entry_fields
from nubes.engine.state.model import StateError
from nubes.engine.state.postgres import Connection, PostgresStore

TRIM_EVERY = 1000  # entries recorded between trims


def insert_entry(
    cur: Any, table: str, who: str, via: Via, action: str, target: str, result: str, detail: str
) -> None:
    """One entry into `table` through `cur` (inside whatever transaction `cur` is in)."""
    f = entry_fields(who, via, action, target, result, detail)
    cur.execute(
        f"INSERT INTO {table} (at, who, via, action, target, result, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (f["at"], f["who"], f["via"], f["action"], f["target"], f["result"], f["detail"]),
    )


class PostgresActivity:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.conn = Connection(store, 10.0)  # a bound on each statement: none hangs a request
        self._count = itertools.count(1)

    def record(
        self, who: str, via: Via, action: str, target: str, result: str, detail: str = ""
    ) -> None:
        table = self.store.t("activity")
        with contextlib.suppress(StateError), self.conn.cursor("record activity in") as cur:
            insert_entry(cur, table, who, via, action, target, result, detail)
            if next(self._count) % TRIM_EVERY == 0:
                cur.execute(
                    f"DELETE FROM {table} WHERE seq <= (SELECT max(seq) FROM {table}) - %s",
                    (KEEP,),
                )

    def entries(self) -> list[Entry]:
        """The newest KEEP entries, oldest first; StateError when the database cannot answer."""
        with self.conn.cursor("read the activity log from") as cur:
            cur.execute(
                "SELECT at, who, via, action, target, result, detail, seq FROM "
                f"(SELECT * FROM {self.store.t('activity')} ORDER BY seq DESC LIMIT %s) newest "
                "ORDER BY seq",
                (KEEP,),
            )
            return [Entry(*row) for row in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()
