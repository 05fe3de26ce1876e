"""Key rotation: every value re-sealed and re-keyed, safe to kill half-way, finishes when run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from engine.commands import Commands
from engine.config.settings import Settings, load_settings
from engine.runtime.bootstrap import init_data_dir, open_store
from engine.security.crypto import KEY_FILE_NAME, KeyRing, load_key_ring, read_key_file
from engine.store import targets as tstore
from engine.store.models import FINGERPRINTS, SEALED_COLUMNS, Contact, aad_row
from engine.store.rekey import MARKER, rotate_keys
from engine.store.store import Store, new_id

SA = str(Path(sys.executable).parent / "sysalert")
NAMES = [f"svc-{i:02d}" for i in range(10)]
CONTACTS = {"alice": "123456789", "bob": "ops@example.com", "carol": "@carol_h"}


def _settings(data_dir: Path, db_url: str) -> Settings:
    return load_settings(
        None, data_dir, env={"SYSALERT_DATA_DIR": str(data_dir), "SYSALERT_DATABASE_URL": db_url}
    )


def _populate(settings: Settings) -> None:
    """A store as a user leaves it: seeded targets, targets with tags and tokens, contacts, audit."""
    init_data_dir(settings)
    store = open_store(settings)
    try:
        cmds = Commands(store, settings)
        for i, name in enumerate(NAMES):
            cmds.add_target(
                f"tcp://10.77.66.{i}:4{i:04d}",
                name=name,
                tags=[f"tag{i % 3}"],
                conditions=["[CONNECTED] == true"],
            )
        cmds.add_target("heartbeat://nightly?every=1d&grace=1h", name="nightly")
        with store.session() as s:
            for name, addr in CONTACTS.items():
                cid = new_id()
                s.add(
                    Contact(
                        id=cid,
                        name_fp=store.fp("contact.name", name),
                        name_s=store.seal("contacts", "name_s", cid, name),
                        channel="telegram",
                        address_s=store.seal("contacts", "address_s", cid, addr),
                        address_fp=store.fp("contact.address", addr),
                    )
                )
            s.commit()
    finally:
        store.close()


def _dump(store: Store) -> dict[tuple[str, str, str], str]:
    """Every sealed value in plaintext, keyed by (table, row, column): opening each proves it opens."""
    out: dict[tuple[str, str, str], str] = {}
    by_model: dict[Any, list[str]] = {}
    for model, col in SEALED_COLUMNS:
        by_model.setdefault(model, []).append(col)
    with store.engine.connect() as conn:
        for model, cols in by_model.items():
            table = model.__table__
            for row in conn.execute(select(table)).mappings():
                rid = aad_row(table.name, type("Row", (), dict(row)))
                for c in cols:
                    if row[c] is not None:
                        out[(table.name, str(rid), c)] = store.keys.open(
                            bytes(row[c]), table.name, c, rid
                        )
    return out


def _key_ids(store: Store) -> set[bytes]:
    ids: set[bytes] = set()
    with store.engine.connect() as conn:
        for model, col in SEALED_COLUMNS:
            for (blob,) in conn.execute(select(model.__table__.c[col])):
                if blob is not None:
                    ids.add(bytes(blob)[2:6])
    return ids


def _check_fingerprints(store: Store) -> None:
    """Every fingerprint column equals the fingerprint under the current key."""
    with store.engine.connect() as conn:
        for model, fp_col, src, purpose in FINGERPRINTS:
            table = model.__table__
            for row in conn.execute(select(table)).mappings():
                if row[src] is None:
                    continue
                plain = store.keys.open(
                    bytes(row[src]), table.name, src, aad_row(table.name, type("R", (), dict(row)))
                )
                if fp_col == "tag_fps":
                    import json

                    want = " ".join(store.fp(purpose, t) for t in json.loads(plain))
                else:
                    want = store.fp(purpose, plain)
                assert row[fp_col] == want, (table.name, fp_col)


def _marker(store: Store) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": MARKER}).first()


@pytest.fixture
def populated(data_dir: Path, db_url: str) -> Iterator[Settings]:
    settings = _settings(data_dir, db_url)
    _populate(settings)
    yield settings


def test_rotation_reseals_everything(populated: Settings) -> None:
    settings = populated
    old_ring = load_key_ring(settings.data_dir)
    store = open_store(settings)
    before = _dump(store)
    store.close()
    assert len(before) > 30

    report = rotate_keys(settings, batch=3)
    assert report["resealed"] >= len(before)

    ring = load_key_ring(settings.data_dir)
    assert ring.current.key_id != old_ring.current.key_id
    assert [k.key_id for k in ring.older] == [
        old_ring.current.key_id
    ]  # the old key stays, for backups
    store = Store.open(settings.database_url, ring)
    try:
        assert _dump(store) == before
        assert _key_ids(store) == {ring.current.key_id}
        _check_fingerprints(store)
        assert _marker(store) is None
        for name in NAMES:
            assert tstore.find(store, name) is not None
        assert {r.name for r in tstore.load_all(store)} >= set(NAMES)
        hb = tstore.find(store, "nightly")
        assert hb is not None and hb.token and tstore.find_by_token(store, hb.token) == hb
        # Only the new key opens the store's canary with a key ring that lacks the old key.
        alone = Store(store.engine, KeyRing(ring.current), store.url)
        assert _dump(alone) == before
    finally:
        store.close()
    # A second rotation adds another key and still reads everything.
    rotate_keys(settings, batch=500)
    store = open_store(settings)
    try:
        assert _dump(store) == before and len(store.keys.all_keys) == 3
    finally:
        store.close()


def test_concurrent_edit_during_a_batch_is_not_lost(populated: Settings) -> None:
    """Another process edits a target between the rotation's read and its write: the edit wins."""
    settings = populated
    other = open_store(settings)  # the "daemon": old ring, its own connection pool
    victim = tstore.find(other, NAMES[0])
    assert victim is not None
    fired: list[bool] = []

    def before_update(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if (
            not fired
            and statement.lstrip().upper().startswith("UPDATE TARGETS")
            and "name_s" in statement
        ):
            fired.append(True)
            victim.spec_text = "tcp://edited.example:1"
            tstore.save(other, victim)

    event.listen(Engine, "before_cursor_execute", before_update)
    try:
        rotate_keys(settings, batch=500)
    finally:
        event.remove(Engine, "before_cursor_execute", before_update)
        other.close()
    assert fired
    store = open_store(settings)
    try:
        got = tstore.get(store, victim.id)
        assert got is not None and got.spec_text == "tcp://edited.example:1"
        assert _key_ids(store) == {store.keys.current.key_id}
        _check_fingerprints(store)
    finally:
        store.close()


def _count_new(engine: Engine, kid: bytes) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM targets WHERE substr(name_s, 3, 4) = :k"), {"k": kid}
        ).scalar()


