"""The store on SQLite and PostgreSQL: sealed targets, fingerprint lookups, batch runtime writes."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.security.crypto import KeyRing, TamperedError
from engine.store import targets as tstore
from engine.store.migrations import current_version
from engine.store.models import SCHEMA_VERSION
from engine.store.store import Store

SECRETS = {
    "name": "zebra-ledger-7",
    "spec": "tcp://10.77.66.55:45678",
    "tag": "okapi-tag",
    "cond": "[RESPONSE_TIME] < 4242",
    "opt": "very-secret-header",
    "token": "tok-f00dfeed",
}


@pytest.fixture
def store(db_url: str, keyring: KeyRing) -> Iterator[Store]:
    s = Store.open(db_url, keyring)
    yield s
    s.close()


def _rec(name: str = SECRETS["name"], spec: str = SECRETS["spec"], **kw: object) -> TargetRecord:
    return TargetRecord(id="", name=name, spec_text=spec, kind="tcp", **kw)  # type: ignore[arg-type]


def _full() -> TargetRecord:
    return _rec(
        tags=[SECRETS["tag"], "web"],
        conditions=[SECRETS["cond"]],
        options={"h": SECRETS["opt"]},
        token=SECRETS["token"],
        owner_id="own1",
        interval_s=12.0,
        timeout_s=3.0,
        failure_threshold=3,
    )


def test_fresh_store_is_stamped(store: Store) -> None:
    with store.engine.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION


def test_insert_and_find(store: Store) -> None:
    rec = tstore.insert(store, _full())
    assert rec.id and rec.created_at > 0
    by_id = tstore.find(store, rec.id)
    by_name = tstore.find(store, SECRETS["name"])
    assert by_id == by_name
    assert by_name is not None
    assert by_name.spec_text == SECRETS["spec"] and by_name.tags == [SECRETS["tag"], "web"]
    assert by_name.conditions == [SECRETS["cond"]] and by_name.options == {"h": SECRETS["opt"]}
    assert (
        by_name.interval_s == 12.0 and by_name.failure_threshold == 3 and by_name.owner_id == "own1"
    )
    assert tstore.find_by_token(store, SECRETS["token"]) == by_name
    assert tstore.find(store, "no-such-target") is None
    assert tstore.find_by_token(store, "nope") is None
    assert tstore.get(store, "deadbeef") is None


def test_a_new_id_never_reuses_one_in_the_table(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 random letters collide by chance at 100,000 targets (about once in sixteen runs of that
    many inserts): the insert takes the next candidate instead of failing on the primary key."""
    from engine.store import store as store_module

    first = tstore.insert(store, _rec("first"))
    candidates = iter([first.id, first.id, "qwertyzx"])
    monkeypatch.setattr(store_module, "new_id", lambda prefix="", length=8: next(candidates))
    second = tstore.insert(store, _rec("second", "tcp://10.0.0.2:22"))
    assert second.id == "qwertyzx"
    assert {r.name for r in tstore.load_all(store)} == {"first", "second"}


def test_internal_rows_take_long_ids(store: Store) -> None:
    from datetime import UTC, datetime

    from engine.notify.message import OutgoingMessage
    from engine.notify.outbox import enqueue

    msg = OutgoingMessage("alert", "i1", "high", "t", "", "down", datetime.now(UTC))
    nid = enqueue(store, "c1", "webhook", msg, None)
    assert len(nid) == 14 and nid.isalpha()  # never typed by anyone, made by the million


def test_duplicate_name_refused(store: Store) -> None:
    tstore.insert(store, _rec())
    with pytest.raises(BadInput, match="already exists"):
        tstore.insert(store, _rec(spec="tcp://other:1"))
    assert len(tstore.load_all(store)) == 1


def test_edit_keeps_id_and_renames(store: Store) -> None:
    rec = tstore.insert(store, _rec())
    other = tstore.insert(store, _rec(name="second", spec="tcp://b:2"))
    rec.name, rec.spec_text, rec.tags = "renamed", "tcp://c:3", ["x"]
    tstore.save(store, rec)
    assert tstore.find(store, SECRETS["name"]) is None
    got = tstore.find(store, "renamed")
    assert (
        got is not None and got.id == rec.id and got.spec_text == "tcp://c:3" and got.tags == ["x"]
    )
    # Renaming onto another target's name is refused, and the store is unchanged.
    rec.name = "second"
    with pytest.raises(BadInput, match="already exists"):
        tstore.save(store, rec)
    assert tstore.find(store, "renamed") is not None and tstore.find(store, "second") == tstore.get(
        store, other.id
    )
    ghost = _rec(name="ghost")
    ghost.id = "00000000"
    with pytest.raises(BadInput, match="no longer exists"):
        tstore.save(store, ghost)


