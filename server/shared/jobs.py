"""Jobs in a PostgreSQL backend, so every `nubes serve` of a team shows, streams and cancels
every job, wherever it runs.

The server running a job writes its row and its events (`jobs`, `job_events`) as it goes, in
batches every `SYNC_SECONDS` and at once when it ends (a write that fails is tried again), and
renews its own lease (`servers`, with the lease's length) every third of it, on a thread and a
connection of its own so that no slow write delays it. A server that could not renew its lease
for most of it stops its jobs starting anything more, since others may take them for dead.

Another server reads them; a cancel it is asked for sets the row's `cancel`,
which the running server sees within a second and stops the job. A job whose server stopped
renewing its lease (killed, cut off) is marked failed by whichever server notices first; the
stack's lock died with the killed server's connections, so the next apply takes it and finishes
what the journal holds. Times are the database's, so servers' clocks need not agree.

Each write is announced with NOTIFY; every server LISTENs and relays the events of jobs it does
not run to its console's live channel, so a page open on any server follows any job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any

from nubes.engine.activity import Via
from nubes.engine.apply import Event, event
from nubes.engine.state.model import StateError
from nubes.engine.state.pgactivity import insert_entry
from nubes.engine.state.postgres import Connection, PostgresStore, connect_kwargs
from nubes.server.console.bus import Bus
from nubes.server.jobs import LIVE, Job, Jobs

SYNC_SECONDS = 0.2  # how often a running job's new events are written
STATEMENT_SECONDS = 5.0  # the longest any statement of the server's own may take
SWEPT = 1_000_000_000  # the seq of the job_end a sweeper writes: after any of the job's own
CANCEL_SECONDS = 1.0  # how often the running server looks for cancels asked elsewhere
KEEP_DAYS = 7  # finished jobs are deleted after this
DEFAULT_LEASE = 30.0
MAX_RELAYED = 1000  # foreign jobs whose relayed position is remembered

log = logging.getLogger("nubes.server")


def lease_seconds(environ: dict[str, str] | Any) -> float:
    try:
        return max(1.0, float(environ.get("NUBES_SERVER_LEASE_SECONDS", DEFAULT_LEASE)))
    except ValueError:
        return DEFAULT_LEASE


class PostgresJobs(Jobs):
    def __init__(
        self,
        store: PostgresStore,
        server: str,
        address: str,
        bus: Bus | None,
    ) -> None:
        super().__init__(server)
        self.store = store
        self.lease = lease_seconds(store.environ)
        self.bus = bus
        self.channel = f"nubes_jobs_{store.namespace}"  # short, whatever the schema's length
        self._reads = Connection(store, STATEMENT_SECONDS)
        self._writes = Connection(store, STATEMENT_SECONDS)
        self._beats = Connection(store, STATEMENT_SECONDS)
        self._renewed = time.monotonic()
        self._flush_lock = threading.Lock()
        self._flushed: dict[str, int] = {}  # job -> events written
        self._dirty: set[str] = set()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._relayed: OrderedDict[str, int] = OrderedDict()
        self.address = address
        self._heartbeat()
        self._threads = [
            threading.Thread(target=self._sync_loop, name="nubes-jobs-sync", daemon=True),
            threading.Thread(target=self._beat_loop, name="nubes-jobs-lease", daemon=True),
            threading.Thread(target=self._listen_loop, name="nubes-jobs-listen", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def t(self, table: str) -> str:
        return self.store.t(table)

    # ---- this server's jobs ----------------------------------------------------------------

    def add(self, job: Job) -> None:
        """Register the job here and in the database (before anyone is told its id)."""
        with self._writes.cursor("record a job in", transaction=True) as cur:
            cur.execute(
                f"INSERT INTO {self.t('jobs')} (id, stack, kind, who, via, state, summary, "
                "diagnostics, server) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job.id,
                    job.stack,
                    job.kind,
                    job.who,
                    str(job.via),
                    job.state,
                    job.summary,
                    "[]",
                    self.server,
                ),
            )
        super().add(job)  # only once it is in the database: a failed insert leaves nothing
        job.on_event = self._on_event

    def _on_event(self, job: Job, e: Event) -> None:
        if e.get("type") == "job_end" and self._flush(job):
            return  # the outcome is in the database before the job is done
        self._dirty.add(job.id)  # written by the sync thread (again, if that write failed)
        self._wake.set()

    def _flush(self, job: Job) -> bool:
        """Write the job's new events and its row; False when the database did not take them
        (they are written at a later flush)."""
        with self._flush_lock:
            start = self._flushed.get(job.id, 0)
            events = job.events[start:]
            rows = [(job.id, start + i, json.dumps(e)) for i, e in enumerate(events)]
            ended = bool(events) and events[-1].get("type") == "job_end"
            # a state that says the job ended goes only with its job_end, so that whoever
            # reads one reads the other
            state = job.state if job.state in LIVE or ended else "running"
            try:
                with self._writes.cursor("write a job's progress to", transaction=True) as cur:
                    cur.execute(
                        f"SELECT state FROM {self.t('jobs')} WHERE id = %s FOR UPDATE", (job.id,)
                    )
                    found = cur.fetchone()
                    swept = found is not None and found[0] not in LIVE
                    if rows:
                        cur.executemany(
                            f"INSERT INTO {self.t('job_events')} (job, seq, event) "
                            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                            rows,
                        )
                    if ended and swept:  # it finished after all: its own end is the true one
                        cur.execute(
                            f"DELETE FROM {self.t('job_events')} WHERE job = %s AND seq >= %s",
                            (job.id, SWEPT),
                        )
                    if found is not None and (ended or not swept):
                        cur.execute(
                            f"UPDATE {self.t('jobs')} SET state = %s, summary = %s, "
                            "diagnostics = %s WHERE id = %s",
                            (state, job.summary, json.dumps(job.diagnostics), job.id),
                        )
                    cur.execute("SELECT pg_notify(%s, %s)", (self.channel, job.id))
            except StateError as exc:
                log.warning("job %s: %s", job.id, exc)
                return False
            self._flushed[job.id] = start + len(rows)
            if ended:
                self._flushed.pop(job.id, None)
        if swept and not ended and not job.stop.is_set():
            # another server marked it failed: this one was cut off longer than its lease
            job.stop.set()
        return True

    # ---- any server's jobs -----------------------------------------------------------------

    def _row(self, id: str) -> tuple[Any, ...] | None:
        with self._reads.cursor("read a job from") as cur:
            cur.execute(
                f"SELECT id, stack, kind, who, via, state, summary, diagnostics, server, cancel "
                f"FROM {self.t('jobs')} WHERE id = %s",
                (id,),
            )
            row: tuple[Any, ...] | None = cur.fetchone()
            return row

    def _events(self, id: str, after: int) -> tuple[list[Event], int]:
        """The job's events from seq `after` on, and the seq to ask from next."""
        with self._reads.cursor("read a job's events from") as cur:
            cur.execute(
                f"SELECT seq, event FROM {self.t('job_events')} WHERE job = %s AND seq >= %s "
                "ORDER BY seq",
                (id, after),
            )
            rows = cur.fetchall()
        return [json.loads(text) for _, text in rows], (rows[-1][0] + 1 if rows else after)

    def get(self, id: str) -> Job | None:
        local = super().get(id)
        if local is not None:
            return local
        row = self._row(id)
        if row is None:
            return None
        job = Job(
            row[0],
            row[1],
            state=row[5],
            summary=row[6],
            diagnostics=json.loads(row[7]),
            events=self._events(id, 0)[0],
            kind=row[2],
            who=row[3],
            via=_via(row[4]),
            server=row[8],
        )
        if row[9]:
            job.cancelled = True
            job.stop.set()
        if job.finished:
            job.done.set()
        return job

    def events_after(self, id: str, sent: int) -> tuple[list[Event], bool, int]:
        if super().get(id) is not None:
            return super().events_after(id, sent)
        row = self._row(id)
        if row is None:
            return [], True, sent
        events, after = self._events(id, sent)
        return events, row[5] not in LIVE, after

    def cancel(self, id: str) -> Job | None:
        if super().get(id) is not None:
            return super().cancel(id)
        with self._writes.cursor("cancel a job in", transaction=True) as cur:
            cur.execute(
                f"UPDATE {self.t('jobs')} SET cancel = true WHERE id = %s AND state IN "
                "('queued', 'running')",
                (id,),
            )
        return self.get(id)

    # ---- the background work ---------------------------------------------------------------

    def _sync_loop(self) -> None:
        swept = cancels = 0.0
        pruned = time.monotonic()
        while not self._closing.is_set():
            self._wake.wait(SYNC_SECONDS)
            self._wake.clear()
            try:
                for id in list(self._dirty):
                    self._dirty.discard(id)
                    job = super().get(id)
                    if job is not None and not self._flush(job):
                        self._dirty.add(id)  # tried again at the next round
                now = time.monotonic()
                if now - swept >= self.lease / 3:
                    self._sweep_lost()
                    swept = now
                if now - cancels >= CANCEL_SECONDS:
                    self._pick_up_cancels()
                    cancels = now
                if now - pruned >= 600:
                    self._prune()
                    pruned = now
            except StateError as exc:
                log.warning("%s", exc)  # the database is away: tried again shortly
            except Exception:  # a bug must not end the sync for good
                log.exception("the jobs' sync failed")

    def _heartbeat(self) -> None:
        with self._beats.cursor("renew this server's lease in") as cur:
            cur.execute(
                f"INSERT INTO {self.t('servers')} (id, address, lease) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET seen_at = now(), lease = excluded.lease",
                (self.server, self.address, self.lease),
            )
        self._renewed = time.monotonic()

    def _beat_loop(self) -> None:
        while not self._closing.wait(self.lease / 3):
            try:
                self._heartbeat()
            except StateError as exc:
                log.warning("%s", exc)
            except Exception:  # a bug must not end the lease for good
                log.exception("renewing the lease failed")
            if time.monotonic() - self._renewed > 0.8 * self.lease:
                # other servers may take this one's jobs for dead: they start nothing more
                for job in self._live():
                    if not job.stop.is_set():
                        job.stop.set()
                        job.emit("lease_lost")

    def _live(self) -> list[Job]:
        with self._lock:
            return [j for j in self._by_id.values() if not j.done.is_set()]

    def _sweep_lost(self) -> None:
        """Fail the live jobs of servers whose lease lapsed, each with a last event saying so.
        Each server's lease is its own (servers.lease); a job whose server has no live lease,
        or no row at all, is lost."""
        with self._writes.cursor("fail the jobs of stopped servers in", transaction=True) as cur:
            cur.execute(
                f"UPDATE {self.t('jobs')} j SET state = 'failed', summary = 'the server running "
                "it (' || j.server || ') stopped renewing its lease: killed, stalled or cut "
                "off from the database. A killed server''s state lock ends with its "
                "connection, and the next apply finishes what it left' "
                "WHERE j.state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM "
                f"{self.t('servers')} s WHERE s.id = j.server AND "
                "s.seen_at >= now() - make_interval(secs => s.lease)) "
                "RETURNING j.id, j.summary, j.who, j.via, j.kind, j.stack"
            )
            lost = cur.fetchall()
            for id, summary, who, via, kind, stack in lost:
                # in the activity log in the same transaction: whoever sees it failed finds why
                insert_entry(cur, self.t("activity"), who, _via(via), kind, f"stack {stack}",
                             "failed", summary)  # fmt: skip
                end = event("job_end", state="failed", summary=summary)
                cur.execute(
                    f"INSERT INTO {self.t('job_events')} (job, seq, event) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (id, SWEPT, json.dumps(end)),
                )
                cur.execute("SELECT pg_notify(%s, %s)", (self.channel, id))
            cur.execute(
                f"DELETE FROM {self.t('servers')} s WHERE s.seen_at < now() - "
                "make_interval(secs => s.lease * 10)"
            )
        for id, *_ in lost:
            log.warning("job %s failed: its server stopped renewing its lease", id)

    def _pick_up_cancels(self) -> None:
        with self._reads.cursor("look for cancelled jobs in") as cur:
            cur.execute(
                f"SELECT id FROM {self.t('jobs')} WHERE server = %s AND cancel AND state IN "
                "('queued', 'running')",
                (self.server,),
            )
            ids = [row[0] for row in cur.fetchall()]
        for id in ids:
            super().cancel(id)

    def _prune(self) -> None:
        with self._writes.cursor("prune old jobs in", transaction=True) as cur:
            cur.execute(
                f"DELETE FROM {self.t('jobs')} WHERE state NOT IN ('queued', 'running') AND "
                "created_at < now() - make_interval(days => %s) RETURNING id",
                (KEEP_DAYS,),
            )
            gone = [row[0] for row in cur.fetchall()]
            if gone:
                cur.execute(f"DELETE FROM {self.t('job_events')} WHERE job = ANY(%s)", (gone,))

    def _listen_loop(self) -> None:
        """Relay the events of other servers' jobs to this server's live channel."""
        import psycopg

        while not self._closing.is_set():
            try:
                dsn, kwargs = connect_kwargs(self.store.environ)
                with psycopg.connect(dsn, autocommit=True, **kwargs) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._relay(note.payload)
            except psycopg.Error as exc:
                log.warning("listening for jobs: %s", " ".join(str(exc).split()))
                self._closing.wait(2.0)
            except Exception:  # a bug must not end the relay for good
                log.exception("relaying jobs failed")
                self._closing.wait(2.0)

    def _relay(self, id: str) -> None:
        if self.bus is None or super().get(id) is not None:
            return  # this server's own jobs publish themselves
        row = self._row(id)
        if row is None:
            return
        events, after = self._events(id, self._relayed.get(id, 0))
        for e in events:
            self.bus.publish("job", {"job": id, "stack": row[1], "state": row[5], "event": e})
        self._relayed[id] = after
        self._relayed.move_to_end(id)
        while len(self._relayed) > MAX_RELAYED:
            self._relayed.popitem(last=False)

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=3)
        with contextlib.suppress(StateError), self._beats.cursor("leave") as cur:
            # a server that stops cleanly gives its lease up at once
            cur.execute(f"DELETE FROM {self.t('servers')} WHERE id = %s", (self.server,))
        self._reads.close()
        self._writes.close()
        self._beats.close()


def _via(text: str) -> Via:
    return Via(text) if text in Via._value2member_map_ else Via.API


def server_id(address: str) -> str:
    return f"{os.uname().nodename[:40]}:{os.getpid()}:{os.urandom(3).hex()}@{address}"
