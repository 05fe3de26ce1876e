"""The audit log: who did what, when. Actor and detail are sealed; the object is a keyed ref."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import literal, or_, select
from sqlmodel import col

from engine.store.models import AuditEntry, Incident
from engine.store.store import Store


def record(
    store: Store, action: str, object_ref: str | None, actor: str, detail: str | None
) -> None:
    """Append one entry, sealed under a row key of its time and action."""
    ts = time.time()
    entry = AuditEntry(ts=ts, action=action, object_ref=object_ref)
    row = f"{ts:.6f}:{action}"
    entry.actor_s = store.seal("audit", "actor_s", row, actor)
    entry.detail_s = store.seal("audit", "detail_s", row, detail)
    with store.session() as s:
        s.add(entry)
        s.commit()


@dataclass
class AuditRow:
    """One opened audit entry."""

    ts: float
    action: str
    object_ref: str | None
    actor: str | None
    detail: str | None


def page(
    store: Store,
    target_id: str | None,
    kind: str | None,
    until: float | None,
    limit: int,
) -> tuple[list[AuditRow], dict[str, str | None]]:
    """Newest-first entries (a target's own and its incidents', of one kind, before `until`), and
    the target id of each incident the page names (incident id -> target id)."""
    q = select(AuditEntry)
    if target_id is not None:
        its_incidents = select(literal("incident:") + Incident.id).where(
            col(Incident.target_id) == target_id
        )
        q = q.where(
            or_(
                col(AuditEntry.object_ref).in_(store.refs("target", target_id)),
                col(AuditEntry.object_ref).in_(its_incidents),
            )
        )
    if kind:
        q = q.where(col(AuditEntry.action).startswith(kind + "."))
    if until is not None:
        q = q.where(col(AuditEntry.ts) < until)
    q = q.order_by(col(AuditEntry.ts).desc()).limit(limit)
    with store.session() as s:
        rows = list(s.execute(q).scalars())
        incident_ids = {
            r.object_ref[9:] for r in rows if (r.object_ref or "").startswith("incident:")
        }
        incident_target: dict[str, str | None] = (
            {
                iid: tid
                for iid, tid in s.execute(
                    select(col(Incident.id), col(Incident.target_id)).where(
                        col(Incident.id).in_(sorted(incident_ids))
                    )
                ).all()
            }
            if incident_ids
            else {}
        )
    out = []
    for r in rows:
        row = f"{r.ts:.6f}:{r.action}"
        out.append(
            AuditRow(
                r.ts,
                r.action,
                r.object_ref,
                store.open_("audit", "actor_s", row, r.actor_s),
                store.open_("audit", "detail_s", row, r.detail_s),
            )
        )
    return out, incident_target
