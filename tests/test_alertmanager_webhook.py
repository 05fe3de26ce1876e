"""POST /api/v1/alertmanager on a real daemon: the API key (X-API-Key or Bearer), clear 400s
and a 413 for bad bodies (never a 5xx), dedup by fingerprint, new annotations update the text,
label maintenance holds alerts back, the alert pages contacts and escalates like any incident,
and the incident resolves; the SLA report answers over the API too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_harness import Daemon, init_store, start_daemon, sysalert, wait_for
from tests.test_channel_webhook import Receiver

KEY = "wh-test-key-" + "y" * 24


def hook(status: str, *alerts: dict[str, Any], truncated: int = 0) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": truncated,
        "status": status,
        "receiver": "sysalert",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://am.local:9093",
        "alerts": list(alerts),
    }


def alert(fp: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "instance": "node-7:9100", **labels},
        "annotations": {"summary": "disk almost full"},
        "startsAt": "2026-12-06T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom.local:9090/graph",
        "fingerprint": fp,
    }


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, rx: Receiver) -> Iterator[Daemon]:
    data = tmp_path_factory.mktemp("wh") / "data"
    init_store(data, f'[api]\napi_keys = ["{KEY}"]\n\n[alerts]\nescalation_after = "2s"\n')
    for name, level in (("first", 1), ("second", 2)):
        r = sysalert(
            data, "contacts", "add", name, f"webhook:{rx.url}/{name}", "--level", str(level)
        )
        assert r.returncode == 0, r.stderr
    d = start_daemon(data)
    yield d
    d.stop()


def am_incidents(d: Daemon, fp: str) -> list[dict[str, Any]]:
    r = d.unix().get("/api/v1/incidents")
    return [i for i in r.json() if i.get("alertmanager", {}).get("fingerprint") == fp]


def test_the_key_is_asked_for_and_bearer_works(daemon: Daemon) -> None:
    body = hook("firing", alert("aa01"))
    assert daemon.tcp().post("/api/v1/alertmanager", json=body).status_code == 401
    assert daemon.tcp("wrong").post("/api/v1/alertmanager", json=body).status_code == 401
    r = daemon.tcp(KEY, bearer=True).post("/api/v1/alertmanager", json=body)
    assert r.status_code == 200 and r.json()["opened"] == 1, r.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({**hook("firing"), "version": "3"}).encode(), "version"),
        (json.dumps({"version": "4", "status": "firing"}).encode(), "alerts"),
        (json.dumps(hook("firing", {**alert("x"), "fingerprint": "../x"})).encode(), "fingerprint"),
        (json.dumps(hook("firing", {**alert("x"), "labels": {"a": 1}})).encode(), "labels"),
        (json.dumps(hook("weird", alert("x"))).encode(), "status"),
        (json.dumps(hook("firing", *[alert(f"f{i}") for i in range(1001)])).encode(), "alerts"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_bad_bodies_get_a_clear_400(daemon: Daemon, body: bytes, says: str) -> None:
    r = daemon.tcp(KEY).post(
        "/api/v1/alertmanager", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert says in r.json()["error"] and r.json()["hint"]


def test_an_oversized_body_is_refused_unread(daemon: Daemon) -> None:
    r = daemon.tcp(KEY).post("/api/v1/alertmanager", content=b" " * (5 * 1024 * 1024))
    assert r.status_code == 413 and "max_alerts" in r.json()["hint"]


def test_dedup_update_page_escalate_and_resolve(daemon: Daemon, rx: Receiver) -> None:
    c = daemon.tcp(KEY)
    assert c.post("/api/v1/alertmanager", json=hook("firing", alert("bb02"))).json()["opened"] == 1
    again = c.post("/api/v1/alertmanager", json=hook("firing", alert("bb02"))).json()
    assert again["opened"] == 0 and again["unchanged"] == 1
    changed = alert("bb02")
    changed["annotations"]["description"] = "95% used on /var"
    assert c.post("/api/v1/alertmanager", json=hook("firing", changed)).json()["updated"] == 1
    [inc] = am_incidents(daemon, "bb02")
    assert inc["state"] == "firing" and "95% used on /var" in inc["summary"]
    assert inc["alertmanager"]["labels"]["instance"] == "node-7:9100"
    # Level 1 is paged with the alert's text; unread, level 2 after escalation_after.
    first = wait_for(
        lambda: [s for s in rx.requests if s.path == "/first" and inc["id"] in s.body.decode()], 10
    )
    assert first and "http://prom.local:9090/graph" in first[0].json()["summary"]
    assert wait_for(
        lambda: [s for s in rx.requests if s.path == "/second" and inc["id"] in s.body.decode()], 15
    ), "no escalation to level 2"
    done = c.post("/api/v1/alertmanager", json=hook("resolved", alert("bb02", "resolved")))
    assert done.json()["resolved"] == 1
    assert am_incidents(daemon, "bb02")[0]["state"] == "resolved"
    # Firing again later is a new incident; the store kept one row per incident.
    c.post("/api/v1/alertmanager", json=hook("firing", alert("bb02")))
    assert sorted(i["state"] for i in am_incidents(daemon, "bb02")) == ["firing", "resolved"]


def test_label_maintenance_holds_matching_alerts_back(daemon: Daemon) -> None:
    c = daemon.tcp(KEY)
    on = sysalert(daemon.data_dir, "maintenance", "on", "alertname=DiskFull,instance=db-3:9100")
    assert on.returncode == 0, on.stderr
    held = c.post("/api/v1/alertmanager", json=hook("firing", alert("cc03", instance="db-3:9100")))
    assert held.json()["in_maintenance"] == 1 and not am_incidents(daemon, "cc03")
    other = c.post("/api/v1/alertmanager", json=hook("firing", alert("cc04", instance="db-4:9100")))
    assert other.json()["opened"] == 1  # the other instance is not covered
    off = sysalert(daemon.data_dir, "maintenance", "off", "alertname=DiskFull,instance=db-3:9100")
    assert off.returncode == 0, off.stderr
    again = c.post("/api/v1/alertmanager", json=hook("firing", alert("cc03", instance="db-3:9100")))
    assert wait_for(lambda: am_incidents(daemon, "cc03"), 5) or again.json()["opened"] == 1


def test_report_over_the_api(daemon: Daemon) -> None:
    r = daemon.tcp(KEY).get("/api/v1/report", params={"days": "30"})
    assert r.status_code == 200 and "targets" in r.json(), r.text
    bad = daemon.tcp(KEY).get("/api/v1/report", params={"month": "2026-99"})
    assert bad.status_code == 400 and "YEAR-MONTH" in bad.json()["error"]
    assert daemon.tcp().get("/api/v1/report").status_code == 401


def test_no_label_or_address_in_plaintext_in_the_store(daemon: Daemon) -> None:
    wal = Path(f"{daemon.db_path}-wal")
    raw = Path(daemon.db_path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"node-7:9100" not in raw and b"prom.local" not in raw
