"""The console's parts on their own: the activity log (and the CLI writing to it), the live
channel's replay, the instances query, and the stack edit a migration makes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.engine import activity
from nubes.engine.activity import ActivityLog, Via, matching
from nubes.engine.stack import parse_stack
from nubes.server.console.bus import Bus
from nubes.server.console.table import Query, Sorted
from nubes.server.migrations import with_provider
from tests.helpers import write

STACK = """\
nubes: 1
name: hop
providers:
  home: {driver: sim}
  lab: {driver: sim, region: eu-1}
resources:
  web:
    type: instance
    provider: home   # where it runs
    image: debian-12
    size: {cpus: 1, memory_gb: 1}
  db: {type: instance, provider: 'home', image: debian-12, size: small}
"""


def test_the_cli_records_its_changes_in_the_activity_log(tmp_path: Path) -> None:
    stack = write(tmp_path / "hop.yaml", STACK)
    state = tmp_path / "state"
    run = CliRunner().invoke(
        cli, ["apply", str(stack), "--auto-approve", "--state-dir", str(state)]
    )
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(cli, ["state", "rm", str(stack), "db", "--state-dir", str(state)])
    assert run.exit_code == 0, run.output
    entries = ActivityLog(state).entries()
    assert [(e.via, e.action, e.target, e.result) for e in entries] == [
        ("cli", "apply", "stack hop", "ok"),
        ("cli", "state rm", "stack hop", "ok"),
    ]
    assert entries[0].detail == "2 added, 0 changed, 0 destroyed" and entries[1].detail == "db"


def test_the_activity_log_skips_a_torn_line_and_keeps_its_newest_entries(
    tmp_path: Path, monkeypatch: object
) -> None:
    log = ActivityLog(tmp_path)
    log.record("ann", Via.API, "stop", "instance sim/i-1", "ok")
    with open(log.path, "ab") as f:
        f.write(b'{"at": 1, "who": "torn')  # a crash in the middle of a line
        f.write(b"\n")
    log.record("bob", Via.CONSOLE, "start", "instance sim/i-1", "failed", "x" * 10_000)
    found = log.entries()
    assert [e.who for e in found] == ["ann", "bob"]
    assert len(found[1].detail) == 2000  # cut, and still one line
    assert [e.who for e in matching(found, result="failed")] == ["bob"]
    assert [e.who for e in matching(found, text="STOP")] == ["ann"]
    setattr(activity, "KEEP", 10)  # noqa: B010 (a small log for the test)
    setattr(activity, "TRIM_BYTES", 20_000)  # noqa: B010
    try:
        for i in range(3000):
            log.record("c", Via.API, "stop", f"instance sim/i-{i}", "ok")
        kept = log.entries()
        assert len(kept) <= 3000 and kept[-1].target == "instance sim/i-2999"
        assert len(log.path.read_bytes().splitlines()) < 3000  # it was trimmed
        assert oct(log.path.stat().st_mode & 0o777) == "0o600"  # the rewritten log is private
    finally:
        setattr(activity, "KEEP", 50_000)  # noqa: B010
        setattr(activity, "TRIM_BYTES", 2 * 50_000 * 300)  # noqa: B010


def test_the_bus_replays_what_a_listener_missed_or_tells_it_to_reload() -> None:
    async def scenario() -> list[str]:
        bus = Bus()
        bus.bind(asyncio.get_running_loop())
        for i in range(3):
            bus.publish("job", {"n": i})
        frames = []
        stream = bus.stream(1)
        for _ in range(3):  # hello, then events 2 and 3
            frames.append((await stream.__anext__()).decode())
        for i in range(6000):  # past what the bus keeps
            bus.publish("job", {"n": i})
        frames.append((await bus.stream(2).__anext__()).decode())
        late = bus.stream(2)
        await late.__anext__()
        frames.append((await late.__anext__()).decode())
        return frames

    frames = asyncio.run(scenario())
    assert frames[0].startswith("retry: 2000\nid: 1\nevent: hello")
    assert json.loads(frames[1].split("data: ")[1]) == {"n": 1} and "id: 2\n" in frames[1]
    assert "id: 3\n" in frames[2]
    assert "event: reload" in frames[4]


def test_a_query_keeps_its_filters_in_links_and_pages_what_passed() -> None:
    rows = [
        {"provider": p, "id": f"{p}-{i}", "name": f"vm-{i}", "state": s, "stack": None,
         "tags": {"role": "db" if i % 2 else "web"}, "search": f"vm-{i} {p}", "image": "",
         "realm": "", "profile": "", "launched_at": None}
        for p, s in (("a", "running"), ("b", "stopped")) for i in range(30)
    ]  # fmt: skip
    q, problems = Query.parse({"provider": "a", "tag": "role=db", "sort": "-name", "size": "10"})
    assert problems == []
    page = Sorted().page(rows, 1, q)
    assert page.total == 15 and page.pages == 2
    assert [r["name"] for r in page.rows][:3] == ["vm-9", "vm-7", "vm-5"]
    assert q.args(page=2) == {"provider": "a", "tag": "role=db", "sort": "-name", "page": "2",
                              "size": "10"}  # fmt: skip
    _, problems = Query.parse({"page": "-1", "sort": "id; drop"})
    assert len(problems) == 2


def test_a_text_filter_finds_each_row_once_in_the_order_asked_and_never_across_rows() -> None:
    texts = ["web-1 10.0.0.1", "db-1 10.0.0.10", "web-2 eu\nweb", "db-2 web web web", "cache-web"]
    rows = [
        {"provider": "a", "id": str(i), "name": t.split()[0], "state": "running", "stack": None,
         "tags": {}, "search": t, "image": "", "realm": str(9 - i), "profile": "",
         "launched_at": None}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    sorted_ = Sorted()

    def names(**params: str) -> list[str]:
        return [r["name"] for r in sorted_.page(rows, 1, Query.parse(params)[0]).rows]

    assert names(q="web") == ["cache-web", "db-2", "web-1", "web-2"]  # each once, by name
    assert names(q="WEB", sort="realm") == ["cache-web", "db-2", "web-2", "web-1"]
    assert names(q="10.0.0.1") == ["db-1", "web-1"]
    assert names(q="eu\nweb") == ["web-2"]  # a newline inside one row's own text
    assert names(q="0\ndb") == []  # "db-1 10.0.0.10" ends one row, "db-2 ..." starts the next


def test_a_migration_changes_the_provider_where_it_is_written_and_nothing_else() -> None:
    stack, diags = parse_stack(STACK, Path("hop.yaml"))
    assert stack is not None, diags
    text, why = with_provider(stack, "web", "lab")
    assert why is None and text is not None
    assert '    provider: "lab"   # where it runs' in text
    assert text.replace('"lab"   #', "home   #") == STACK
    again, _ = parse_stack(text, Path("hop.yaml"))
    assert again is not None and again.resources["web"].provider == "lab"
    flow, why = with_provider(stack, "db", "lab")
    assert flow is not None and 'provider: "lab", image' in flow
    none, why = with_provider(stack, "cache", "lab")
    assert none is None and "no resource cache" in str(why)


def test_the_running_counts_outlive_a_restart(tmp_path: Path) -> None:
    from typing import Any

    from nubes.server.console.inventory import Cloud, Inventory

    def inventory() -> Inventory:
        calls: Any = None  # the chart reads the file alone
        return Inventory(calls, {"home": "sim", "lab": "sim"}, Bus(), tmp_path, dict, 15)

    first = inventory()
    home = Cloud("home", "sim", rows={f"i-{i}": {"state": "running"} for i in range(3)})
    first._count(home)
    first._count(Cloud("lab", "sim", rows={"i-9": {"state": "stopped"}}))
    again = inventory().series()  # a new server on the same state folder
    assert len(again["t"]) == 2
    assert again["series"] == {"home": [3, 3], "lab": [None, 0]}


def test_a_stack_file_shown_on_a_page_hides_what_may_hold_secrets() -> None:
    from nubes.server.console.stackpages import masked

    text = (
        "resources:\n  web:\n    user_data: |\n      #!/bin/sh\n      echo s3cret\n"
        "    size: small\n  db: {type: instance}\n    password: hunter2\n"
        '    user_data: "one line s3cret"\n'
    )
    shown = masked(text)
    assert "s3cret" not in shown and "hunter2" not in shown
    assert shown.count("(hidden)") == 3 and "    size: small" in shown
