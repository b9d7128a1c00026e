"""What a server keeps beyond its stacks' states: jobs, the activity log, console sessions and
reviewed plans.

Without a backend (or with `backend: {type: local}`) they live in this server: jobs and sessions
in memory, the log in the state folder. With `backend: {type: postgres}` in the server's
configuration they live in that database, so several `nubes serve` behind one load balancer
share them (nubes.server.shared.jobs, .sessions; the log is nubes.engine.state.pgactivity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nubes.engine.activity import Activity, ActivityLog
from nubes.engine.state.settings import BackendConfig
from nubes.server.console.bus import Bus
from nubes.server.console.sessions import Sessions, SessionStore
from nubes.server.jobs import Jobs
from nubes.server.plans import Plans


@dataclass
class Shared:
    jobs: Jobs
    activity: Activity
    sessions: SessionStore
    plans: Plans = field(default_factory=Plans)
    where: str = "this server"
    closers: list[object] = field(default_factory=list)

    def close(self) -> None:
        self.jobs.close()
        self.sessions.close()
        self.plans.close()
        for thing in self.closers:
            close = getattr(thing, "close", None)
            if close is not None:
                close()


def open_shared(
    config: BackendConfig | None,
    state_dir: Path,
    environ: Mapping[str, str],
    address: str,
    bus: Bus | None,
) -> Shared:
    """The server's jobs, log and sessions where its backend block says. A database that
    cannot be reached raises StateError, saying what to fix."""
    from nubes.server.shared.jobs import server_id

    if config is None or config.type != "postgres":
        return Shared(Jobs(server_id(address)), ActivityLog(state_dir), Sessions())
    from nubes.engine.state.pgactivity import PostgresActivity
    from nubes.engine.state.postgres import PostgresStore
    from nubes.server.shared.jobs import PostgresJobs
    from nubes.server.shared.plans import PostgresPlans
    from nubes.server.shared.sessions import PostgresSessions

    store = PostgresStore(config.settings, environ)
    activity = PostgresActivity(store)
    return Shared(
        PostgresJobs(store, server_id(address), address, bus),
        activity,
        PostgresSessions(store),
        PostgresPlans(store),
        store.describe(),
        [activity, store],
    )
