"""Incidents as people read them: newest first, each with its notifications, their receipts and
readers, and what a targetless incident is about. Read-only; the rows are owned by incidents.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from engine.core.incident_states import DELIVERY_PREFIX as DELIVERY
from engine.store import alertmanager as am_store
from engine.store import benchmarks as bstore
from engine.store.incidents import INC
from engine.store.models import Contact, Incident, Notification, Receipt, Rule, Target
from engine.store.store import Store


def list_incidents(
    store: Store,
    state: str | None = None,
    limit: int = 200,
    owner_id: str | None = None,
    target_id: str | None = None,
    incident_id: str | None = None,
) -> list[dict[str, Any]]:
    """Incidents newest first, each with its notifications and their receipts."""
    q = select(Incident)
    if incident_id is not None:
        q = q.where(col(Incident.id) == incident_id)
    if state:
        q = q.where(col(Incident.state) == state)
    if owner_id is not None:
        q = q.where(col(Incident.owner_id) == owner_id)
    if target_id is not None:
        q = q.where(col(Incident.target_id) == target_id)
    q = q.order_by(Incident.opened_at.desc()).limit(limit)  # type: ignore[attr-defined]
    with store.session() as s:
        incs = list(s.execute(q).scalars())
    return describe(store, incs)


def by_ids(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """The incidents named, described, in the order named (a window of the Alerts order)."""
    if not ids:
        return []
    with store.session() as s:
        found = {
            i.id: i for i in s.execute(select(Incident).where(col(Incident.id).in_(ids))).scalars()
        }
    return describe(store, [found[i] for i in ids if i in found])


def describe(store: Store, incs: list[Incident]) -> list[dict[str, Any]]:
    """Each incident with its notifications, their receipts and readers, and its subject."""
    with store.session() as s:
        ids = [i.id for i in incs]
        notes = (
            list(
                s.execute(
                    select(Notification).where(col(Notification.incident_id).in_(ids))
                ).scalars()
            )
            if ids
            else []
        )
        tids = {i.target_id for i in incs if i.target_id}
        targets = (
            {t.id: t for t in s.execute(select(Target).where(col(Target.id).in_(tids))).scalars()}
            if tids
            else {}
        )
        receipts: dict[str, list[Receipt]] = {}
        nids = [n.id for n in notes]
        for i in range(0, len(nids), 500):
            for r in s.execute(
                select(Receipt).where(Receipt.notification_id.in_(nids[i : i + 500]))  # type: ignore[attr-defined]
            ).scalars():
                receipts.setdefault(r.notification_id, []).append(r)
        cids = {n.contact_id for n in notes} | {
            i.dedup_key[len(DELIVERY) :] for i in incs if i.dedup_key.startswith(DELIVERY)
        }
        contacts = (
            {c.id: c for c in s.execute(select(Contact).where(col(Contact.id).in_(cids))).scalars()}
            if cids
            else {}
        )
    by_inc: dict[str, list[Notification]] = {}
    for n in notes:
        by_inc.setdefault(n.incident_id or "", []).append(n)
    out = []
    for inc in incs:
        t = targets.get(inc.target_id or "")
        out.append(
            {
                "id": inc.id,
                "state": inc.state,
                "kind": inc.kind,
                "severity": inc.severity,
                "target": (
                    store.open_("targets", "name_s", t.id, t.name_s)
                    if t
                    else _subject(store, inc, contacts)
                ),
                "target_id": inc.target_id,
                "opened_at": inc.opened_at,
                "acked_at": inc.acked_at,
                "acked_by": store.open_(INC, "acked_by_s", inc.id, inc.acked_by_s),
                "resolved_at": inc.resolved_at,
                "silenced_until": inc.silenced_until,
                "summary": store.open_(INC, "summary_s", inc.id, inc.summary_s) or "",
                "error_class": inc.error_class,
                "escalation_level": inc.escalation_level,
                "held_under": inc.parent_incident_id,
                **(
                    {"alertmanager": am_store.silence_info(store, inc.id)}
                    if inc.dedup_key.startswith(am_store.KEY_PREFIX)
                    else {}
                ),
                "notifications": [
                    _note(store, n, contacts.get(n.contact_id), receipts.get(n.id, []))
                    for n in sorted(by_inc.get(inc.id, []), key=lambda n: n.created_at)
                ],
            }
        )
    return out


def _subject(store: Store, inc: Incident, contacts: dict[str, Contact]) -> str:
    """What an incident without a target is about, where the target's name would stand: the
    contact alerts cannot reach (`contact oncall`), the benchmark or rule, else its kind."""
    key = inc.dedup_key or ""
    if key.startswith(DELIVERY):
        c = contacts.get(key[len(DELIVERY) :])
        name = store.open_("contacts", "name_s", c.id, c.name_s) if c else None
        return f"contact {name}" if name else "a removed contact"
    if key.startswith("bench:"):
        rec = bstore.get(store, key[len("bench:") :])
        return f"benchmark {rec.name}" if rec is not None else "benchmark"
    if key.startswith("am:"):  # an Alertmanager alert: its name and instance, the text's start
        text = store.open_(INC, "summary_s", inc.id, inc.summary_s) or ""
        return text.split("\n", 1)[0].split(": ", 1)[0] or "alertmanager"
    if inc.rule_id:
        with store.session() as s:
            row = s.get(Rule, inc.rule_id)
        name = store.open_("rules", "name_s", row.id, row.name_s) if row else None
        return f"rule {name}" if name else "rule"
    return inc.kind


def _note(
    store: Store, n: Notification, c: Contact | None, receipts: list[Receipt]
) -> dict[str, Any]:
    readers = [
        {"name": store.open_("receipts", "reader_s", r.id, r.reader_s), "read_at": r.read_at}
        for r in sorted(receipts, key=lambda r: r.read_at)
    ]
    return {
        "id": n.id,
        "channel": n.channel,
        "kind": n.kind,
        "level": n.level,
        "status": n.status,
        "contact": store.open_("contacts", "name_s", c.id, c.name_s) if c else None,
        "sent_at": n.sent_at,
        "read_at": n.read_at,
        # Who read it: the contact itself, and in a small group each member Telegram names.
        "readers": [r for r in readers if r["name"]],
        "attempts": n.attempts,
        "acked_by": store.open_("notifications", "acked_by_s", n.id, n.acked_by_s),
        "error": store.open_("notifications", "last_error_s", n.id, n.last_error_s),
    }
