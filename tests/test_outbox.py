"""The durable outbox against real receivers on 127.0.0.1: a receiver that is down and then up gets
every notification exactly once; a process killed between write and send, or between send and
mark-sent, loses nothing and sends once (the idempotent webhook repeats its key so the receiver can
drop the duplicate); per-channel rate limits hold a burst back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest

from engine.notify import outbox
from engine.notify.dispatcher import TokenBucket
from engine.runtime.bootstrap import init_data_dir
from engine.security.crypto import load_key_ring
from tests.alerting_harness import Rig, make_rig
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


class Hook:
    """A webhook receiver on a fixed port that can go down and come back, and that drops
    duplicates by Idempotency-Key the way the webhook's documentation asks receivers to."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[tuple[str, dict]] = []  # (idempotency key, body) as received
        self.processed: dict[str, dict] = {}
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Hook:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                outer.requests.append((key, body))
                outer.processed.setdefault(key, body)
                reply = json.dumps({"id": f"m{len(outer.requests)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def hook():
    h = Hook(free_port())
    yield h
    h.down()


def outages(rig: Rig, n: int) -> list[str]:
    """n targets went down a minute ago: n incidents, one alert row per contact each. Then the
    engine's clock is the real one, which the dispatcher and the worker processes go by."""
    for i in range(n):
        rig.results(rig.target(f"t{i}"), "xx", -60)
    rig.go_live()
    return [i["id"] for i in rig.incidents("firing")]


def rows(rig: Rig) -> list:
    return rig.notes()


async def run_dispatcher_until(rig: Rig, done, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            tg.start_soon(rig.engine.alerting.dispatcher.run)
            while not done():
                await anyio.sleep(0.02)
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_receiver_down_then_up_gets_every_notification_once(
    settings, db_url, keyring, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "BACKOFF_BASE_S", 0.1)
    monkeypatch.setattr(outbox, "BACKOFF_FLOOR_S", 0.05)
    with make_rig(settings, db_url, keyring) as rig:
        rig.contact("hooks", f"webhook:{hook.url}")
        incs = outages(rig, 3)
        assert [r.status for r in rows(rig)] == ["pending"] * 3

        # Down: nothing listens. Every row is tried, fails, and waits with backoff.
        await run_dispatcher_until(rig, lambda: all(r.attempts >= 2 for r in rows(rig)))
        failed = rig.incidents("firing")[0]["notifications"][0]
        # Waiting for its next try (a try the stopped dispatcher had claimed is put back).
        assert failed["status"] == "pending" and failed["sent_at"] is None
        assert "ConnectError" in failed["error"]
        assert all(r.next_attempt_at > r.created_at for r in rows(rig))

        hook.up()  # back: the dispatcher's next attempts get through
        await run_dispatcher_until(rig, lambda: all(r.status == "sent" for r in rows(rig)))
    assert len(hook.requests) == 3, "every notification exactly once"
    assert sorted(b["incident_id"] for _, b in hook.requests) == sorted(incs)
    assert len({k for k, _ in hook.requests}) == 3
    sent = rows(rig)
    assert {r.message_id for r in sent} == {"m1", "m2", "m3"}
    assert all(r.attempts >= 3 and r.sent_at and r.last_error_s is None for r in sent)


@pytest.mark.anyio
async def test_a_row_that_keeps_failing_is_given_up_after_max_attempts(
    settings, db_url, keyring, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "BACKOFF_BASE_S", 0.05)
    monkeypatch.setattr(outbox, "BACKOFF_FLOOR_S", 0.01)
    with make_rig(settings, db_url, keyring, max_attempts=3) as rig:
        rig.contact("hooks", f"webhook:{hook.url}")
        outages(rig, 1)
        await run_dispatcher_until(rig, lambda: rows(rig)[0].status == "dead")
        row = rows(rig)[0]
        assert row.attempts == 3 and row.sent_at is None
        assert rig.engine.alerting.dispatcher.failed >= 3  # and maybe the report's own try
        # Given up: a delivery incident says so (to the other contacts; here only this one).
        (trouble,) = [i for i in rig.incidents("firing") if i["kind"] == "delivery"]
        assert "Alerts cannot reach contact hooks over webhook" in trouble["summary"]


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (12, 900.0), (30, 900.0)):
        delays = [outbox.backoff(attempt) for _ in range(300)]
        assert all(0.5 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.6 and len(set(delays)) > 200  # jittered, spread out
    assert outbox.backoff(1, retry_after=120.0) == 120.0
    assert outbox.backoff(1, retry_after=0.0) <= 2.0


def test_token_bucket_refills_at_its_rate() -> None:
    t = [0.0]
    b = TokenBucket(6, clock=lambda: t[0])  # 6 a minute: a burst of 6, then one every 10 s
    assert [b.take() for _ in range(6)] == [0.0] * 6
    assert b.take() == pytest.approx(10.0)
    t[0] = 9.0
    assert b.take() == pytest.approx(1.0)
    t[0] = 10.0
    assert b.take() == 0.0


@pytest.mark.anyio
async def test_per_channel_rate_limit_holds_back_a_burst(settings, db_url, keyring) -> None:
    from tests.test_channel_webhook import Receiver

    with (
        Receiver() as hooks,
        Receiver() as chat,
        make_rig(settings, db_url, keyring, channel_rate_per_minute=3) as rig,
    ):
        rig.contact("hooks", f"webhook:{hooks.url}/h")
        rig.contact("chat", f"discord:{chat.url}/s")
        outages(rig, 5)
        assert len(rows(rig)) == 10
        start = time.time()
        await run_dispatcher_until(
            rig,
            lambda: (
                sum(r.status == "sent" for r in rows(rig)) >= 6
                and all(r.status != "sending" for r in rows(rig))
            ),
        )
        await anyio.sleep(0.6)  # another dispatcher round: still nothing more goes out
        held = [r for r in rows(rig) if r.status != "sent"]
    assert len(hooks.requests) == 3 and len(chat.requests) == 3  # each channel its own budget
    assert sorted(r.channel for r in held) == ["discord", "discord", "webhook", "webhook"]
    for r in held:  # held back, not failed: no attempt counted, due when a token is
        assert r.status == "pending" and r.attempts == 0
        assert r.next_attempt_at >= start + 15


# ---- crashes: a real process dies at a named point --------------------------------------------


def worker(env: dict[str, str], fault: str | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(env)
    if fault:
        e["SYSALERT_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "tests.outbox_worker", "--lease", "0.5"],
        env=e,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def crash_store(settings, data_dir: Path):
    """A data dir with key, config and SQLite store, as `sysalert init` leaves it; the env for
    worker processes. (Leases on PostgreSQL are covered by the tests above, on both stores.)"""
    settings.engine.seed_local_targets = False
    init_data_dir(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSALERT_")}
    env.update(
        SYSALERT_DATA_DIR=str(data_dir),
        SYSALERT_CONFIG=str(data_dir / "config.toml"),
        PYTHONPATH=str(ROOT),
    )
    return settings, load_key_ring(data_dir), env


def test_killed_between_write_and_send_sends_once_after_restart(crash_store, hook: Hook) -> None:
    settings, keys, env = crash_store
    hook.up()
    with make_rig(settings, settings.database_url, keys) as rig:
        rig.contact("hooks", f"webhook:{hook.url}")
        (iid,) = outages(rig, 1)
        crashed = worker(env, "before-send")
        assert crashed.returncode == 70, crashed.stderr
        assert hook.requests == []
        (row,) = rows(rig)
        assert row.status == "sending" and row.sent_at is None  # claimed, never sent

        again = worker(env)
        assert again.returncode == 0, again.stderr
        assert [b["incident_id"] for _, b in hook.requests] == [iid]
        (row,) = rows(rig)
        assert row.status == "sent" and row.attempts == 1 and row.lease_owner is None


def test_killed_between_send_and_mark_sent_resends_with_the_same_key(
    crash_store, hook: Hook
) -> None:
    settings, keys, env = crash_store
    hook.up()
    with make_rig(settings, settings.database_url, keys) as rig:
        rig.contact("hooks", f"webhook:{hook.url}")
        (iid,) = outages(rig, 1)
        crashed = worker(env, "after-send")
        assert crashed.returncode == 70, crashed.stderr
        assert len(hook.requests) == 1  # delivered, but the process died before recording it
        assert rows(rig)[0].status == "sending"

        again = worker(env)  # after the lease runs out the row is sent again...
        assert again.returncode == 0, again.stderr
        (first, _), (second, body) = hook.requests
        assert first == second == f"{iid}-alert-1"  # ...with the same key
        assert list(hook.processed) == [first] and body["incident_id"] == iid
        (row,) = rows(rig)
        assert row.status == "sent"
