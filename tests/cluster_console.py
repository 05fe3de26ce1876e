"""A console world on a real PostgreSQL store shared by several engines, for the Engines screen and
a multi-location target's detail (snapshots and Pilot tests).

The console's own engine is embedded and not started (nothing is probed); the other engines are
rows in the store's `engines` table and the per-location results rows in `target_leases`, as the
running engines write them (engine.store.cluster). Times of the database's clock are set far from
now (alive: an hour ahead, so "0s ago"; gone: two hours back), so a slow run renders the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from engine.commands import Commands
from engine.config.settings import load_settings
from engine.runtime.cluster import ClusterMember
from engine.runtime.facade import EmbeddedBackend
from engine.store import targets as tstore
from engine.store.store import Store
from tests.cluster_harness import pg_schema
from tests.conftest import need, pg_available
from tests.console_fixture import FIXED_NOW, World, make_engine, open_fixture_store

ME = "e-3f9a1c0b7d"  # the console's embedded engine, in fra, leading
# id, location, targets held, seconds since last seen (negative: ahead), leader, stopped
ENGINES = (
    (ME, "fra", 12, -3600, True, False),
    ("e-8b21d4e6a0", "fra", 11, -3600, False, False),
    ("e-51c7e9f2b3", "nyc", 9, -3600, False, False),
    ("e-07aa93c5d1", "sgp", 0, 600, False, True),  # stopped cleanly ten minutes ago
    ("e-c4d2b8e61f", "nyc", 0, 7200, False, False),  # gone: killed two hours ago
)
MULTI = "tmulti"  # a target probed from fra, nyc and sgp, quorum 2: down in nyc only


def add_engine(
    store: Store,
    eid: str,
    location: str,
    held: int = 0,
    ago: float = -3600,
    leader: bool = False,
    stopped: bool = False,
) -> None:
    """An engine row as its lease round writes it, `ago` seconds before the database's now."""
    db_now = "EXTRACT(EPOCH FROM clock_timestamp())::float8"
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO engines (id, location, started_at, last_seen, held, leader, stopped)"
                f" VALUES (:id, :loc, {db_now} - 86400, {db_now} - :ago, :held, :leader,"
                " :stopped)"
            ),
            {
                "id": eid,
                "loc": location,
                "ago": ago,
                "held": held,
                "leader": leader,
                "stopped": stopped,
            },
        )


def add_multi_target(store: Store, cmds: Commands) -> None:
    """`db-primary` from fra (up), nyc (down: timeout) and sgp (no engine holds it): partial."""
    rec = cmds.build_target(
        "tcp://127.0.0.1:5432", name="db-primary", interval="30s", locations=["fra", "nyc", "sgp"]
    )
    rec.id, rec.created_at = MULTI, FIXED_NOW - 86400
    rec.state, rec.state_since = "partial", FIXED_NOW - 120
    rec.last_check_at, rec.last_latency_ms, rec.last_error_class = FIXED_NOW - 4, 23.4, None
    tstore.insert(store, rec)
    legs = (
        ("fra", ME, "up", 23.4, None, FIXED_NOW - 4),
        ("nyc", "e-51c7e9f2b3", "down", None, "timeout", FIXED_NOW - 6),
        ("sgp", None, "up", 180.2, None, FIXED_NOW - 900),  # its engine stopped since
    )
    with store.engine.begin() as conn:
        for loc, holder, state, lat, err, checked in legs:
            conn.execute(
                text(
                    "INSERT INTO target_leases (target_id, location, holder, expires_at, due_at,"
                    " state, latency_ms, error_class, checked_at) VALUES (:t, :l, :h,"
                    " EXTRACT(EPOCH FROM clock_timestamp())::float8 + 3600, 0, :s, :lat, :e, :c)"
                ),
                {"t": MULTI, "l": loc, "h": holder, "s": state, "lat": lat, "e": err, "c": checked},
            )


@contextmanager
def cluster_world(tmp_path: Path, engines: bool = True) -> Iterator[World]:
    """The console's engine on a fresh PostgreSQL schema, with the other engines' rows and one
    multi-location target."""
    need("PostgreSQL (127.0.0.1:5432, db test)", pg_available(), "start the local PostgreSQL")
    with pg_schema() as url:
        data = tmp_path / "data"
        data.mkdir()
        env = {
            "SYSALERT_DATA_DIR": str(data),
            "SYSALERT_DATABASE_URL": url,
            "SYSALERT_ENGINE_ID": ME,
            "SYSALERT_LOCATION": "fra",
        }
        settings = load_settings(None, data, env=env)
        store = open_fixture_store(settings)
        try:
            cmds = Commands(store, settings)
            if engines:
                for row in ENGINES:
                    add_engine(store, *row)
                add_multi_target(store, cmds)
            engine = make_engine(settings, store)
            member = ClusterMember(engine)  # as run() makes it; its rounds are the rows above
            member.leader = True
            member.held = {(f"t{i:02d}", "*") for i in range(12)}
            member.live = {"fra": 2, "nyc": 1}
            engine.cluster = member
            yield World(settings, store, engine, EmbeddedBackend(engine))
        finally:
            store.close()
