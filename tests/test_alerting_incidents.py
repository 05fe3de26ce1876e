"""Incidents from real state changes on a hand-driven clock: dedup, resolve, ack, silence, audit,
flapping (one incident, no per-flip alerts) and dependencies (children held under the parent)."""

from __future__ import annotations

import pytest

from tests.alerting_harness import Rig, make_rig


@pytest.fixture
def rig(settings, db_url, keyring):
    with make_rig(settings, db_url, keyring, resend_interval=600.0, escalation_after=300.0) as r:
        yield r


def kinds(rig: Rig, incident_id: str) -> list[str]:
    return [n.kind for n in rig.notes(incident_id)]


def test_down_opens_one_incident_and_recovery_resolves_it_with_a_notice(rig: Rig) -> None:
    rig.contact("oncall")
    db = rig.target("db")
    rig.result(db, True, 0)
    rig.result(db, False, 10)  # one failure: pending, failure_threshold is 2
    assert db.state == "pending" and rig.incidents() == []
    rig.result(db, False, 20)
    assert db.state == "down"
    (inc,) = rig.incidents()
    assert inc["state"] == "firing" and inc["target"] == "db" and inc["kind"] == "down"
    assert inc["opened_at"] == rig.t0 + 20
    assert "refused" in inc["summary"]
    for t in (30, 40, 50):  # still down: no second incident, no second alert
        rig.result(db, False, t)
    rig.engine.alerting.open_for_target(db, "refused", "", rig.at(55))  # dedup by target
    assert [i["id"] for i in rig.incidents()] == [inc["id"]]
    assert rig.note_summary(inc["id"]) == [("alert", "oncall", 1)]
    body = rig.body(rig.notes(inc["id"])[0])
    assert body.kind == "alert" and body.target_name == "db" and body.state == "down"

    rig.result(db, True, 60)
    assert db.state == "up"
    done = rig.incident(inc["id"])
    assert done["state"] == "resolved" and done["resolved_at"] == rig.t0 + 60
    assert rig.note_summary(inc["id"]) == [("alert", "oncall", 1), ("resolved", "oncall", 1)]
    assert rig.body(rig.notes(inc["id"], kind="resolved")[0]).state == "resolved"

    rig.result(db, False, 70)
    rig.result(db, False, 80)  # a new outage is a new incident
    firing = rig.incidents("firing")
    assert len(firing) == 1 and firing[0]["id"] != inc["id"]
    actions = [
        (a["action"], a["actor"]) for a in rig.audit() if a["ref"] == f"incident:{inc['id']}"
    ]
    assert actions == [("incident.open", "engine"), ("incident.resolve", "engine")]
    states = [a["detail"] for a in rig.audit("state")]
    assert states[:3] == ["up -> pending (refused)", "pending -> down (refused)", "down -> up"]


def test_history_names_an_incidents_target_and_a_target_filter_includes_its_incidents(
    rig: Rig,
) -> None:
    db, web = rig.target("db"), rig.target("web")
    for t in (0, 10, 20):
        rig.result(db, False, t)
        rig.result(web, False, t)
    (inc,) = [i for i in rig.incidents() if i["target"] == "db"]
    rig.commands.ack_incident(inc["id"], by="alice")
    page = rig.commands.history(limit=100)
    opened = {h["ref"]: h["target"] for h in page if h["action"] == "incident.open"}
    assert sorted(opened.values()) == ["db", "web"] and opened[f"incident:{inc['id']}"] == "db"
    own = rig.commands.history(target="db")
    assert {h["target"] for h in own} == {"db"}
    assert {"target.add", "state.down", "incident.open", "incident.ack"} <= {
        h["action"] for h in own
    }
    assert rig.commands.history(target="db", kind="incident")[0]["actor"] == "alice"


