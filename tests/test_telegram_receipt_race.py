"""A read receipt can overtake the dispatcher storing the message id it covers (Telegram pushes the
read before our mark-sent commits): it must still mark the notification once the id is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.config.settings import Settings
from engine.notify import outbox
from engine.notify.message import OutgoingMessage
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from engine.store import contacts as cstore
from engine.store.models import Notification
from engine.telegram.receipts import ReadReceipt

pytestmark = pytest.mark.anyio
ALICE = 5550001265


@pytest.fixture
def engine(settings: Settings):
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    store = open_store(settings)
    yield Engine(settings, store)
    store.close()


def _message() -> OutgoingMessage:
    return OutgoingMessage(
        kind="alert",
        incident_id="inc",
        severity="high",
        target_name="db",
        target_ref="target:x",
        state="down",
        since=datetime.now(UTC),
    )


def _row(engine: Engine, contact_id: str) -> str:
    return outbox.enqueue(engine.store, contact_id, "telegram", _message(), None)


def _read_at(engine: Engine, nid: str) -> float | None:
    with engine.store.session() as s:
        return s.get(Notification, nid).read_at


async def test_telegram_receipt_that_overtakes_mark_sent_still_counts(engine: Engine) -> None:
    contact = engine.commands.add_contact("alice", f"telegram:{ALICE}")
    bridge = engine.telegram
    early, late = _row(engine, contact["id"]), _row(engine, contact["id"])
    at = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    # Telegram says alice read up to message 42 before we stored the message ids.
    await bridge._on_read(ReadReceipt(ALICE, 42, at))
    assert _read_at(engine, early) is None
    outbox.mark_sent(engine.store, early, "42")
    outbox.mark_sent(engine.store, late, "43")
    # The dispatcher calls this right after each mark_sent of a Telegram row.
    await bridge.after_sent(cstore.find(engine.store, contact["id"]))
    assert _read_at(engine, early) == at.timestamp()
    assert _read_at(engine, late) is None  # 43 was not covered by the receipt


async def test_two_receipts_applied_at_once_mark_each_alert_once(db_url: str, keyring) -> None:
    """A push and a poll (or `after_sent`) for one chat run `mark_read` in two threads. The
    second runs, whole, between the first's read of unread rows and its write: the row must be
    marked once, with one Receipt, whichever database."""
    import threading

    from sqlalchemy import event, func, select

    from engine.store import telegram as bstore
    from engine.store.models import Receipt
    from engine.store.store import Store

    store = Store.open(db_url, keyring)
    try:
        contact = cstore.insert(store, "alice", "telegram", str(ALICE))
        nid = outbox.enqueue(store, contact.id, "telegram", _message(), None)
        outbox.mark_sent(store, nid, "42")
        other: list[list[bstore.ReadMark]] = []
        first_thread = threading.get_ident()

        def before(_conn, _cursor, statement: str, *_args) -> None:
            if (
                statement.lstrip().upper().startswith("UPDATE NOTIFICATIONS")
                and threading.get_ident() == first_thread
                and not other
            ):
                racer = threading.Thread(
                    target=lambda: other.append(bstore.mark_read(store, [contact], 42, 2.0))
                )
                racer.start()
                racer.join(10)

        event.listen(store.engine, "before_cursor_execute", before)
        try:
            mine = bstore.mark_read(store, [contact], 42, 1.0)
        finally:
            event.remove(store.engine, "before_cursor_execute", before)
        assert len(other) == 1, "the racing receipt did not run"
        assert len(mine) + len(other[0]) == 1  # one of the two marked it, not both
        with store.session() as s:
            receipts = s.exec(select(func.count()).select_from(Receipt)).scalar_one()
            read_at = s.get(Notification, nid).read_at
        assert receipts == 1
        assert read_at == (1.0 if mine else 2.0)
        assert bstore.mark_read(store, [contact], 42, 3.0) == []  # and again: nothing
    finally:
        store.close()
