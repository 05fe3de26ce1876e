"""Heartbeat pings as cron wrappers send them (curl, Healthchecks-style URLs), against a real daemon.

A 200 means "recorded": each test reads the SQLite file itself, from another connection, right
after the answer, and finds the ping's result committed there.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.daemon_harness import Daemon, cli, running_daemon, wait_for

CURL = shutil.which("curl")
pytestmark = pytest.mark.needs("curl")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("pings") / "data") as d:
        yield d


@pytest.fixture
def hb(daemon: Daemon, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A fresh heartbeat target per test, its ping URL pointing at the daemon's TCP listener."""
    u = daemon.unix()
    name = "hb-" + request.node.name[5:40].replace("[", "-").replace("]", "")
    r = u.post("/api/v1/targets", json={"spec": f"heartbeat://{name}?every=1h&grace=5m"})
    assert r.status_code == 200, r.text
    t = dict(r.json())
    assert t["ping_url"].startswith(daemon.base_url + "/ping/")
    yield t
    u.delete(f"/api/v1/targets/{t['id']}")


def curl(*args: str) -> tuple[int, str]:
    """What a crontab line does: `curl -fsS -m 10 --retry 3 URL`, here reporting the status code."""
    out = subprocess.run(
        [CURL or "curl", "-sS", "-m", "10", "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=15,
    )
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def results(d: Daemon, target_id: str) -> list[tuple[Any, ...]]:
    with d.db() as db:
        return db.execute(
            "SELECT ok, value, error_class FROM results WHERE target_id = ? ORDER BY id",
            (target_id,),
        ).fetchall()


def pings(d: Daemon, target_id: str) -> list[tuple[Any, ...]]:
    """The ping rows only: a /start can also make the deadline check write a row of its own."""
    with d.db() as db:
        return db.execute(
            "SELECT ping, ok, value FROM results WHERE target_id = ? AND ping IS NOT NULL"
            " ORDER BY id",
            (target_id,),
        ).fetchall()


def state(d: Daemon, target_id: str) -> str:
    return str(d.unix().get(f"/api/v1/targets/{target_id}").json()["state"])


@pytest.mark.parametrize(
    "how",
    [["-X", "GET"], ["-X", "POST", "--data-raw", "backup done: 12 GB"], ["-I"]],
    ids=["GET", "POST", "HEAD"],
)
def test_success_ping_is_committed_before_the_200(
    daemon: Daemon, hb: dict[str, Any], how: list[str]
) -> None:
    code, body = curl(*how, hb["ping_url"])
    assert code == 200
    if how != ["-I"]:
        assert body == "OK"
    else:
        assert "content-length: 2" in body.lower()  # HEAD: headers only
    assert results(daemon, hb["id"]) == [(1, None, None)]  # committed: read straight from the file
    assert state(daemon, hb["id"]) == "up"


def test_start_then_success_records_the_run_time(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"] + "/start")[0] == 200
    assert state(daemon, hb["id"]) == "unknown"  # a start alone decides nothing
    time.sleep(0.3)
    assert curl(hb["ping_url"])[0] == 200
    rows = results(daemon, hb["id"])
    assert len(rows) == 2 and rows[1][0] == 1
    assert 0.25 < rows[1][1] < 5.0, rows  # the job's duration in seconds
    assert state(daemon, hb["id"]) == "up"


def test_fail_ping_marks_down_and_opens_an_incident(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"])[0] == 200
    assert curl("-X", "POST", "--data-raw", "tar: exit 2", hb["ping_url"] + "/fail")[0] == 200
    assert results(daemon, hb["id"])[-1] == (0, None, "exit")
    assert state(daemon, hb["id"]) == "down"
    u = daemon.unix()
    inc = wait_for(
        lambda: u.get("/api/v1/incidents", params={"target": hb["name"], "state": "firing"}).json()
    )
    assert inc and inc[0]["error_class"] == "exit"
    assert curl(hb["ping_url"])[0] == 200
    assert state(daemon, hb["id"]) == "up"
    assert wait_for(
        lambda: (
            u.get("/api/v1/incidents", params={"target": hb["name"]}).json()[0]["state"]
            == "resolved"
        )
    )


def test_exit_codes(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"] + "/0")[0] == 200
    assert state(daemon, hb["id"]) == "up"
    assert curl(hb["ping_url"] + "/1")[0] == 200
    assert state(daemon, hb["id"]) == "down"
    assert curl(hb["ping_url"] + "/0")[0] == 200
    assert results(daemon, hb["id"]) == [(1, 0.0, None), (0, 1.0, "exit"), (1, 0.0, None)]


def test_log_ping_is_recorded_without_changing_state(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"])[0] == 200
    assert curl("--data-raw", "disk at 81%", hb["ping_url"] + "/log")[0] == 200
    assert len(results(daemon, hb["id"])) == 2
    assert state(daemon, hb["id"]) == "up"


def test_bad_pings_are_refused_and_record_nothing(daemon: Daemon, hb: dict[str, Any]) -> None:
    url = hb["ping_url"]
    code, body = curl(url + "/256")
    assert (code, body.strip()) == (400, "exit status must be 0-255")
    assert curl(url + "/99999999999999999999")[0] == 400
    assert curl(url + "/-1")[0] == 404  # not a ping form, as in Healthchecks
    assert curl(daemon.base_url + "/ping/not-a-real-token")[0] == 404
    assert curl(daemon.base_url + "/ping/not-a-real-token/start")[0] == 404
    # An unknown token is 404 whatever follows it (Healthchecks looks the check up first).
    for tail in ("/256", "/99999999999999999999", "/-1", "/0", "/fail"):
        assert curl(daemon.base_url + "/ping/not-a-real-token" + tail)[0] == 404, tail
    assert curl(url + "/whatever")[0] == 404
    assert curl("-X", "PUT", url)[0] == 405
    assert curl("-X", "DELETE", url)[0] == 405
    assert results(daemon, hb["id"]) == []
    assert state(daemon, hb["id"]) == "unknown"


def test_query_string_is_ignored(daemon: Daemon, hb: dict[str, Any]) -> None:
    assert curl(hb["ping_url"] + "?rid=5b3ec0a7")[0] == 200
    assert curl(hb["ping_url"] + "/start?create=0")[0] == 200
    assert len(results(daemon, hb["id"])) == 2


def test_token_is_stored_only_sealed_and_fingerprinted(daemon: Daemon, hb: dict[str, Any]) -> None:
    token = hb["ping_url"].rsplit("/", 1)[1]
    assert curl(hb["ping_url"])[0] == 200
    raw = b"".join(p.read_bytes() for p in daemon.data_dir.glob("sysalert.db*"))
    assert token.encode() not in raw
    assert token not in daemon.log()


def test_concurrent_pings_all_committed(daemon: Daemon, hb: dict[str, Any]) -> None:
    """Group commit: many pings in flight share transactions, and every 200 is a stored row."""
    with httpx.Client(timeout=10) as c, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: c.get(hb["ping_url"]).status_code, range(64)))
    assert codes == [200] * 64
    assert len(results(daemon, hb["id"])) == 64
    stats = daemon.unix().get("/api/v1/stats").json()
    assert stats["results_written"] >= 64


# ---- the TCP listener's ping fast path, at the HTTP level ------------------------------------------
# Pings are answered inside uvicorn's protocol, without ASGI (engine/api/ping_protocol.py).
# These speak raw HTTP/1.1 to pin what that path must keep: order, keep-alive, close, HEAD.


def raw_exchange(d: Daemon, payload: bytes, answers: int, timeout: float = 10.0) -> list[bytes]:
    """Send `payload` at once on one connection and read `answers` complete HTTP responses."""
    import socket

    with socket.create_connection(("127.0.0.1", d.port), timeout=timeout) as s:
        s.sendall(payload)
        buf, out = b"", []
        while len(out) < answers:
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0:
                head = buf[:head_end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if len(buf) >= head_end + 4 + length:
                    out.append(buf[: head_end + 4 + length])
                    buf = buf[head_end + 4 + length :]
                    continue
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return out


def _path(hb: dict[str, Any]) -> bytes:
    return ("/" + hb["ping_url"].split("/", 3)[3]).encode()


def test_pipelined_requests_are_answered_in_order(daemon: Daemon, hb: dict[str, Any]) -> None:
    """A ping, a second ping, /health, an unknown token and a last ping in one packet: five answers
    in request order, and every 200 ping stored."""
    p = _path(hb)
    req = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
    payload = (
        req % p
        + req % (p + b"/0")
        + req % b"/health"
        + req % b"/ping/not-a-real-token"
        + req % (p + b"/1")
    )
    answers = raw_exchange(daemon, payload, 5)
    codes = [a.split(b" ", 2)[1] for a in answers]
    assert codes == [b"200", b"200", b"200", b"404", b"200"], answers
    assert b'"status"' in answers[2]  # /health's JSON sits third, where it was asked
    assert results(daemon, hb["id"]) == [(1, None, None), (1, 0.0, None), (0, 1.0, "exit")]


def test_one_connection_carries_many_pings(daemon: Daemon, hb: dict[str, Any]) -> None:
    with httpx.Client(timeout=10) as c:
        for _ in range(50):
            r = c.get(hb["ping_url"])
            assert (r.status_code, r.text) == (200, "OK")
            assert r.headers["content-type"] == "text/plain"
        assert c.get(daemon.base_url + "/health").status_code == 200  # same connection, via ASGI
    assert len(results(daemon, hb["id"])) == 50


def test_connection_close_and_http_1_0_close_after_the_answer(
    daemon: Daemon, hb: dict[str, Any]
) -> None:
    p = _path(hb)
    for payload in (
        b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % p,
        b"GET %s HTTP/1.0\r\n\r\n" % p,
    ):
        (answer,) = raw_exchange(daemon, payload + b"GET /health HTTP/1.1\r\n\r\n", 2)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\nOK")
        assert b"connection: close" in answer.lower()
    assert len(results(daemon, hb["id"])) == 2


def test_head_and_post_on_the_fast_path(daemon: Daemon, hb: dict[str, Any]) -> None:
    p = _path(hb)
    body = b"x" * 100_000  # a long log excerpt: read and dropped, never stored
    payload = b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n" % p + (
        b"POST %s/fail HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (p, len(body), body)
    )
    import socket

    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
        s.sendall(payload)
        buf = b""
        while buf.count(b"HTTP/1.1 ") < 2 or not buf.endswith(b"OK"):
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
    head_answer, post_answer = buf.split(b"HTTP/1.1 ")[1:]
    assert head_answer.startswith(b"200 ") and head_answer.endswith(b"\r\n\r\n")  # no body
    assert b"content-length: 2" in head_answer.lower()
    assert post_answer.startswith(b"200 ") and post_answer.endswith(b"OK")
    assert results(daemon, hb["id"]) == [(1, None, None), (0, None, "exit")]
    assert body not in b"".join(p.read_bytes() for p in daemon.data_dir.glob("sysalert.db*"))


def test_a_client_that_leaves_before_the_answer_still_gets_its_ping_stored(
    daemon: Daemon, hb: dict[str, Any]
) -> None:
    import socket

    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % _path(hb))
    s.close()
    assert wait_for(lambda: len(results(daemon, hb["id"])) == 1)
    assert curl(hb["ping_url"])[0] == 200  # the daemon is unharmed


def test_pings_on_the_unix_socket_too(daemon: Daemon, hb: dict[str, Any]) -> None:
    u = daemon.unix()
    path = _path(hb).decode()
    r = u.get(path)
    assert (r.status_code, r.text) == (200, "OK")
    assert u.head(path).status_code == 200
    assert u.get(path + "/256").status_code == 400
    assert u.get("/ping/not-a-real-token").status_code == 404
    # The ASGI path answers as the fast path does: unknown token 404 whatever follows, and a
    # path that is no ping form 404.
    assert u.get("/ping/not-a-real-token/256").status_code == 404
    assert u.get(path + "/-1").status_code == 404
    assert len(results(daemon, hb["id"])) == 2


def test_expect_100_continue_is_answered_before_the_body(
    daemon: Daemon, hb: dict[str, Any]
) -> None:
    """curl sends a large POST body (a job's log) only after `100 Continue`, or after waiting a
    second for it: the fast path answers it at once, then takes the body and the ping."""
    import socket

    body = b"line of output\n" * 2000
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
        s.sendall(
            b"POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
            % (_path(hb), len(body))
        )
        s.settimeout(0.5)  # well under curl's one-second wait
        assert s.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.settimeout(5)
        s.sendall(body)
        answer = b""
        while not answer.endswith(b"OK"):
            chunk = s.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert results(daemon, hb["id"]) == [(1, None, None)]


def test_heartbeat_facts_name_the_schedule_last_ping_and_deadline(
    daemon: Daemon, hb: dict[str, Any]
) -> None:
    u = daemon.unix()
    info = u.get(f"/api/v1/targets/{hb['id']}/heartbeat").json()
    assert info["expects"] == "every 1h with 5m grace"
    assert (info["status"], info["last_ping_at"], info["expected_at"]) == ("unknown", None, None)
    assert info["detail"].startswith("never pinged")
    assert info["ping_url"] == hb["ping_url"]
    assert info["listening"] is True  # this daemon runs --listen 127.0.0.1:PORT
    assert "which only this machine reaches" in info["hint"]  # other hosts cannot
    before = time.time()
    assert curl(hb["ping_url"])[0] == 200
    info = u.get(f"/api/v1/targets/{hb['id']}/heartbeat").json()
    assert info["status"] == "up" and before - 1 <= info["last_ping_at"] <= time.time()
    assert info["expected_at"] == info["last_ping_at"] + 3600
    assert info["down_at"] == info["expected_at"] + 300
    assert info["pings"] == 1 and info["detail"].startswith("last ping")


def test_heartbeat_facts_of_a_probe_target_are_a_clear_400(daemon: Daemon) -> None:
    u = daemon.unix()
    t = u.post("/api/v1/targets", json={"spec": "tcp://127.0.0.1:9", "name": "not-a-beat"}).json()
    try:
        r = u.get(f"/api/v1/targets/{t['id']}/heartbeat")
        assert r.status_code == 400
        assert "is a tcp check, not a heartbeat" in r.json()["error"]
    finally:
        u.delete(f"/api/v1/targets/{t['id']}")


def test_cli_ping_goes_to_the_daemon_over_its_socket(daemon: Daemon, hb: dict[str, Any]) -> None:
    """`backup.sh; sysalert ping backup $?` on the daemon's host: no URL, no TCP needed."""
    name = hb["name"]
    rc, out, err = cli(daemon.data_dir, "ping", name, "start")
    assert rc == 0, err
    assert out.startswith(f"pinged {name} (start): ") and "run started" in out
    time.sleep(0.2)
    rc, out, err = cli(daemon.data_dir, "ping", name, "0")
    assert rc == 0 and "last ping" in out, err
    rows = pings(daemon, hb["id"])  # committed before the CLI returned
    assert [r[:2] for r in rows] == [("start", 1), ("exit:0", 1)], rows
    assert 0.15 < rows[1][2] < 5.0, rows  # the run time since the start
    assert state(daemon, hb["id"]) == "up"
    assert cli(daemon.data_dir, "ping", name, "fail")[0] == 0
    assert state(daemon, hb["id"]) == "down"
    rc, out, err = cli(daemon.data_dir, "ping", name, "--json")
    assert rc == 0 and '"status": "up"' in out, err
    assert state(daemon, hb["id"]) == "up"
    rc, _, err = cli(daemon.data_dir, "ping", name, "256")
    assert rc == 2 and "'256' is not a ping" in err
    rc, _, err = cli(daemon.data_dir, "ping", "no-such-beat")
    assert rc != 0 and "no target 'no-such-beat'" in err
    assert len(pings(daemon, hb["id"])) == 4  # the refused ones recorded nothing


# ---- ping bodies: a long log is dropped, the ping recorded; past 10 MiB it is refused ------------
# Healthchecks records a ping whose body is over its 100 kB and keeps the first 100 kB; SysAlert
# keeps none of it, but must not lose the ping (a cron job that ran fine would page someone).
LONG_LOG = b"0123456789abcdef" * (150_000 // 16)  # 150 kB: over Healthchecks' PING_BODY_LIMIT


def _post(path: bytes, body: bytes, chunked: bool) -> bytes:
    """One POST as raw HTTP/1.1, its body in 64 kB chunks or behind a Content-Length."""
    head = b"POST %s HTTP/1.1\r\nHost: x\r\n" % path
    if not chunked:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    step = 65536
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step])
        for i in range(0, len(body), step)
    ]
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(parts) + b"0\r\n\r\n"


