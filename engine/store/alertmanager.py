"""Alertmanager alerts we hold an incident for: labels sealed, the silence made for each there.

Rows are keyed by Alertmanager's fingerprint; the incident's dedup key is `am:FINGERPRINT`, so the
same alert sent again finds its open incident (engine.store.incidents). Silence bookkeeping (which
silence id Alertmanager gave us, until when, the last error) lives here, read by the reconciler.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from engine.store.models import AlertmanagerAlert, Incident
from engine.store.store import Store

AM = "am_alerts"
KEY_PREFIX = "am:"


@dataclass
class AmRow:
    """One alert with what the silence reconciler needs of its incident."""

    id: str
    fingerprint: str
    incident_id: str
    labels: dict[str, str]
    silence_id: str | None
    silence_until: float | None
    state: str  # the incident's
    silenced_until: float | None
    acked_by: str | None


def remember(store: Store, fingerprint: str, incident_id: str, labels: dict[str, str]) -> None:
    """The alert's labels for its (current) incident: inserted, or updated when they changed."""
    text = json.dumps(labels, sort_keys=True)
    with store.session() as s:
        row = (
            s.execute(
                select(AlertmanagerAlert).where(col(AlertmanagerAlert.incident_id) == incident_id)
            )
            .scalars()
            .first()
        )
        if row is None:
            rid = store.fresh_id(AlertmanagerAlert)
            row = AlertmanagerAlert(
                id=rid,
                fingerprint=fingerprint,
                incident_id=incident_id,
                labels_s=store.seal(AM, "labels_s", rid, text),
            )
        elif store.open_(AM, "labels_s", row.id, row.labels_s) != text:
            row.labels_s = store.seal(AM, "labels_s", row.id, text)
        else:
            return
        row.updated_at = time.time()
        s.add(row)
        s.commit()


def rows_to_sync(store: Store) -> list[AmRow]:
    """Alerts whose silence may need making or removing: a silence is held, or the incident is
    acknowledged or silenced now."""
    q = (
        select(AlertmanagerAlert, Incident)
        .join(Incident, col(Incident.id) == col(AlertmanagerAlert.incident_id))
        .where(
            col(AlertmanagerAlert.silence_id).is_not(None)
            | col(Incident.state).in_(("acknowledged", "silenced"))
        )
    )
    with store.session() as s:
        pairs = list(s.execute(q).all())
    return [
        AmRow(
            id=a.id,
            fingerprint=a.fingerprint,
            incident_id=a.incident_id,
            labels=json.loads(store.open_(AM, "labels_s", a.id, a.labels_s) or "{}"),
            silence_id=a.silence_id,
            silence_until=a.silence_until,
            state=i.state,
            silenced_until=i.silenced_until,
            acked_by=store.open_("incidents", "acked_by_s", i.id, i.acked_by_s),
        )
        for a, i in pairs
    ]


def set_silence(
    store: Store,
    row_id: str,
    silence_id: str | None,
    until: float | None,
    error: str | None = None,
) -> None:
    """What Alertmanager answered: the silence held now (None: none), or why a call failed."""
    with store.session() as s:
        row = s.get(AlertmanagerAlert, row_id)
        if row is None:
            return
        if error is None:
            row.silence_id, row.silence_until, row.silence_error_s = silence_id, until, None
        else:
            row.silence_error_s = store.seal(AM, "silence_error_s", row.id, error)
        row.updated_at = time.time()
        s.add(row)
        s.commit()


def silence_info(store: Store, incident_id: str) -> dict[str, object] | None:
    """The Alertmanager side of one incident, for people: labels, silence and its last error."""
    with store.session() as s:
        row = (
            s.execute(
                select(AlertmanagerAlert).where(col(AlertmanagerAlert.incident_id) == incident_id)
            )
            .scalars()
            .first()
        )
    if row is None:
        return None
    return {
        "fingerprint": row.fingerprint,
        "labels": json.loads(store.open_(AM, "labels_s", row.id, row.labels_s) or "{}"),
        "silence_id": row.silence_id,
        "silence_until": row.silence_until,
        "silence_error": store.open_(AM, "silence_error_s", row.id, row.silence_error_s),
    }
