"""The key hand-off on its own (engine.store.key_handoff), on a real SQLite store: a process
whose key file lacks the rotated key adopts the ring from the row sealed under its old key and
rewrites its key file 0600; without a hand-off it names the key it lacks and opens nothing.
Several engines on PostgreSQL: tests/test_cluster_keys.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from engine.security.crypto import (
    KEY_FILE_NAME,
    KeyRing,
    UnknownKeyId,
    new_master_key,
    read_key_file,
    write_key_file,
)
from engine.store import key_handoff
from engine.store.store import Store


def _store(tmp_path: Path, name: str, masters: list[bytes]) -> Store:
    d = tmp_path / name
    write_key_file(d / KEY_FILE_NAME, masters)
    s = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}", KeyRing.from_masters(masters))
    s.watch_key_file(d)
    return s


def test_a_store_with_the_old_key_adopts_the_handoff_and_not_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYSALERT_MASTER_KEY", raising=False)
    k1, k2, k3 = new_master_key(), new_master_key(), new_master_key()
    other = _store(tmp_path, "b", [k1])
    rotator = _store(tmp_path, "a", [k2, k1])
    try:
        with rotator.engine.begin() as conn:
            key_handoff.write(conn, [k1], [k2, k1], handoff=True)
        blob = rotator.seal("targets", "name_s", "t1", "db-primary")
        assert other.open_("targets", "name_s", "t1", blob) == "db-primary"
        path = tmp_path / "b" / KEY_FILE_NAME
        assert read_key_file(path) == [k2, k1]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kid2 = KeyRing.from_masters([k2]).current.key_id.hex()
        assert other.key_note and f"adopted key id {kid2}" in other.key_note
        assert other.key_missing is None

        with rotator.engine.begin() as conn:  # after a leak: no hand-off, old rows gone too
            key_handoff.write(conn, [k2, k1], [k3, k2, k1], handoff=False)
            rows = conn.exec_driver_sql("SELECT key FROM meta WHERE key LIKE 'key_handoff:%'")
            assert rows.all() == []
        rotator.reload_keys(KeyRing.from_masters([k3, k2, k1]))
        blob = rotator.seal("targets", "name_s", "t2", "db-replica")
        with pytest.raises(UnknownKeyId):
            other.open_("targets", "name_s", "t2", blob)
        assert other.key_missing == KeyRing.from_masters([k3]).current.key_id.hex()
        assert read_key_file(path) == [k2, k1]
        write_key_file(path, [k3, k2, k1])  # the key file copied by hand
        assert other.open_("targets", "name_s", "t2", blob) == "db-replica"
        assert other.key_missing is None
    finally:
        other.close()
        rotator.close()
