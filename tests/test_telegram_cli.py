"""`sysalert telegram login | status | logout` against the fake Telegram: the real CLI entry point
with answers on stdin (not a terminal), the real login flow, the session sealed in the store."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from telethon.tl.functions.account import GetPasswordRequest
from telethon.tl.functions.auth import CheckPasswordRequest, LogOutRequest, SignInRequest

from engine.config.settings import load_settings
from engine.runtime.bootstrap import open_store
from engine.store import telegram_session as session_store
from sysalert_tui.cli import main
from tests.daemon_harness import child_env, init_store
from tests.telegram_engine import use_fake_telegram
from tests.telegram_harness import SETTINGS, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
TELEGRAM_CONFIG = f"""
[telegram]
api_id = {SETTINGS.api_id}
api_hash = "{SETTINGS.api_hash}"
"""


@pytest.fixture
def store_dir(data_dir: Path) -> Path:
    init_store(data_dir, TELEGRAM_CONFIG)
    return data_dir


def run(
    monkeypatch, capsys, argv: list[str], stdin: str | io.StringIO = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def stored_session(data_dir: Path) -> str | None:
    store = open_store(load_settings(None, data_dir))
    try:
        return session_store.load(store)
    finally:
        store.close()


def test_login_with_code_seals_the_session_and_status_shows_it(store_dir, monkeypatch, capsys):
    server = FakeTelegram()
    use_fake_telegram(monkeypatch, server)
    code, out, err = run(monkeypatch, capsys, ["telegram", "login"], "+44 7700 900001\n 2468 0 \n")
    assert code == 0, err
    assert out.strip() == "logged in to Telegram as ****0100; the session is sealed in the store"
    assert "Phone number:" in err and "Login code:" in err and "2FA password:" not in err
    assert server.requests_of(SignInRequest)[0].phone_code == "24680"
    assert not server.requests_of(GetPasswordRequest)
    session = stored_session(store_dir)
    assert session and server.keys[_key(session)] == server.me.id
    blob = b"".join(p.read_bytes() for p in store_dir.rglob("*") if p.is_file())
    assert session.encode() not in blob and _key(session) not in blob
    assert b"447700900001" not in blob and not list(store_dir.rglob("*.session"))

    code, out, err = run(monkeypatch, capsys, ["telegram", "status"])
    assert code == 0 and out.startswith("Telegram: logged in as ****0100 (")
    assert "engine: not running here" in out
    code, out, _ = run(monkeypatch, capsys, ["telegram", "login"])  # keeps a working session
    assert code == 0 and out.startswith("already logged in to Telegram as ****0100")
    assert len(server.requests_of(SignInRequest)) == 1


def test_login_with_2fa_after_a_wrong_code(store_dir, monkeypatch, capsys):
    server = FakeTelegram(password="correct horse")
    use_fake_telegram(monkeypatch, server)
    answers = "+447700900001\n11111\n24680\nwrong\ncorrect horse\n"
    code, out, err = run(monkeypatch, capsys, ["telegram", "login", "--json"], answers)
    assert code == 0, err
    assert '"account": "****0100"' in out
    assert "That login code is not right; try again (2 left)." in err
    assert "That 2FA password is not right; try again (2 left)." in err
    assert err.count("2FA password:") == 2
    assert len(server.requests_of(CheckPasswordRequest)) == 2
    assert "correct horse" not in err + out
    session = stored_session(store_dir)
    assert session and server.keys[_key(session)] == server.me.id


def test_wrong_codes_and_missing_input_fail_in_one_line(store_dir, monkeypatch, capsys):
    server = FakeTelegram()
    use_fake_telegram(monkeypatch, server)
    code, out, err = run(monkeypatch, capsys, ["telegram", "login"], "+447700900001\n1\n2\n3\n")
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == (
        "sysalert: The login code was wrong 3 times (run the login again)"
    )
    assert "Traceback" not in err and stored_session(store_dir) is None
    code, _, err = run(monkeypatch, capsys, ["telegram", "login"], "+447700900001\n")
    assert code == 1 and err.splitlines()[-1].startswith("sysalert: login cancelled: no more input")

    class SlowTyping(io.StringIO):
        """The code expires while the user types it."""

        def readline(self, *args):
            line = super().readline(*args)
            if line.strip() == "24680":
                server.expire_codes()
            return line

    code, _, err = run(
        monkeypatch, capsys, ["telegram", "login"], SlowTyping("+447700900001\n24680\n")
    )
    assert code == 1 and err.splitlines()[-1] == (
        "sysalert: The login code expired (run the login again to get a new code)"
    )


def test_logout_ends_the_session_at_telegram_and_erases_it(store_dir, monkeypatch, capsys):
    server = FakeTelegram()
    use_fake_telegram(monkeypatch, server)
    assert run(monkeypatch, capsys, ["telegram", "login"], "+447700900001\n24680\n")[0] == 0
    key = _key(stored_session(store_dir))
    code, out, _ = run(monkeypatch, capsys, ["telegram", "logout"])
    assert code == 0 and out.strip() == "logged out of Telegram; the session is erased"
    assert server.requests_of(LogOutRequest) and server.keys[key] is None
    assert stored_session(store_dir) is None
    code, out, _ = run(monkeypatch, capsys, ["telegram", "status"])
    assert code == 1 and out.strip() == "Telegram: not logged in (run `sysalert telegram login`)"
    code, out, _ = run(monkeypatch, capsys, ["telegram", "logout"])
    assert code == 0 and out.strip() == "not logged in to Telegram: nothing to do"


def test_login_without_api_credentials_says_how_to_fix_it(data_dir, monkeypatch, capsys):
    init_store(data_dir)
    monkeypatch.delenv("TELEGRAM_API_ID", raising=False)
    monkeypatch.delenv("TELEGRAM_API_HASH", raising=False)
    code, out, err = run(monkeypatch, capsys, ["telegram", "login"], "+447700900001\n")
    assert code == 2 and out == ""
    assert err.strip() == (
        "sysalert: Telegram API id and hash are missing (set [telegram] api_id/api_hash in "
        "config or TELEGRAM_API_ID/TELEGRAM_API_HASH)"
    )


def test_status_without_a_session_is_a_clear_message_from_the_real_command(data_dir):
    init_store(data_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "sysalert_tui", "telegram", "status"],
        env=child_env(data_dir),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "Telegram: not logged in (run `sysalert telegram login`)\n"
    assert proc.stderr == ""


def _key(session: str) -> bytes:
    from telethon.sessions import StringSession

    return StringSession(session).auth_key.key