def test_delete(store: Store) -> None:
    a = tstore.insert(store, _rec())
    b = tstore.insert(store, _rec(name="keep", spec="tcp://k:1"))
    tstore.delete_target(store, a.id)
    assert tstore.get(store, a.id) is None and tstore.find(store, SECRETS["name"]) is None
    assert [r.id for r in tstore.load_all(store)] == [b.id]
    # The name is free again.
    tstore.insert(store, _rec())


def test_load_all_by_owner(store: Store) -> None:
    tstore.insert(store, _rec(name="a", owner_id="o1"))
    tstore.insert(store, _rec(name="b", owner_id="o2"))
    tstore.insert(store, _rec(name="c"))
    assert [r.name for r in tstore.load_all(store, "o1")] == ["a"]
    assert len(tstore.load_all(store)) == 3


def test_save_runtime_batch(store: Store) -> None:
    recs = [tstore.insert(store, _rec(name=f"t{i}", spec=f"tcp://h{i}:{i + 1}")) for i in range(25)]
    for i, r in enumerate(recs):
        r.state, r.state_since, r.next_due = ("down" if i % 2 else "up"), 1000.0 + i, 2000.0 + i
        r.last_check_at, r.last_latency_ms, r.last_error_class = (
            1500.0,
            float(i),
            ("timeout" if i % 2 else None),
        )
        r.fail_streak, r.ok_streak, r.flapping, r.hb_state = (
            i,
            25 - i,
            i == 3,
            ('{"k":1}' if i == 4 else None),
        )
        r.name = "changed-but-not-saved"  # runtime saves never touch the definition
    tstore.save_runtime(store, recs)
    tstore.save_runtime(store, [])
    got = {r.id: r for r in tstore.load_all(store)}
    for i, r in enumerate(recs):
        g = got[r.id]
        assert g.name == f"t{i}"
        assert (g.state, g.state_since, g.next_due, g.fail_streak, g.ok_streak) == (
            r.state,
            r.state_since,
            r.next_due,
            i,
            25 - i,
        )
        assert (g.last_latency_ms, g.last_error_class, g.flapping, g.hb_state) == (
            float(i),
            r.last_error_class,
            i == 3,
            r.hb_state,
        )


def test_sealed_columns_hold_no_plaintext(store: Store) -> None:
    tstore.insert(store, _full())
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM targets")).mappings().all()
    raw = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in rows[0].values()
    )
    for secret in SECRETS.values():
        assert secret.encode() not in raw, secret
    assert "10.77.66.55" not in str(dict(rows[0]))


def test_sqlite_file_holds_no_plaintext_and_uses_wal(tmp_path: Path, keyring: KeyRing) -> None:
    db_url = f"sqlite:///{tmp_path / 'sub' / 'store.db'}"
    store = Store.open(db_url, keyring)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        tstore.insert(store, _full())
        path = Path(db_url.removeprefix("sqlite:///"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert any(p.name.endswith("-wal") for p in files)
        blob = b"".join(p.read_bytes() for p in files)
        for secret in SECRETS.values():
            assert secret.encode() not in blob, secret
    finally:
        store.close()


def test_ciphertext_moved_between_rows_is_refused(store: Store) -> None:
    a = tstore.insert(store, _rec(name="a"))
    b = tstore.insert(store, _rec(name="b"))
    with store.engine.begin() as conn:
        blob = conn.execute(text("SELECT name_s FROM targets WHERE id = :i"), {"i": a.id}).scalar()
        conn.execute(text("UPDATE targets SET name_s = :v WHERE id = :i"), {"v": blob, "i": b.id})
    with pytest.raises(TamperedError):
        tstore.get(store, b.id)
    assert tstore.get(store, a.id) is not None


def test_wrong_key_cannot_read(db_url: str, keyring: KeyRing) -> None:
    s = Store.open(db_url, keyring)
    rec = tstore.insert(s, _rec())
    s.close()
    from engine.core.errors import KeyError_
    from engine.security.crypto import new_master_key

    other = Store.open(db_url, KeyRing.from_masters([new_master_key()]))
    try:
        assert tstore.find(other, SECRETS["name"]) is None  # fingerprints differ under another key
        with pytest.raises(KeyError_):
            tstore.get(other, rec.id)
    finally:
        other.close()
