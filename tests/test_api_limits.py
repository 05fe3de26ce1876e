"""Hostile sizes and values against a real daemon and the real CLI: a huge body is refused unread
(413) and leaves the daemon's memory where it was, ping bodies past 10 MiB are refused (up to
that they are read and dropped, the ping recorded), and every value
outside engine.core.limits is a 400 (API) or exit 2 (CLI) that names the field and the allowed range."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from engine.core.limits import (
    CONDITIONS_MAX,
    HEADERS_MAX,
    NAME_MAX,
    PING_BODY_MAX,
    PING_DISCARD_MAX,
    TAGS_MAX,
)
from tests.daemon_harness import Daemon, cli, init_store, running_daemon, start_daemon

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(
        tmp_path_factory.mktemp("limits") / "data", "[api]\nmax_body = 65536\n"
    ) as d:
        yield d
    assert "Traceback" not in d.log(), d.log()[-2000:]


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> httpx.Client:
    return daemon.unix()


def _error(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "hint"}
    text = f"{body['error']} ({body['hint']})"
    for w in words:
        assert w in text, text
    return text


def _rss_mb(daemon: Daemon) -> float:
    return float(psutil.Process(daemon.proc.pid).memory_info().rss) / 2**20


# ---- bodies ------------------------------------------------------------------------------------
def test_a_body_over_max_body_is_refused_unread_and_memory_stays(
    daemon: Daemon, api: httpx.Client
) -> None:
    before = _rss_mb(daemon)
    big = json.dumps({"spec": "tcp://127.0.0.1:9", "conditions": ["[STATUS] == 200"] * 2_000_000})
    assert len(big) > 30_000_000
    for _ in range(3):
        _error(api.post("/api/v1/targets", content=big), 413, "65536 bytes", "max_body")

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once it passes the limit
        yield b'{"spec": "tcp://127.0.0.1:9", "name": "'
        for _ in range(200):
            yield b"x" * 4096

    _error(api.post("/api/v1/targets", content=chunks()), 413, "larger than")
    grown = _rss_mb(daemon) - before
    assert grown < 40, f"the daemon grew {grown:.0f} MB on refused bodies"
    assert api.get("/api/v1/targets").status_code == 200  # and still answers


def test_lists_and_strings_are_bounded(api: httpx.Client) -> None:
    spec = "tcp://127.0.0.1:9"
    cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        ({"conditions": ["[STATUS] == 200"] * (CONDITIONS_MAX + 1)}, ("conditions", "50")),
        ({"tags": [f"t{i}" for i in range(TAGS_MAX + 1)]}, ("tags", "32")),
        ({"name": "n" * (NAME_MAX + 1)}, ("name", "80")),
        ({"tags": ["x" * 65]}, ("tags", "64")),
    ]
    for extra, words in cases:
        _error(api.post("/api/v1/targets", json={"spec": spec, **extra}), 400, *words)
    headers = {f"X-H{i}": "v" for i in range(HEADERS_MAX + 1)}
    _error(
        api.post(
            "/api/v1/targets",
            json={"spec": "http://127.0.0.1:9/", "options": {"headers": headers}},
        ),
        400,
        "headers",
        "32",
    )
    long_reason = {"what": "all", "reason": "r" * 501}
    _error(api.post("/api/v1/maintenance/on", json=long_reason), 400, "reason", "500")


# ---- values ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"spec": "tcp://127.0.0.1:9", "name": "\\ud800"}', ("surrogate",)),
        ('{"spec": "tcp://127.0.0.1:9", "tags": ["\\udfff"]}', ("surrogate",)),
        ('{"spec": "tcp://127.0.0.1:9", "name": "a\\u0000b"}', ("control character",)),
        ('{"spec": "tcp://127.0.0.1:9", "name": "ab\\u202ecd"}', ("bidirectional",)),
        ('{"spec": "tcp://127.0.0.1:9", "tags": ["a\\u2066"]}', ("tag", "bidirectional")),
        # Invisible characters make a second "db-prod" that reads as the first.
        ('{"spec": "tcp://127.0.0.1:9", "name": "db\\u200b-prod"}', ("invisible", "U+200B")),
        ('{"spec": "tcp://127.0.0.1:9", "name": "db\\u00adprod"}', ("invisible", "U+00AD")),
        ('{"spec": "tcp://127.0.0.1:9", "tags": ["\\ufeffweb"]}', ("tag", "invisible")),
        ('{"spec": "tcp://127.0.0.1:9", "interval": 1e308}', ("interval", "allowed", "7d")),
        ('{"spec": "tcp://127.0.0.1:9", "interval": "999999999999999999d"}', ("7d",)),
        ('{"spec": "tcp://127.0.0.1:9", "interval": "10s", "timeout": "30s"}', ("timeout",)),
        ('{"spec": "http://127.0.0.1:9/a b"}', ("spaces",)),
        ('{"spec": "icmp://127.0.0.1?count=0"}', ("count", "1 to 100")),
        ('{"spec": "icmp://127.0.0.1?count=101"}', ("count", "1 to 100")),
        ('{"spec": "system://disk:/no/such/mount/here"}', ("does not exist",)),
        (
            '{"spec": "http://127.0.0.1:9/", "options": {"max_latency_ms": -5}}',
            ("max_latency_ms", "0 to"),
        ),
        (
            '{"spec": "http://127.0.0.1:9/", "options": {"header.X-A": "a\\r\\nB: c"}}',
            ("header", "control character"),
        ),
        ('{"spec": "heartbeat://job?every=0s"}', ("every", "1s")),
        # JSON true is no number: pydantic's lax mode read it as 1 (a 1 s interval).
        ('{"spec": "tcp://127.0.0.1:9", "interval": true}', ("interval", "true")),
        ('{"spec": "tcp://127.0.0.1:9", "failure_threshold": false}', ("failure_threshold",)),
    ],
)
def test_bad_values_are_400_naming_the_field(
    api: httpx.Client, body: str, words: tuple[str, ...]
) -> None:
    _error(api.post("/api/v1/targets", content=body.encode()), 400, *words)


def test_query_parameters_name_themselves_and_their_range(api: httpx.Client) -> None:
    api.post("/api/v1/targets", json={"spec": "tcp://127.0.0.1:9", "name": "q-target"})
    for path in ("/api/v1/uptimes", "/api/v1/targets/q-target/series"):
        for bad in ("1e308", "-1", "nan", "inf"):
            _error(api.get(path, params={"seconds": bad}), 400, "seconds", "1 to")
    for path in ("/api/v1/history", "/api/v1/incidents", "/api/v1/targets/q-target/results"):
        for bad in ("-1", "0", "1001", "1e3", "lots"):
            _error(api.get(path, params={"limit": bad}), 400, "limit", "1 to 1000")
    text = _error(api.get("/api/v1/history", params={"before": "nan"}), 400, "before")
    assert "limit" not in text
    _error(api.get("/api/v1/targets/q-target/series", params={"buckets": "9999"}), 400, "buckets")
    assert api.get("/api/v1/uptimes", params={"seconds": "3600"}).status_code == 200


def test_durations_elsewhere_have_ranges(api: httpx.Client) -> None:
    _error(api.post("/api/v1/maintenance/on", json={"what": "all", "duration": "0s"}), 400, "1s")
    _error(api.post("/api/v1/maintenance/on", json={"what": "all", "duration": "400d"}), 400)
    _error(
        api.post(
            "/api/v1/rules",
            json={
                "name": "r",
                "metric": "latency",
                "comparison": ">",
                "threshold": 1,
                "duration": "60d",
            },
        ),
        400,
        "duration",
        "30d",
    )


def test_slack_addresses_must_be_slack_webhooks(api: httpx.Client) -> None:
    for address in ("slack:https://example.org/hook", "slack:http://hooks.slack.com/services/x"):
        _error(
            api.post("/api/v1/contacts", json={"name": "s", "address": address}),
            400,
            "hooks.slack.com",
        )
    ok = {"name": "s", "address": "slack:https://hooks.slack.com/services/T0/B0/XX"}
    assert api.post("/api/v1/contacts", json=ok).status_code == 200


# ---- pings ---------------------------------------------------------------------------------------
def _raw(daemon: Daemon, request: bytes) -> bytes:
    """Send `request` as is and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_ping_bodies_stop_at_10_mib(daemon: Daemon, api: httpx.Client) -> None:
    hb = api.post("/api/v1/targets", json={"spec": "heartbeat://log-job?every=1h"}).json()
    url = hb["ping_url"]
    ok = httpx.post(url + "/log", content=b"x" * (PING_BODY_MAX + 1), timeout=10)
    assert ok.status_code == 200  # over Healthchecks' 100 kB: dropped, the ping recorded
    path = url.split(str(daemon.port), 1)[1]
    announced = _raw(
        daemon,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {PING_DISCARD_MAX + 1}\r\n\r\n".encode(),
    )
    assert announced.startswith(b"HTTP/1.1 413") and b"10485760 bytes" in announced
    chunk = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
    chunked = b"".join(
        [
            f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode(),
            *(chunk for _ in range(PING_DISCARD_MAX // 0x10000 + 1)),
        ]  # 10 MiB + 64 kB in chunks, no Content-Length: refused as it arrives
    )
    # The rest is not read: the 413 may arrive, or the reset of the unread bytes first.
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        assert _raw(daemon, chunked).startswith(b"HTTP/1.1 413")
    assert httpx.get(url, timeout=10).status_code == 200  # the listener is fine afterwards


def test_long_ping_bodies_are_dropped_as_they_arrive(daemon: Daemon, api: httpx.Client) -> None:
    """Eight pings each posting a body just under PING_DISCARD_MAX at once: all recorded, and
    while all eight have sent all but their last 64 kB the daemon has not grown by the 80 MiB
    they sent, as nothing of a body is kept."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    hb = api.post("/api/v1/targets", json={"spec": "heartbeat://big-logs?every=1h"}).json()
    path = hb["ping_url"].split(str(daemon.port), 1)[1].encode()
    piece = b"log line\n" * 6554  # 64 kB
    pieces = PING_DISCARD_MAX // len(piece)
    sent, go = threading.Barrier(9, timeout=60), threading.Event()

    def post(_: int) -> bytes:
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=60) as s:
            s.sendall(
                b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % (path, pieces * len(piece))
            )
            for _ in range(pieces - 1):
                s.sendall(piece)
            sent.wait()
            go.wait(60)
            s.sendall(piece)
            return s.recv(65536)

    before = _rss_mb(daemon)
    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(post, range(8))
        try:
            sent.wait()
            time.sleep(1.0)  # let the daemon read what sits in its socket buffers
            grown = _rss_mb(daemon) - before
        finally:
            go.set()
        assert all(a.startswith(b"HTTP/1.1 200 ") and a.endswith(b"OK") for a in answers)
    assert grown < 40, f"the daemon grew {grown:.0f} MB while dropping 80 MiB of ping bodies"
    info = api.get(f"/api/v1/targets/{hb['id']}/heartbeat").json()
    assert info["pings"] == 8 and info["status"] == "up", info


# ---- the CLI refuses the same with exit 2 ----------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ("target", "add", "tcp://127.0.0.1:9", "--interval", "999999999999999999d"),
        ("target", "add", "tcp://127.0.0.1:9", "--interval", "10s", "--timeout", "1m"),
        ("target", "add", "tcp://127.0.0.1:9", "--name", "a\u202eb"),
        ("maintenance", "on", "all", "--for", "0s"),
        ("contacts", "add", "s", "slack:https://example.org/x"),
    ],
)
def test_the_cli_refuses_with_exit_2(daemon: Daemon, argv: tuple[str, ...]) -> None:
    rc, _, err = cli(daemon.data_dir, *argv)
    assert rc == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err


def test_limit_concurrency_answers_503_beyond_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_store(data_dir, "[api]\nlimit_concurrency = 10\n")
    d = start_daemon(data_dir)
    held = []
    try:
        assert httpx.get(f"{d.base_url}/health", timeout=5).status_code in (200, 503)
        for _ in range(12):  # idle connections count against the limit
            held.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        r = httpx.get(f"{d.base_url}/api/v1/targets", timeout=5)
        assert r.status_code == 503
        for s in held:
            s.close()
        held.clear()
        ok = _wait_status(f"{d.base_url}/metrics", 200)
        assert ok, "the listener did not recover once connections closed"
    finally:
        for s in held:
            s.close()
        d.stop()


def _wait_status(url: str, status: int) -> bool:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(url, timeout=5).status_code == status:
            return True
        time.sleep(0.1)
    return False


# ---- NUL in a reference (PostgreSQL cannot even compare text holding one) ------------------------
def test_a_nul_in_a_reference_is_400_on_every_store(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "data"
    init_store(data_dir, f'\n[general]\ndatabase_url = "{db_url}"\n')
    d = start_daemon(data_dir)
    try:
        api = d.unix()
        for path in ("/api/v1/history", "/api/v1/incidents", "/api/v1/states"):
            _error(api.get(path, params={"target": "a\0b"}), 400, "target", "NUL")
        for path, body in (
            ("/api/v1/targets", {"spec": "tcp://127.0.0.1:9", "depends_on": "\0"}),
            ("/api/v1/maintenance/off", {"what": "\0x"}),
            ("/api/v1/maintenance/on", {"what": "x\0", "duration": "1h"}),
        ):
            _error(api.post(path, json=body), 400, "NUL")
    finally:
        d.stop()
    assert "Traceback" not in d.log() and "failed: DataError" not in d.log(), d.log()[-2000:]


def test_an_import_nested_too_deeply_is_bad_input(
    daemon: Daemon, api: httpx.Client, tmp_path: Path
) -> None:
    """tomllib recurses once per level: 5,000 brackets were an internal error (RecursionError)
    from the API and the CLI; a config file said what was wrong, and so does an import now."""
    deep = "a = " + "[" * 5000 + "]" * 5000 + "\n"
    _error(api.post("/api/v1/targets/import", json={"text": deep}), 400, "nested", "32")
    parsed_but_deep = '[[targets]]\nspec = "tcp://127.0.0.1:9"\nx = ' + "[" * 40 + "]" * 40
    _error(api.post("/api/v1/targets/import", json={"text": parsed_but_deep}), 400, "32")
    path = tmp_path / "deep.toml"
    path.write_text(deep)
    rc, _, err = cli(daemon.data_dir, "import", str(path))
    assert rc == 2 and "nested" in err and "internal error" not in err, err
