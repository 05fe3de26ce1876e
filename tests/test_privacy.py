"""No plaintext address, port, URL, command, name or chat id in the store files or in any log line."""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.security.privacy import RedactingFilter, configure_logging, mask_id, redact

SA = str(Path(sys.executable).parent / "sysalert")


# ---- redact -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("connect to 10.77.66.55 failed", "10.77.66.55"),
        ("peer 10.0.0.1:5432 reset", "10.0.0.1"),
        ("peer 10.0.0.1:5432 reset", "5432"),
        ("ipv6 2001:db8::1 down", "2001:db8::1"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 y", "8a2e:0370"),
        ("[2001:db8::1]:443 refused", "443"),
        ("loopback ::1 only", "::1"),
        ("mapped ::ffff:10.77.66.55 x", "77.66"),
        ("mapped [::ffff:10.0.0.1]:8443 x", "8443"),
        ("host db.internal:5432 refused", "db.internal"),
        ("host secret-panel.example.org:8443 refused", "8443"),
        ("localhost:8080 x", "8080"),
        ("GET https://secret-panel.example.org:8443/healthz?t=1 500", "secret-panel"),
        ("GET https://secret-panel.example.org:8443/healthz?t=1 500", "healthz"),
        ("webhook http://user:pw@hooks.example/x", "user:pw"),
        ("mail ops@example.com bounced", "ops@example.com"),
        ("chat 123456789 read it", "123456789"),
        ("supergroup -1001234567890", "1001234567890"),
        ("chat_id=987654321", "987654321"),
        ("('10.77.66.55', 45678) refused", "45678"),
        # Bare host names, @usernames and phone numbers in groups (issue 15).
        ("cannot reach db-primary.corp.example now", "db-primary"),
        ("failed to resolve host 'db-internal-7731.example.invalid'", "db-internal-7731"),
        ("peer api.telegram.org closed", "telegram.org"),
        ("resolved WWW.Example.COM.", "Example"),
        ("sent to @alice_ops", "alice_ops"),
        ("reply from @ZebraOnCall42: ack", "ZebraOnCall42"),
        ("login as +49 170 123 4567", "170 123"),
        ("login as +1 (555) 123-4567", "555"),
        ("phone +44 7700-900123 set", "7700"),
        # A single-label host has no top-level domain: caught where a driver quotes it.
        ("failed to resolve host 'pgmain': Name or service not known", "pgmain"),
        ('connection to server "pgmain" failed', "pgmain"),
        ("conninfo host=pgmain port=5432 user=alice", "alice"),
        # ... and the port beside it: libpq's `port=N` and its quoted server's `, port N`.
        ("conninfo host=pgmain port=5433 user=alice", "5433"),
        ('connection to server at "127.0.0.1", port 5433 failed', "5433"),
        ('connection to server at "pgmain" (10.0.0.7), port 6432 failed', "6432"),
    ],
)
def test_redact_removes(text: str, gone: str) -> None:
    out = redact(text)
    assert gone not in out
    assert re.search(r"<(ip|ip6|url|host:port|email|id|host|user|phone|redacted)>", out)


@pytest.mark.parametrize(
    "text",
    [
        "target:3f9a1c2e is down",
        "took 1234 ms",
        "version 1.2.3",
        "state up since 2024-01-01",
        "retry 3 of 8",
        # What the new host, @user and phone rules must not touch.
        "engine.notify.dispatcher: 3 sent",
        "sysalert_tui.app started",
        "read config.toml:12: bad key",
        'File "/srv/engine/engine.py", line 154, in _load',
        "version 1.2.3 and python3.11",
        "reload /etc/sysalert/config.toml and sysalert.db",
        "at 16:38:16 (12:00 UTC) e.g. i.e. S.M.A.R.T.",
        "latency +12 ms, retry +3",
        "std::vector and a:b:c",
        "@ok and foo@bar",
        "the host is down; Host: header sent",
    ],
)
def test_redact_keeps_harmless_text(text: str) -> None:
    assert redact(text) == text


