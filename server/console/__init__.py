"""The Aggregator console: every configured cloud in one place, at `/console` of `nubes serve`.

Server-rendered pages (jinja2, autoescaped) over the inventory's snapshot, a little script of our
own, and htmx and uPlot served from the npm packages `make` installs (nothing from another host).
The console reads what it shows on the server; every change it makes is an API call made by the
browser with the session's cookie and CSRF token, the same call any API client makes, so the
console has no way in that the API lacks. One server-sent-events channel (`/api/events`) keeps
every open page current.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nubes.engine.activity import Activity
from nubes.server.console.bus import Bus
from nubes.server.console.inventory import Inventory
from nubes.server.console.sessions import SessionStore
from nubes.server.console.table import Sorted


@dataclass
class Console:
    sessions: SessionStore
    bus: Bus
    inventory: Inventory
    activity: Activity
    sorted: Sorted
    state_dir: Path

    def started(self) -> None:
        """Start the background refreshes, on the server's loop (at its first request)."""
        import asyncio

        self.bus.bind(asyncio.get_running_loop())
        self.inventory.start()


def console_of(app: Any) -> Console:
    console: Console = app.state.console
    return console


__all__ = ["Console", "console_of"]
