"""Nothing fails silently: every background task of a real daemon crashes on purpose
(SYSALERT_FAULT=raise:<task>:<n>) and is logged with its traceback, shown in /health (503 naming
it), `sysalert status` and /metrics, restarted, and healthy again; a Telegram bridge that cannot
start is red and opens one `engine` incident that reaches a real webhook; the supervisor's own
rules (backoff, crash loop, alarm) in process."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import anyio
import httpx
import pytest

from engine.runtime.supervisor import Supervisor
from tests.conftest import free_port
from tests.daemon_harness import init_store, start_daemon, sysalert, wait_for
from tests.test_channel_webhook import Receiver

TASKS = (
    "scheduler",
    "writer",
    "housekeeping",
    "store-lock",
    "alerting",
    "rules",
    "escalation",
    "dispatcher",
    "telegram",
    "benchmarks",
    "watchdog",
)


def listen(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def health(base_url: str) -> tuple[int, dict]:
    r = httpx.get(f"{base_url}/health", timeout=10)
    return r.status_code, r.json()


@pytest.mark.slow
def test_every_task_that_crashes_is_logged_shown_restarted_and_healthy_again(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    init_store(data_dir)
    port = free_port()
    service = listen(port)
    with Receiver() as hooks:
        assert (
            sysalert(data_dir, "contacts", "add", "oncall", f"webhook:{hooks.url}/hook").returncode
            == 0
        )
        added = sysalert(
            data_dir, "target", "add", f"tcp://127.0.0.1:{port}", "--name", "db",
            "--interval", "1s", "--timeout", "1s",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        fault = ",".join(f"raise:{t}:3" for t in TASKS)
        daemon = start_daemon(data_dir, env={"SYSALERT_FAULT": fault})
        try:
            code, body = health(daemon.base_url)
            assert code == 503
            assert set(TASKS) <= set(body["failing"]), body["failing"]
            assert body["parts"]["tasks"]["failing"]["dispatcher"] == "InjectedFault"

            st = sysalert(data_dir, "status", "--json")
            assert st.returncode == 1, st.stderr
            failing = json.loads(st.stdout)["engine"]["failing"]
            assert failing.get("alerting") == "InjectedFault", failing
            text = sysalert(data_dir, "status")
            assert "engine FAILING:" in text.stdout and "dispatcher (InjectedFault)" in text.stdout

            # Three crashes each (1, 2, 4 s of backoff), then 5 s of stable running: green.
            assert wait_for(lambda: health(daemon.base_url)[0] == 200, timeout=60, step=0.5), (
                health(daemon.base_url)
            )
            log = daemon.log()
            for task in TASKS:
                assert re.search(rf"task {task} \(.*\) crashed: InjectedFault; restart 1", log)
                assert f"injected fault 3 of 3 in task {task}" in log  # the traceback's last line
                assert f"task {task} restarting (restart 3)" in log
            assert log.count("Traceback (most recent call last)") >= 3 * len(TASKS)
            metrics = httpx.get(f"{daemon.base_url}/metrics", timeout=10).text
            for task in TASKS:
                assert f'sysalert_task_restarts_total{{task="{task}"}} 3.0' in metrics
                assert f'sysalert_task_failing{{task="{task}"}} 0.0' in metrics
            ok = sysalert(data_dir, "status", "--json")
            assert json.loads(ok.stdout)["engine"]["failing"] == {}

            # The restarted tasks really work: probes, alerting and delivery carry an alert.
            service.close()
            assert wait_for(lambda: hooks.requests, timeout=30), "no alert after the restarts"
            assert hooks.requests[0].json()["target_name"] == "db"
        finally:
            daemon.stop()


BROKEN_TELETHON = """\
# An installed Telethon the code does not fit: what 1.39 did to a name only 1.43 has.
raise AttributeError("module 'telethon.errors' has no attribute 'ChatSendPlainForbiddenError'")
"""


@pytest.mark.slow
def test_a_telegram_bridge_that_cannot_start_is_red_and_pages_through_a_webhook(
    tmp_path: Path,
) -> None:
    from engine.config.settings import load_settings
    from engine.runtime.bootstrap import open_store
    from engine.store import telegram_session as session_store

    data_dir = tmp_path / "data"
    init_store(data_dir, '[telegram]\napi_id = 12345\napi_hash = "0123456789abcdef"\n')
    settings = load_settings(data_dir / "config.toml", data_dir, env={})
    store = open_store(settings)
    try:  # a logged-in account, as `telegram login` leaves it
        session_store.save(store, "1" + "A" * 352, 777000111, "@ops")
    finally:
        store.close()
    shadow = tmp_path / "shadow"
    (shadow / "telethon").mkdir(parents=True)
    (shadow / "telethon" / "__init__.py").write_text(BROKEN_TELETHON)
    root = Path(__file__).resolve().parent.parent
    with Receiver() as hooks:
        assert (
            sysalert(data_dir, "contacts", "add", "oncall", f"webhook:{hooks.url}/hook").returncode
            == 0
        )
        assert sysalert(data_dir, "contacts", "add", "tg", "telegram:@someone").returncode == 0
        daemon = start_daemon(data_dir, env={"PYTHONPATH": f"{shadow}:{root}"})
        started = time.monotonic()
        try:

            def red() -> dict | None:
                code, body = health(daemon.base_url)
                return body if code == 503 and "telegram" in body["failing"] else None

            body = wait_for(red, timeout=20)
            assert body, health(daemon.base_url)
            assert body["parts"]["telegram"] == {
                "ok": False,
                "state": "cannot start: AttributeError",
            }
            tg = sysalert(data_dir, "telegram", "status")
            assert tg.returncode == 1
            assert "FAILING, cannot start: AttributeError" in tg.stdout, tg.stdout
            st = sysalert(data_dir, "status")
            assert "engine FAILING:" in st.stdout and "telegram (" in st.stdout
            # The dispatcher says why Telegram cannot send, not "log in".
            nt = sysalert(data_dir, "notify", "test", "tg")
            assert "cannot start (AttributeError)" in nt.stdout + nt.stderr, nt.stdout + nt.stderr
            assert "ChatSendPlainForbiddenError" in daemon.log()  # the traceback, not only a name

            # A minute of failing: one `engine` incident, to the contact whose channel works.
            assert wait_for(lambda: hooks.requests, timeout=120, step=0.5), "no engine incident"
            assert time.monotonic() - started >= 55
            alert = hooks.requests[0].json()
            assert alert["kind"] == "alert" and alert["severity"] == "critical"
            assert "Telegram bridge" in alert["summary"] and "AttributeError" in alert["summary"]
            incs = json.loads(sysalert(data_dir, "incidents", "list", "--json").stdout)
            engine_incs = [i for i in incs if i["state"] == "firing"]
            assert len(engine_incs) == 1, incs
            assert [n["channel"] for n in engine_incs[0]["notifications"]] == ["webhook"]
            time.sleep(3)  # still failing, retried: no second incident, no second page
            assert len(hooks.requests) == 1
            assert health(daemon.base_url)[0] == 503
        finally:
            daemon.stop()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def task_failing(self, name: str, summary: str) -> None:
        self.calls.append(("failing", name))

    async def task_recovered(self, name: str) -> None:
        self.calls.append(("recovered", name))


@pytest.mark.anyio
async def test_a_crash_loop_stays_red_backs_off_capped_and_raises_one_alarm() -> None:
    alarms = Recorder()
    sup = Supervisor(
        alarms, backoff_initial=0.05, backoff_max=0.2, stable_after=0.5, alarm_after=0.6
    )
    starts: list[float] = []
    crashes = 8

    async def flaky() -> None:
        starts.append(time.monotonic())
        if len(starts) <= crashes:
            raise ValueError("boom")
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        sup.start(tg, "flaky", flaky)
        tg.start_soon(sup.monitor, 0.02)
        with anyio.fail_after(10):
            while len(starts) <= crashes:
                assert sup.failing() in ({"flaky": "ValueError"}, {})
                await anyio.sleep(0.01)
        assert sup.failing() == {"flaky": "ValueError"}  # restarted, but not yet stable
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert gaps[0] < 0.2 and max(gaps) < 0.2 + 0.15  # doubling, capped at 0.2 s
        assert gaps[3] >= 0.19
        assert alarms.calls == [("failing", "flaky")]  # one alarm, however many crashes
        with anyio.fail_after(5):
            while sup.failing():
                await anyio.sleep(0.02)
        await anyio.sleep(0.1)
        assert alarms.calls == [("failing", "flaky"), ("recovered", "flaky")]
        assert sup.report()["flaky"]["restarts"] == crashes
        assert sup.report()["flaky"]["state"] == "running"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_task_that_returns_is_a_failure_too() -> None:
    sup = Supervisor(None, backoff_initial=0.05, stable_after=10)
    runs: list[int] = []

    async def quits() -> None:
        runs.append(1)

    async with anyio.create_task_group() as tg:
        sup.start(tg, "quits", quits)
        with anyio.fail_after(5):
            while len(runs) < 3:
                await anyio.sleep(0.01)
        assert sup.failing() == {"quits": "TaskExited"}
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_the_engine_incident_reaches_every_working_channel_once_and_resolves(
    db_url: str,
    keyring,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    from engine.runtime.engine import Engine, EngineAlarms
    from engine.store.store import Store

    settings.engine.seed_local_targets = False
    store = Store.open(db_url, keyring)
    try:
        with Receiver() as hooks:
            engine = Engine(settings, store)
            engine.commands.add_contact("first", f"webhook:{hooks.url}/first")
            engine.commands.add_contact("second", f"webhook:{hooks.url}/second", level=2)
            engine.commands.add_contact("tg", "telegram:@someone")
            alarms = EngineAlarms(engine)
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                await alarms.task_failing("telegram", "SysAlert engine: Telegram bridge fails")
                await alarms.task_failing("telegram", "SysAlert engine: Telegram bridge fails")
                with anyio.fail_after(15):
                    while len(hooks.requests) < 2:
                        await anyio.sleep(0.05)
                await anyio.sleep(1.0)
                assert sorted(r.path for r in hooks.requests) == ["/first", "/second"]
                body = hooks.requests[0].json()
                assert body["kind"] == "alert" and body["severity"] == "critical"
                assert body["summary"] == "SysAlert engine: Telegram bridge fails"
                await alarms.task_recovered("telegram")
                with anyio.fail_after(15):
                    while len(hooks.requests) < 4:
                        await anyio.sleep(0.05)
                assert {r.json()["kind"] for r in hooks.requests[2:]} == {"resolved"}
                engine.stop()
            (inc,) = engine.commands.list_incidents()
            assert inc["state"] == "resolved"
            channels = {n["channel"] for n in inc["notifications"]}
            assert channels == {"webhook"}  # not through the bridge that is down
    finally:
        store.close()
