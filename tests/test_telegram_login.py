"""Login, logout and client construction against a real TelegramClient on the fake Telegram."""

from __future__ import annotations

import glob
import os
import struct
import tempfile
from hashlib import sha1

import pytest
import rsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import StringSession
from telethon.tl import TLObject
from telethon.tl.functions.account import GetPasswordRequest
from telethon.tl.functions.auth import CheckPasswordRequest, SendCodeRequest, SignInRequest

from engine.config.settings import TelegramSettings as ConfigTelegram
from engine.core.errors import BadInput
from engine.telegram.client import TelegramSettings, build_client
from engine.telegram.login import LoginError, LoginPrompts, login, logout
from tests.telegram_harness import SETTINGS, FakeTelegram, fake_client


def prompts(phones, codes, passwords=(), said=None):
    phones, codes, passwords = iter(phones), iter(codes), iter(passwords)

    async def phone():
        return next(phones)

    async def code():
        return next(codes)

    async def password():
        return next(passwords)

    async def notify(text):
        if said is not None:
            said.append(text)

    return LoginPrompts(phone, code, password, notify)


@pytest.mark.anyio
async def test_login_with_code_gives_a_string_session_and_writes_no_session_file(
    tmp_path, monkeypatch, caplog
):
    caplog.set_level("DEBUG")
    monkeypatch.chdir(tmp_path)
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "*.session")))
    server = FakeTelegram()
    client = fake_client(server)
    result = await login(client, prompts(["+44 7700 900001"], ["24680"]))
    try:
        assert isinstance(client.session, StringSession)
        assert result.user_id == server.me.id and result.display == "****0100"
        restored = StringSession(result.session_string)
        assert restored.auth_key.key == client.session.auth_key.key
        assert server.keys[restored.auth_key.key] == server.me.id  # the server logged this key in
        sent_code = server.requests_of(SendCodeRequest)[0]
        assert sent_code.phone_number == "447700900001" and sent_code.api_id == SETTINGS.api_id
        assert server.requests_of(SignInRequest)[0].phone_code == "24680"
        assert not server.requests_of(GetPasswordRequest)  # no 2FA asked for
    finally:
        await client.disconnect()
    assert list(tmp_path.iterdir()) == []
    engine_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("engine"))
    assert "telegram login ok for account ****0100" in engine_logs
    assert result.session_string not in engine_logs and "900001" not in engine_logs
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "*.session"))) == before
    # The stored string is enough to come back logged in.
    again = fake_client(server, result.session_string)
    await again.connect()
    try:
        assert (await again.get_me()).id == server.me.id
    finally:
        await again.disconnect()


@pytest.mark.anyio
async def test_login_with_2fa_runs_a_real_srp_exchange():
    server = FakeTelegram(password="correct horse")
    client = fake_client(server)
    said: list[str] = []
    try:
        result = await login(
            client, prompts(["+447700900001"], ["24680"], ["wrong", "correct horse"], said)
        )
    finally:
        await client.disconnect()
    assert result.user_id == server.me.id
    checks = server.requests_of(CheckPasswordRequest)
    assert len(checks) == 2 and checks[0].password.srp_id != checks[1].password.srp_id
    assert any("2FA password is not right" in s for s in said)


@pytest.mark.anyio
async def test_wrong_code_then_right_code():
    server = FakeTelegram()
    client = fake_client(server)
    said: list[str] = []
    try:
        result = await login(client, prompts(["+447700900001"], ["11111", "24680"], said=said))
    finally:
        await client.disconnect()
    assert result.user_id == server.me.id
    assert [r.phone_code for r in server.requests_of(SignInRequest)] == ["11111", "24680"]
    assert said == ["That login code is not right; try again (2 left)."]


@pytest.mark.anyio
async def test_three_wrong_codes_end_the_login():
    server = FakeTelegram()
    client = fake_client(server)
    try:
        with pytest.raises(LoginError, match="wrong 3 times"):
            await login(client, prompts(["+447700900001"], ["1", "2", "3"]))
    finally:
        await client.disconnect()
    assert all(v is None for v in server.keys.values())


@pytest.mark.anyio
async def test_expired_code_says_so():
    server = FakeTelegram()
    client = fake_client(server)

    async def code():
        server.expire_codes()  # the user took too long
        return "24680"

    ask = prompts(["+447700900001"], [])
    ask.code = code
    try:
        with pytest.raises(LoginError, match="expired"):
            await login(client, ask)
    finally:
        await client.disconnect()


