"""Admins and strangers over Telegram: /addsub, /rmsub, /stats, /start from a stranger (one notice
to every admin), rate limits and role-specific help, through a running engine and real TL updates."""

from __future__ import annotations

import logging

import anyio
import pytest

from engine.store import contacts as cstore
from engine.store import subscribers as sstore
from tests.subscriber_world import (
    ADMIN,
    ALICE,
    CAROL,
    DAVE,
    STRANGER,
    SUBADMIN,
    ask,
    chat_world,
    listener,
    owned_targets,
    server_fixture,  # noqa: F401  (the `server` fixture)
    silent,
    until,
)


@pytest.mark.anyio
async def test_admin_addsub_makes_a_subscriber_with_its_own_alert_contact(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server) as w:
        text = await ask(w, ADMIN, f"/addsub {CAROL}")
        assert text.startswith("Added subscriber ****1265.") and str(CAROL) not in text
        sub = w.commands.find_subscriber(CAROL)
        assert sub is not None and sub.role == "subscriber"
        own = cstore.load_all(w.store, sub.id)
        assert [(c.channel, c.address) for c in own] == [("telegram", str(CAROL))]
        # The session had seen carol (users ride along with updates): her peer is stored already.
        assert own[0].resolved is not None and own[0].resolved.startswith(f"user:{CAROL}:")
        assert "already a subscriber" in await ask(w, ADMIN, f"/addsub {CAROL}")
        bad = await ask(w, ADMIN, "/addsub carol")
        assert bad == "A chat id is a number like 77441265.\nUsage: /addsub <chat_id>"
        assert "Which chat id?" in await ask(w, ADMIN, "/rmsub")
        welcome = await ask(w, CAROL, "/start")
        assert welcome.startswith("Welcome to SysAlert. You are ****1265, role subscriber.")
        assert len(w.commands.list_subscribers()) == 1


@pytest.mark.anyio
async def test_admin_rmsub_stops_the_subscriber_probes_and_erases_them(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL, DAVE)) as w:
        with listener() as port:
            assert (await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} carol-web")).startswith(
                "Added carol-web (tcp)"
            )
            assert (await ask(w, DAVE, f"/addtarget 127.0.0.1:{port} dave-web")).startswith(
                "Added dave-web"
            )
            carol_target = owned_targets(w, CAROL)[0]
            await until(lambda: carol_target.id in w.engine.targets, what="scheduled")
            text = await ask(w, ADMIN, f"/rmsub {CAROL}")
            assert text == (
                "Removed subscriber ****1265 and everything they owned (1 targets, 0 benchmarks)."
            )
            assert carol_target.id not in w.engine.targets  # its probes stopped
            assert w.commands.find_subscriber(CAROL) is None
            assert [t.name for t in w.commands.list_targets()] == ["dave-web"]
            removal = [h for h in w.commands.history(kind="subscriber")]
            assert [h["action"] for h in removal] == ["subscriber.remove", "subscriber.add"]
            assert str(CAROL) not in str(removal) and "carol" not in str(removal)
            await silent(w, CAROL, "/status")  # a stranger now
            missing = await ask(w, ADMIN, "/rmsub 5551234")
            assert missing == "Chat ****1234 is not a subscriber."


@pytest.mark.anyio
async def test_admin_stats_counts_and_rates_without_personal_data(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL,)) as w:
        w.commands.add_subscriber(SUBADMIN, role="admin")
        with listener() as port:
            await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} carol-web")
            await w.add_target("ops-web", port, interval="1h")
            text = await ask(w, ADMIN, "/stats")
        lines = text.splitlines()
        assert lines[0] == "Subscribers: 2 (1 admin)."
        assert lines[1] == "Targets: 2 (1 of subscribers); benchmarks: 0."
        assert lines[2] == "Open incidents: 0."
        assert lines[3].startswith("Probe rate: ") and "delivery -" in lines[4]
        for private in (str(CAROL), str(SUBADMIN), "carol-web", "ops-web", "127.0.0.1", str(port)):
            assert private not in text
        # An admin subscriber may ask too; a plain subscriber and a contact may not.
        assert (await ask(w, SUBADMIN, "/stats")).startswith("Subscribers: 2")
        assert await ask(w, CAROL, "/stats") == "/stats is for admins; ask the SysAlert operator."
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        assert (await ask(w, ALICE, f"/addsub {DAVE}")).startswith("/addsub is for admins")
        assert (await ask(w, ALICE, "/addtarget 127.0.0.1:9")).startswith(
            "/addtarget is for subscribers and admins"
        )
        assert w.commands.find_subscriber(DAVE) is None


