"""Upgrading a version 1 store keeps every sealed row; a store newer than the code is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from engine.core.domain import TargetRecord
from engine.core.errors import SysAlertError
from engine.security.crypto import KeyRing
from engine.store import targets as tstore
from engine.store.db import open_db
from engine.store.migrations import current_version, migrate
from engine.store.models import SCHEMA_VERSION, BenchmarkRun, Rollup
from engine.store.store import Store

# The version 1 layout, frozen as it shipped: no `rollups`, no `benchmark_runs`, and `targets`
# without flapping, parent_id and hb_state. {B} is the byte type, {AUTO} an autoincrement key.
V1_DDL = """
CREATE TABLE meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR, value_s {B});
CREATE TABLE targets (
  id VARCHAR(16) NOT NULL PRIMARY KEY, name_fp VARCHAR(64) NOT NULL, name_s {B} NOT NULL,
  spec_s {B} NOT NULL, kind VARCHAR(16) NOT NULL, interval_s FLOAT NOT NULL, timeout_s FLOAT NOT NULL,
  tags_s {B}, tag_fps VARCHAR NOT NULL, conditions_s {B}, options_s {B}, token_fp VARCHAR(64),
  token_s {B}, owner_id VARCHAR(16), failure_threshold INTEGER, recovery_threshold INTEGER,
  paused BOOLEAN NOT NULL, declared BOOLEAN NOT NULL, created_at FLOAT NOT NULL,
  updated_at FLOAT NOT NULL, state VARCHAR NOT NULL, state_since FLOAT NOT NULL,
  next_due FLOAT NOT NULL, last_check_at FLOAT, last_latency_ms FLOAT, last_error_class VARCHAR,
  fail_streak INTEGER NOT NULL, ok_streak INTEGER NOT NULL,
  CONSTRAINT uq_targets_name_fp UNIQUE (name_fp));
CREATE INDEX ix_targets_owner_id ON targets (owner_id);
CREATE INDEX ix_targets_token_fp ON targets (token_fp);
CREATE TABLE results (id {AUTO}, target_id VARCHAR(16) NOT NULL, ts FLOAT NOT NULL,
  ok BOOLEAN NOT NULL, latency_ms FLOAT, value FLOAT, error_class VARCHAR(16), detail_s {B});
CREATE INDEX ix_results_target_ts ON results (target_id, ts);
CREATE TABLE incidents (id VARCHAR(16) NOT NULL PRIMARY KEY, dedup_key VARCHAR(80) NOT NULL,
  target_id VARCHAR(16), rule_id VARCHAR(16), parent_incident_id VARCHAR(16), kind VARCHAR NOT NULL,
  state VARCHAR(16) NOT NULL, severity VARCHAR NOT NULL, opened_at FLOAT NOT NULL, acked_at FLOAT,
  acked_by_s {B}, resolved_at FLOAT, silenced_until FLOAT, summary_s {B}, error_class VARCHAR,
  last_notified_at FLOAT, escalation_level INTEGER NOT NULL, owner_id VARCHAR(16));
CREATE TABLE notifications (id VARCHAR(16) NOT NULL PRIMARY KEY, incident_id VARCHAR(16),
  contact_id VARCHAR(16) NOT NULL, channel VARCHAR(16) NOT NULL, kind VARCHAR NOT NULL,
  level INTEGER NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
  next_attempt_at FLOAT NOT NULL, created_at FLOAT NOT NULL, sent_at FLOAT, read_at FLOAT,
  acked_by_s {B}, message_id VARCHAR(64), body_s {B}, last_error_s {B}, lease_owner VARCHAR(40),
  lease_until FLOAT);
CREATE TABLE receipts (id VARCHAR(16) NOT NULL PRIMARY KEY, notification_id VARCHAR(16) NOT NULL,
  reader_s {B}, read_at FLOAT NOT NULL);
CREATE TABLE contacts (id VARCHAR(16) NOT NULL PRIMARY KEY, name_fp VARCHAR(64) NOT NULL,
  name_s {B} NOT NULL, channel VARCHAR(16) NOT NULL, address_s {B} NOT NULL,
  address_fp VARCHAR(64) NOT NULL, resolved_s {B}, level INTEGER NOT NULL, owner_id VARCHAR(16),
  status VARCHAR NOT NULL, status_detail VARCHAR, created_at FLOAT NOT NULL,
  CONSTRAINT uq_contacts_name_fp UNIQUE (name_fp));
CREATE TABLE maintenance (id VARCHAR(16) NOT NULL PRIMARY KEY, scope VARCHAR NOT NULL,
  scope_fp VARCHAR(64), scope_s {B}, target_id VARCHAR(16), kind VARCHAR NOT NULL, starts_at FLOAT,
  ends_at FLOAT, schedule_s {B}, reason_s {B}, created_by_s {B}, created_at FLOAT NOT NULL,
  owner_id VARCHAR(16));
