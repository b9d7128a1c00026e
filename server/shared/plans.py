"""Reviewed plans in a PostgreSQL backend's `reviews` table, so a plan reviewed through one
server of a team is shown, applied or discarded through any other (as `nubes plan --out FILE`
then `nubes apply FILE` on another machine).

A row holds the plan as a plan file holds it (sensitive values too: the table is as private as
the states beside it). Taking a review deletes its row in the same statement that reads it, so
of two servers asked at once to apply it, one applies it and the other answers 404. The server
that made it keeps it configured in memory as well; another configures its drivers when it
applies it. Reviews are kept `KEEP_SECONDS`, at most `MAX_PLANS`.
"""

from __future__ import annotations

import json
import time

from nubes.engine.plan.planfile import plan_document, plan_from_document
from nubes.engine.state.postgres import Connection, PostgresStore
from nubes.server.http import ApiError
from nubes.server.plans import KEEP_SECONDS, MAX_PLANS, Plans, Reviewed


class PostgresPlans(Plans):
    def __init__(self, store: PostgresStore) -> None:
        super().__init__()
        self.table = store.t("reviews")
        self.conn = Connection(store, 10.0)  # a bound on each statement: none hangs a request

    def add(self, reviewed: Reviewed) -> None:
        super().add(reviewed)
        doc = json.dumps(plan_document(reviewed.plan))
        with self.conn.cursor("keep a reviewed plan in", transaction=True) as cur:
            cur.execute(
                f"DELETE FROM {self.table} WHERE made_at < %s", (time.time() - KEEP_SECONDS,)
            )
            cur.execute(
                f"INSERT INTO {self.table} (id, stack, who, made_at, doc) "
                "VALUES (%s, %s, %s, %s, %s)",
                (reviewed.id, reviewed.stack, reviewed.who, reviewed.made_at, doc),
            )
            cur.execute(
                f"DELETE FROM {self.table} WHERE id IN (SELECT id FROM {self.table} "
                "ORDER BY made_at DESC OFFSET %s)",
                (MAX_PLANS,),
            )

    def _row(self, stack: str, id: str, take: bool) -> Reviewed | None:
        sql = (
            f"DELETE FROM {self.table} WHERE id = %s AND stack = %s AND made_at >= %s "
            "RETURNING id, stack, who, made_at, doc"
            if take
            else f"SELECT id, stack, who, made_at, doc FROM {self.table} WHERE id = %s AND "
            "stack = %s AND made_at >= %s"
        )
        with self.conn.cursor("read a reviewed plan from") as cur:
            cur.execute(sql, (id, stack, time.time() - KEEP_SECONDS))
            row = cur.fetchone()
        if row is None:
            return None
        plan, diags = plan_from_document(json.loads(row[4]), f"reviewed plan {id}")
        if plan is None:
            raise ApiError(500, "; ".join(d.summary for d in diags))
        return Reviewed(row[0], row[1], plan, None, row[2], row[3])

    def get(self, stack: str, id: str) -> Reviewed:
        try:
            return super().get(stack, id)
        except ApiError:
            found = self._row(stack, id, take=False)
            if found is None:
                raise
            return found

    def take(self, stack: str, id: str) -> Reviewed:
        taken = self._row(stack, id, take=True)  # the row goes first: one server applies it
        try:
            mine = super().take(stack, id)
        except ApiError:
            mine = None
        if mine is not None:
            if taken is None:  # another server took it a moment ago
                raise ApiError(404, f"plan {id} is being applied or was discarded")
            return mine
        if taken is None:
            raise ApiError(404, f"stack {stack} has no plan {id} (plans are kept for an hour)")
        return taken

    def close(self) -> None:
        self.conn.close()
