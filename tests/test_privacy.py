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

from engine.privacy import RedactingFilter, configure_logging, mask_id, redact

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
    ],
)
def test_redact_removes(text: str, gone: str) -> None:
    out = redact(text)
    assert gone not in out
    assert re.search(r"<(ip|ip6|url|host:port|email|id)>", out)


@pytest.mark.parametrize(
    "text",
    ["target:3f9a1c2e is down", "took 1234 ms", "version 1.2.3", "state up since 2024-01-01", "retry 3 of 8"],
)
def test_redact_keeps_harmless_text(text: str) -> None:
    assert redact(text) == text


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
        raise ConnectionError("connect to 10.77.66.55:45678 (https://secret-panel.example.org) refused")
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
    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "SYSALERT_DATA_DIR": str(data_dir), "SYSALERT_CONFIG": str(data_dir / "config.toml")}
        self.env.pop("SYSALERT_MASTER_KEY", None)
        self.logs: list[str] = []

    def __call__(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        r = subprocess.run([SA, "--debug", *args], env=self.env, capture_output=True, text=True, timeout=60)
        self.logs.append(r.stderr)
        assert r.returncode in ok, (args, r.returncode, r.stderr)
        return r.stdout


def _scan(data_dir: Path, logs: list[str], secrets: list[str]) -> None:
    files = [p for p in data_dir.iterdir() if p.is_file() and p.name != "config.toml"]
    assert any(p.name.endswith("-wal") and p.stat().st_size > 0 for p in files), files
    for p in files:
        raw = p.read_bytes()
        for s in secrets:
            assert s.encode() not in raw, f"{s!r} in plaintext in {p.name}"
    text = "\n".join(logs)
    assert "DEBUG" in text or "Traceback" in text or "re-sealed" in text  # something was captured
    for s in secrets:
        assert s not in text, f"{s!r} in the logs"


@pytest.mark.slow
def test_cli_with_debug_leaves_no_plaintext(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cli = Cli(data_dir)
    srv, port = _listener()
    cli("init")
    db = _hold_open(data_dir)
    try:
        cli("target", "add", "tcp://10.77.66.55:45678", "--name", "zebra-ledger-7", "--tag", "secret-tag-xyz",
            "--condition", "[RESPONSE_TIME] < 98765")
        cli("target", "add", "https://secret-panel.example.org:8443/healthz", "--name", "okapi-gate",
            "--option", "keyword=hush-hush-value")
        cli("target", "add", "cmd:/opt/very-secret-script --token s3cr3t", "--name", "cobalt-runner")
        cli("target", "add", "dns://secret-zone.example.net?type=MX&expect=mx.secret-zone.example.net",
            "--name", "dns-quokka")
        cli("target", "add", "[2001:db8:77::55]:45679", "--name", "ipv6-narwhal")
        out = cli("target", "add", "heartbeat://secret-backup-job?every=1d&grace=1h", "--name", "hb-tapir", "--json")
        token = re.search(r"/ping/([\w-]+)", out)
        assert token is not None
        cli("target", "add", f"tcp://127.0.0.1:{port}", "--name", "loopback-yak")
        assert "ok" in cli("check", "loopback-yak")
        cli("check", f"tcp://127.0.0.1:{port}")
        assert "zebra-ledger-7" in cli("target", "list", "--json")
        cli("target", "list")
        cli("target", "show", "okapi-gate")
        cli("status", ok=(0, 1))
        cli("target", "edit", "okapi-gate", "--interval", "1m")
        exported = tmp_path / "targets.toml"  # outside the data dir: it holds plaintext by design
        exported.write_text(cli("export"))
        cli("import", str(exported))
        cli("target", "show", "no-such-thing-here", ok=(2,))  # an error path, with a traceback under --debug
        cli("rotate-keys")
        cli("target", "remove", "ipv6-narwhal")
        secrets = [
            "10.77.66.55", "45678", "secret-tag-xyz", "98765", "secret-panel", "8443", "healthz", "hush-hush",
            "very-secret-script", "s3cr3t", "secret-zone", "2001:db8:77", "45679", "secret-backup-job",
            token.group(1), str(port), "zebra-ledger-7", "okapi-gate", "cobalt-runner", "dns-quokka",
            "ipv6-narwhal", "hb-tapir", "loopback-yak",
        ]
        _scan(data_dir, cli.logs, secrets)
    finally:
        db.close()
        srv.close()


def _has_command(name: str) -> bool:
    r = subprocess.run([SA, name, "--help"], capture_output=True, text=True, timeout=30)
    return r.returncode == 0


@pytest.mark.slow
def test_contacts_and_chat_ids_leave_no_plaintext(tmp_path: Path) -> None:
    if not _has_command("contacts"):
        pytest.skip("contacts CLI lands with the alerting issue")
    data_dir = tmp_path / "data"
    cli = Cli(data_dir)
    cli("init")
    db = _hold_open(data_dir)
    try:
        cli("contacts", "add", "walrus-oncall", "telegram:918273645")
        cli("contacts", "add", "heron-mail", "email:heron.ops@secret-mail.example")
        cli("contacts", "add", "ibis-hook", "webhook:https://hooks.secret-hooks.example:9443/x")
        cli("contacts", "list", "--json")
        secrets = ["walrus-oncall", "918273645", "heron-mail", "heron.ops", "secret-mail", "ibis-hook",
                   "secret-hooks", "9443"]
        if _has_command("subscribers"):
            cli("subscribers", "add", "564738291")
            cli("subscribers", "list", "--json")
            secrets.append("564738291")
        _scan(data_dir, cli.logs, secrets)
    finally:
        db.close()