CREATE TABLE rules (id VARCHAR(16) NOT NULL PRIMARY KEY, name_fp VARCHAR(64) NOT NULL,
  name_s {B} NOT NULL, metric VARCHAR NOT NULL, comparison VARCHAR NOT NULL, threshold FLOAT NOT NULL,
  duration_s FLOAT NOT NULL, severity VARCHAR NOT NULL, channels_s {B}, target_id VARCHAR(16),
  enabled BOOLEAN NOT NULL, declared BOOLEAN NOT NULL, holding_since FLOAT);
CREATE TABLE benchmarks (id VARCHAR(16) NOT NULL PRIMARY KEY, name_fp VARCHAR(64) NOT NULL,
  name_s {B} NOT NULL, kind VARCHAR NOT NULL, spec_s {B}, interval_s FLOAT NOT NULL, baseline FLOAT,
  threshold_pct FLOAT NOT NULL, higher_is_better BOOLEAN NOT NULL, last_score FLOAT,
  last_run_at FLOAT, owner_id VARCHAR(16), created_at FLOAT NOT NULL);
CREATE TABLE audit (id {AUTO}, ts FLOAT NOT NULL, actor_s {B}, action VARCHAR(40) NOT NULL,
  object_ref VARCHAR(40), detail_s {B});
CREATE TABLE subscribers (id VARCHAR(16) NOT NULL PRIMARY KEY, chat_fp VARCHAR(64) NOT NULL,
  chat_s {B} NOT NULL, role VARCHAR NOT NULL, max_targets INTEGER, max_benchmarks INTEGER,
  created_at FLOAT NOT NULL, last_seen_at FLOAT, CONSTRAINT uq_subscribers_chat_fp UNIQUE (chat_fp));
CREATE TABLE api_keys (id VARCHAR(16) NOT NULL PRIMARY KEY, key_hash VARCHAR(64) NOT NULL,
  label_s {B}, created_at FLOAT NOT NULL);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
