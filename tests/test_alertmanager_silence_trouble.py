"""When Alertmanager cannot be reached for a silence: the failure is logged as an error (without
its address), kept on the alert and shown with the incident, opens one `engine` incident, is
retried after RETRY_S, and clears (the engine incident resolves) once a call works. Real store,
real Engine, a closed port and then a real HTTP server answering as Alertmanager's API v2 does."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from engine.alerting.alertmanager import parse_webhook
from engine.alerting.silences import RETRY_S
from tests.alerting_harness import Rig, make_rig
from tests.conftest import free_port
from tests.test_channel_webhook import Receiver, json_reply


def body(fp: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "node-9:9100"},
                "annotations": {},
                "fingerprint": fp,
            }
        ],
    }


def am_incident(rig: Rig) -> dict[str, Any]:
    return next(i for i in rig.incidents() if i["kind"] == "alertmanager")


@pytest.mark.anyio
async def test_failure_is_loud_kept_shown_and_clears(settings, db_url, keyring, caplog) -> None:
    with make_rig(settings, db_url, keyring, start=time.time()) as rig:
        al = rig.engine.alerting
        al.alertmanager.receive(parse_webhook(body("dd05")), rig.clock())
        inc = am_incident(rig)
        rig.commands.ack_incident(inc["id"], by="bob")
        sync = al.alertmanager.silences
        dead = f"http://127.0.0.1:{free_port()}"
        now = time.time()
        with caplog.at_level(logging.ERROR, logger="engine.alerting.silences"):
            assert await sync.reconcile(dead, 3600.0, 1.0, now) == 1
        line = next(r.getMessage() for r in caplog.records if "SILENCE FAILED" in r.getMessage())
        assert inc["id"] in line and "ConnectError" in line and "127.0.0.1" not in line
        shown = am_incident(rig)["alertmanager"]
        assert shown["silence_id"] is None and "ConnectError" in shown["silence_error"]
        trouble = [i for i in rig.incidents("firing") if i["kind"] == "engine"]
        assert len(trouble) == 1 and "Alertmanager silences" in trouble[0]["summary"]
        # Not tried again before RETRY_S; a second failure opens no second engine incident.
        assert await sync.reconcile(dead, 3600.0, 1.0, now + 1) == 0
        assert await sync.reconcile(dead, 3600.0, 1.0, now + RETRY_S + 1) == 1
        assert len([i for i in rig.incidents("firing") if i["kind"] == "engine"]) == 1

        with Receiver(lambda seen: json_reply(200, {"silenceID": "sil-1"})) as am:
            assert await sync.reconcile(am.url, 3600.0, 1.0, now + 2 * RETRY_S + 2) == 0
            [made] = am.requests
        assert made.path == "/api/v2/silences"
        sent = json.loads(made.body)
        assert {(m["name"], m["value"], m["isEqual"]) for m in sent["matchers"]} == {
            ("alertname", "DiskFull", True),
            ("instance", "node-9:9100", True),
        }
        assert "bob" in sent["comment"] and sent["createdBy"] == "sysalert"
        shown = am_incident(rig)["alertmanager"]
        assert shown["silence_id"] == "sil-1" and shown["silence_error"] is None
        assert not [i for i in rig.incidents("firing") if i["kind"] == "engine"]


def test_label_maintenance_stops_escalation_until_it_ends(settings, db_url, keyring) -> None:
    """An Alertmanager incident already open when a label window starts neither escalates nor
    reminds during it; once the window ends it escalates as any unread incident does."""
    with make_rig(settings, db_url, keyring, escalation_after=60.0) as rig:
        rig.contact("first", level=1)
        rig.contact("second", level=2)
        al = rig.engine.alerting
        al.alertmanager.receive(parse_webhook(body("ee06")), rig.at(0))
        inc = am_incident(rig)
        assert rig.note_summary(inc["id"]) == [("alert", "first", 1)]
        rig.commands.maintenance_on("alertname=DiskFull", duration="10m")
        rig.drain()
        al.reload_maintenance(rig.at(1))
        rig.tick(120)  # past escalation_after, but its labels are in maintenance
        assert rig.note_summary(inc["id"]) == [("alert", "first", 1)]
        rig.commands.maintenance_off("label:alertname=DiskFull")
        al.reload_maintenance(rig.at(121))
        rig.tick(122)
        assert rig.note_summary(inc["id"])[-1] == ("escalation", "second", 2)