def _refused(d: Daemon, request: bytes) -> bytes:
    """Send `request` from a thread while reading what comes back until the server closes: the
    server answers before it has read all of it, then closes, so the sender may see a reset."""
    import socket
    import threading

    s = socket.create_connection(("127.0.0.1", d.port), timeout=30)

    def send() -> None:
        with contextlib.suppress(OSError):  # the server closed after its 413, our bytes unread
            s.sendall(request)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            data += chunk
    sender.join(30)
    s.close()
    return data


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("kind", ["", "/log"], ids=["success", "log"])
def test_a_ping_with_a_long_body_is_recorded_and_the_connection_kept(
    daemon: Daemon, hb: dict[str, Any], kind: str, chunked: bool
) -> None:
    """150 kB posted to /ping/<token> or /log: 200 OK, the ping stored, and the same connection
    answers the next request (keep-alive after the body was read and dropped)."""
    p = _path(hb)
    payload = (
        _post(p + kind.encode(), LONG_LOG, chunked) + b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p
    )
    answers = raw_exchange(daemon, payload, 2)
    assert len(answers) == 2, answers
    for a in answers:
        assert a.startswith(b"HTTP/1.1 200 ") and a.endswith(b"\r\n\r\nOK"), a[:300]
        assert b"connection: close" not in a.lower()
    assert [r[0] for r in pings(daemon, hb["id"])] == [kind[1:] or "success", "success"]
    assert state(daemon, hb["id"]) == "up"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_ping_body_over_10_mib_is_refused_and_not_recorded(
    daemon: Daemon, hb: dict[str, Any], chunked: bool
) -> None:
    from engine.core.limits import PING_DISCARD_MAX

    body = b"z" * (12 * 1024 * 1024)
    assert len(body) > PING_DISCARD_MAX
    answer = _refused(daemon, _post(_path(hb), body, chunked))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert b"connection: close" in answer.lower()
    assert b"10485760 bytes" in answer and b"not recorded" in answer
    assert pings(daemon, hb["id"]) == []
    assert state(daemon, hb["id"]) == "unknown"
    assert curl(hb["ping_url"])[0] == 200  # the listener is fine afterwards
    assert len(pings(daemon, hb["id"])) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_refused_client_that_sends_all_before_reading_gets_the_413_and_no_reset(
    daemon: Daemon, hb: dict[str, Any], chunked: bool
) -> None:
    """As curl does with a chunked upload: it keeps sending after the 413 went out. The daemon
    half-closes and drops what still comes (RFC 9112 9.6) instead of resetting the connection,
    which made curl report no answer at all."""
    import socket

    from engine.core.limits import PING_DISCARD_MAX

    size = 12 * 1024 * 1024 if chunked else PING_DISCARD_MAX + 1
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as s:
        s.sendall(_post(_path(hb), b"z" * size, chunked))  # no reset while sending
        answer = b""
        while chunk := s.recv(65536):  # a clean end of stream, no reset
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"tail -c 100000\n"), answer
    assert pings(daemon, hb["id"]) == []


