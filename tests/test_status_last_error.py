"""The status bar's last error says which contact failed and why in a few words, and goes away
when a later send to that contact works or the contact is removed. A real engine and a real
webhook receiver on 127.0.0.1; nothing is mocked."""

from __future__ import annotations

import socket

import anyio
import pytest

from engine.config.settings import Settings
from engine.notify.dispatcher import short_reason
from engine.runtime.bootstrap import open_store
from engine.runtime.engine import Engine
from engine.security.crypto import KEY_FILE_NAME, new_master_key, write_key_file
from tests.telegram_engine import until
from tests.test_channel_webhook import Receiver, Seen

pytestmark = pytest.mark.anyio


def test_short_reason_drops_what_the_bar_already_says() -> None:
    assert short_reason("apprise", "apprise delivery failed: HTTP 401") == "HTTP 401"
    assert short_reason("apprise", "apprise delivery failed") == "delivery failed"
    assert short_reason("webhook", "HTTP 503") == "HTTP 503"
    assert short_reason("email", "SMTP is not configured ([smtp] host)") == (
        "SMTP is not configured ([smtp] host)"
    )
    assert short_reason("apprise", "apprise") == "failed"


async def test_last_error_names_the_contact_and_clears_when_it_works_or_goes(
    settings: Settings,
) -> None:
    settings.engine.seed_local_targets = False
    settings.engine.failure_threshold = 1
    settings.alerts.max_attempts = 1
    write_key_file(settings.data_dir / KEY_FILE_NAME, [new_master_key()])
    store = open_store(settings)
    up = False

    def answer(_seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return (200, {}, b"ok") if up else (503, {}, b"busy")

    closed = [socket.socket() for _ in range(2)]
    for s in closed:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    ports = [s.getsockname()[1] for s in closed]
    try:
        with Receiver(answer) as hook:
            engine = Engine(settings, store)
            cmds = engine.commands
            cmds.add_contact("pager", f"webhook:{hook.url}/pager")
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                assert engine.stats()["last_error"] == ""
                cmds.add_target(f"tcp://127.0.0.1:{ports[0]}", name="db", interval="1s")
                err = await until(lambda: engine.stats()["last_error"], what="a failed send")
                assert err == "pager (webhook): HTTP 503", err

                up = True  # fixed: a send that works ends it
                assert (await cmds.notify_test("pager"))["ok"]
                assert engine.stats()["last_error"] == ""

                up = False
                cmds.add_target(f"tcp://127.0.0.1:{ports[1]}", name="cache", interval="1s")
                await until(lambda: engine.stats()["last_error"], what="another failed send")
                cmds.remove_contact("pager")  # gone: nothing left to say about it
                assert engine.stats()["last_error"] == ""
                engine.stop()
    finally:
        for s in closed:
            s.close()
        store.close()
