"""The console's Telegram login flow (phone, code, 2FA password) against the fake Telegram: the
engine's own login runs, the prompts are the console's dialogs, the session ends up sealed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from screens.contacts import ContactsScreen
from screens.dialogs import FieldsDialog
from tests.console_fixture import fresh_world, make_app, settle, wait_until
from tests.telegram_engine import configure, use_fake_telegram
from tests.telegram_harness import FakeTelegram

pytestmark = pytest.mark.anyio


async def _answer(pilot: Any, label: str, value: str) -> FieldsDialog:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, FieldsDialog))
    dialog = pilot.app.screen
    assert label in str(dialog.query_one(".field-label").render())
    dialog.query_one("#f-value").value = value
    await pilot.press("ctrl+s")
    await settle(pilot)
    return dialog


async def test_login_with_code_and_2fa_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeTelegram(password="correct horse")
    with fresh_world(tmp_path) as w:
        configure(w.settings)
        use_fake_telegram(monkeypatch, server)
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("6")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, ContactsScreen)
            await pilot.press("l")
            await _answer(pilot, "Phone", "+44 7700 900001")
            await _answer(pilot, "Login code", server.code)
            dialog = await wait_until_dialog(pilot, "2FA")
            assert dialog.query_one("#f-value").password  # read without echo
            await _answer(pilot, "2FA", "correct horse")
            status = w.engine.commands.telegram_status()
            await wait_until(
                pilot, lambda: "logged in" in str(screen.query_one("#telegram").render())
            )
            assert status["logged_in"] and status["account"].startswith("****")


async def wait_until_dialog(pilot: Any, label: str) -> FieldsDialog:
    def shown() -> bool:
        s = pilot.app.screen
        return isinstance(s, FieldsDialog) and label in str(s.query_one(".field-label").render())

    await wait_until(pilot, shown)
    return pilot.app.screen


async def test_cancelling_the_login_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeTelegram()
    with fresh_world(tmp_path) as w:
        configure(w.settings)
        use_fake_telegram(monkeypatch, server)
        async with make_app(w.backend).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("6")
            await settle(pilot)
            await pilot.press("l")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, FieldsDialog))
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(pilot.app.screen, ContactsScreen)
            assert not w.engine.commands.telegram_status()["logged_in"]


async def test_login_from_a_console_attached_to_a_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attached over the data directory's socket, the console logs in against the store (as the
    CLI does), and the running daemon finds the sealed session there."""
    from engine.api.client import connect_if_running
    from engine.config.settings import load_settings
    from engine.runtime.bootstrap import open_store
    from engine.runtime.facade import AttachedBackend
    from engine.store import telegram_session as session_store
    from tests.daemon_harness import running_daemon
    from tests.telegram_harness import SETTINGS

    server = FakeTelegram()
    use_fake_telegram(monkeypatch, server)
    data_dir = tmp_path / "data"
    config = f'[telegram]\napi_id = {SETTINGS.api_id}\napi_hash = "{SETTINGS.api_hash}"\n'
    with running_daemon(data_dir, config):
        settings = load_settings(data_dir / "config.toml", data_dir, env={})
        remote = connect_if_running(settings)
        assert remote is not None
        backend = AttachedBackend(remote)
        try:
            async with make_app(backend).run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                assert backend.mode == "attached"
                await pilot.press("6")
                await settle(pilot)
                await pilot.press("l")
                await _answer(pilot, "Phone", "+44 7700 900001")
                await _answer(pilot, "Login code", server.code)
                await wait_until(pilot, lambda: "logged in as ****" in _notes(pilot))
        finally:
            backend.close()
        store = open_store(settings)
        try:
            assert session_store.load(store)  # sealed in the store the daemon reads
        finally:
            store.close()


def _notes(pilot: Any) -> str:
    return " ".join(str(n.message) for n in pilot.app._notifications)