"""

V1_TARGETS = [
    (
        "t0000001",
        "zebra-ledger-7",
        "tcp://10.77.66.55:45678",
        "tcp",
        ["db", "prod"],
        ["[CONNECTED] == true"],
    ),
    ("t0000002", "okapi-gate", "https://secret-panel.example.org:8443/healthz", "http", [], []),
    ("t0000003", "backup", "heartbeat://nightly?every=1d&grace=1h", "heartbeat", ["ops"], []),
]


def _build_v1(store: Store) -> None:
    sqlite = store.url.startswith("sqlite")
    ddl = V1_DDL.replace("{B}", "BLOB" if sqlite else "BYTEA").replace(
        "{AUTO}", "INTEGER PRIMARY KEY" if sqlite else "SERIAL PRIMARY KEY"
    )
    now = time.time()
    with store.engine.begin() as conn:
        for stmt in filter(str.strip, ddl.split(";")):
            conn.execute(text(stmt))
        for tid, name, spec, kind, tags, conds in V1_TARGETS:
            conn.execute(
                text(
                    "INSERT INTO targets (id, name_fp, name_s, spec_s, kind, interval_s, timeout_s, tags_s,"
                    " tag_fps, conditions_s, token_fp, token_s, paused, declared, created_at, updated_at,"
                    " state, state_since, next_due, fail_streak, ok_streak) VALUES (:id, :nfp, :ns, :ss,"
                    " :kind, 30, 5, :tags, :tfps, :conds, :tokfp, :toks, :f, :f, :now, :now, 'up', :now,"
                    " 0, 0, 4)"
                ),
                {
                    "id": tid,
                    "nfp": store.fp("target.name", name),
                    "kind": kind,
                    "now": now,
                    "f": False,
                    "ns": store.seal("targets", "name_s", tid, name),
                    "ss": store.seal("targets", "spec_s", tid, spec),
                    "tags": store.seal_json("targets", "tags_s", tid, tags),
                    "tfps": " ".join(store.fp("tag", t) for t in tags),
                    "conds": store.seal_json("targets", "conditions_s", tid, conds),
                    "tokfp": store.fp("target.token", f"tok-{tid}")
                    if kind == "heartbeat"
                    else None,
                    "toks": store.seal("targets", "token_s", tid, f"tok-{tid}")
                    if kind == "heartbeat"
                    else None,
                },
            )
        ts = 1700000000.25
        conn.execute(
            text(
                "INSERT INTO results (target_id, ts, ok, latency_ms, detail_s) VALUES ('t0000001', :ts, :ok, 1.5, :d)"
            ),
            {
                "ts": ts,
                "ok": False,
                "d": store.seal(
                    "results", "detail_s", f"t0000001@{ts:.6f}", "refused by 10.77.66.55"
                ),
            },
        )
        conn.execute(
            text(
                "INSERT INTO contacts (id, name_fp, name_s, channel, address_s, address_fp, level, status,"
                " created_at) VALUES ('c0000001', :nfp, :ns, 'telegram', :as_, :afp, 1, 'ok', :now)"
            ),
            {
                "nfp": store.fp("contact.name", "alice"),
                "ns": store.seal("contacts", "name_s", "c0000001", "alice"),
                "as_": store.seal("contacts", "address_s", "c0000001", "123456789"),
                "afp": store.fp("contact.address", "123456789"),
                "now": now,
            },
        )


@pytest.fixture
def v1_store(db_url: str, keyring: KeyRing):  # type: ignore[no-untyped-def]
    store = Store(open_db(db_url), keyring, db_url)
    _build_v1(store)
    yield store
    store.close()


def test_v1_store_upgrades_with_data_intact(v1_store: Store) -> None:
    store = v1_store
    with store.engine.connect() as conn:
        assert current_version(conn) == 1
        assert not inspect(conn).has_table("rollups")
    assert migrate(store.engine) == 1
    with store.engine.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION == 5
        cols = {c["name"] for c in inspect(conn).get_columns("targets")}
        assert {"flapping", "parent_id", "hb_state"} <= cols
        assert "ping" in {c["name"] for c in inspect(conn).get_columns("results")}  # v3
        assert inspect(conn).has_table("rollups") and inspect(conn).has_table("benchmark_runs")
        detail = conn.execute(text("SELECT detail_s FROM results")).scalar()
        addr = conn.execute(text("SELECT address_s FROM contacts WHERE id = 'c0000001'")).scalar()
    assert (
        store.open_("results", "detail_s", "t0000001@1700000000.250000", detail)
        == "refused by 10.77.66.55"
    )
    assert store.open_("contacts", "address_s", "c0000001", addr) == "123456789"

    recs = {r.id: r for r in tstore.load_all(store)}
    assert set(recs) == {t[0] for t in V1_TARGETS}
    for tid, name, spec, kind, tags, conds in V1_TARGETS:
        r = recs[tid]
        assert (r.name, r.spec_text, r.kind, r.tags, r.conditions) == (
            name,
            spec,
            kind,
            tags,
            conds,
        )
        assert (r.state, r.ok_streak, r.flapping, r.parent_id, r.hb_state) == (
            "up",
            4,
            False,
            None,
            None,
        )
        assert tstore.find(store, name) == r
    assert tstore.find_by_token(store, "tok-t0000003") == recs["t0000003"]

    # The new columns and tables are usable.
    gate = recs["t0000002"]
    gate.parent_id = "t0000001"
    tstore.save(store, gate)
    backup = recs["t0000003"]
    backup.flapping, backup.hb_state = True, json.dumps({"last_ping": 1.0})
    tstore.save_runtime(store, [backup])
    fresh = tstore.insert(store, TargetRecord(id="", name="new", spec_text="tcp://n:1", kind="tcp"))
    with store.session() as s:
        s.add(Rollup(target_id="t0000001", hour=472222, count=3, ok_count=2))
        s.add(BenchmarkRun(benchmark_id="b1", ts=1.0, score=2.0))
        s.commit()
    again = {r.id: r for r in tstore.load_all(store)}
    assert again["t0000002"].parent_id == "t0000001"
    assert again["t0000003"].flapping is True and json.loads(again["t0000003"].hb_state or "") == {
        "last_ping": 1.0
    }
    assert again[fresh.id].flapping is False
    # A second run is a no-op.
    assert migrate(store.engine) == SCHEMA_VERSION


def test_store_open_migrates(db_url: str, keyring: KeyRing, v1_store: Store) -> None:
    reopened = Store.open(db_url, keyring)
    try:
        assert {r.name for r in tstore.load_all(reopened)} == {t[1] for t in V1_TARGETS}
        with reopened.engine.connect() as conn:
            assert current_version(conn) == SCHEMA_VERSION
            assert (
                conn.execute(text("SELECT value FROM meta WHERE key = 'health_probe'")).scalar()
                == "0"
            )
    finally:
        reopened.close()


def test_newer_store_is_refused(db_url: str, keyring: KeyRing) -> None:
    store = Store.open(db_url, keyring)
    tstore.insert(store, TargetRecord(id="", name="keep", spec_text="tcp://k:1", kind="tcp"))
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    with pytest.raises(SysAlertError) as info:
        migrate(store.engine)
    assert "schema version 99" in str(info.value) and "newer" in str(info.value)
    assert "upgrade SysAlert" in str(info.value)
    with store.engine.connect() as conn:
        assert current_version(conn) == 99
    assert [r.name for r in tstore.load_all(store)] == ["keep"]
    store.close()


def test_fresh_store_returns_zero(db_url: str) -> None:
    engine = open_db(db_url)
    try:
        assert migrate(engine) == 0
        assert migrate(engine) == SCHEMA_VERSION
    finally:
        engine.dispose()


def test_v4_seals_contact_status_detail(v1_store: Store, keyring: KeyRing) -> None:
    """A channel's error text on a contact was plaintext before v4; the upgrade seals it (bound
    to its row) and drops the plaintext column, on SQLite and PostgreSQL."""
    store = v1_store
    detail = "peer user 77441265 blocked us (telegram @alice-ops, 10.77.66.55)"
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE contacts SET status = 'blocked', status_detail = :d WHERE id = 'c0000001'"
            ),
            {"d": detail},
        )
    with pytest.raises(SysAlertError, match="needs the master key"):
        migrate(store.engine)  # nothing half done: the step's transaction rolls back
    with store.engine.connect() as conn:
        assert current_version(conn) == 1
    assert migrate(store.engine, keyring) == 1
    with store.engine.connect() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns("contacts")}
        assert "status_detail" not in cols and "status_detail_s" in cols
        sealed = conn.execute(text("SELECT status_detail_s FROM contacts")).scalar()
    assert detail.encode() not in bytes(sealed)
    assert store.open_("contacts", "status_detail_s", "c0000001", sealed) == detail
    from engine.store import contacts as cstore

    (rec,) = cstore.load_all(store)
    assert (rec.status, rec.status_detail) == ("blocked", detail)
    cstore.set_status(store, rec.id, "invalid", "address 10.1.2.3 refused")
    assert cstore.find(store, rec.id).status_detail == "address 10.1.2.3 refused"  # type: ignore[union-attr]
    if store.sqlite:
        with store.engine.begin() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db = store.engine.url.database or ""
        raw = b"".join(p.read_bytes() for p in Path(db).parent.glob(Path(db).name + "*"))
        assert b"10.1.2.3" not in raw and b"77441265" not in raw


def test_v5_adds_locations_leases_engines_and_one_open_incident_per_key(v1_store: Store) -> None:
    """v5 (several engines): targets keep their rows with no locations, lease and engine tables
    appear, and two open incidents with one key (possible before) become one: the older stays."""
    store = v1_store
    row = (
        "INSERT INTO incidents (id, dedup_key, kind, state, severity, opened_at, escalation_level)"
        " VALUES (:id, 'target:t1', 'down', 'firing', 'high', :at, 1)"
    )
    with store.engine.begin() as conn:
        conn.execute(text(row), {"id": "inc00001", "at": 1.0})
        conn.execute(text(row), {"id": "inc00002", "at": 2.0})
    assert migrate(store.engine) == 1
    with store.engine.begin() as conn:
        assert inspect(conn).has_table("target_leases") and inspect(conn).has_table("engines")
        cols = {c["name"] for c in inspect(conn).get_columns("targets")}
        assert {"locations", "quorum"} <= cols
        states = dict(conn.execute(text("SELECT id, state FROM incidents")).all())
        assert states == {"inc00001": "firing", "inc00002": "resolved"}
        with pytest.raises(Exception, match="(?i)unique"):
            conn.execute(text(row), {"id": "inc00003", "at": 3.0})
    recs = tstore.load_all(store)
    assert recs and all(r.locations == [] and r.quorum is None for r in recs)


@pytest.mark.postgres
def test_two_engines_starting_at_once_migrate_once() -> None:
    """The migration runs under an advisory lock: two stores opening a fresh schema at the same
    moment both come up at the newest version, and the store is created once."""
    import threading

    from tests.cluster_harness import pg_schema
    from tests.conftest import need, pg_available

    need("PostgreSQL", pg_available(), "start the local PostgreSQL")
    with pg_schema() as url:
        engines = [open_db(url), open_db(url)]
        got: list[object] = []
        threads = [
            threading.Thread(target=lambda e=e: got.append(_try_migrate(e))) for e in engines
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(got, key=str) == [0, SCHEMA_VERSION], got  # one created, one found it
        with engines[0].connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM meta WHERE key = 'schema_version'"))
            assert n.scalar() == 1
        for e in engines:
            e.dispose()


def _try_migrate(engine):  # type: ignore[no-untyped-def]
    try:
        return migrate(engine)
    except Exception as exc:  # a race would show here (duplicate table, duplicate key)
        return exc
