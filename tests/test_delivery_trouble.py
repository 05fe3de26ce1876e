"""When alerts cannot reach a contact, the other contacts hear of it; when it works again (or is
removed), that incident resolves. A level with nobody usable hands the alert to the next level.

A real engine, real webhook receivers on 127.0.0.1 and an email contact with no SMTP relay (a
permanent failure); nothing is mocked.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import anyio
import pytest

from engine.config.settings import Settings
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from engine.store import contacts as cstore
from tests.alerting_harness import Rig, make_rig
from tests.telegram_engine import until
from tests.test_channel_webhook import Receiver, Seen

pytestmark = pytest.mark.anyio


def _texts(hook: Receiver) -> list[str]:
    return [json.loads(r.body)["text"] for r in hook.requests]


async def test_a_contact_alerts_cannot_reach_is_reported_to_the_others(settings: Settings) -> None:
    settings.engine.seed_local_targets = False
    settings.engine.failure_threshold = 1
    settings.alerts.max_attempts = 1  # one failed try and a notification is dead
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    store = open_store(settings)
    flaky_up = False

    def flaky_answer(_seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return (200, {}, b"ok") if flaky_up else (500, {}, b"down for maintenance")

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    try:
        with Receiver() as ops, Receiver(flaky_answer) as flaky_hook:
            engine = Engine(settings, store)
            cmds = engine.commands
            cmds.add_contact("ops", f"webhook:{ops.url}/ops")
            cmds.add_contact("flaky", f"webhook:{flaky_hook.url}/flaky")
            cmds.add_contact("mail", "email:ops@example.com")  # no [smtp] host: permanent
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                cmds.add_target(f"tcp://127.0.0.1:{port}", name="db", interval="1s")
                await until(lambda: any("DOWN db" in t for t in _texts(ops)), what="db alert")
                said = await until(
                    lambda: (
                        [t for t in _texts(ops) if "Alerts cannot reach contact" in t]
                        if len([t for t in _texts(ops) if "cannot reach" in t]) == 2
                        else None
                    ),
                    what="both delivery incidents",
                )
                assert any("contact flaky over webhook" in t for t in said)
                assert any("contact mail over email" in t and "SMTP" in t for t in said)
                assert any("`sysalert notify test mail`" in t for t in said)
                kinds = {i["kind"] for i in cmds.list_incidents(state="firing")}
                assert kinds == {"down", "delivery"}
                assert cstore.find(store, "mail").status == "blocked"
                # The list says so too: a contact whose notifications ran out of tries is not ok.
                shown = {c["name"]: c["status"] for c in cmds.list_contacts()}
                assert shown == {"ops": "ok", "flaky": "failing", "mail": "blocked"}, shown
                # Neither report goes to the contact it is about, and nothing chains on.
                await anyio.sleep(1.5)
                assert len([i for i in cmds.list_incidents() if i["kind"] == "delivery"]) == 2
                assert not any("contact flaky" in r.body.decode() for r in flaky_hook.requests)

                flaky_up = True  # fixed: the next successful send ends its delivery incident
                out = await cmds.notify_test("flaky")
                assert out["ok"], out

                def open_delivery() -> list[str]:
                    return sorted(
                        i["summary"]
                        for i in cmds.list_incidents(state="firing")
                        if i["kind"] == "delivery"
                    )

                await until(lambda: len(open_delivery()) == 1, what="flaky's resolved")
                assert "contact mail" in open_delivery()[0]
                assert {c["name"]: c["status"] for c in cmds.list_contacts()}["flaky"] == "ok"
                await until(
                    lambda: [t for t in _texts(ops) if t.startswith("[RESOLVED]")],
                    what="flaky's resolved notice",
                )
                cmds.remove_contact("mail")  # erased: its delivery incident goes with it, quietly
                assert open_delivery() == []
                assert not [i for i in cmds.list_incidents() if "contact mail" in i["summary"]]
                await anyio.sleep(1.0)
                resolved = [t for t in _texts(ops) if t.startswith("[RESOLVED]")]
                assert len(resolved) == 1 and "mail" not in resolved[0]
                engine.stop()
    finally:
        closed.close()
        store.close()


@pytest.fixture
def rig(settings: Settings, db_url: str, keyring: Any) -> Any:
    with make_rig(settings, db_url, keyring, escalation_after=300.0) as r:
        yield r


def test_a_level_with_nobody_usable_hands_the_alert_to_the_next(rig: Rig) -> None:
    """Level 1's only contact is blocked: the alert goes to level 2 at once, not to nobody, and
    escalation carries on from there."""
    first = rig.contact("first")
    rig.contact("second", level=2)
    cstore.set_status(rig.store, first["id"], "blocked", "user blocked the account")
    rec = rig.target("db")
    rig.results(rec, "xx", 0, step=1)
    (inc,) = rig.incidents("firing")
    assert rig.note_summary(inc["id"]) == [("alert", "second", 2)]
    assert rig.incident(inc["id"])["escalation_level"] == 2


def test_a_delivery_report_skips_its_contact_and_finds_the_next_level(rig: Rig) -> None:
    """The only level-1 contact cannot be reached: the report about it goes to level 2, never
    to itself; a subscriber's own contact raises no operator incident at all."""
    from engine.alerting import trouble

    first = cstore.find(rig.store, rig.contact("first")["id"])
    second = cstore.find(rig.store, rig.contact("second", level=2)["id"])
    iid = trouble.raise_trouble(rig.engine.alerting, first, "webhook", "HTTP 500")
    assert iid is not None
    assert rig.note_summary(iid) == [("alert", "second", 2)]
    assert trouble.raise_trouble(rig.engine.alerting, first, "webhook", "HTTP 500") is None
    theirs = cstore.find(rig.store, rig.contact("subscriber-own")["id"])
    theirs.owner_id = "sub1"
    assert trouble.raise_trouble(rig.engine.alerting, theirs, "telegram", "blocked") is None
    # a failed notice of a delivery incident raises no incident of its own (no chains)
    assert trouble.raise_trouble(rig.engine.alerting, second, "webhook", "x", iid) is None
    assert trouble.raise_trouble(rig.engine.alerting, second, "webhook", "x") is not None


def test_reminders_and_escalation_of_a_delivery_incident_skip_its_contact(
    settings: Settings, db_url: str, keyring: Any
) -> None:
    from engine.alerting import trouble

    with make_rig(settings, db_url, keyring, escalation_after=300.0, resend_interval=900.0) as rig:
        first = cstore.find(rig.store, rig.contact("first")["id"])
        rig.contact("second")
        rig.contact("first-level-2", level=2)
        iid = trouble.raise_trouble(rig.engine.alerting, first, "webhook", "HTTP 500")
        assert rig.note_summary(iid) == [("alert", "second", 1)]
        rig.tick(301)  # nobody read it: escalation to level 2
        rig.tick(1300)  # and a reminder
        sent_to = {who for _kind, who, _level in rig.note_summary(iid)}
        assert "first" not in sent_to and {"second", "first-level-2"} <= sent_to
