"""history_page, incident_page and maintenance_page: every window is the same slice of one whole
order (read from either end of the index), a walk by `next` meets each row once even while rows
arrive on top, `around` holds its row, and attached to a real daemon the same commands answer the
same typed pages (and /openapi.json describes them)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.commands import Commands
from engine.core.errors import BadInput
from engine.core.results import HistoryPage, IncidentPage, WindowPage
from tests.console_fixture import FIXED_NOW
from tests.list_world import INCIDENTS, WINDOWS, lists_world

RANK = {"firing": 0, "acknowledged": 1, "silenced": 2, "resolved": 3}


@pytest.fixture(scope="module")
def cmds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Commands]:
    with lists_world(tmp_path_factory.mktemp("lists")) as w:
        yield Commands(w.store, w.settings)


def _walk(page: Any, **kw: Any) -> list[Any]:
    out: list[Any] = []
    cursor = None
    while True:
        p = page(limit=1000, after=cursor, **kw)
        out += p.rows
        cursor = p.next
        if cursor is None:
            return out


def test_incident_windows_are_slices_of_one_order(cmds: Commands) -> None:
    whole = _walk(cmds.incident_page, resolved=True)
    assert len(whole) == INCIDENTS + 3 == len({i.id for i in whole})
    keys = [(RANK[i.state], -i.opened_at, i.id) for i in whole]
    assert keys == sorted(keys)  # firing, acknowledged, resolved; newest first in each
    rng = random.Random(7)
    for offset in [0, 1, 699, 700, 1001, 10_000, 19_950, *rng.sample(range(20_003), 6)]:
        p = cmds.incident_page(resolved=True, offset=offset, limit=120)
        assert p.total == len(whole)
        assert [i.id for i in p.rows] == [i.id for i in whole[p.offset : p.offset + 120]]
        assert len(p.rows) == min(120, len(whole) - offset) and p.offset == offset
    opened = cmds.incident_page(limit=1000)
    assert opened.total == sum(1 for i in whole if i.state != "resolved")
    assert opened.counts["resolved"] == sum(1 for i in whole if i.state == "resolved")
    deep = whole[15_000].id
    p = cmds.incident_page(resolved=True, around=deep, limit=90)
    assert deep in [i.id for i in p.rows] and p.offset == 15_000 - 30


def test_history_windows_and_a_walk_while_events_arrive(cmds: Commands) -> None:
    whole = _walk(cmds.history_page, target="quokka-api")
    assert whole == sorted(whole, key=lambda e: -e.ts) and {e.target for e in whole} == {
        "quokka-api"
    }
    end = cmds.history_page(target="quokka-api", offset=10**9, limit=100)
    assert end.offset == len(whole) - 100 and end.rows[-1].ts == whole[-1].ts  # End: a full one
    for offset in (0, 5000, len(whole) - 1):
        p = cmds.history_page(target="quokka-api", offset=offset, limit=100)
        assert [e.ts for e in p.rows] == [e.ts for e in whole[p.offset : p.offset + 100]]
        assert p.total == len(whole)
    kinds = cmds.history_page(kind="state", offset=40_000, limit=50)
    assert {e.kind for e in kinds.rows} == {"state"} and kinds.total < len(whole) * 8
    # Events written on top while a reader walks: it meets every older one once, no repeat.
    first = cmds.history_page(limit=500)
    ref = cmds.store.ref("target", "tquokka")
    for i in range(30):
        cmds.audit("target.edit", ref, "ops", f"arrived {i}")
    seen = [*first.rows, *_walk_from(cmds, first.next)]
    assert len(seen) == first.total and len({(e.ts, e.action, e.detail) for e in seen}) == len(seen)


def _walk_from(cmds: Commands, cursor: str | None) -> list[Any]:
    out: list[Any] = []
    while cursor is not None:
        p = cmds.history_page(limit=1000, after=cursor)
        out += p.rows
        cursor = p.next
    return out


def test_maintenance_windows_and_bad_cursors(cmds: Commands) -> None:
    whole = _walk(cmds.maintenance_page, now=FIXED_NOW)
    assert len(whole) == WINDOWS + 2
    assert [w.id for w in whole[:3]] == ["wdbweek", "wbackup", "wb00000"]
    p = cmds.maintenance_page(offset=4990, limit=100, now=FIXED_NOW)
    assert [w.id for w in p.rows] == [w.id for w in whole[p.offset :]] and p.next is None
    p = cmds.maintenance_page(around="wb02500", limit=60, now=FIXED_NOW)
    assert "wb02500" in [w.id for w in p.rows]
    for bad in (
        lambda: cmds.history_page(after="not-a-cursor"),
        lambda: cmds.incident_page(after="nosuchid"),
        lambda: cmds.maintenance_page(after="nosuchid"),
        lambda: cmds.history_page(kind="nonsense"),
    ):
        with pytest.raises(BadInput):
            bad()


def test_attached_pages_are_the_same_typed_pages(tmp_path: Path) -> None:
    from engine.api.client import connect_if_running
    from engine.config.settings import load_settings
    from tests.daemon_harness import running_daemon

    data_dir = tmp_path / "data"
    with running_daemon(data_dir) as d:
        settings = load_settings(data_dir / "config.toml", data_dir, env={})
        remote = connect_if_running(settings)
        assert remote is not None
        try:
            for i in range(5):
                remote.maintenance_on(what="all" if i == 0 else f"tag:rack{i}", reason=f"r{i}")
            h = remote.history_page(limit=2)
            assert isinstance(h, HistoryPage) and h.total >= 5 and len(h.rows) == 2
            rest = remote.history_page(limit=100, after=h.next)
            assert rest.offset == 2 and len(rest.rows) == h.total - 2
            m = remote.maintenance_page(limit=3)
            assert isinstance(m, WindowPage) and m.total == 5 and m.all_targets == 1
            assert m.rows[0].scope == "all" and m.next == m.rows[-1].id
            around = remote.maintenance_page(limit=2, around=m.rows[2].id)
            assert m.rows[2].id in [w.id for w in around.rows]
            inc = remote.incident_page(resolved=True)
            assert isinstance(inc, IncidentPage) and inc.total == len(inc.rows)
            doc = d.unix().get("/openapi.json").json()
            for path in (
                "/api/v1/history/page",
                "/api/v1/incidents/page",
                "/api/v1/maintenance/page",
            ):
                assert "get" in doc["paths"][path]
        finally:
            remote.close()


def test_a_store_made_before_the_indexes_gets_them_and_pages_on_both_databases(
    db_url: str, keyring: Any
) -> None:
    """The list indexes come with no schema step: a store without them (made before) gets them
    at its next open; the windows read the same on SQLite and PostgreSQL."""
    from sqlalchemy import inspect, text

    from engine.config.settings import load_settings
    from engine.store import incidents as inc_store
    from engine.store.migrations import migrate
    from engine.store.models import ADDED_INDEXES
    from engine.store.store import Store

    store = Store.open(db_url, keyring)
    try:
        with store.engine.begin() as conn:
            for name in ADDED_INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
        migrate(store.engine, keyring)
        with store.engine.connect() as conn:
            names = {
                ix["name"] for t in ("audit", "incidents") for ix in inspect(conn).get_indexes(t)
            }
        assert set(ADDED_INDEXES) <= names
        cmds = Commands(store, load_settings(None, Path("/nonexistent"), env={}))
        for i in range(7):
            inc_store.open_incident(store, f"k{i}", "down", "high", f"s{i}", None, now=1000.0 + i)
            cmds.audit("target.edit", f"target:x{i % 2}", "ops", f"e{i}")
        cmds.maintenance_on(what="all", reason="r")
        p = cmds.incident_page(limit=3)
        assert p.total == 7 and [i.summary for i in p.rows] == ["s6", "s5", "s4"]
        assert [i.summary for i in cmds.incident_page(limit=3, after=p.next).rows] == [
            "s3",
            "s2",
            "s1",
        ]
        assert [i.summary for i in cmds.incident_page(limit=3, offset=99).rows] == [
            "s2",
            "s1",
            "s0",
        ]
        h = cmds.history_page(kind="target", offset=5, limit=10)
        assert [e.detail for e in h.rows] == ["e1", "e0"] and h.total == 7
        m = cmds.maintenance_page()
        assert m.total == m.all_targets == 1
    finally:
        store.close()
