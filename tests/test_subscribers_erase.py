"""/delete_account over Telegram erases every row a subscriber owns: afterwards the SQLite file and
its WAL hold neither their chat id, nor their target's host, nor any ciphertext of theirs read
from the store before the erase. Another subscriber's sealed values stay (the grep can hit)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import select

from engine.store.models import (
    AuditEntry,
    Benchmark,
    Contact,
    Incident,
    Notification,
    Receipt,
    Result,
    Subscriber,
    Target,
)
from tests.subscriber_world import (
    CAROL,
    DAVE,
    ask,
    chat_world,
    listener,
    owned_targets,
    server_fixture,  # noqa: F401  (the `server` fixture)
    settle,
    silent,
    until,
)
from tests.telegram_engine import closed_port

CAROL_HOST = "127.0.0.7"  # loopback, and nobody else's target uses it


def sealed_values(w, owner_id: str) -> list[bytes]:
    """Every sealed blob the store holds for `owner_id`: chat id, contact, targets, benchmarks,
    incidents, notifications, receipts, failure details."""
    out: list[bytes] = []
    with w.store.session() as s:
        sub = s.get(Subscriber, owner_id)
        out.append(sub.chat_s)
        for c in s.exec(select(Contact).where(Contact.owner_id == owner_id)).scalars():
            out += [c.name_s, c.address_s, c.resolved_s]
        tids = []
        for t in s.exec(select(Target).where(Target.owner_id == owner_id)).scalars():
            tids.append(t.id)
            out += [t.name_s, t.spec_s]
        for b in s.exec(select(Benchmark).where(Benchmark.owner_id == owner_id)).scalars():
            out += [b.name_s, b.spec_s]
        iids = []
        for i in s.exec(select(Incident).where(Incident.owner_id == owner_id)).scalars():
            iids.append(i.id)
            out += [i.summary_s, i.acked_by_s]
        notes = list(
            s.exec(select(Notification).where(Notification.incident_id.in_(iids))).scalars()
        )
        out += [n.body_s for n in notes]
        nids = [n.id for n in notes]
        out += [
            r.reader_s
            for r in s.exec(select(Receipt).where(Receipt.notification_id.in_(nids))).scalars()
        ]
        out += [
            r.detail_s for r in s.exec(select(Result).where(Result.target_id.in_(tids))).scalars()
        ]
    return [bytes(b) for b in out if b]


def store_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("store.db*")) if p.is_file())


@pytest.mark.anyio
async def test_subscriber_delete_account_leaves_no_plaintext_and_no_ciphertext(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL, DAVE)) as w:
        carol = w.commands.find_subscriber(CAROL)
        dave = w.commands.find_subscriber(DAVE)
        with listener(CAROL_HOST) as port, listener() as dave_port:
            await ask(w, CAROL, "/start")
            await ask(w, CAROL, f"/addtarget {CAROL_HOST}:{port} carol-web")
            await ask(w, CAROL, f"/addtarget {CAROL_HOST}:{closed_port()} carol-db")
            await ask(w, CAROL, f"/setbench {CAROL_HOST}:{port}")
            await ask(w, CAROL, "/mode maintenance carol-web")
            await ask(w, DAVE, f"/addtarget 127.0.0.1:{dave_port} dave-web")
            assert (await ask(w, CAROL, "/get carol-web")).startswith("carol-web: maintenance")
            await ask(w, CAROL, "/get carol-db")  # down: an incident, an alert, a failure detail
            alert = (await until(lambda: alerts(w, "carol-db"), what="carol's alert"))[0]
            await w.server.read(CAROL, alert.id)  # a read receipt with a sealed reader
            await ask(w, CAROL, f"/get {CAROL_HOST}:{port} connect", timeout=10)
            ack = await w.say(CAROL, "ack", reply_to=alert.id)
            assert (await w.reply_text(ack)).startswith("Acknowledged")
            await until(
                lambda: (
                    w.notifications(status="sent")
                    and any(
                        n.read_at for n in w.notifications(contact_id=owned_contact(w, carol.id))
                    )
                ),
                what="carol's read receipt",
            )
            await settle(w)
            secrets = sealed_values(w, carol.id)
            kept = sealed_values(w, dave.id)
            assert len(secrets) >= 12, "the scenario should have sealed plenty of carol's data"
            before = store_bytes(tmp_path)
            assert all(blob in before for blob in kept)

            asked = await ask(w, CAROL, "/delete_account")
            assert "2 targets, 1 benchmarks" in asked and "/delete_account confirm" in asked
            assert w.commands.find_subscriber(CAROL) is not None
            done = await ask(w, CAROL, "/delete_account confirm")
            assert done == "Your SysAlert account and everything it owned are erased. Goodbye."
            await settle(w, 0.5)

            after = store_bytes(tmp_path)
            assert str(CAROL).encode() not in after
            assert CAROL_HOST.encode() not in after and b"carol-" not in after
            leaked = [i for i, blob in enumerate(secrets) if blob in after]
            assert leaked == [], f"ciphertexts still in the store: {leaked}"
            assert all(blob in after for blob in kept)  # Dave's data is untouched
            assert [t.name for t in w.commands.list_targets()] == ["dave-web"]
            with w.store.session() as s:
                audit = list(s.exec(select(AuditEntry)).scalars())
            mine = [a for a in audit if a.object_ref == f"subscriber:{carol.id}"]
            assert [a.action for a in mine] == ["subscriber.remove"]
            removal = w.commands.history(kind="subscriber")[0]
            assert removal["actor"] == "telegram:self" and str(CAROL) not in str(removal)
            await silent(w, CAROL, "/status")  # a stranger now


def alerts(w, name: str) -> list:
    return [m for m in w.sent_to(CAROL) if name in m.message and not m.reply_to]


def owned_contact(w, owner_id: str) -> str:
    with w.store.session() as s:
        return s.exec(select(Contact.id).where(Contact.owner_id == owner_id)).scalars().first()


@pytest.mark.anyio
async def test_subscriber_delete_account_asks_first_and_only_in_private(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL,)) as w:
        group = w.server.add_chat(4455, "carol-team")
        w.commands.add_subscriber(-group.id)
        with listener() as port:
            assert (await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} web")).startswith("Added")
            in_group = await w.say(CAROL, "/delete_account confirm", chat_id=group.id)
            assert "private chat" in await w.reply_text(in_group)
            bad = await ask(w, CAROL, "/delete_account now")
            assert bad.startswith("Send /delete_account, then /delete_account confirm.")
            assert len(owned_targets(w, CAROL)) == 1 and w.commands.find_subscriber(-4455)
            await ask(w, CAROL, "/delete_account confirm")
            await anyio.sleep(0.05)
            assert w.commands.find_subscriber(CAROL) is None and w.commands.list_targets() == []
            assert w.commands.find_subscriber(-4455) is not None