@pytest.mark.slow
def test_rotation_killed_midway_then_finished(
    populated: Settings, data_dir: Path, db_url: str
) -> None:
    settings = populated
    env = {**os.environ, "SYSALERT_DATA_DIR": str(data_dir), "SYSALERT_DATABASE_URL": db_url}
    env.pop("SYSALERT_MASTER_KEY", None)
    old_ring = load_key_ring(data_dir)
    store = open_store(settings)
    before = _dump(store)
    store.close()

    proc = subprocess.Popen(
        [SA, "rotate-keys", "--batch", "1", "--pause", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while len(read_key_file(data_dir / KEY_FILE_NAME)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "rotation did not start"
            time.sleep(0.02)
        new_kid = KeyRing.from_masters(read_key_file(data_dir / KEY_FILE_NAME)).current.key_id
        watcher = Store.open(db_url, old_ring, create=False)
        while _count_new(watcher.engine, new_kid) < 1:
            assert proc.poll() is None and time.monotonic() < deadline, "no batch committed"
            time.sleep(0.02)
        # Another process uses the store meanwhile: the CLI adds a target.
        add = subprocess.run(
            [SA, "target", "add", "tcp://10.55.44.33:4321", "--name", "added-midway"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert add.returncode == 0, add.stderr
        assert proc.poll() is None, "rotation finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Killed half-way: some rows under the new key, some still under the old, all readable.
    mid = open_store(settings)
    try:
        assert mid.keys.current.key_id == new_kid
        ids = _key_ids(mid)
        assert new_kid in ids and old_ring.current.key_id in ids, "not killed half-way"
        middump = _dump(mid)
        assert all(middump[k] == v for k, v in before.items())
        assert _marker(mid) is not None
        for name in NAMES:
            assert tstore.find(mid, name) is not None
    finally:
        mid.close()
        watcher.close()

    again = subprocess.run([SA, "rotate-keys"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert len(read_key_file(data_dir / KEY_FILE_NAME)) == 2  # the killed run's key was reused
    final = open_store(settings)
    try:
        assert _key_ids(final) == {new_kid}
        assert _marker(final) is None
        after = _dump(final)
        assert {k: after[k] for k in before} == before
        _check_fingerprints(final)
        added = tstore.find(final, "added-midway")
        assert added is not None and added.spec_text == "tcp://10.55.44.33:4321"
        for name in NAMES:
            assert tstore.find(final, name) is not None
    finally:
        final.close()


def test_rotation_refuses_bad_batch(populated: Settings) -> None:
    from engine.core.errors import SysAlertError

    with pytest.raises(SysAlertError, match="--batch"):
        rotate_keys(populated, batch=0)
