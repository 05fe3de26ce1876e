"""Delivery trouble: when alerts cannot reach a contact, somebody else must hear of it.

A permanent failure (a blocked Telegram account, a refused address) or a notification that ran out
of attempts opens one local incident per contact (deduplicated, so a failing contact cannot start
a loop); it goes to the other contacts like any alert. A successful send to that contact again
(a later alert, or `notify test`) or its removal resolves it, and a blocked contact is usable
again. Plain synchronous functions: callers run them in worker threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.incident_states import DELIVERY_PREFIX
from engine.store import contacts as cstore
from engine.store import incidents as inc_store

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting
    from engine.store.store import Store

KIND = "delivery"
PREFIX = DELIVERY_PREFIX


def key(contact_id: str) -> str:
    return PREFIX + contact_id


def raise_trouble(
    alerting: Alerting, contact: Any, channel: str, error: str, incident_id: str | None = None
) -> str | None:
    """Open the contact's delivery incident, for the other contacts; its id, or None when one is
    open already or none is wanted: a subscriber's own contact (blocking the bot is their call,
    not the operator's page), or a failed notice of a delivery incident (no chains)."""
    if contact.owner_id is not None or cstore.find(alerting.store, contact.id) is None:
        return None  # a subscriber's own, or erased while its send was in flight
    if incident_id is not None and inc_store.kind_of(alerting.store, incident_id) == KIND:
        return None
    summary = (
        f"Alerts cannot reach contact {contact.name} over {channel}: {error[:200]}. "
        f"`sysalert notify test {contact.name}` shows the error; fix the address or the "
        "channel's settings, or remove the contact"
    )
    return alerting.open_local_incident(key(contact.id), KIND, summary)  # never to this one


def clear_trouble(alerting: Alerting, contact_id: str) -> bool:
    """The contact works again: resolve its delivery incident, and unblock it."""
    contact = cstore.find(alerting.store, contact_id)
    if contact is not None and contact.status != "ok":
        cstore.set_status(alerting.store, contact_id, "ok", None)
    return alerting.resolve_local_incident(key(contact_id))


def troubled_contacts(store: Store) -> set[str]:
    """Contacts with an open delivery incident (the dispatcher watches their next success)."""
    return {k[len(PREFIX) :] for k in inc_store.open_keys(store, PREFIX)}
