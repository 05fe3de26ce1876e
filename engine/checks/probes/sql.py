"""PostgreSQL and MySQL/MariaDB probes: log in, run `SELECT 1` (or option query=), and show the
first row as [BODY] JSON; on request, whether the server is a replica and how far it lags.

psycopg's async API and aiomysql (pure Python over PyMySQL) come with `sysalert[services]`. The
query runs in autocommit on a fresh connection that is closed after the check: a probe must not
hold a session or a transaction open between checks.
"""

from __future__ import annotations

import ssl
from typing import Any

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import client, credentials, done, enabled, guarded, number
from engine.checks.probes.service import setting as opt
from engine.checks.specs import TargetSpec

DEFAULT_QUERY = "SELECT 1"
_NO_REPLICA_PRIVILEGE = (
    "this user may not read the replica status: GRANT REPLICATION CLIENT ON *.* TO it "
    "(MariaDB 10.5+: SLAVE MONITOR)"
)
_PG_REPLICA = (
    "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN "
    "COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


def _lag_problem(lag: float | None, limit: float | None) -> tuple[str, str] | None:
    if limit is None or lag is None or lag <= limit:
        return None
    if lag == float("inf"):
        return "threshold", "replication is stopped (Seconds_Behind_Source is NULL)"
    return "threshold", f"replication lag {lag:.1f}s is over {limit:g}s"


async def probe_postgres(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Log in to PostgreSQL, run the query, judge recovery and replication lag when asked."""
    user, password, db = credentials(spec)

    async def run(start: float) -> ProbeResult:
        psycopg = client("psycopg", "postgres")
        conn = await psycopg.AsyncConnection.connect(
            host=spec.host,
            port=spec.port,
            user=user or "postgres",
            password=password,
            dbname=db or user or "postgres",
            sslmode=opt(spec, ctx, "sslmode", "prefer"),
            connect_timeout=max(1, int(ctx.timeout + 0.999)),
            autocommit=True,
            application_name="sysalert",
        )
        try:
            cur = await conn.execute(opt(spec, ctx, "query", DEFAULT_QUERY))
            row = await cur.fetchone() if cur.description else None
            body = _first_row([d.name for d in cur.description or ()], row)
            want_recovery = opt(spec, ctx, "in_recovery")
            limit = number(spec, ctx, "max_replication_lag_s")
            problem = None
            if want_recovery is not None or limit is not None:
                cur = await conn.execute(_PG_REPLICA)
                in_recovery, lag = await cur.fetchone() or (False, None)
                problem = _recovery_problem(
                    bool(in_recovery),
                    None if want_recovery is None else enabled(spec, ctx, "in_recovery"),
                ) or _lag_problem(None if lag is None else float(lag), limit)
        finally:
            await conn.close()
        return done(ctx, start, body, problem, spec.host)

    return await guarded(spec, ctx, run, "logging in and querying")


def _recovery_problem(in_recovery: bool, wanted: bool | None) -> tuple[str, str] | None:
    if wanted is None or wanted == in_recovery:
        return None
    if wanted:
        return "condition", "the server is not in recovery (a primary, not a replica)"
    return "condition", "the server is in recovery (a replica, not a primary)"


def _first_row(names: list[str], row: Any) -> Any:
    """The first row as an object of column -> value ([] when the query returned no row)."""
    if row is None:
        return [] if names else None
    if isinstance(row, dict):
        return row
    return {
        name or f"column{i + 1}": value
        for i, (name, value) in enumerate(zip(names, row, strict=False))
    }


async def probe_mysql(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Log in to MySQL/MariaDB, run the query, judge a replica's lag when asked."""
    user, password, db = credentials(spec)

    async def run(start: float) -> ProbeResult:
        aiomysql = client("aiomysql", "mysql")
        context = None
        if enabled(spec, ctx, "ssl"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = await aiomysql.connect(
            host=spec.host,
            port=spec.port,
            user=user or "root",
            password=password or "",
            db=db or None,
            connect_timeout=ctx.timeout,
            ssl=context,
            autocommit=True,
        )
        try:
            async with conn.cursor(aiomysql.DictCursor) as cur:
                await cur.execute(opt(spec, ctx, "query", DEFAULT_QUERY))
                names = [d[0] for d in cur.description or ()]
                body = _first_row(names, await cur.fetchone() if cur.description else None)
                limit = number(spec, ctx, "max_replication_lag_s")
                problem = None
                if context is not None:
                    problem = await _mysql_tls_problem(cur)
                if limit is not None and problem is None:
                    try:
                        problem = _lag_problem(await _mysql_lag(cur), limit)
                    except aiomysql.OperationalError as exc:
                        if exc.args[:1] != (1227,):
                            raise
                        problem = ("permission", _NO_REPLICA_PRIVILEGE)
        finally:
            conn.close()
        return done(ctx, start, body, problem, spec.host)

    return await guarded(spec, ctx, run, "logging in and querying")


async def _mysql_tls_problem(cur: Any) -> tuple[str, str] | None:
    """PyMySQL quietly stays in plain text when the server offers no TLS; ssl=true must not."""
    await cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    row = await cur.fetchone()
    if row and row.get("Value"):
        return None
    return "tls", "ssl=true, but the server does not offer TLS (the session is not encrypted)"


async def _mysql_lag(cur: Any) -> float | None:
    """Seconds_Behind_Source (MySQL 8.0.22+, MariaDB 10.5+ as SHOW REPLICA STATUS) or
    Seconds_Behind_Master (older); None on a server that replicates from nobody."""
    try:
        await cur.execute("SHOW REPLICA STATUS")
    except Exception:
        await cur.execute("SHOW SLAVE STATUS")
    row = await cur.fetchone()
    if not row:
        return None
    lag = row.get("Seconds_Behind_Source", row.get("Seconds_Behind_Master"))
    if lag is None:
        return float("inf")  # a replica whose SQL thread is stopped
    return float(lag)
