"""Jobs: an apply, a reviewed plan's apply or a migration, run in a thread of the server that
started it, its progress kept as the CLI's JSON events.

`Jobs` holds this server's jobs in memory (the newest `KEEP` finished ones and every running
one). With a PostgreSQL backend, `nubes.server.shared.PostgresJobs` also writes each job and its
events to the database, so every server of a team shows, streams and cancels it.

Cancelling a job stops it starting anything new; what is in flight finishes and is saved, as
when Ctrl-C stops `nubes apply`. The job ends `cancelled`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nubes.engine.activity import Activity, Via
from nubes.engine.apply import ApplyOptions, Event, event

KEEP = 1000
LIVE = ("queued", "running")


@dataclass
class Job:
    id: str
    stack: str
    state: str = "queued"  # queued, running, succeeded, failed, cancelled
    summary: str = ""
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # engine.apply.events' schema
    done: threading.Event = field(default_factory=threading.Event)
    kind: str = "apply"  # apply, migrate
    who: str = ""
    via: Via = Via.API
    publish: Callable[[dict[str, Any]], None] | None = None  # to the live channel
    stop: threading.Event = field(default_factory=threading.Event)  # start nothing more
    cancelled: bool = False  # someone asked for the stop (else: its server lost its lease)
    recorded: bool = False  # its outcome is in the activity log (the apply wrote it)
    server: str = ""  # the server running it
    on_event: Callable[[Job, Event], None] | None = None  # the job store's

    def add(self, e: Event) -> None:
        self.events.append(e)
        if self.publish is not None:
            self.publish({"job": self.id, "stack": self.stack, "state": self.state, "event": e})
        if self.on_event is not None:
            self.on_event(self, e)

    def emit(self, kind: str, **fields: Any) -> None:
        self.add(event(kind, **fields))

    def begin(self, **fields: Any) -> None:
        self.state = "running"
        self.emit("job_start", stack=self.stack, **fields)

    def end(self, activity: Activity | None = None) -> None:
        """The job's last event (its state said again, `cancelled` when it was), its end in
        the activity log first, so that whoever sees it ended finds it there."""
        if self.cancelled and self.state in (*LIVE, "succeeded", "failed"):
            self.state = "cancelled"
            self.summary = f"cancelled: {self.summary}" if self.summary else "cancelled"
        if activity is not None:
            self.record_end(activity)
        self.emit("job_end", state=self.state, summary=self.summary)
        self.done.set()

    def record_end(self, activity: Activity) -> None:
        """An end the apply itself did not record (a plan that failed, a lock held, a stale
        review), in the activity log: every job that is started there also ends there."""
        if self.recorded or self.state == "succeeded":
            return
        activity.record(
            self.who, self.via, self.kind, f"stack {self.stack}", self.state, self.summary
        )
        self.recorded = True

    def options(self) -> ApplyOptions:
        """The apply's options: a cancel stops it starting more."""
        return ApplyOptions(stop=self.stop)

    @property
    def finished(self) -> bool:
        return self.state not in LIVE

    def view(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "href": f"{base}/jobs/{self.id}",
            "stack": self.stack,
            "state": self.state,
            "summary": self.summary,
            "diagnostics": self.diagnostics,
            "events": f"{base}/jobs/{self.id}/events",
            "cancel": f"{base}/jobs/{self.id}/cancel",
            "kind": self.kind,
            "server": self.server,
            "cancel_requested": self.cancelled,
        }


class Jobs:
    """This server's jobs, in memory."""

    def __init__(self, server: str = "") -> None:
        self.server = server
        self._by_id: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        job.server = self.server
        with self._lock:
            self._by_id[job.id] = job
            finished = [k for k, j in self._by_id.items() if j.done.is_set()]
            for key in finished[: max(0, len(finished) - KEEP)]:
                del self._by_id[key]

    def get(self, id: str) -> Job | None:
        """The job, from wherever it is kept (None: no such job)."""
        with self._lock:
            return self._by_id.get(id)

    def events_after(self, id: str, sent: int) -> tuple[list[Event], bool, int]:
        """The job's events from position `sent` on, whether it has ended, and the position
        to ask from next."""
        job = self.get(id)
        if job is None:
            return [], True, sent
        finished = job.done.is_set()
        events = job.events[sent:]
        return events, finished, sent + len(events)

    def cancel(self, id: str) -> Job | None:
        """Ask the job to stop (None: no such job). A finished job is left as it is."""
        job = self.get(id)
        if job is not None and not job.done.is_set() and not job.cancelled:
            job.cancelled = True
            job.stop.set()
            job.emit("cancel_requested")
        return job

    def close(self) -> None:
        pass