@pytest.mark.anyio
async def test_stranger_start_tells_every_admin_once_and_changes_nothing(
    tmp_path, settings, keyring, server, caplog
):
    caplog.set_level(logging.INFO)
    async with chat_world(tmp_path, settings, keyring, server) as w:
        w.commands.add_subscriber(SUBADMIN, role="admin")
        text = await ask(w, STRANGER, "/start")
        assert f"add your chat id {STRANGER}" in text and "the admins have been told" in text

        def notices(user):
            return [m for m in w.sent_to(user) if m.message.startswith("Access request")]

        await until(lambda: notices(ADMIN) and notices(SUBADMIN), what="admin notices")
        assert notices(ADMIN)[0].message.endswith(f"/addsub {STRANGER}")
        again = await ask(w, STRANGER, "/start")
        assert "the admins have been told" in again
        await anyio.sleep(0.2)
        assert len(notices(ADMIN)) == 1 and len(notices(SUBADMIN)) == 1
        for text in (
            "/addtarget 127.0.0.1:9 x",
            "/setbench cpu",
            f"/addsub {STRANGER}",
            "/stats",
            "/whoami",
            "/mode maintenance all",
            "/delete_account confirm",
            "/frobnicate",
        ):
            await silent(w, STRANGER, text, 0.05)
        assert w.commands.list_targets() == [] and w.commands.list_benchmarks() == []
        assert [s["role"] for s in w.commands.list_subscribers()] == ["admin"]
        assert w.commands.list_maintenance() == []
        logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("engine"))
        assert "****7009" in logged and str(STRANGER) not in logged
        # Once let in, the same person is a subscriber: their /start is a welcome.
        assert (await ask(w, ADMIN, f"/addsub {STRANGER}")).startswith("Added subscriber")
        assert (await ask(w, STRANGER, "/start")).startswith("Welcome to SysAlert.")


@pytest.mark.anyio
async def test_subscriber_commands_are_rate_limited_per_sender(
    tmp_path, settings, keyring, server, caplog
):
    caplog.set_level(logging.INFO)
    async with chat_world(
        tmp_path, settings, keyring, server, per_minute=3, subscribers=(CAROL, DAVE)
    ) as w:
        sent = [await w.say(CAROL, "/whoami") for _ in range(5)]
        await until(lambda: len([m for m in sent if w.replies_to(m.id)]) >= 3, what="3 answers")
        await anyio.sleep(0.3)
        assert [bool(w.replies_to(m.id)) for m in sent] == [True, True, True, False, False]
        assert (await ask(w, DAVE, "/whoami")).startswith("You are ****7202")  # his own bucket
        await silent(w, CAROL, "/addtarget 127.0.0.1:9 flood")
        assert owned_targets(w, CAROL) == []
        logged = "\n".join(r.getMessage() for r in caplog.records if "rate limit" in r.getMessage())
        assert "****1265" in logged and str(CAROL) not in logged


@pytest.mark.anyio
async def test_subscriber_admin_and_contact_get_help_for_their_role(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL,)) as w:
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        mine = await ask(w, CAROL, "/frobnicate")
        assert mine.startswith("Unknown command /frobnicate.")
        assert "/addtarget <spec> [name]" in mine and "/setbench" in mine and "/addsub" not in mine
        admin = await ask(w, ADMIN, "/help")
        assert "/addsub <chat_id>" in admin and "/stats" in admin and "/rmsub" in admin
        contact = await ask(w, ALICE, "/nope")
        assert "/ack" in contact and "/addtarget" not in contact and "/addsub" not in contact
        assert await ask(w, CAROL, "/help setbench") == "/setbench <cpu|URL|host:port>"
        who = await ask(w, ADMIN, "/whoami")
        assert who.startswith("You are ****7101, role admin (from the config)")
        assert sstore.find(w.store, ADMIN) is None  # asking changed nothing