def test_redact_names_what_it_replaced() -> None:
    assert redact("db-primary.corp.example down") == "<host> down"
    assert redact("to @alice_ops") == "to <user>"
    assert redact("+49 170 123 4567") == "<phone>"


def test_mask_id() -> None:
    assert mask_id(123456789) == "****6789"
    assert mask_id("-1001234567890") == "****7890"
    assert mask_id("1234") == "****" and mask_id("") == "****"


# ---- the filter on real handlers ----------------------------------------------------------------
@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.privacy.capture")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def test_filter_redacts_args(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("probe %s to %s:%d failed for chat %s", "tcp", "10.77.66.55", 45678, 123456789)
    logger.warning("url %r", "https://secret-panel.example.org:8443/healthz")
    logger.debug("%(host)s answered", {"host": "10.1.2.3"})
    out = stream.getvalue()
    for secret in ("10.77.66.55", "45678", "123456789", "secret-panel", "healthz", "10.1.2.3"):
        assert secret not in out
    assert "probe tcp to <ip>" in out and "answered" in out


def test_filter_redacts_exceptions(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise ConnectionError(
            "connect to 10.77.66.55:45678 (https://secret-panel.example.org) refused"
        )
    except ConnectionError:
        logger.exception("check failed for %s", "ops@example.com")
    out = stream.getvalue()
    assert "Traceback" in out and "ConnectionError" in out
    for secret in ("10.77.66.55", "45678", "secret-panel", "ops@example.com"):
        assert secret not in out


def test_configure_logging_installs_the_filter_once() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("DEBUG", stream)
        configure_logging("DEBUG", stream)  # again: replaces, does not stack
        ours = [h for h in root.handlers if getattr(h, "_sysalert", False)]
        assert len(ours) == 1 and any(isinstance(f, RedactingFilter) for f in ours[0].filters)
        logging.getLogger("engine.test").debug("dial 10.77.66.55:45678")
        assert "10.77.66.55" not in stream.getvalue() and "<ip>" in stream.getvalue()
    finally:
        for h in list(root.handlers):
            if getattr(h, "_sysalert", False):
                root.removeHandler(h)
        for h in saved[0]:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(saved[1])


# ---- the whole CLI, then the raw files and every log line ----------------------------------------
def _listener() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return srv, srv.getsockname()[1]


def _hold_open(data_dir: Path) -> sqlite3.Connection:
    """A reader that keeps the WAL open, so the -wal and -shm files stay on disk to be scanned."""
    db = sqlite3.connect(data_dir / "sysalert.db")
    db.execute("SELECT count(*) FROM sqlite_master").fetchall()
    return db


class Cli:
    """Runs `sysalert --debug ...` as real processes; keeps every line they wrote to stderr."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {
            **os.environ,
            "SYSALERT_DATA_DIR": str(data_dir),
            "SYSALERT_CONFIG": str(data_dir / "config.toml"),
        }
        self.env.pop("SYSALERT_MASTER_KEY", None)
        self.logs: list[str] = []

    def many(self, *calls: tuple[str, ...], fails: tuple[str, ...] = ()) -> list[str]:
        """Several commands at once, as several users (or a user and a script) would.

        Every command must exit 0, except those whose last word is in `fails`: they must exit 2.
        """
        procs = [
            subprocess.Popen(
                [SA, "--debug", *args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in calls
        ]
        outs = []
        for args, p in zip(calls, procs, strict=True):
            out, err = p.communicate(timeout=60)
            self.logs.append(err)
            assert p.returncode == (2 if args[-1] in fails else 0), (args, p.returncode, err)
            outs.append(out)
        return outs

    def __call__(self, *args: str) -> str:
        return self.many(args)[0]


def _pattern(secret: str) -> re.Pattern[bytes]:
    """The secret as bytes; a number only where no hex digit touches it.

    The store is full of hex fingerprints and ids, and the WAL holds many copies of them, so a
    4- or 5-digit port turns up inside one by chance. A leaked port has non-hex neighbours.
    """
    body = re.escape(secret.encode())
    return re.compile(
        rb"(?<![0-9a-fA-F])" + body + rb"(?![0-9a-fA-F])" if secret.isdigit() else body
    )


def test_scan_pattern_finds_leaks_but_not_hex() -> None:
    assert _pattern("45678").search(b'{"port": 45678}') and _pattern("45678").search(b"host:45678/")
    assert not _pattern("45678").search(b"3f945678a1") and not _pattern("8443").search(b"e8443f")
    assert _pattern("secret-panel").search(b"xxsecret-panelxx")


def _scan(data_dir: Path, logs: list[str], secrets: list[str]) -> None:
    files = [p for p in data_dir.iterdir() if p.is_file() and p.name != "config.toml"]
    assert any(p.name.endswith("-wal") and p.stat().st_size > 0 for p in files), files
    text = "\n".join(logs).encode()
    for s in secrets:
        pat = _pattern(s)
        for p in files:
            assert not pat.search(p.read_bytes()), f"{s!r} in plaintext in {p.name}"
        assert not pat.search(text), f"{s!r} in the logs"


TARGET_SECRETS = [
    "10.77.66.55",
    "45678",
    "secret-tag-xyz",
    "98765",
    "secret-panel",
    "8443",
    "healthz",
    "hush-hush",
    "very-secret-script",
    "s3cr3t",
    "secret-zone",
    "2001:db8:77",
    "45679",
    "secret-backup-job",
    "zebra-ledger-7",
    "okapi-gate",
    "cobalt-runner",
    "dns-quokka",
    "ipv6-narwhal",
    "hb-tapir",
    "loopback-yak",
    "db-primary-pangolin",
    "corp.example",
    "pangolin-db",
]
CONTACT_SECRETS = [
    "walrus-oncall",
    "918273645",
    "heron-mail",
    "heron.ops",
    "secret-mail",
    "ibis-hook",
    "secret-hooks",
    "9443",
    "marten_secret_ops",
    "marten-tg",
    "7700900123",
    "ocelot-phone",
    "564738291",
]
IMPORTED = """
[[targets]]
spec = "cmd:/opt/very-secret-script --token s3cr3t"
name = "cobalt-runner"

[[targets]]
spec = "dns://secret-zone.example.net?type=MX&expect=mx.secret-zone.example.net"
name = "dns-quokka"

[[targets]]
spec = "[2001:db8:77::55]:45679"
name = "ipv6-narwhal"

[[targets]]
spec = "tcp://127.0.0.1:{port}"
name = "loopback-yak"

[[targets]]
spec = "heartbeat://secret-backup-job?every=1d&grace=1h"
name = "hb-tapir"
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One CLI session over a fresh data dir: targets of every kind, contacts and a subscriber."""
    tmp = tmp_path_factory.mktemp("privacy")
    data_dir = tmp / "data"
    cli = Cli(data_dir)
    srv, port = _listener()
    cli.many(("init",))
    db = _hold_open(data_dir)
    imported = tmp / "more.toml"  # outside the data dir: written by the user, plaintext by design
    imported.write_text(IMPORTED.format(port=port))
    calls: list[tuple[str, ...]] = [
        (
            "target",
            "add",
            "tcp://10.77.66.55:45678",
            "--name",
            "zebra-ledger-7",
            "--tag",
            "secret-tag-xyz",
            "--condition",
            "[RESPONSE_TIME] < 98765",
        ),
        (
            "target",
            "add",
            "https://secret-panel.example.org:8443/healthz",
            "--name",
            "okapi-gate",
            "--option",
            "keyword=hush-hush-value",
        ),
        # A bare host name that does not resolve: the driver's and resolver's text names it.
        ("target", "add", "tcp://db-primary-pangolin.corp.example:5432", "--name", "pangolin-db"),
        ("import", str(imported)),
        ("contacts", "add", "walrus-oncall", "telegram:918273645"),
        ("contacts", "add", "heron-mail", "email:heron.ops@secret-mail.example"),
        ("contacts", "add", "ibis-hook", "webhook:https://hooks.secret-hooks.example:9443/x"),
        ("contacts", "add", "marten-tg", "telegram:@marten_secret_ops"),
        ("contacts", "add", "ocelot-phone", "telegram:+447700900123"),
        ("subscribers", "add", "564738291"),
    ]
    cli.many(*calls)
    reads = [
        ("check", "loopback-yak"),
        ("target", "list", "--json"),
        ("target", "remove", "ipv6-narwhal"),
        ("target", "show", "no-such-thing-here"),  # an error: a traceback under --debug
        ("contacts", "list", "--json"),
    ]
    outs = cli.many(*reads, fails=("no-such-thing-here",))
    # A failing check of the bare host, under --debug: it exits 1 (its own stdout is the user's
    # terminal and may name the target; its stderr is a log and must not).
    failed = subprocess.run(
        [SA, "--debug", "check", "pangolin-db"],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1 and "FAILED" in failed.stdout, failed.stdout + failed.stderr
    cli.logs.append(failed.stderr)
    assert (
        outs[0].startswith("ok") and "zebra-ledger-7" in outs[1] and outs[2].startswith("removed")
    )
    token = re.search(r"/ping/([\w-]+)", outs[1])
    assert token is not None
    cli("rotate-keys")
    try:
        yield {
            "data_dir": data_dir,
            "logs": cli.logs,
            "token": token.group(1),
            "port": port,
        }
    finally:
        db.close()
        srv.close()


@pytest.mark.slow
def test_cli_with_debug_leaves_no_plaintext(session: dict) -> None:
    logs = "\n".join(session["logs"])
    assert "Traceback" in logs and "re-sealed" in logs  # the logs were captured
    secrets = [*TARGET_SECRETS, session["token"], str(session["port"])]
    _scan(session["data_dir"], session["logs"], secrets)


@pytest.mark.slow
def test_contacts_and_chat_ids_leave_no_plaintext(session: dict) -> None:
    _scan(session["data_dir"], session["logs"], CONTACT_SECRETS)


# ---- the store's errors: the class of failure, never the driver's text ----------------------------
@pytest.mark.parametrize(
    ("url", "secret", "said"),
    [
        (
            "postgresql+psycopg://u@db-internal-7731.example.invalid:5432/x",
            "db-internal-7731",
            "the database host name does not resolve",
        ),
        ("postgresql+psycopg://u@127.0.0.1:1/x", "127.0.0.1", "cannot reach the database server"),
    ],
)
def test_describe_error_keeps_only_the_class(url: str, secret: str, said: str) -> None:
    """The driver's first line names host and port; /health (no key on TCP) and API 503 bodies
    show describe_error's text, so it must name neither."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from engine.store.db import describe_error, open_db

    engine = open_db(url)
    try:
        with pytest.raises(OperationalError) as info, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert secret in str(info.value)  # the driver does name it
    described = describe_error(info.value)
    assert described == said
    assert secret not in described and "5432" not in described and ":1" not in described


@pytest.mark.slow
def test_unreachable_database_host_is_not_printed_or_logged(tmp_path: Path) -> None:
    """`sysalert --daemon` against a database host that does not resolve: one line, exit 1, and
    the host name nowhere in stdout, stderr or the data directory's logs."""
    from tests.daemon_harness import child_env, init_store

    data = tmp_path / "data"
    init_store(data)
    env = child_env(data)
    env["SYSALERT_DATABASE_URL"] = "postgresql+psycopg://u@db-internal-7731.example.invalid:5432/x"
    for argv in (["--daemon"], ["--daemon", "--debug"], ["status"]):
        out = subprocess.run(
            [sys.executable, "-m", "sysalert_tui", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 1, (argv, out.stderr)
        assert "the store cannot be opened" in out.stderr
        logs = "".join(p.read_text(errors="replace") for p in data.glob("*.log"))
        for text in (out.stdout, out.stderr, logs):
            assert "db-internal-7731" not in text and "example.invalid" not in text, argv
