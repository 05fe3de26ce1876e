"""Removing a contact erases the person, not just the row: where the name stood for them (who
acknowledged, who read a group alert, who acted in the audit log) it reads "erased contact", and
the audit entries about the contact are gone. Real store, SQLite and PostgreSQL."""

from __future__ import annotations

from engine.commands import Commands
from engine.config.settings import Settings
from engine.notify import outbox
from engine.security.crypto import KeyRing
from engine.store import incidents as inc_store
from engine.store import telegram as tgstore
from engine.store.store import Store
from tests.test_telegram_receipt_race import _message


def test_removing_a_contact_erases_its_name_everywhere(
    db_url: str, keyring: KeyRing, settings: Settings
) -> None:
    store = Store.open(db_url, keyring)
    try:
        cmds = Commands(store, settings)
        alice = cmds.add_contact("alice", "telegram:@alice_oncall")
        ops = cmds.add_contact("ops-group", "telegram:-4455")
        inc, _ = inc_store.open_incident(store, "k", "down", "high", "db is down")
        cmds.ack_incident(inc.id, by="alice")  # a Telegram reply: the actor is the contact name
        note = outbox.enqueue(store, ops["id"], "telegram", _message(), inc.id)
        tgstore.add_reader(store, note, "alice", 1.0)  # alice read the group's alert
        tgstore.add_reader(store, note, "bob", 2.0)
        assert any(h["actor"] == "alice" for h in cmds.history(limit=50))

        cmds.remove_contact("alice")

        listed = cmds.list_incidents()[0]
        assert listed["acked_by"] == "erased contact"
        assert [r["name"] for r in listed["notifications"][0]["readers"]] == [
            "erased contact",
            "bob",
        ]
        history = cmds.history(limit=50)
        assert "alice" not in {h["actor"] for h in history}
        assert "erased contact" in {h["actor"] for h in history}
        # the entries about the contact itself (its addition) are gone; its removal is recorded
        assert [h["action"] for h in history if h["action"].startswith("contact.")] == [
            "contact.remove",
            "contact.add",
        ]
        assert [c["name"] for c in cmds.list_contacts()] == ["ops-group"]
        assert alice["id"] not in {c["id"] for c in cmds.list_contacts()}
    finally:
        store.close()


def test_an_unrelated_name_is_left_alone(db_url: str, keyring: KeyRing, settings: Settings) -> None:
    name = "alice"
    store = Store.open(db_url, keyring)
    try:
        cmds = Commands(store, settings)
        cmds.add_contact(name, "telegram:@alice_oncall")
        inc, _ = inc_store.open_incident(store, "k", "down", "high", "x")
        cmds.ack_incident(inc.id, by="carol")
        cmds.remove_contact(name)
        assert cmds.list_incidents()[0]["acked_by"] == "carol"
    finally:
        store.close()