def test_after_a_413_the_daemon_drops_at_most_10_mib_more_for_at_most_2_seconds(
    daemon: Daemon, hb: dict[str, Any]
) -> None:
    """The staged close is bounded: a client that goes on sending, or holds the connection open
    without sending, is cut off (a reset) past PING_DISCARD_MAX more bytes or LINGER_S."""
    import socket

    from engine.api.ping_protocol import LINGER_S
    from engine.core.limits import PING_DISCARD_MAX

    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (
        _path(hb),
        12 * 1024 * 1024,
    )

    def refused(s: socket.socket) -> None:
        s.sendall(head)
        answer = b""
        while chunk := s.recv(65536):  # the 413, then the daemon's half-close
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 "), answer

    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as s:
        refused(s)
        sent, piece = 0, b"z" * 65536
        with contextlib.suppress(OSError):
            while sent < 3 * PING_DISCARD_MAX:
                s.sendall(piece)
                sent += len(piece)
        assert sent < 3 * PING_DISCARD_MAX, "the daemon never closed a connection sending on"
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as s:
        refused(s)
        time.sleep(LINGER_S + 1.5)
        with pytest.raises(OSError):  # the daemon closed it: the first byte is answered by RST
            for _ in range(20):
                s.sendall(b"z")
                time.sleep(0.1)
    assert pings(daemon, hb["id"]) == []


