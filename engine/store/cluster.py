"""Several engines on one PostgreSQL store: who is alive, who probes which target where, who leads.

Every engine runs `lease_round` about once a second: it says it is alive, renews the leases it
holds, and claims free or expired ones (`FOR UPDATE SKIP LOCKED`) up to its fair share of each
pool (targets without locations: every live engine; a location's targets: that location's
engines). Times are the database's clock, so hosts need not agree on the time. A multi-location
target's state is decided in `report_locations` under a row lock on the target, so exactly one
engine sees each change of the combined state (and opens or resolves the incident).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from engine.core.locations import ANY, NO_ENGINE, Verdict, combine
from engine.store import key_handoff
from engine.store.store import Store
from engine.store.uptimes import add_location_counts

DB_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"
_LEGS = "CASE WHEN t.locations = '' THEN ARRAY['*'] ELSE string_to_array(t.locations, ',') END"


@dataclass
class Round:
    """What one lease round found: the leases held now (target id, location) and the excess this
    engine should hand back per pool (another engine has joined)."""

    now: float
    held: set[tuple[str, str]] = field(default_factory=set)
    excess: dict[str, int] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)  # location -> live engines
    due: dict[str, float] = field(default_factory=dict)  # claimed now: next check (wall clock)


def sync_leases(store: Store) -> None:
    """One lease row per target and location it is probed from; rows of removed, paused or
    relocated targets go. Cheap enough to run every few rounds and after every change."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO target_leases (target_id, location, expires_at, due_at) "
                f"SELECT t.id, l.loc, 0, 0 FROM targets t CROSS JOIN LATERAL unnest({_LEGS}) "
                "AS l(loc) WHERE NOT t.paused ON CONFLICT DO NOTHING"
            )
        )
        conn.execute(
            text(
                "DELETE FROM target_leases tl WHERE NOT EXISTS (SELECT 1 FROM targets t "
                f"WHERE t.id = tl.target_id AND NOT t.paused AND tl.location = ANY({_LEGS}))"
            )
        )


def lease_round(
    store: Store,
    me: str,
    location: str,
    lease_s: float,
    started_at: float,
    leader: bool,
    max_claim: int = 5000,
) -> Round:
    """Heartbeat, renew, claim: one transaction."""
    with store.engine.begin() as conn:
        now = float(conn.execute(text(f"SELECT {DB_NOW}")).scalar_one())
        expires = now + lease_s
        held = {
            (r[0], r[1])
            for r in conn.execute(
                text(
                    "UPDATE target_leases SET expires_at = :exp WHERE holder = :me "
                    "RETURNING target_id, location"
                ),
                {"exp": expires, "me": me},
            )
        }
        conn.execute(
            text(
                "INSERT INTO engines (id, location, started_at, last_seen, held, leader, stopped)"
                " VALUES (:me, :loc, :st, :now, :held, :leader, false) ON CONFLICT (id) DO UPDATE"
                " SET location = :loc, last_seen = :now, held = :held, leader = :leader,"
                " stopped = false, started_at = :st"
            ),
            {
                "me": me,
                "loc": location,
                "st": started_at,
                "now": now,
                "held": len(held),
                "leader": leader,
            },
        )
        live = {
            r[0]: int(r[1])
            for r in conn.execute(
                text(
                    "SELECT location, count(*) FROM engines WHERE NOT stopped"
                    " AND last_seen > :since GROUP BY location"
                ),
                {"since": now - lease_s},
            )
        }
        live[location] = max(1, live.get(location, 0))
        pools = {
            r[0]: int(r[1])
            for r in conn.execute(
                text(
                    "SELECT location, count(*) FROM target_leases WHERE location IN ('*', :loc)"
                    " GROUP BY location"
                ),
                {"loc": location},
            )
        }
        out = Round(now, held, {}, live)
        for pool, size in pools.items():
            engines = sum(live.values()) if pool == ANY else live[location]
            share = math.ceil(size / max(1, engines))
            mine = sum(1 for _, loc in held if loc == pool)
            if mine > share:
                out.excess[pool] = mine - share
                continue
            want = min(share - mine, max_claim)
            if want <= 0:
                continue
            claimed = {
                r[0]: float(r[1])
                for r in conn.execute(
                    text(
                        "SELECT target_id, due_at FROM target_leases WHERE location = :pool"
                        " AND (holder IS NULL OR expires_at < :now) ORDER BY due_at"
                        " LIMIT :want FOR UPDATE SKIP LOCKED"
                    ),
                    {"pool": pool, "now": now, "want": want},
                )
            }
            ids = list(claimed)
            out.due.update(claimed)
            if ids:
                conn.execute(
                    text(
                        "UPDATE target_leases SET holder = :me, expires_at = :exp"
                        " WHERE location = :pool AND target_id = ANY(:ids)"
                    ),
                    {"me": me, "exp": expires, "pool": pool, "ids": ids},
                )
                held.update((i, pool) for i in ids)
        return out


