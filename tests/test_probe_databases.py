"""PostgreSQL and MariaDB probes against the real local servers: a throwaway database, table and
user made for the test and dropped after it, a wrong login, a closed port, a server that accepts
and never answers, and the replica checks on a primary."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.service_probes import black_hole, check, closed_port, need_service, throwaway

pytestmark = pytest.mark.anyio


@pytest.fixture
def pg_db() -> Iterator[tuple[str, str]]:
    """A throwaway database with one table and a login role; dropped after the test."""
    need_service("postgres")
    import psycopg

    db, role = throwaway(), throwaway("sysalert_r")
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")
        admin.execute(f"CREATE DATABASE {db} OWNER {role}")
    with psycopg.connect(f"host=127.0.0.1 user={role} dbname={db}", autocommit=True) as conn:
        conn.execute("CREATE TABLE service (name text, replicas int)")
        conn.execute("INSERT INTO service VALUES ('billing', 3)")
    try:
        yield db, role
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as a:
            a.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            a.execute(f"DROP ROLE IF EXISTS {role}")


async def test_postgres_up_with_the_first_row_as_body(pg_db: tuple[str, str]) -> None:
    db, role = pg_db
    spec = f"postgres://{role}:pw-{role}@127.0.0.1:5432/{db}"
    res = await check(spec)
    assert res.ok and res.facts["connected"] and res.facts["body"] == '{"?column?": 1}'
    res = await check(
        spec,
        query="SELECT name, replicas FROM service",
        conditions=["[BODY].name == billing", "[BODY].replicas > 2", "[RESPONSE_TIME] < 5000"],
    )
    assert res.ok, res.detail
    res = await check(
        spec + "?query=SELECT name FROM service", conditions=["[BODY].name == payroll"]
    )
    assert not res.ok and res.error_class == "condition"
    assert "[BODY].name (billing) == payroll" in res.detail


async def test_postgres_query_errors_and_missing_rows(pg_db: tuple[str, str]) -> None:
    db, role = pg_db
    spec = f"postgres://{role}@127.0.0.1/{db}"
    res = await check(spec, query="SELECT * FROM no_such_table")
    assert not res.ok and res.error_class == "error" and "no_such_table" in res.detail
    res = await check(spec, query="SELECT name FROM service WHERE false")
    assert res.ok and res.facts["body"] == "[]"


async def test_postgres_recovery_and_lag_on_a_primary(pg_db: tuple[str, str]) -> None:
    db, role = pg_db
    base = f"postgres://{role}@127.0.0.1/{db}"
    assert (await check(base + "?in_recovery=false")).ok  # this server is a primary
    res = await check(base + "?in_recovery=true")
    assert not res.ok and res.error_class == "condition" and "not in recovery" in res.detail
    assert (await check(base + "?max_replication_lag_s=5")).ok  # a primary lags nobody


async def test_postgres_wrong_login_closed_port_and_silence() -> None:
    need_service("postgres")
    res = await check("postgres://nosuchuser_chk:wrong@127.0.0.1:5432/test")
    assert not res.ok and res.error_class == "permission"
    assert "wrong" not in res.detail  # the password never reaches a detail
    res = await check("postgres://nosuchuser_chk:s3cr3t-pw@127.0.0.1:5432/test")
    assert "s3cr3t-pw" not in res.detail
    res = await check(f"postgres://postgres@127.0.0.1:{closed_port()}/test")
    assert not res.ok and res.error_class == "refused" and not res.facts["connected"]
    with black_hole() as port:
        start = time.monotonic()
        res = await check(f"postgres://postgres@127.0.0.1:{port}/test", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"
        assert time.monotonic() - start < 3.5


async def test_postgres_tls_when_asked() -> None:
    need_service("postgres")
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test") as conn:
        has_tls = conn.execute("SHOW ssl").fetchone() == ("on",)
    res = await check("postgres://postgres@127.0.0.1/test?sslmode=require")
    if has_tls:
        assert res.ok, res.detail
    else:
        assert not res.ok and res.error_class == "tls" and "does not support SSL" in res.detail


async def test_mysql_tls_when_asked() -> None:
    need_service("mysql")
    import pymysql

    with pymysql.connect(host="127.0.0.1", user="root") as conn, conn.cursor() as cur:
        cur.execute("SHOW VARIABLES LIKE 'have_ssl'")
        has_tls = (cur.fetchone() or ("", ""))[1] == "YES"
    res = await check("mysql://root@127.0.0.1/test?ssl=true")
    if has_tls:
        assert res.ok, res.detail
    else:  # PyMySQL would carry on in plain text: the probe must not call that up
        assert not res.ok and res.error_class == "tls" and "does not offer TLS" in res.detail


@pytest.fixture
def mysql_db() -> Iterator[tuple[str, str]]:
    """A throwaway database, table and user (password pw-USER); dropped after the test."""
    need_service("mysql")
    import pymysql

    db, user = throwaway(), throwaway("sa")[:20]
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw-{user}'")
        cur.execute(f"GRANT ALL ON {db}.* TO '{user}'@'127.0.0.1'")
        cur.execute(f"CREATE TABLE {db}.service (name varchar(20), replicas int)")
        cur.execute(f"INSERT INTO {db}.service VALUES ('billing', 3)")
    try:
        yield db, user
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
        admin.close()


async def test_mysql_up_with_the_first_row_as_body(mysql_db: tuple[str, str]) -> None:
    db, user = mysql_db
    spec = f"mysql://{user}:pw-{user}@127.0.0.1:3306/{db}"
    res = await check(spec)
    assert res.ok and res.facts["body"] == '{"1": 1}'
    res = await check(
        spec + "?query=SELECT name, replicas FROM service",
        conditions=["[BODY].name == billing", "[BODY].replicas == 3"],
    )
    assert res.ok, res.detail
    res = await check(spec + "?max_replication_lag_s=5")  # the replica status is privileged
    assert not res.ok and res.error_class == "permission" and "REPLICATION CLIENT" in res.detail
    assert (await check("mysql://root@127.0.0.1/test?max_replication_lag_s=5")).ok  # no replica


async def test_mysql_wrong_password_closed_port_and_silence(mysql_db: tuple[str, str]) -> None:
    db, user = mysql_db
    res = await check(f"mysql://{user}:wrong-password@127.0.0.1:3306/{db}")
    assert not res.ok and res.error_class == "permission" and "Access denied" in res.detail
    assert "wrong-password" not in res.detail
    res = await check(f"mysql://root@127.0.0.1:{closed_port()}/test")
    assert not res.ok and res.error_class == "refused"
    with black_hole() as port:
        res = await check(f"mysql://root@127.0.0.1:{port}/test", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"
