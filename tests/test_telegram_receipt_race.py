"""A read receipt can overtake the dispatcher storing the message id it covers (Telegram pushes the
read before our mark-sent commits): it must still mark the notification once the id is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.bootstrap import open_store
from engine.config import Settings
from engine.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from engine.engine import Engine
from engine.notify import outbox
from engine.notify.message import OutgoingMessage
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


def _row(engine: Engine, contact_id: str) -> str:
    msg = OutgoingMessage(
        kind="alert",
        incident_id="inc",
        severity="high",
        target_name="db",
        target_ref="target:x",
        state="down",
        since=datetime.now(UTC),
    )
    return outbox.enqueue(engine.store, contact_id, "telegram", msg, None)


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
    await bridge._after_sent(cstore.find(engine.store, contact["id"]))
    assert _read_at(engine, early) == at.timestamp()
    assert _read_at(engine, late) is None  # 43 was not covered by the receipt