def release(store: Store, me: str, leases: Iterable[tuple[str, str, float]]) -> None:
    """Hand leases back (target id, location, next due time, wall clock): the next round of any
    engine may claim them, and goes on from that due time."""
    rows = [{"t": t, "l": loc, "due": due, "me": me} for t, loc, due in leases]
    if not rows:
        return
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE target_leases SET holder = NULL, expires_at = 0, due_at = :due"
                " WHERE target_id = :t AND location = :l AND holder = :me"
            ),
            rows,
        )


def leave(store: Store, me: str) -> None:
    """A clean stop: every lease back at once (no wait for expiry), the engine marked stopped."""
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE target_leases SET holder = NULL, expires_at = 0 WHERE holder = :me"),
            {"me": me},
        )
        conn.execute(
            text("UPDATE engines SET stopped = true, held = 0, leader = false WHERE id = :me"),
            {"me": me},
        )


@dataclass
class Change:
    """A multi-location target's combined state changed (seen by exactly one engine)."""

    target_id: str
    old: str
    new: str
    verdict: Verdict
    locations: int
    error_class: str | None


def report_locations(
    store: Store,
    me: str,
    reports: list[dict[str, Any]],
    recompute: Iterable[str],
    lease_s: float,
    counts: dict[tuple[str, str, int], list[int]] | None = None,
) -> tuple[list[Change], dict[str, str]]:
    """Write this engine's latest result per (target, location) it holds, then decide the combined
    state of `recompute` targets. Each report: t, l, state, latency_ms, error_class, checked_at.
    Returns the changes, and the combined state of every recomputed target (so an engine whose
    memory missed another engine's change catches up). `counts` are added to the per-location
    hourly roll-ups (engine.store.uptimes) in the same transaction."""
    changes: list[Change] = []
    states: dict[str, str] = {}
    with store.engine.begin() as conn:
        now = float(conn.execute(text(f"SELECT {DB_NOW}")).scalar_one())
        if reports:
            conn.execute(
                text(
                    "UPDATE target_leases SET state = :state, latency_ms = :latency_ms,"
                    " error_class = :error_class, checked_at = :checked_at"
                    " WHERE target_id = :t AND location = :l AND holder = :me"
                ),
                [dict(r, me=me) for r in reports],
            )
        add_location_counts(conn, counts or {})
        last = {r["t"]: r for r in reports}
        for tid in sorted(set(recompute)):  # one order everywhere: no deadlock between engines
            row = conn.execute(
                text("SELECT state, locations, quorum FROM targets WHERE id = :t FOR UPDATE"),
                {"t": tid},
            ).first()
            if row is None or not row[1]:
                continue
            legs = _legs(conn, tid, now)
            locs = [x for x in row[1].split(",") if x]
            verdict = combine(locs, {loc: leg["state"] for loc, leg in legs.items()}, row[2])
            states[tid] = verdict.state
            rep = last.get(tid)
            if rep is not None:
                conn.execute(
                    text(
                        "UPDATE targets SET last_check_at = :c, last_latency_ms = :lat,"
                        " last_error_class = :e WHERE id = :t"
                    ),
                    {
                        "c": rep["checked_at"],
                        "lat": rep["latency_ms"],
                        "e": rep["error_class"],
                        "t": tid,
                    },
                )
            if verdict.state != row[0]:
                conn.execute(
                    text("UPDATE targets SET state = :s, state_since = :now WHERE id = :t"),
                    {"s": verdict.state, "now": rep["checked_at"] if rep else now, "t": tid},
                )
                errors = [leg["error_class"] for leg in legs.values() if leg["state"] == "down"]
                changes.append(
                    Change(
                        tid,
                        row[0],
                        verdict.state,
                        verdict,
                        len(locs),
                        errors[0] if errors else None,
                    )
                )
    return changes, states


