"""Escalation and resends on a hand-driven clock: level 2 hears of an incident only when level 1
neither read nor acknowledged it within `escalation_after`; reminders every `resend_interval`
while unacknowledged; acknowledge or resolve stops both."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.settings import load_settings
from engine.notify import templates
from tests.alerting_harness import Rig, make_rig

T = 300.0  # escalation_after
R = 900.0  # resend_interval


@pytest.fixture
def rig(settings, db_url, keyring):
    with make_rig(settings, db_url, keyring, escalation_after=T, resend_interval=R) as r:
        r.contact("first")
        r.contact("second", level=2)
        yield r


def outage(rig: Rig, name: str = "db") -> str:
    rec = rig.target(name)
    rig.results(rec, "xx", 0, step=1)  # down at t=1
    (inc,) = [i for i in rig.incidents("firing") if i["target"] == name]
    return inc["id"]


def test_level_2_is_paged_when_level_1_neither_reads_nor_acks(rig: Rig) -> None:
    iid = outage(rig)
    assert rig.note_summary(iid) == [("alert", "first", 1)]
    rig.tick(1 + T - 1)
    assert rig.note_summary(iid) == [("alert", "first", 1)]
    rig.tick(1 + T)
    assert rig.note_summary(iid) == [("alert", "first", 1), ("escalation", "second", 2)]
    assert rig.incident(iid)["escalation_level"] == 2
    assert [e["actor"] for e in rig.audit() if e["action"] == "incident.escalate"] == ["engine"]
    rig.tick(1 + T + 60)  # no level 3 contacts: stays at level 2, nothing more yet
    assert len(rig.notes(iid)) == 2


def test_reading_at_level_1_prevents_escalation_but_not_reminders(rig: Rig) -> None:
    iid = outage(rig)
    (alert,) = rig.notes(iid)
    rig.set_read(alert.id, rig.at(100))
    for t in (T + 1, 2 * T, R):
        rig.tick(t)
    assert rig.note_summary(iid) == [("alert", "first", 1)]
    assert rig.incidents("firing")[0]["notifications"][0]["read_at"] == rig.t0 + 100
    rig.tick(R + 1)  # read is not acknowledged: the reminder still comes, to level 1
    assert rig.note_summary(iid) == [("alert", "first", 1), ("reminder", "first", 1)]


def test_ack_before_the_deadline_stops_escalation_and_reminders(rig: Rig) -> None:
    iid = outage(rig)
    rig.tick(T / 2)
    rig.commands.ack_incident(iid, by="alice")
    for t in (T + 1, R + 1, 5 * R):
        rig.tick(t)
    assert rig.note_summary(iid) == [("alert", "first", 1)]
    assert rig.incidents()[0]["notifications"][0]["acked_by"] is None  # alert was never sent


def test_reminders_resend_at_the_interval_with_their_own_keys(rig: Rig) -> None:
    rig.engine.settings.alerts.escalation_after = 10 * R  # keep this one at level 1
    iid = outage(rig)
    for t in (R, R + 1, R + 100, 2 * R, 2 * R + 1, 2 * R + 500):
        rig.tick(t)
    assert [k for k, _, _ in rig.note_summary(iid)] == ["alert", "reminder", "reminder"]
    keys = [templates.idempotency_key(rig.body(n)) for n in rig.notes(iid)]
    assert len(set(keys)) == 3, "a receiver that drops duplicate keys must still get each reminder"

    # A reminder queued but not yet sent is withdrawn by the ack.
    rig.tick(3 * R + 1)
    queued = rig.notes(iid, kind="reminder")[-1]
    assert queued.status == "pending"
    rig.commands.ack_incident(iid, by="bob")
    assert rig.notes(iid, kind="reminder")[-1].status == "cancelled"
    rig.tick(10 * R)
    assert len(rig.notes(iid)) == 4


def test_after_escalation_reminders_go_to_the_current_level_and_resolve_stops_them(
    rig: Rig,
) -> None:
    iid = outage(rig)
    rig.tick(1 + T)
    rig.tick(1 + T + R)
    assert rig.note_summary(iid)[-1] == ("reminder", "second", 2)
    db = rig.engine.targets[rig.incident(iid)["target_id"]]
    rig.result(db, True, 2 * R)
    summary = rig.note_summary(iid)
    assert sorted(summary[-2:]) == [("resolved", "first", 1), ("resolved", "second", 1)]
    rig.tick(10 * R)
    assert len(rig.notes(iid)) == len(summary)


def test_a_rule_that_names_its_contacts_still_escalates_to_level_2(
    data_dir: Path, db_url, keyring
) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text(
        '[[rules]]\nname = "slow"\nmetric = "latency"\ncomparison = ">"\nthreshold = 200\n'
        'target = "api"\nchannels = ["first"]\n',
        encoding="utf-8",
    )
    settings = load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})
    with make_rig(settings, db_url, keyring, escalation_after=T, resend_interval=R) as rig:
        rig.contact("first")
        rig.contact("other")  # level 1 too, but the rule does not name it
        rig.contact("second", level=2)
        api = rig.target("api")
        rig.result(api, True, 0, latency_ms=500)
        rig.tick(0)
        (inc,) = rig.incidents()
        assert rig.note_summary(inc["id"]) == [("alert", "first", 1)]
        rig.tick(T)
        assert rig.note_summary(inc["id"]) == [("alert", "first", 1), ("escalation", "second", 2)]


def test_a_read_below_the_current_level_does_not_stop_the_next_escalation(rig: Rig) -> None:
    rig.contact("third", level=3)
    iid = outage(rig)
    rig.tick(1 + T)
    (alert,) = rig.notes(iid, kind="alert")
    rig.set_read(alert.id, rig.at(1 + T + 10))  # level 1 reads late: level 2 still has not
    rig.tick(1 + 2 * T)
    assert rig.note_summary(iid)[-1] == ("escalation", "third", 3)
    assert rig.incident(iid)["escalation_level"] == 3


def test_a_tick_reads_3_or_30_open_incidents_with_the_same_queries(rig: Rig) -> None:
    from sqlalchemy import event

    rig.engine.settings.alerts.resend_interval = 100 * R  # no reminders in this test
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    def tick_queries(at: float) -> int:
        statements.clear()
        event.listen(rig.store.engine, "before_cursor_execute", count)
        try:
            rig.tick(at)
        finally:
            event.remove(rig.store.engine, "before_cursor_execute", count)
        return len(statements)

    for i in range(3):
        outage(rig, f"a{i}")
    rig.tick(1 + T)  # escalated to level 2; level 3 has nobody, so due again on every tick
    few = tick_queries(2 + 2 * T)
    for i in range(27):
        rig.results(rig.target(f"b{i}"), "xx", 3 + 2 * T, step=1)
    rig.tick(5 + 3 * T)
    assert len(rig.incidents("firing")) == 30
    assert all(i["escalation_level"] == 2 for i in rig.incidents("firing"))
    many = tick_queries(6 + 4 * T)
    assert len(rig.notes()) == 60  # nothing queued by the two measured ticks
    assert few == many, "a tick's queries must not grow with the open incidents"
    assert many <= 4  # the open incidents, the contacts (something was due), the rules
