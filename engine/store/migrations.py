"""A small versioned migration scheme: meta.schema_version and one function per step.

A fresh store is created from the models and stamped with the newest version; an older store runs
each step in order inside a transaction, so an upgrade keeps every row.
"""

from __future__ import annotations

import logging

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from engine.core.errors import SysAlertError
from engine.security.crypto import KeyRing
from engine.store import models
from engine.store.models import SCHEMA_VERSION

log = logging.getLogger(__name__)


def _add_column(
    conn: Connection, table: str, column: str, ddl_type: str, default: str | None = None
) -> None:
    cols = {c["name"] for c in inspect(conn).get_columns(table)}
    if column not in cols:
        dflt = f" DEFAULT {default}" if default is not None else ""
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl_type}{dflt}"))


def _v2(conn: Connection, keys: KeyRing | None) -> None:
    """v2: hourly roll-ups, benchmark runs, flapping, dependencies and heartbeat state."""
    SQLModel.metadata.create_all(
        conn,
        tables=[models.Rollup.__table__, models.BenchmarkRun.__table__],  # type: ignore[attr-defined]
    )
    _add_column(conn, "targets", "flapping", "BOOLEAN", "FALSE")
    _add_column(conn, "targets", "parent_id", "VARCHAR(16)")
    _add_column(conn, "targets", "hb_state", "VARCHAR")


def _v3(conn: Connection, keys: KeyRing | None) -> None:
    """v3: results remember which heartbeat ping they record (replayed into state at start)."""
    _add_column(conn, "results", "ping", "VARCHAR(8)")


def _v4(conn: Connection, keys: KeyRing | None) -> None:
    """v4: a contact's status detail (a channel's error text, which may name an address) is
    sealed like every other error detail; the plaintext column goes."""
    cols = {c["name"] for c in inspect(conn).get_columns("contacts")}
    blob = "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"
    _add_column(conn, "contacts", "status_detail_s", blob)
    if "status_detail" not in cols:
        return
    rows = conn.execute(
        text("SELECT id, status_detail FROM contacts WHERE status_detail IS NOT NULL")
    ).all()
    if rows and keys is None:
        raise SysAlertError(
            "upgrading the store seals contact details and needs the master key",
            "open the store with its key (sysalert does this at start)",
        )
    for cid, detail in rows:
        sealed = keys.seal(detail, "contacts", "status_detail_s", cid)  # type: ignore[union-attr]
        conn.execute(
            text("UPDATE contacts SET status_detail_s = :s WHERE id = :id"),
            {"s": sealed, "id": cid},
        )
    conn.execute(text("ALTER TABLE contacts DROP COLUMN status_detail"))


def _v5(conn: Connection, keys: KeyRing | None) -> None:
    """v5: several engines on one store. Targets name their locations and quorum; leases say
    which engine probes a target in each location; engines say they are alive; at most one open
    incident per key (older duplicates, possible before, are resolved first)."""
    _add_column(conn, "targets", "locations", "VARCHAR", "''")
    _add_column(conn, "targets", "quorum", "INTEGER")
    SQLModel.metadata.create_all(
        conn,
        tables=[models.EngineRow.__table__, models.TargetLease.__table__],  # type: ignore[attr-defined]
    )
    conn.execute(
        text(
            "UPDATE incidents SET state = 'resolved' WHERE "
            + models.OPEN_INCIDENT_SQL
            + " AND EXISTS (SELECT 1 FROM incidents o WHERE o.dedup_key = incidents.dedup_key"
            " AND o.state IN ('firing', 'acknowledged', 'silenced')"
            " AND (o.opened_at < incidents.opened_at"
            " OR (o.opened_at = incidents.opened_at AND o.id < incidents.id)))"
        )
    )
    for index in models.Incident.__table__.indexes:  # type: ignore[attr-defined]
        if index.name == "uq_incidents_open_key":
            index.create(conn, checkfirst=True)


def _add_indexes(conn: Connection) -> None:
    """The indexes of models.ADDED_INDEXES a store made before them lacks."""
    for table in SQLModel.metadata.sorted_tables:
        for index in table.indexes:
            if index.name in models.ADDED_INDEXES:
                index.create(conn, checkfirst=True)


MIGRATIONS = {2: _v2, 3: _v3, 4: _v4, 5: _v5}
# Two engines starting at once on one PostgreSQL: the second waits here until the first has
# migrated (and then finds nothing left to do). Held until the migration's transaction ends.
_PG_MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/sysalert-migrate'))"


def current_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table("meta"):
        return None
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    return int(row[0]) if row else None


def migrate(engine: Engine, keys: KeyRing | None = None) -> int:
    """Bring the store to SCHEMA_VERSION; return the version it had (0 when new). Steps that seal
    existing values need the key ring."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(_PG_MIGRATE_LOCK))
        version = current_version(conn)
        if version is None:
            SQLModel.metadata.create_all(conn)
            conn.execute(
                text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
                {"v": str(SCHEMA_VERSION)},
            )
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('health_probe', '0')"))
            return 0
        if version > SCHEMA_VERSION:
            raise SysAlertError(
                f"the store has schema version {version}, newer than this SysAlert ({SCHEMA_VERSION})",
                "upgrade SysAlert; never run an older version on a newer store",
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            log.info("migrating store schema to version %s", step)
            MIGRATIONS[step](conn, keys)
            conn.execute(
                text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(step)}
            )
        # Tables added by later models and not yet named in a step still get created.
        SQLModel.metadata.create_all(conn)
        _add_indexes(conn)
        if conn.execute(text("SELECT 1 FROM meta WHERE key = 'health_probe'")).first() is None:
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('health_probe', '0')"))
        return version
