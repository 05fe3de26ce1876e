"""SLA reports on a real store (SQLite and PostgreSQL): the real Engine fed results at chosen
times opens and resolves the incident, a real maintenance window is recorded as a span, old raw
rows are gone so the report reads hourly roll-ups there; every figure is checked exactly."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete

from engine.store import incidents as inc_store
from engine.store import windows as wstore
from engine.store.models import Result
from tests.alerting_harness import Rig, make_rig

H = 3600


def _feed(rig: Rig, rec, pattern: str, start: float) -> None:
    """One result a minute: '.' ok, 'x' failed."""
    rig.results(rec, pattern, start - rig.t0, step=60.0)


@pytest.fixture
def world(settings, db_url, keyring):
    t0 = (time.time() // H) * H - 6 * H  # six whole hours ago
    with make_rig(settings, db_url, keyring, start=t0) as rig:
        rec = rig.target("web", interval="1m")
        other = rig.target("api", interval="1m", tags=["edge"])
        _feed(rig, rec, "." * 60, t0)  # hour 0: all fine
        _feed(rig, rec, "." * 30 + "xxx", t0 + H)  # hour 1: down from :30 (2nd fail opens)
        [inc] = rig.commands.list_incidents(target="web")
        inc_store.acknowledge(rig.store, inc["id"], "alice", now=t0 + H + 33 * 60)
        _feed(rig, rec, "x" * 27, t0 + H + 33 * 60)
        _feed(rig, rec, "." * 60, t0 + 2 * H)  # hour 2: recovered at its first result
        # Hour 3: maintenance for the first half hour, failing then (no incident), fine after.
        w = wstore.Window("", "target", rec.id, None, "oneoff", t0 + 3 * H, t0 + 3 * H + 1800, None)
        wstore.insert(rig.store, w)
        rig.engine.alerting.reload_maintenance(t0 + 3 * H)
        _feed(rig, rec, "x" * 29 + ".", t0 + 3 * H)  # up again when the window ends
        rig.engine.alerting.reload_maintenance(t0 + 3 * H + 1800)
        _feed(rig, rec, "." * 30, t0 + 3 * H + 1800)
        _feed(rig, other, "." * 120, t0 + 2 * H)
        rig.engine.writer.write(rig.engine.writer.take(), rollups=True)
        yield rig, rec, t0


def test_report_figures_from_rollups_raw_results_incidents_and_maintenance(world) -> None:
    rig, rec, t0 = world
    incs = rig.commands.list_incidents(target="web")
    assert len(incs) == 1, [
        (i["kind"], i["opened_at"] - t0, i["resolved_at"] and i["resolved_at"] - t0) for i in incs
    ]
    [inc] = incs
    assert inc["opened_at"] == pytest.approx(t0 + H + 31 * 60)  # the second failure
    assert inc["resolved_at"] == pytest.approx(t0 + 2 * H)
    # Raw rows of hours 0 and 1 pass retention: only their roll-ups remain.
    with rig.store.session() as s:
        s.execute(delete(Result).where(Result.ts < t0 + 2 * H))
        s.commit()
    start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t0))
    end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t0 + 4 * H))
    rep = rig.commands.sla_report(start=start, end=end)
    assert rep.start == t0 and rep.end == t0 + 4 * H
    web = next(t for t in rep["targets"] if t["target"] == "web")
    # 60 + 60 + 60 + 30 checks outside maintenance; 30 of hour 1 failed.
    assert (web["checks"], web["failed_checks"]) == (210, 30)
    assert web["uptime_pct"] == pytest.approx(100 * 180 / 210, abs=1e-3)
    assert web["downtime_s"] == pytest.approx(H - 31 * 60)
    assert (web["incidents"], web["acknowledged"]) == (1, 1)
    assert web["mtta_s"] == pytest.approx(120)
    assert web["mttr_s"] == pytest.approx(H - 31 * 60)
    assert web["maintenance_s"] == pytest.approx(1800)
    assert [(m.start, m.end) for m in web["maintenance"]] == [(t0 + 3 * H, t0 + 3 * H + 1800)]
    api = next(t for t in rep["targets"] if t["target"] == "api")
    assert (api["checks"], api["uptime_pct"], api["incidents"]) == (120, 100.0, 0)
    # One target, by name or tag.
    assert [t["target"] for t in rig.commands.sla_report(tag="edge")["targets"]] == ["api"]
    only = rig.commands.sla_report(target="web", start=start, end=end)["targets"]
    assert [t["target"] for t in only] == ["web"]


def test_a_down_span_crossing_maintenance_counts_only_outside_it(world) -> None:
    rig, rec, t0 = world
    rep = rig.commands.sla_report(days=1)  # the last 24 hours hold all six
    web = next(t for t in rep["targets"] if t["target"] == "web")
    assert web["checks"] == 210 and web["maintenance_s"] == pytest.approx(1800)
    assert web["incidents"] == 1 and web["mtta_s"] == pytest.approx(120)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"month": "2026-13"}, "YEAR-MONTH"),
        ({"start": "yesterday"}, "not a date"),
        ({"start": "2026-11-10", "end": "2026-11-01"}, "ends before"),
        ({"month": "2026-11", "days": 3}, "one period"),
        ({"days": 0}, "out of range"),
    ],
)
def test_bad_periods_say_what_is_wrong(world, kwargs, says) -> None:
    from engine.core.errors import BadInput

    rig, _, _ = world
    with pytest.raises(BadInput, match=says):
        rig.commands.sla_report(**kwargs)
