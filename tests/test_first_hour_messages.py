"""Messages and lists that read right: a resolved notice says what the outage was (not "is down"
under [RESOLVED]), a test notification names no incident, an incident without a target names what
it is about, and the audit names the person who made each change. Real engine, real store, a real
webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from engine.alerting import trouble
from engine.config.settings import load_settings
from engine.notify import templates
from tests.alerting_harness import Rig, make_rig
from tests.test_channel_webhook import NOW, Receiver


@pytest.fixture
def rig(data_dir: Path, db_url: str, keyring):  # type: ignore[no-untyped-def]
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir)})
    settings.engine.seed_local_targets = False
    with make_rig(settings, db_url, keyring) as r:
        yield r


def test_a_resolved_notice_says_what_the_outage_was(rig: Rig) -> None:
    rig.contact("oncall")
    db = rig.target("db")
    rig.results(db, "xx..", 0)
    (inc,) = rig.incidents()
    alert, resolved = (rig.body(n) for n in rig.notes(inc["id"]))
    assert templates.webhook_body(alert, NOW)["summary"] == "db is down (refused)"
    body = templates.webhook_body(resolved, NOW)
    assert body["summary"] == "Was: db is down (refused)"
    lines = body["text"].splitlines()
    assert lines[0].startswith("[RESOLVED] Resolved: db recovered after")
    assert "db is down (refused)" not in lines, "a resolved notice reads as if still down"
    assert "Error was: refused" in lines and "Was: db is down (refused)" in lines
    assert "Was: db is down" in templates.render_html(resolved, NOW)
    assert "Was: db is down" in json.dumps(templates.slack_body(resolved, NOW))


def test_a_test_notification_names_no_incident(rig: Rig) -> None:
    with Receiver() as hook:
        rig.contact("hook", f"webhook:{hook.url}/hook")
        out = anyio.run(lambda: rig.commands.notify_test("hook", by="alice"))
        assert out["ok"], out
        text = json.loads(hook.requests[0].body)["text"]
    assert text.startswith("[TEST] Test notification")
    assert "Incident" not in text and "()" not in text, text
    (entry,) = rig.audit("notify")
    assert (entry["actor"], entry["target"]) == ("alice", "hook")


def test_an_incident_without_a_target_names_what_it_is_about(rig: Rig) -> None:
    rig.contact("oncall")
    flaky = rig.contact("flaky")
    contact = next(c for c in rig.commands.list_contacts() if c["id"] == flaky["id"])
    from engine.store import contacts as cstore

    inc_id = trouble.raise_trouble(
        rig.engine.alerting, cstore.find(rig.store, contact["id"]), "webhook", "HTTP 500"
    )
    assert inc_id is not None
    (inc,) = rig.incidents()
    assert inc["kind"] == "delivery" and inc["target"] == "contact flaky"
    rig.commands.add_rule("hot", "system.cpu", ">", 90)
    (rule,) = [r for r in rig.commands.list_rules() if r["name"] == "hot"]
    from engine.store import incidents as inc_store

    inc_store.open_incident(
        rig.store, f"rule:{rule['id']}", "rule", "high", "hot", rule_id=rule["id"]
    )
    assert {i["target"] for i in rig.incidents()} == {"contact flaky", "rule hot"}


def test_maintenance_history_names_the_target_or_the_tag(rig: Rig) -> None:
    rig.target("web", tags=["web"])
    cmds = rig.commands
    assert "note" not in cmds.maintenance_on("tag:web", by="alice")
    said = cmds.maintenance_on("tag:db", by="alice")
    assert "no target is tagged 'db'" in said["note"]
    cmds.maintenance_off("tag:db", by="alice")
    cmds.maintenance_on("web", by="alice")
    cmds.maintenance_off("web", by="alice")
    cmds.maintenance_on("all", by="alice")
    shown = [(h["action"], h["target"], h["actor"]) for h in rig.audit("maintenance")]
    assert shown == [
        ("maintenance.on", "tag:web", "alice"),
        ("maintenance.on", "tag:db", "alice"),
        ("maintenance.off", "tag:db", "alice"),
        ("maintenance.on", "web", "alice"),
        ("maintenance.off", "web", "alice"),
        ("maintenance.on", "all", "alice"),
    ]


def test_an_unchanged_import_writes_nothing_and_records_the_person(rig: Rig) -> None:
    cmds = rig.commands
    rig.target("a", tags=["x"])
    rig.target("b")
    exported = cmds.export_targets()
    before = len(rig.audit("target"))
    assert cmds.import_targets(exported, by="alice") == {"added": 0, "updated": 0, "unchanged": 2}
    assert len(rig.audit("target")) == before, "an unchanged target was written"
    changed = exported.replace('interval = "30s"', 'interval = "45s"', 1)
    assert cmds.import_targets(changed, by="alice") == {"added": 0, "updated": 1, "unchanged": 1}
    edits = [h for h in rig.audit("target") if h["action"] == "target.edit"]
    assert [(h["target"], h["actor"]) for h in edits] == [("a", "alice")]