def test_a_long_body_behind_a_pipelined_request_takes_the_asgi_path_alike(
    daemon: Daemon, hb: dict[str, Any]
) -> None:
    """Pipelined behind /health the pings go through ASGI (server.PingFastPath): the same rules."""
    p = _path(hb)
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    payload = health + _post(p + b"/log", LONG_LOG, True) + _post(p, LONG_LOG, False)
    answers = raw_exchange(daemon, payload + b"GET %s/0 HTTP/1.1\r\nHost: x\r\n\r\n" % p, 4)
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200"] * 4, answers
    assert [r[0] for r in pings(daemon, hb["id"])] == ["log", "success", "exit:0"]
    answer = _refused(daemon, health + _post(p, b"z" * (12 * 1024 * 1024), True))
    assert answer.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 413 " in answer, answer[-400:]
    assert len(pings(daemon, hb["id"])) == 3  # the refused one recorded nothing


def test_a_client_that_leaves_mid_body_records_nothing(daemon: Daemon, hb: dict[str, Any]) -> None:
    """A ping is a complete request: one whose client leaves halfway through a long body is not
    recorded, on the fast path as behind a pipelined request (ASGI)."""
    import socket

    p = _path(hb)
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (p, len(LONG_LOG))
    for before in (b"", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
            s.sendall(before + head + LONG_LOG[:50_000])
            if before:  # the /health answer: the ping's ASGI cycle is reading its body now
                assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)
    time.sleep(0.5)
    assert pings(daemon, hb["id"]) == []
    assert curl(hb["ping_url"])[0] == 200
    assert len(pings(daemon, hb["id"])) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_curl_posting_a_job_log(
    daemon: Daemon, hb: dict[str, Any], tmp_path: Any, chunked: bool
) -> None:
    """`curl --data-binary @job.log URL` as a cron wrapper runs it: 150 kB recorded, 12 MiB not."""
    log_file = tmp_path / "job.log"
    log_file.write_bytes(LONG_LOG)
    how = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    assert curl(*how, "--data-binary", f"@{log_file}", hb["ping_url"]) == (200, "OK")
    assert curl(*how, "--data-binary", f"@{log_file}", hb["ping_url"] + "/log") == (200, "OK")
    assert [r[0] for r in pings(daemon, hb["id"])] == ["success", "log"]
    assert state(daemon, hb["id"]) == "up"
    log_file.write_bytes(b"z" * (12 * 1024 * 1024))
    code, body = curl(*how, "--data-binary", f"@{log_file}", hb["ping_url"] + "/fail")
    assert code == 413 and "not recorded" in body, (code, body)
    assert len(pings(daemon, hb["id"])) == 2
    assert state(daemon, hb["id"]) == "up"  # the refused /fail changed nothing
