"""Escalation and resends for incidents that stay unacknowledged.

Level N+1 is notified when level N has neither read (where the channel reports reads) nor
acknowledged within `escalation_after`; every `resend_interval` the current level gets a reminder.
Acknowledge or resolve stops both. A silence ends by itself at its time.

A tick reads every open incident with what it needs in one query (`open_for_tick` in
engine.store.incidents), so its cost does not grow by a query per incident; an incident is loaded
whole only when it is acted on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.alerting import notifications
from engine.store import contacts as cstore
from engine.store import incidents as inc_store

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting


def escalate_and_resend(al: Alerting, now: float) -> None:
    store = al.store
    st = al.engine.settings.alerts
    targets = al.engine.targets
    everyone: list[Any] | None = None  # the contacts, read once a tick and only when needed
    for row in inc_store.open_for_tick(store):
        iid, state, silenced_until, parent_id, target_id, level, last_notified = row[:7]
        if state == "silenced":
            if silenced_until is not None and silenced_until <= now:
                inc_store.set_fields(store, iid, state="firing", silenced_until=None)
                al.audit("incident.unsilence", iid, "engine")
                al.publish_incident(iid, "firing", target_id, "silence ended")
            continue
        owner_id, dedup_key, parent_state, first_at, read, reminders = row[7:]
        if parent_id:
            if parent_state is not None and parent_state != "resolved":
                continue  # held under its parent
            # The parent was resolved by hand (or is gone): its children page on their own now.
            al.release_children(parent_id, now)
            continue
        rec = targets.get(target_id or "")
        if rec is not None and al.in_maintenance(rec):
            continue
        if first_at is None:
            continue  # nobody paged at this level yet
        if not read and now - first_at >= st.escalation_after:
            if everyone is None:
                everyone = cstore.load_all(store)
            exclude = notifications.excluded(dedup_key)
            if notifications.contacts_for(
                store, level + 1, owner_id, exclude=exclude, everyone=everyone
            ):
                inc_store.set_fields(store, iid, escalation_level=level + 1)
                inc = inc_store.load(store, iid)
                if inc is not None:
                    inc.escalation_level = level + 1
                    al.notify_level(inc, rec, level + 1, "escalation", now)
                al.audit("incident.escalate", iid, "engine")
                continue
        if now - (last_notified or first_at) >= st.resend_interval:
            inc = inc_store.load(store, iid)
            if inc is not None:
                al.notify_level(inc, rec, level, "reminder", now, seq=1 + (reminders or 0))
