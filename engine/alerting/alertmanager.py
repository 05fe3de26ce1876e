"""Prometheus Alertmanager's webhook (version 4) in: each alert, by its fingerprint, opens, updates
or resolves an incident through the same machinery as a probe's (dedup key `am:FINGERPRINT`,
escalation, reminders, reply-to-ack). Label maintenance windows (`alertname=DiskFull`) hold alerts
back as target windows hold probes. Silences made in Alertmanager: engine.alerting.silences.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.alerting.silences import SilenceSync
from engine.core.errors import BadInput
from engine.core.rulespec import SEVERITIES
from engine.store import alertmanager as am_store
from engine.store import incidents as inc_store

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting

log = logging.getLogger(__name__)
MAX_ALERTS = 1000  # Alertmanager's `max_alerts` can bound a message; more is refused
MAX_LABELS = 64
TEXT_MAX = 4096
KIND = "alertmanager"

_Text = Field(max_length=TEXT_MAX)
_Map = dict[str, str]


class _Lax(BaseModel):
    """Fields Alertmanager may add in a later release are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")


class AmAlert(_Lax):
    status: Literal["firing", "resolved"]
    labels: _Map = Field(max_length=MAX_LABELS)
    annotations: _Map = Field(default_factory=dict, max_length=MAX_LABELS)
    startsAt: str = Field("", max_length=64)  # noqa: N815 - Alertmanager's field names
    endsAt: str = Field("", max_length=64)  # noqa: N815
    generatorURL: str = Field("", max_length=TEXT_MAX)  # noqa: N815
    fingerprint: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")


class AmWebhook(_Lax):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=TEXT_MAX)
    groupKey: str = Field("", max_length=TEXT_MAX)  # noqa: N815
    truncatedAlerts: int = Field(0, ge=0)  # noqa: N815
    groupLabels: _Map = Field(default_factory=dict, max_length=MAX_LABELS)  # noqa: N815
    commonLabels: _Map = Field(default_factory=dict, max_length=MAX_LABELS)  # noqa: N815
    commonAnnotations: _Map = Field(default_factory=dict, max_length=MAX_LABELS)  # noqa: N815
    externalURL: str = Field("", max_length=TEXT_MAX)  # noqa: N815
    alerts: list[AmAlert] = Field(max_length=MAX_ALERTS)


def parse_webhook(body: dict[str, Any]) -> AmWebhook:
    """The webhook body, or BadInput naming the first wrong field (a clear 400)."""
    try:
        return AmWebhook.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise BadInput(
            f"not an Alertmanager webhook (version 4): {where}: {err['msg']}",
            "point an Alertmanager webhook_configs receiver here; see the README",
        ) from None


def describe(alert: AmAlert, external_url: str = "") -> str:
    """The incident's text: name and instance first (messages show its start as the name), then
    every label, annotation and the generator URL."""
    lb = alert.labels
    name = lb.get("alertname", "alert")
    head = name + (f" on {lb['instance']}" if lb.get("instance") else "")
    ann = alert.annotations
    gist = ann.get("summary") or ann.get("description") or ""
    lines = [head + (f": {gist}" if gist else "")]
    lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(lb.items())))
    if ann:
        lines.append("Annotations: " + "; ".join(f"{k}={v}" for k, v in sorted(ann.items())))
    if alert.generatorURL:
        lines.append(f"Source: {alert.generatorURL}")
    if external_url:
        lines.append(f"Alertmanager: {external_url}")
    lines.append(f"Fingerprint: {alert.fingerprint}")
    return "\n".join(lines)


def severity_of(labels: dict[str, str]) -> str:
    """The `severity` label when it is one of ours (warning reads as medium), else high."""
    sev = labels.get("severity", "").lower()
    return {"warning": "medium", "info": "low", "error": "high"}.get(sev, sev) if sev else "high"


class AlertmanagerReceiver:
    """Turns webhook bodies into incidents. Any thread; one body at a time (dedup by lookup)."""

    def __init__(self, alerting: Alerting) -> None:
        self.alerting = alerting
        self.store = alerting.store
        self._lock = threading.Lock()
        self.silences = SilenceSync(alerting)  # its loop: the engine's supervised tasks
        self._labels: dict[str, dict[str, str]] = {}  # incident id -> its alert's labels

    def held(self, incident_id: str) -> bool:
        """Whether a label maintenance window covers this incident's alert now: escalation and
        reminders wait (the labels are read once per incident, and only while such a window
        or `all` is on)."""
        m = self.alerting.maintenance
        if not (m.matchers or m.all_active):
            return False
        labels = self._labels.get(incident_id)
        if labels is None:
            info = am_store.silence_info(self.store, incident_id)
            labels = self._labels[incident_id] = dict(info["labels"]) if info else {}  # type: ignore[call-overload]
        return m.covers_labels(labels)

    def receive(self, hook: AmWebhook, now: float) -> dict[str, Any]:
        """Each alert in order; the answer counts what happened (Alertmanager reads only 2xx)."""
        counts = {"opened": 0, "updated": 0, "resolved": 0, "in_maintenance": 0, "unchanged": 0}
        if hook.truncatedAlerts:
            log.warning(
                "Alertmanager left %d alerts out of one message (max_alerts)", hook.truncatedAlerts
            )
        with self._lock:
            for alert in hook.alerts:
                counts[self._one(alert, hook.externalURL, now)] += 1
        return {"received": len(hook.alerts), "truncated": hook.truncatedAlerts, **counts}

    def _one(self, alert: AmAlert, external_url: str, now: float) -> str:
        key = am_store.KEY_PREFIX + alert.fingerprint
        al = self.alerting
        if alert.status == "resolved":
            return "resolved" if al.resolve_open(key, now) else "unchanged"
        text = describe(alert, external_url)
        existing = inc_store.find_open(self.store, key)
        if existing is None:
            if al.maintenance.covers_labels(alert.labels):
                return "in_maintenance"  # no incident opens in maintenance; it is sent again
            sev = severity_of(alert.labels)
            inc, _ = al.open_incident(key, KIND, sev if sev in SEVERITIES else "high", text, now)
            am_store.remember(self.store, alert.fingerprint, inc.id, alert.labels)
            self._labels[inc.id] = dict(alert.labels)
            return "opened"
        am_store.remember(self.store, alert.fingerprint, existing.id, alert.labels)
        self._labels[existing.id] = dict(alert.labels)
        if self.store.open_("incidents", "summary_s", existing.id, existing.summary_s) == text:
            return "unchanged"
        inc_store.set_summary(self.store, existing.id, text)
        al.publish_incident(existing.id, existing.state, None, "updated")
        return "updated"
