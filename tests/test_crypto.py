"""Sealing, fingerprints and the key ring: what keeps the store's plaintext out of reach."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import KeyError_
from engine.security.crypto import (
    KEY_FILE_NAME,
    KeyRing,
    TamperedError,
    load_key_ring,
    new_master_key,
    read_key_file,
    write_key_file,
)

RING = KeyRing.from_masters([new_master_key()])


@settings(max_examples=200, deadline=None)
@given(text=st.text(), row=st.one_of(st.integers(), st.text(max_size=20)))
def test_seal_open_round_trip(text: str, row: str | int) -> None:
    blob = RING.seal(text, "targets", "name_s", row)
    assert RING.open(blob, "targets", "name_s", row) == text


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=1))
def test_ciphertext_never_contains_plaintext_and_nonces_are_fresh(text: str) -> None:
    a = RING.seal(text, "t", "c", "r")
    b = RING.seal(text, "t", "c", "r")
    assert a != b  # fresh nonce each time
    assert RING.key_id_of(a) == RING.current.key_id
    if len(text.encode()) >= 4:
        assert text.encode() not in a


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=64), data=st.data())
def test_any_flipped_byte_is_refused(text: str, data: st.DataObject) -> None:
    blob = bytearray(RING.seal(text, "contacts", "address_s", "c1"))
    pos = data.draw(st.integers(0, len(blob) - 1), label="position")
    bit = data.draw(st.integers(0, 7), label="bit")
    blob[pos] ^= 1 << bit
    with pytest.raises(KeyError_) as info:
        RING.open(bytes(blob), "contacts", "address_s", "c1")
    if 2 <= pos < 6:
        # A changed key id cannot be told from a value sealed under a key this ring lacks.
        assert "lacks" in str(info.value)
    else:
        assert isinstance(info.value, TamperedError)


@settings(max_examples=50, deadline=None)
@given(cut=st.integers(0, 40))
def test_truncated_ciphertext_is_refused(cut: int) -> None:
    blob = RING.seal("secret-panel.example.org", "t", "c", "r")
    with pytest.raises(TamperedError):
        RING.open(blob[: len(blob) - 1 - cut], "t", "c", "r")


@pytest.mark.parametrize(
    "where",
    [("targets", "name_s", "other"), ("targets", "spec_s", "r1"), ("contacts", "name_s", "r1")],
)
def test_moved_ciphertext_does_not_open(where: tuple[str, str, str]) -> None:
    blob = RING.seal("okapi-gate", "targets", "name_s", "r1")
    assert RING.open(blob, "targets", "name_s", "r1") == "okapi-gate"
    with pytest.raises(TamperedError, match="does not open"):
        RING.open(blob, *where)


def test_ring_opens_old_key_ids_after_a_new_current_key() -> None:
    old_master, new_master = new_master_key(), new_master_key()
    old = KeyRing.from_masters([old_master])
    blob_old = old.seal("tcp://10.77.66.55:45678", "targets", "spec_s", "a")
    ring = KeyRing.from_masters([new_master, old_master])
    assert ring.current.key_id != old.current.key_id
    assert ring.open(blob_old, "targets", "spec_s", "a") == "tcp://10.77.66.55:45678"
    blob_new = ring.seal("x", "targets", "spec_s", "a")
    assert ring.key_id_of(blob_new) == ring.current.key_id
    # The old ring alone cannot open what the new key sealed.
    with pytest.raises(KeyError_, match="lacks"):
        old.open(blob_new, "targets", "spec_s", "a")


def test_wrong_key_is_a_clear_error() -> None:
    blob = RING.seal("zebra-ledger-7", "targets", "name_s", "a")
    other = KeyRing.from_masters([new_master_key()])
    with pytest.raises(KeyError_) as info:
        other.open(blob, "targets", "name_s", "a")
    msg = str(info.value)
    assert "targets.name_s" in msg and "master key" in msg
    assert "zebra" not in msg


def test_fingerprints_stable_per_key_and_different_across_keys() -> None:
    master = new_master_key()
    a, b = KeyRing.from_masters([master]), KeyRing.from_masters([master])
    c = KeyRing.from_masters([new_master_key()])
    assert a.fingerprint("db", "target.name") == b.fingerprint("db", "target.name")
    assert a.fingerprint("db", "target.name") != c.fingerprint("db", "target.name")
    assert a.fingerprint("db", "target.name") != a.fingerprint("db", "contact.name")
    assert a.fingerprint("db", "target.name") != a.fingerprint("db2", "target.name")
    both = KeyRing.from_masters([new_master_key(), master])
    assert a.fingerprint("db", "target.name") in both.fingerprints("db", "target.name")
    assert both.fingerprints("db", "target.name")[0] == both.fingerprint("db", "target.name")
    # The fingerprint key is not the sealing key, and short refs are stable and short.
    assert a.current.mac != a.current.data
    assert a.short_ref("target", "t1") == b.short_ref("target", "t1")
    assert (
        a.short_ref("target", "t1").startswith("target:") and len(a.short_ref("target", "t1")) == 15
    )


def test_key_file_is_0600_and_round_trips(tmp_path: Path) -> None:
    masters = [new_master_key(), new_master_key()]
    path = tmp_path / "d" / KEY_FILE_NAME
    write_key_file(path, masters)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == masters
    ring = load_key_ring(path.parent, env={})
    assert ring.current.key_id == KeyRing.from_masters(masters).current.key_id
    assert len(ring.all_keys) == 2


def test_missing_and_damaged_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="no master key"):
        load_key_ring(tmp_path, env={})
    (tmp_path / KEY_FILE_NAME).write_text("not json")
    with pytest.raises(KeyError_, match="damaged"):
        load_key_ring(tmp_path, env={})


def test_env_master_key_wins(tmp_path: Path) -> None:
    master = new_master_key()
    write_key_file(tmp_path / KEY_FILE_NAME, [new_master_key()])
    env = {"SYSALERT_MASTER_KEY": base64.b64encode(master).decode()}
    ring = load_key_ring(tmp_path, env=env)
    assert ring.current.key_id == KeyRing.from_masters([master]).current.key_id
    # "NEW,OLD" gives a ring that still opens the old key's values.
    old = new_master_key()
    env2 = {
        "SYSALERT_MASTER_KEY": f"{base64.b64encode(master).decode()}, {base64.b64encode(old).decode()}"
    }
    ring2 = load_key_ring(tmp_path, env=env2)
    blob = KeyRing.from_masters([old]).seal("v", "t", "c", 1)
    assert ring2.open(blob, "t", "c", 1) == "v"


@pytest.mark.parametrize(
    "value",
    [
        "not base64!!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"x" * 33).decode(),
        ",",
    ],
)
def test_bad_env_key_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(KeyError_, match="SYSALERT_MASTER_KEY"):
        load_key_ring(tmp_path, env={"SYSALERT_MASTER_KEY": value})
