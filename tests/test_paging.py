"""target_page and the orders behind it (engine/commands/paging.py, target_views.py), and the
CLI that walks its pages (sysalert_tui/cli_stream.py): every window equals the same slice of a
sort of all records, state events move just their target, a cursor walk meets each target once
while targets come and go, and the JSON written page by page is print_json's, byte for byte."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest

from engine.commands import Commands
from engine.commands.target_views import STATE_ORDER, TargetViews
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.core.events import EventBus, MaintenanceEvent, StateEvent, TargetsChangedEvent
from sysalert_tui import cli_stream

STATES = ("up", "up", "up", "down", "pending", "unknown", "degraded")


class Live:
    """What a running engine gives paging (LiveTargets): records, shown state, events."""

    def __init__(self, n: int, seed: int = 7) -> None:
        rnd = random.Random(seed)
        self.events = EventBus()
        self.last_values: dict[str, float] = {}
        self.maintenance: set[str] = set()
        self.targets: dict[str, TargetRecord] = {}
        for i in range(n):
            rec = TargetRecord(
                id=f"t{i:06d}",
                name=f"{rnd.choice(['Web', 'db', 'api', 'Edge'])}-{rnd.randrange(10**6):06d}",
                spec_text="tcp://127.0.0.1:9",
                kind=rnd.choice(["tcp", "http"]),
                tags=[f"Rack-{i % 13}"] if i % 3 else [],
                state=rnd.choice(STATES),
                paused=i % 97 == 0,
                last_latency_ms=None if i % 11 == 0 else rnd.random() * 100,
                owner_id="sub1" if i % 50 == 0 else None,
            )
            self.targets[rec.id] = rec

    def snapshot(self) -> list[TargetRecord]:
        return list(self.targets.values())

    def display_state(self, rec: TargetRecord) -> str:
        if rec.paused:
            return "paused"
        return "maintenance" if rec.id in self.maintenance else rec.state

    # EngineHooks, for Commands(hooks=...)
    def target_changed(self, target_id: str) -> None: ...
    def target_removed(self, target_id: str) -> None: ...
    def check_now(self, target_id: str) -> None: ...
    def incidents_changed(self, incident_id: str) -> None: ...
    def maintenance_changed(self) -> None: ...
    def stats(self) -> dict[str, Any]:
        return {"mode": "test", "failing": {}}


def reference(live: Live, sort: str, query: str = "") -> list[str]:
    """The promised order, by brute force."""
    shown = live.display_state
    recs = list(live.targets.values())
    if query:
        q = query.lower()
        recs = [
            r
            for r in recs
            if q in r.name.lower()
            or q in r.kind
            or q in shown(r)
            or any(q in t.lower() for t in r.tags)
        ]
    recs.sort(key=lambda r: (r.name.lower(), r.id))
    if sort == "latency":
        recs.sort(key=lambda r: (r.last_latency_ms is None, -(r.last_latency_ms or 0.0)))
    elif sort == "state":
        rank = {s: i for i, s in enumerate(STATE_ORDER)}
        recs.sort(key=lambda r: rank[shown(r)])
    return [r.id for r in recs]


@pytest.fixture
def live() -> Live:
    return Live(3000)


@pytest.fixture
def cmds(live: Live, settings: Settings) -> Commands:
    return Commands(None, settings, hooks=live)  # type: ignore[arg-type]  # paging needs no store


def ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["rows"]]


@pytest.mark.parametrize("sort", ["state", "name", "latency"])
@pytest.mark.parametrize("query", ["", "web", "rack-1", "down"])
def test_every_window_is_the_same_slice_of_the_whole_order(
    cmds: Commands, live: Live, sort: str, query: str
) -> None:
    want = reference(live, sort, query)
    for offset in (0, 1, 250, len(want) - 7, len(want) + 5):
        page = cmds.target_page(sort=sort, query=query, offset=max(offset, 0), limit=40)
        assert ids(page) == want[max(offset, 0) : max(offset, 0) + 40]
        assert page["total"] == len(want) and page["all"] == 3000
    counts = cmds.target_page(limit=1)["counts"]
    assert sum(counts.values()) == 3000
    assert counts["paused"] == sum(r.paused for r in live.targets.values())


def test_state_events_move_just_their_target_and_maintenance_too(
    cmds: Commands, live: Live
) -> None:
    cmds.target_page(limit=1)
    views = cmds._target_views()
    built = views._full_at
    ups = [r for r in live.targets.values() if r.state == "up" and not r.paused][:30]
    for r in ups[:20]:
        r.state = "down"
        live.events.publish(StateEvent(0.0, r.id, "up", "down"))
    for r in ups[20:]:
        live.maintenance.add(r.id)
        live.events.publish(MaintenanceEvent(0.0, r.id, True))
    page = cmds.target_page(sort="state", limit=3000)
    assert views._full_at == built  # moved, not rebuilt
    assert ids(page) == reference(live, "state")
    assert page["counts"]["maintenance"] == 10
    views._full_cost = 0.0  # the last pass was cheap (on a busy host it may have read dear)
    live.events.publish(TargetsChangedEvent(0.0, None))  # a change no event spells out
    live.targets.pop(ups[0].id)  # a pass over everything again (cheap at 3,000: at once)
    assert ids(cmds.target_page(sort="state", limit=3000)) == reference(live, "state")


def test_a_cursor_walk_meets_each_target_once_while_targets_come_and_go(
    cmds: Commands, live: Live
) -> None:
    seen: list[str] = []
    after = None
    added = 0
    while True:
        page = cmds.target_page(sort="name", limit=200, after=after)
        seen += ids(page)
        after = page["next"]
        if after is None:
            break
        # Between two pages a target is removed and one is added ahead of the cursor: the walk
        # goes on from its place in the name order.
        gone = next(r for r in live.targets.values() if r.id not in seen and r.id != after)
        live.targets.pop(gone.id)
        rec = TargetRecord(id=f"n{added:05d}", name=f"aaa-{added}", spec_text="x", kind="tcp")
        live.targets[rec.id] = rec
        added += 1
        live.events.publish(TargetsChangedEvent(0.0, rec.id))
    assert len(seen) == len(set(seen))
    assert not any(s.startswith("n") for s in seen)  # added behind the cursor: not met


def test_around_puts_a_target_in_the_window_and_says_where(cmds: Commands, live: Live) -> None:
    want = reference(live, "state")
    for sort, query in (("state", ""), ("name", ""), ("latency", ""), ("state", "web")):
        order = reference(live, sort, query)
        tid = order[len(order) // 2]
        page = cmds.target_page(sort=sort, query=query, limit=60, around=tid)
        assert page["index"] == order.index(tid) and tid in ids(page)
        assert ids(page) == order[page["offset"] : page["offset"] + 60]
    assert cmds.target_page(around="nobody")["index"] is None
    assert ids(cmds.target_page(limit=5)) == want[:5]


def test_bad_arguments_are_one_line(cmds: Commands) -> None:
    with pytest.raises(BadInput, match="sort 'size' is not one of state, name, latency"):
        cmds.target_page(sort="size")
    with pytest.raises(BadInput, match="cursor 'gone' is no longer in this order"):
        cmds.target_page(sort="state", after="gone")
    with pytest.raises(BadInput, match="control character"):
        cmds.target_page(query="a\x00b")


def test_fields_keep_only_what_status_prints(cmds: Commands, live: Live) -> None:
    fields = "shown,id,name,kind,state,state_since,last_check_at"
    row = cmds.target_page(limit=1, fields=fields)["rows"][0]
    assert list(row) == fields.split(",")
    full = cmds.target_page(limit=1)["rows"][0]
    assert {k for k in full if k not in ("shown", "value")} == set(
        live.targets[full["id"]].public()
    )


def test_status_and_list_json_stream_print_json_s_document(
    cmds: Commands, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_stream, "STATUS_PAGE", 700)  # several pages
    monkeypatch.setattr(cli_stream, "PAGE", 700)
    out = io.StringIO()
    rc = cli_stream.status(cmds, True, out)
    recs = sorted(live.targets.values(), key=lambda r: (r.name.lower(), r.id))
    expected = {
        "targets": [
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind,
                "state": live.display_state(r),
                "probe_state": r.state,
                "state_since": r.state_since,
                "last_check_at": r.last_check_at,
            }
            for r in recs
        ],
        "down": sum(live.display_state(r) == "down" for r in recs),
        "partial": sum(live.display_state(r) == "partial" for r in recs),
        "engine": {"mode": "test", "failing": {}},
    }
    assert out.getvalue() == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    assert rc == 1  # some are down
    out = io.StringIO()
    cli_stream.write_array(cli_stream.public_pages(cmds), out)
    assert out.getvalue() == json.dumps([r.public() for r in recs], indent=2, sort_keys=True)


def test_views_at_100000_answer_a_window_without_a_pass(live: Live) -> None:
    """At 100,000 a window or a state move costs microseconds; only the first build passes
    over every record (timed loosely: a pass per request would be hundreds of times slower)."""
    import time

    big = Live(100_000, seed=3)
    views = TargetViews(big.snapshot, big.display_state, big.events)
    views.refresh()
    t0 = time.perf_counter()
    for k in range(200):
        views.refresh()
        views.window("state", k * 400, 40)
        r = big.targets[f"t{k * 400:06d}"]
        r.state = "down" if r.state != "down" else "up"
        big.events.publish(StateEvent(0.0, r.id, "x", r.state))
    took = time.perf_counter() - t0
    views.refresh()  # the last event
    assert [r.id for r in views.order("state")] == reference(big, "state")
    assert took < 2.0, took