@pytest.mark.anyio
async def test_flood_wait_says_how_long_and_is_remembered():
    server = FakeTelegram()
    server.fail(SendCodeRequest, "FLOOD_WAIT_120", code=420)
    client = fake_client(server)
    try:
        with pytest.raises(LoginError, match="Telegram asks to wait 120 s"):
            await login(client, prompts(["+447700900001"], []))
        # Telethon remembers the wait: a second try fails fast without asking the server again.
        with pytest.raises(LoginError, match="Telegram asks to wait 1[12][0-9] s"):
            await login(client, prompts(["+447700900001"], []))
    finally:
        await client.disconnect()
    assert len(server.requests_of(SendCodeRequest)) == 1


@pytest.mark.anyio
async def test_invalid_phone_numbers_are_asked_again():
    server = FakeTelegram()
    server.fail(SendCodeRequest, "PHONE_NUMBER_INVALID")
    client = fake_client(server)
    said: list[str] = []
    try:
        result = await login(
            client,
            prompts(["not a phone", "+44 7700 900009", "+447700900001"], ["24680"], said=said),
        )
    finally:
        await client.disconnect()
    assert result.user_id == server.me.id
    assert said[0].startswith("That is not a phone number")
    assert said[1].startswith("Telegram says that phone number is not valid")


@pytest.mark.anyio
async def test_logout_ends_the_session_on_the_server():
    server = FakeTelegram()
    session = server.authorized_session()
    client = fake_client(server, session)
    assert await logout(client) is True
    assert server.keys[StringSession(session).auth_key.key] is None
    assert client.session is None and await logout(client) is False


# The engine builds clients on its event loop; Telethon 1.39 needs one to construct a client.
@pytest.mark.anyio
async def test_build_client_needs_api_credentials_and_reads_the_environment():
    with pytest.raises(BadInput, match="TELEGRAM_API_ID/TELEGRAM_API_HASH"):
        build_client(TelegramSettings(), None, environ={})
    with pytest.raises(BadInput, match="not a number"):
        build_client(
            TelegramSettings(), None, environ={"TELEGRAM_API_ID": "x", "TELEGRAM_API_HASH": "h"}
        )
    client = build_client(
        TelegramSettings(), None, environ={"TELEGRAM_API_ID": "42", "TELEGRAM_API_HASH": "h"}
    )
    assert client.api_id == 42 and isinstance(client.session, StringSession)
    with pytest.raises(BadInput, match="session is not valid"):
        build_client(SETTINGS, "not-a-session", environ={})


@pytest.mark.anyio
async def test_settings_from_the_config_section():
    section = ConfigTelegram(api_id=42, api_hash="abc", server="", public_key_file="")
    settings = TelegramSettings.from_config(section)
    assert settings == TelegramSettings(api_id=42, api_hash="abc")
    assert build_client(settings, None, environ={}).api_hash == "abc"


def _fingerprint(key: rsa.PublicKey) -> int:
    def tl_bytes(n: int) -> bytes:
        return TLObject.serialize_bytes(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return struct.unpack("<q", sha1(tl_bytes(key.n) + tl_bytes(key.e)).digest()[-8:])[0]


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["pkcs1", "spki"])
async def test_custom_server_sets_the_dc_and_registers_the_public_key(tmp_path, form):
    crypto_key = generate_private_key(65537, 2048).public_key()  # Telegram keys are 2048-bit
    numbers = crypto_key.public_numbers()
    public = rsa.PublicKey(numbers.n, numbers.e)
    if form == "pkcs1":  # "BEGIN RSA PUBLIC KEY", what Telegram publishes
        pem = public.save_pkcs1()
    else:  # "BEGIN PUBLIC KEY", what openssl writes by default
        pem = crypto_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    key_file = tmp_path / "server.pem"
    key_file.write_bytes(pem)
    settings = TelegramSettings(
        SETTINGS.api_id, SETTINGS.api_hash, "127.0.0.1:4430", 2, str(key_file)
    )
    client = build_client(settings, None, environ={})
    assert (client.session.dc_id, client.session.server_address, client.session.port) == (
        2,
        "127.0.0.1",
        4430,
    )
    assert telethon_rsa.encrypt(_fingerprint(public), b"probe") is not None


@pytest.mark.anyio
async def test_custom_server_errors_are_clear(tmp_path):
    base = (SETTINGS.api_id, SETTINGS.api_hash)
    with pytest.raises(BadInput, match="HOST:PORT"):
        build_client(TelegramSettings(*base, "127.0.0.1", 2), None, environ={})
    with pytest.raises(BadInput, match="dc_id"):
        build_client(TelegramSettings(*base, "127.0.0.1:443", None), None, environ={})
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    with pytest.raises(BadInput, match="not an RSA public key"):
        build_client(TelegramSettings(*base, "127.0.0.1:443", 2, str(bad)), None, environ={})
    v6 = build_client(TelegramSettings(*base, "[::1]:443", 2), None, environ={})
    assert v6.session.server_address == "::1" and v6._use_ipv6
