"""Build the one Telethon client SysAlert uses: a StringSession, our API id, and optionally a
custom server (Telegram's test DCs or a Telegram-compatible server such as piltover).

The session is always a StringSession so that nothing is written to disk in plaintext: the caller
seals `client.session.save()` in the store. Telethon's default SQLite `.session` file would keep
phone numbers and usernames readable on disk.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rsa
from telethon import TelegramClient
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import StringSession

from engine import __version__
from engine.core.errors import BadInput

CREDENTIALS_HINT = "set [telegram] api_id/api_hash in config or TELEGRAM_API_ID/TELEGRAM_API_HASH"
LOGIN_HINT = "run `sysalert telegram login`"


@dataclass
class TelegramSettings:
    """What the config's [telegram] table says; `server` is "HOST:PORT" ("[v6]:PORT" for IPv6)."""

    api_id: int | None = None
    api_hash: str | None = None
    server: str | None = None
    dc_id: int | None = None
    public_key_file: str | None = None

    @classmethod
    def from_config(cls, section: object) -> TelegramSettings:
        """From the config's [telegram] section (duck-typed: SecretStr and "" are unwrapped)."""

        def text(name: str) -> str | None:
            value: Any = getattr(section, name, None)
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            return str(value) if value not in (None, "", 0) else None

        def number(name: str) -> int | None:
            value = text(name)
            return int(value) if value is not None else None

        return cls(
            api_id=number("api_id"),
            api_hash=text("api_hash"),
            server=text("server"),
            dc_id=number("dc_id"),
            public_key_file=text("public_key_file"),
        )


@dataclass(frozen=True)
class ServerAddress:
    """A custom server resolved to an IP literal, because StringSession can only store IPs."""

    dc_id: int
    ip: str
    port: int

    @property
    def ipv6(self) -> bool:
        return ":" in self.ip


def credentials(
    settings: TelegramSettings, environ: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Config first, then the environment; a clear BadInput when either is missing or malformed."""
    env = os.environ if environ is None else environ
    api_id: object = (
        settings.api_id if settings.api_id not in (None, 0, "") else env.get("TELEGRAM_API_ID")
    )
    api_hash = settings.api_hash or env.get("TELEGRAM_API_HASH")
    if api_id in (None, "") or not api_hash:
        raise BadInput("Telegram API id and hash are missing", CREDENTIALS_HINT)
    try:
        api_id_int = int(str(api_id).strip())
    except ValueError:
        raise BadInput("Telegram API id is not a number", CREDENTIALS_HINT) from None
    if api_id_int <= 0:
        raise BadInput("Telegram API id must be a positive number", CREDENTIALS_HINT)
    api_hash = str(api_hash).strip()
    if not api_hash:
        raise BadInput("Telegram API hash is empty", CREDENTIALS_HINT)
    return api_id_int, api_hash


def parse_server(server: str, dc_id: int | None) -> ServerAddress:
    """HOST:PORT to an IP and port. Host names are resolved once here (StringSession stores IPs)."""
    text = server.strip()
    hint = 'write [telegram] server = "HOST:PORT", e.g. "127.0.0.1:4430"'
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if sep and rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise BadInput("[telegram] server is not HOST:PORT", hint)
    if dc_id is None:
        raise BadInput(
            "[telegram] server is set but dc_id is not", "add dc_id = 2 (or the server's DC)"
        )
    if not 1 <= int(dc_id) <= 1000:
        raise BadInput("[telegram] dc_id must be a small positive number", "e.g. dc_id = 2")
    return ServerAddress(int(dc_id), _to_ip(host, int(port_text)), int(port_text))


def _to_ip(host: str, port: int) -> str:
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise BadInput(
            "[telegram] server host name does not resolve", "use an IP address or fix DNS"
        ) from None
    v4 = [i[4][0] for i in infos if i[0] == socket.AF_INET]
    v6 = [i[4][0] for i in infos if i[0] == socket.AF_INET6]
    if not (v4 or v6):
        raise BadInput("[telegram] server host name has no address", "use an IP address")
    return ipaddress.ip_address((v4 or v6)[0]).compressed


def load_public_key(path: str) -> str:
    """Read the server's RSA public key as PKCS#1 PEM (what Telethon's add_key wants).

    Servers often publish the SubjectPublicKeyInfo form ("BEGIN PUBLIC KEY"); convert it so the
    user does not have to.
    """
    hint = "[telegram] public_key_file must be the server's RSA public key in PEM form"
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read [telegram] public_key_file ({exc.strerror})", hint) from None
    try:
        if b"BEGIN RSA PUBLIC KEY" in data:
            key = rsa.PublicKey.load_pkcs1(data)
        elif b"BEGIN PUBLIC KEY" in data:
            key = rsa.PublicKey.load_pkcs1_openssl_pem(data)
        else:
            raise ValueError("no PEM header")
    except Exception:
        raise BadInput("[telegram] public_key_file is not an RSA public key", hint) from None
    return key.save_pkcs1().decode("ascii")


def build_client(
    settings: TelegramSettings,
    session_string: str | None,
    *,
    environ: Mapping[str, str] | None = None,
) -> TelegramClient:
    """A disconnected TelegramClient on a StringSession; connecting is the caller's (or
    TelegramService's) job so that building never blocks and never fails on the network.

    flood_sleep_threshold=0: Telethon would otherwise sleep silently on flood waits up to a minute;
    we want every FloodWaitError so the outbox can reschedule and the login can say how long.
    catch_up=True: after a reconnect Telethon asks getDifference, so a missed push is fetched.
    """
    api_id, api_hash = credentials(settings, environ)
    try:
        session = StringSession(session_string or None)
    except Exception:
        raise BadInput("the stored Telegram session is not valid", LOGIN_HINT) from None
    use_ipv6 = False
    if settings.server:
        address = parse_server(settings.server, settings.dc_id)
        session.set_dc(address.dc_id, address.ip, address.port)
        use_ipv6 = address.ipv6
    elif session.server_address:
        use_ipv6 = ":" in session.server_address
    if settings.public_key_file:
        telethon_rsa.add_key(load_public_key(settings.public_key_file), old=False)
    return TelegramClient(
        session,
        api_id,
        api_hash,
        use_ipv6=use_ipv6,
        flood_sleep_threshold=0,
        catch_up=True,
        device_model="SysAlert",
        app_version=__version__,
        system_version="SysAlert",
        lang_code="en",
        system_lang_code="en",
    )


def session_string(client: TelegramClient) -> str:
    """The string to seal in the store ("" when the client has no auth key yet)."""
    if client.session is None:
        return ""
    return StringSession.save(client.session)