def test_ack_resolve_silence_record_who_and_when(rig: Rig) -> None:
    rig.contact("oncall")
    web, api = rig.target("web"), rig.target("api")
    rig.results(web, "xx", 0)
    rig.results(api, "xx", 0)
    w, a = (next(i for i in rig.incidents() if i["target"] == n) for n in ("web", "api"))

    acked = rig.commands.ack_incident(w["id"], by="alice")
    assert acked["state"] == "acknowledged" and acked["acked_by"] == "alice"
    assert acked["acked_at"] is not None
    rig.tick(5000)  # far past the resend interval: an acknowledged incident is not resent
    assert kinds(rig, w["id"]) == ["alert"]
    assert kinds(rig, a["id"]) == ["alert", "reminder"]  # the unacknowledged one is

    rig.commands.resolve_incident(w["id"], by="bob")
    assert rig.incident(w["id"])["state"] == "resolved"
    with pytest.raises(Exception, match="already resolved"):
        rig.commands.ack_incident(w["id"], by="alice")

    rig.commands.silence_incident(a["id"], "1h", by="carol")
    assert rig.incident(a["id"])["state"] == "silenced"
    entries = {(e["action"], e["ref"]): e for e in rig.audit()}
    for action, inc, who in (
        ("incident.ack", w, "alice"),
        ("incident.resolve", w, "bob"),
        ("incident.silence", a, "carol"),
    ):
        e = entries[(action, f"incident:{inc['id']}")]
        assert e["actor"] == who and e["ts"] > rig.t0 - 5
    assert entries[("incident.silence", f"incident:{a['id']}")]["detail"] == "for 3600s"


def test_silence_holds_reminders_until_it_expires(rig: Rig) -> None:
    rig.contact("oncall")
    db = rig.target("db")
    rig.results(db, "xx", 0)
    (inc,) = rig.incidents()
    rig.commands.silence_incident(inc["id"], "1h", by="carol")
    until = rig.incident(inc["id"])["silenced_until"]
    for t in (700, 1400, until - rig.t0 - 1):  # past the resend interval, still silenced
        rig.tick(t)
    assert kinds(rig, inc["id"]) == ["alert"]
    assert rig.incident(inc["id"])["state"] == "silenced"
    rig.tick(until - rig.t0)  # the silence ends by itself
    assert rig.incident(inc["id"])["state"] == "firing"
    ended = [e for e in rig.audit() if e["action"] == "incident.unsilence"]
    assert [e["actor"] for e in ended] == ["engine"]
    rig.tick(until - rig.t0 + 1)
    assert kinds(rig, inc["id"]) == ["alert", "reminder"]
    rig.result(db, True, until - rig.t0 + 2)
    assert rig.incident(inc["id"])["state"] == "resolved"


def test_a_flapping_target_opens_one_incident_and_notifies_at_start_and_end(rig: Rig) -> None:
    rig.contact("oncall")
    svc = rig.target("svc")
    # Alternating results: up/pending flips; the fourth result shows a change on every check.
    t = rig.results(svc, ".x.x", 0)
    assert svc.flapping
    # Flapping through real outages: down and up again and again, no alert for any flip.
    t = rig.results(svc, "xx.xx.xx.xx.", t)
    downs = [e for e in rig.audit("state") if e["action"] == "state.down"]
    assert len(downs) == 4 and svc.flapping
    (inc,) = rig.incidents()
    assert inc["kind"] == "flapping" and inc["state"] == "firing"
    assert kinds(rig, inc["id"]) == ["flapping"]
    for _ in range(40):  # steady again: flapping ends after enough calm checks
        t = rig.results(svc, ".", t)
        if not svc.flapping:
            break
    assert not svc.flapping and svc.state == "up"
    (inc,) = rig.incidents()
    assert inc["state"] == "resolved"
    assert kinds(rig, inc["id"]) == ["flapping", "resolved"]
    assert len(rig.notes()) == 2


def test_flapping_that_ends_while_down_opens_a_real_incident(rig: Rig) -> None:
    rig.contact("oncall")
    svc = rig.target("svc")
    t = rig.results(svc, ".x.x.x", 0)
    assert svc.flapping
    for _ in range(40):
        t = rig.results(svc, "x", t)
        if not svc.flapping:
            break
    assert not svc.flapping and svc.state == "down"
    down = rig.incidents("firing")
    assert [i["kind"] for i in down] == ["down"]
    assert kinds(rig, down[0]["id"]) == ["alert"]