def _legs(conn: Any, target_id: str, now: float) -> dict[str, dict[str, Any]]:
    out = {}
    for loc, holder, expires, state, latency, err, checked in conn.execute(
        text(
            "SELECT location, holder, expires_at, state, latency_ms, error_class, checked_at"
            " FROM target_leases WHERE target_id = :t"
        ),
        {"t": target_id},
    ):
        alive = holder is not None and expires >= now
        out[loc] = {
            "location": loc,
            "state": state if alive else NO_ENGINE,
            "latency_ms": latency,
            "error_class": err,
            "checked_at": checked,
            "engine": holder if alive else None,
        }
    return out


def lease_holders(store: Store, target_id: str) -> list[tuple[str, str | None, str]]:
    """(lease location, engine holding it now or None, that engine's own location) for each lease
    row of one target: whom a "check now" asked on another engine goes to."""
    with store.engine.begin() as conn:
        now = float(conn.execute(text(f"SELECT {DB_NOW}")).scalar_one())
        rows = conn.execute(
            text(
                "SELECT tl.location, tl.holder, tl.expires_at, e.location FROM target_leases tl"
                " LEFT JOIN engines e ON e.id = tl.holder WHERE tl.target_id = :t"
                " ORDER BY tl.location"
            ),
            {"t": target_id},
        ).all()
    return [
        (r[0], r[1], r[3] or r[0]) if r[1] is not None and r[2] >= now else (r[0], None, r[0])
        for r in rows
    ]


def location_detail(store: Store, target_id: str, locations: list[str]) -> list[dict[str, Any]]:
    """Each location's latest result for one target, in the order the target names them; a
    location nobody probes now says `no-engine`."""
    with store.engine.begin() as conn:
        now = float(conn.execute(text(f"SELECT {DB_NOW}")).scalar_one())
        legs = _legs(conn, target_id, now)
    blank = {
        "state": NO_ENGINE,
        "latency_ms": None,
        "error_class": None,
        "checked_at": None,
        "engine": None,
    }
    return [legs.get(loc) or dict(blank, location=loc) for loc in locations]


def list_engines(store: Store, lease_s: float) -> list[dict[str, Any]]:
    """Every engine that ever joined: id, location, targets held, last seen, alive, leader."""
    with store.engine.begin() as conn:
        now = float(conn.execute(text(f"SELECT {DB_NOW}")).scalar_one())
        rows = conn.execute(
            text(
                "SELECT id, location, started_at, last_seen, held, leader, stopped FROM engines"
                " ORDER BY location, id"
            )
        ).all()
    return [
        {
            "id": r[0],
            "location": r[1],
            "started_at": r[2],
            "last_seen": r[3],
            "last_seen_ago_s": round(max(0.0, now - r[3]), 1),
            "targets_held": r[4] if not r[6] and now - r[3] <= lease_s * 2 else 0,
            "alive": not r[6] and now - r[3] <= lease_s,
            "leader": bool(r[5]) and not r[6] and now - r[3] <= lease_s,
            "stopped": bool(r[6]),
        }
        for r in rows
    ]


def forget_engines(store: Store, older_than_s: float) -> list[tuple[str, str]]:
    """Engines not seen for a long time leave the list (the leader's housekeeping): the (id,
    location) of each forgotten one. Leases they still name are long expired and claimable."""
    with store.engine.begin() as conn:
        rows = conn.execute(
            text(f"DELETE FROM engines WHERE last_seen < {DB_NOW} - :age RETURNING id, location"),
            {"age": older_than_s},
        ).all()
        key_handoff.forget(conn, [str(r[0]) for r in rows])
    return sorted((str(r[0]), str(r[1])) for r in rows)


def runtime_of(store: Store, target_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored runtime state of targets this engine just took over (another engine probed
    them until now): it goes on from there instead of from `unknown`."""
    if not target_ids:
        return {}
    with store.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, state, state_since, fail_streak, ok_streak, flapping, hb_state,"
                " last_check_at FROM targets WHERE id = ANY(:ids)"
            ),
            {"ids": target_ids},
        ).all()
    keys = (
        "state",
        "state_since",
        "fail_streak",
        "ok_streak",
        "flapping",
        "hb_state",
        "last_check_at",
    )
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}
