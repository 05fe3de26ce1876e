"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager, started here) sends its
webhook to a real SysAlert daemon: fire, a group of several alerts, ack makes a silence there,
resolve removes it. Alerts are fired at Alertmanager's own API (POST /api/v2/alerts)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, need
from tests.daemon_harness import Daemon, init_store, start_daemon, wait_for

AM_BIN = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
KEY = "am-test-key-" + "x" * 24


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, httpx.Client]]:
    need(
        "prometheus-alertmanager",
        Path(AM_BIN).exists(),
        "apt-get install -y prometheus-alertmanager (.ci/run installs it)",
    )
    base = tmp_path_factory.mktemp("am")
    am_port, sa_port = free_port(), free_port()
    init_store(
        base / "data",
        f'[api]\napi_keys = ["{KEY}"]\n\n[alertmanager]\nurl = "http://127.0.0.1:{am_port}"\n'
        'ack_silence = "2h"\n',
    )
    (base / "alertmanager.yml").write_text(
        f"""route:
  receiver: sysalert
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sysalert
    webhook_configs:
      - url: http://127.0.0.1:{sa_port}/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {KEY}
""",
        encoding="utf-8",
    )
    log = open(base / "alertmanager.log", "wb")  # noqa: SIM115 - open for the process' life
    am = subprocess.Popen(
        [
            AM_BIN,
            f"--config.file={base / 'alertmanager.yml'}",
            f"--storage.path={base / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    d = start_daemon(base / "data", port=sa_port)
    amc = httpx.Client(base_url=f"http://127.0.0.1:{am_port}", timeout=5)

    def ready() -> bool:
        try:
            return amc.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    try:
        assert wait_for(ready, 20), (base / "alertmanager.log").read_text()[-2000:]
        yield d, amc
    finally:
        amc.close()
        d.stop()
        am.terminate()
        am.wait(10)
        log.close()


def fire(amc: httpx.Client, labels: list[dict[str, str]], ended: bool = False) -> None:
    now = datetime.now(UTC)
    alerts: list[dict[str, Any]] = [
        {
            "labels": lb,
            "annotations": {"summary": f"{lb['alertname']} test", "runbook": "https://x/rb"},
            "generatorURL": "http://prometheus.test:9090/graph?g0.expr=up",
            "startsAt": _iso(now - timedelta(minutes=5)),
            **({"endsAt": _iso(now - timedelta(seconds=1))} if ended else {}),
        }
        for lb in labels
    ]
    r = amc.post("/api/v2/alerts", json=alerts)
    assert r.status_code == 200, r.text


def incidents(d: Daemon, state: str | None = None) -> list[dict[str, Any]]:
    params = {"state": state} if state else {}
    r = d.unix().get("/api/v1/incidents", params=params)
    assert r.status_code == 200, r.text
    return [i for i in r.json() if i["kind"] == "alertmanager"]


def named(d: Daemon, text: str, state: str | None = None) -> list[dict[str, Any]]:
    return [i for i in incidents(d, state) if text in i["summary"]]


def silences(amc: httpx.Client, state: str = "active") -> list[dict[str, Any]]:
    return [s for s in amc.get("/api/v2/silences").json() if s["status"]["state"] == state]


def test_fire_becomes_one_incident_with_labels_annotations_and_source(world: Any) -> None:
    d, amc = world
    lb = {"alertname": "DiskFull", "instance": "node-7:9100", "severity": "critical"}
    fire(amc, [lb])
    found = wait_for(lambda: named(d, "DiskFull", "firing"), 15)
    assert len(found) == 1, d.log()[-2000:]
    inc = found[0]
    assert inc["severity"] == "critical"
    assert inc["target"] == "DiskFull on node-7:9100"
    for part in ("instance=node-7:9100", "runbook=https://x/rb", "http://prometheus.test:9090"):
        assert part in inc["summary"]
    # Alertmanager sends the group again (a second alert joins it): still one incident.
    fire(amc, [lb, {**lb, "instance": "node-8:9100"}])
    assert wait_for(lambda: len(named(d, "DiskFull", "firing")) == 2, 15)
    assert len(named(d, "node-7:9100")) == 1


def test_group_of_several_alerts_in_one_message(world: Any) -> None:
    d, amc = world
    fire(amc, [{"alertname": "HighLoad", "instance": f"web-{i}"} for i in range(4)])
    assert wait_for(lambda: len(named(d, "HighLoad", "firing")) == 4, 15), d.log()[-2000:]
    assert {i["target"] for i in named(d, "HighLoad")} == {f"HighLoad on web-{i}" for i in range(4)}


def test_ack_makes_a_silence_there_and_resolve_removes_it(world: Any) -> None:
    d, amc = world
    lb = {"alertname": "CertExpiry", "instance": "mail:443", "severity": "warning"}
    fire(amc, [lb])
    inc = wait_for(lambda: named(d, "CertExpiry", "firing"), 15)[0]
    t0 = time.time()
    r = d.unix().post(f"/api/v1/incidents/{inc['id']}/ack", json={"by": "alice"})
    assert r.status_code == 200, r.text
    made = wait_for(lambda: silences(amc), 10)
    assert made, d.log()[-2000:]
    print(f"ack -> silence in Alertmanager: {time.time() - t0:.2f}s")
    sil = made[0]
    assert {(m["name"], m["value"]) for m in sil["matchers"]} == set(lb.items())
    assert "alice" in sil["comment"] and inc["id"] in sil["comment"]
    ends = datetime.fromisoformat(sil["endsAt"].replace("Z", "+00:00")).timestamp()
    assert 7000 < ends - time.time() < 7300  # ack_silence = 2h
    # Alertmanager itself now holds the alert back.
    alerts = amc.get("/api/v2/alerts", params={"filter": "alertname=CertExpiry"}).json()
    assert alerts and alerts[0]["status"]["state"] == "suppressed"
    assert sil["id"] in alerts[0]["status"]["silencedBy"]
    shown = named(d, "CertExpiry")[0]["alertmanager"]
    assert shown["silence_id"] == sil["id"] and shown["silence_error"] is None
    # The alert ends in Prometheus: resolved here, and the silence there goes.
    fire(amc, [lb], ended=True)
    assert wait_for(lambda: named(d, "CertExpiry", "resolved"), 15), d.log()[-2000:]
    assert wait_for(lambda: not silences(amc), 10)
    assert [s["id"] for s in silences(amc, "expired")] == [sil["id"]]


def test_silence_in_sysalert_silences_there_until_then(world: Any) -> None:
    d, amc = world
    lb = {"alertname": "QueueBacklog", "instance": "mq-1"}
    fire(amc, [lb])
    inc = wait_for(lambda: named(d, "QueueBacklog", "firing"), 15)[0]
    r = d.unix().post(f"/api/v1/incidents/{inc['id']}/silence", json={"duration": "30m"})
    assert r.status_code == 200, r.text
    made = wait_for(lambda: [s for s in silences(amc) if "QueueBacklog" in str(s["matchers"])], 10)
    assert made
    ends = datetime.fromisoformat(made[0]["endsAt"].replace("Z", "+00:00")).timestamp()
    assert abs(ends - (time.time() + 1800)) < 30
    r = d.unix().post(f"/api/v1/incidents/{inc['id']}/resolve", json={})
    assert r.status_code == 200
    assert wait_for(
        lambda: not [s for s in silences(amc) if "QueueBacklog" in str(s["matchers"])], 10
    )