def test_children_of_a_down_parent_are_held_and_page_when_the_parent_recovers(rig: Rig) -> None:
    rig.contact("oncall")
    router = rig.target("router")
    hosts = [rig.target(f"host{i}", depends_on="router") for i in (1, 2, 3)]
    rig.results(router, "xx", 0)
    for h in hosts:
        rig.results(h, "xx", 1)
    incs = {i["target"]: i for i in rig.incidents("firing")}
    assert set(incs) == {"router", "host1", "host2", "host3"}
    parent = incs["router"]
    assert parent["held_under"] is None
    for i in (1, 2, 3):
        assert incs[f"host{i}"]["held_under"] == parent["id"]
    assert [n.incident_id for n in rig.notes()] == [parent["id"]]  # one page, not four
    rig.tick(700)  # reminders go to the parent only
    assert {n.incident_id for n in rig.notes()} == {parent["id"]}

    rig.result(hosts[0], True, 800)  # a held child that recovers closes quietly
    assert rig.incident(incs["host1"]["id"])["state"] == "resolved"
    assert rig.notes(incs["host1"]["id"]) == []

    rig.result(router, True, 900)  # parent back, host2 and host3 still down: they page now
    assert rig.incident(parent["id"])["state"] == "resolved"
    for name in ("host2", "host3"):
        i = rig.incident(incs[name]["id"])
        assert i["state"] == "firing" and i["held_under"] is None
        assert kinds(rig, i["id"]) == ["alert"]
    rig.result(hosts[1], True, 950)
    assert kinds(rig, incs["host2"]["id"]) == ["alert", "resolved"]


def test_resolving_a_parent_by_hand_releases_its_children(rig: Rig) -> None:
    rig.contact("oncall")
    router = rig.target("router")
    host = rig.target("host", depends_on="router")
    rig.results(router, "xx", 0)
    rig.results(host, "xx", 1)
    incs = {i["target"]: i for i in rig.incidents("firing")}
    rig.commands.resolve_incident(incs["router"]["id"], by="alice")
    rig.drain()
    rig.tick(30)
    child = rig.incident(incs["host"]["id"])
    assert child["held_under"] is None and kinds(rig, child["id"]) == ["alert"]


def test_children_failing_in_the_same_round_as_the_parent_are_held_too(rig: Rig) -> None:
    """The router and its hosts fail together; some hosts reach `down` before the router does."""
    rig.contact("oncall")
    router = rig.target("router")
    hosts = [rig.target(f"host{i}", depends_on="router") for i in (1, 2, 3)]
    for r in (router, *hosts):
        rig.result(r, False, 0)  # round 1: everyone pending
    for h in hosts:
        rig.result(h, False, 10)  # round 2: the hosts come first and are down...
    assert rig.incidents() == [], "...while the router's verdict is still open"
    rig.result(router, False, 11)
    incs = {i["target"]: i for i in rig.incidents("firing")}
    assert set(incs) == {"router", "host1", "host2", "host3"}
    assert all(incs[f"host{i}"]["held_under"] == incs["router"]["id"] for i in (1, 2, 3))
    assert [n.incident_id for n in rig.notes()] == [incs["router"]["id"]]


def test_children_page_when_a_failing_parent_turns_out_fine(rig: Rig) -> None:
    rig.contact("oncall")
    router = rig.target("router")
    host = rig.target("host", depends_on="router")
    rig.result(router, False, 0)  # a blip
    rig.results(host, "xx", 1)
    assert rig.incidents() == []
    rig.result(router, True, 20)  # the router is fine: the host's own outage pages now
    (inc,) = rig.incidents("firing")
    assert inc["target"] == "host" and inc["held_under"] is None
    assert kinds(rig, inc["id"]) == ["alert"]
