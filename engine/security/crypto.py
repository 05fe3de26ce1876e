"""Sealing and fingerprints: AES-256-GCM with a key id and row-bound associated data, HMAC lookups.

Ciphertext layout: b"S1" | key id (4 bytes) | nonce (12 bytes) | AES-GCM ciphertext+tag.
The associated data is "table|column|row", so a ciphertext moved to another row does not open.
Fingerprints are HMAC-SHA256 under a separate key derived from the same master key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.core.errors import KeyError_

MAGIC = b"S1"
KEY_FILE_NAME = "master.key"
ENV_MASTER_KEY = "SYSALERT_MASTER_KEY"


class TamperedError(KeyError_):
    """A ciphertext that does not open: wrong key, moved to another row, or altered."""


class UnknownKeyId(KeyError_):
    """A ciphertext sealed under a key this ring lacks: often a rotation another process ran."""


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"sysalert/v1", info=info).derive(master)


@dataclass(frozen=True)
class DerivedKeys:
    """The keys one master key yields; key_id names it inside every ciphertext."""

    key_id: bytes
    data: bytes
    mac: bytes
    refs: bytes

    @classmethod
    def from_master(cls, master: bytes) -> DerivedKeys:
        if len(master) != 32:
            raise KeyError_("master key must be 32 bytes", "run `sysalert init` to create one")
        return cls(
            key_id=_hkdf(master, b"key-id")[:4],
            data=_hkdf(master, b"data"),
            mac=_hkdf(master, b"mac"),
            refs=_hkdf(master, b"refs"),
        )


def aad(table: str, column: str, row: str | int) -> bytes:
    """Associated data binding a ciphertext to its place."""
    return f"{table}|{column}|{row}".encode()


@dataclass
class KeyRing:
    """The current key plus older ones that still open what they sealed."""

    current: DerivedKeys
    older: list[DerivedKeys] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {k.key_id: k for k in [self.current, *self.older]}
        self._aes = {k.key_id: AESGCM(k.data) for k in self._by_id.values()}

    @classmethod
    def from_masters(cls, masters: list[bytes]) -> KeyRing:
        keys = [DerivedKeys.from_master(m) for m in masters]
        return cls(keys[0], keys[1:])

    @property
    def all_keys(self) -> list[DerivedKeys]:
        return [self.current, *self.older]

    @property
    def key_ids(self) -> list[bytes]:
        """Newest first: two rings with the same ids hold the same keys."""
        return [k.key_id for k in self.all_keys]

    def seal(self, plaintext: str | bytes, table: str, column: str, row: str | int) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(12)
        ct = self._aes[self.current.key_id].encrypt(nonce, data, aad(table, column, row))
        return MAGIC + self.current.key_id + nonce + ct

    def open_bytes(self, blob: bytes, table: str, column: str, row: str | int) -> bytes:
        if not blob or len(blob) < 2 + 4 + 12 + 16 or blob[:2] != MAGIC:
            raise TamperedError(f"sealed value in {table}.{column} is malformed")
        key_id = bytes(blob[2:6])
        aes = self._aes.get(key_id)
        if aes is None:
            raise UnknownKeyId(
                f"sealed value in {table}.{column} uses key {key_id.hex()}, which this key ring lacks",
                "use the master key file this store was created with",
            )
        try:
            return aes.decrypt(bytes(blob[6:18]), bytes(blob[18:]), aad(table, column, row))
        except InvalidTag:
            raise TamperedError(
                f"sealed value in {table}.{column} does not open: altered, moved or wrong key"
            ) from None

    def open(self, blob: bytes, table: str, column: str, row: str | int) -> str:
        return self.open_bytes(blob, table, column, row).decode()

    @staticmethod
    def key_id_of(blob: bytes) -> bytes:
        return bytes(blob[2:6])

    def fingerprint(self, value: str, purpose: str = "") -> str:
        """HMAC-SHA256 under the current MAC key: for lookups and uniqueness."""
        return _fp(self.current.mac, value, purpose)

    def fingerprints(self, value: str, purpose: str = "") -> list[str]:
        """Fingerprints under every key in the ring: finds rows mid-rotation too."""
        return [_fp(k.mac, value, purpose) for k in self.all_keys]

    def short_ref(self, kind: str, value: str) -> str:
        """A stable, non-reversible reference for logs: target:3f9a1c2e."""
        return _ref(self.current.refs, kind, value)

    def short_refs(self, kind: str, value: str) -> list[str]:
        """The reference under every key: audit rows written before a rotation name the object
        by the reference of the key then current."""
        return [_ref(k.refs, kind, value) for k in self.all_keys]


# Fingerprints are hex spelled with the letters a-p: no digit ever appears in a stored fingerprint,
# so a grep of the store for a port or a chat id can never hit one by chance.
_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopabcdef")


def _ref(key: bytes, kind: str, value: str) -> str:
    digest = hmac.new(key, f"{kind}|{value}".encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()[:8]}"


def _fp(key: bytes, value: str, purpose: str) -> str:
    return hmac.digest(key, f"{purpose}|{value}".encode(), "sha256").hex().translate(_LETTERS)


def new_master_key() -> bytes:
    return secrets.token_bytes(32)


def _decode_key(text: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise KeyError_(
            f"master key from {source} is not 32 bytes of base64",
            "run `sysalert init` for a key file, or set SYSALERT_MASTER_KEY to `openssl rand -base64 32`",
        )
    return raw


def write_key_file(path: Path, masters: list[bytes]) -> None:
    """Atomically write the key ring file with mode 0600 (current key first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"version": 1, "keys": [base64.b64encode(m).decode() for m in masters]})
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_key_file(path: Path) -> list[bytes]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KeyError_(
            f"no master key at {path}", "run `sysalert init` or set SYSALERT_MASTER_KEY"
        ) from None
    except PermissionError:
        raise KeyError_(
            f"cannot read the master key at {path}", "check its owner and mode"
        ) from None
    try:
        data = json.loads(text)
        keys = data["keys"]
        assert isinstance(keys, list) and keys
    except Exception:
        raise KeyError_(
            f"master key file {path} is damaged",
            "restore it from backup; without it the store cannot be opened",
        ) from None
    return [_decode_key(k, str(path)) for k in keys]


def load_key_ring(data_dir: Path, env: Mapping[str, str] | None = None) -> KeyRing:
    """The environment variable wins; otherwise the 0600 key file in the data directory."""
    return KeyRing.from_masters(load_masters(data_dir, env))


def load_masters(data_dir: Path, env: Mapping[str, str] | None = None) -> list[bytes]:
    """The master keys, newest first, from where load_key_ring finds them."""
    env = os.environ if env is None else env
    if env.get(ENV_MASTER_KEY):
        masters = [
            _decode_key(k, ENV_MASTER_KEY) for k in env[ENV_MASTER_KEY].split(",") if k.strip()
        ]
        if not masters:
            raise KeyError_(
                f"{ENV_MASTER_KEY} holds no key",
                "set it to `openssl rand -base64 32` (NEW,OLD while rotating), or unset it",
            )
        return masters
    return read_key_file(data_dir / KEY_FILE_NAME)
