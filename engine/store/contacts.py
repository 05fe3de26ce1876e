"""Contacts in the store: sealed names and addresses, fingerprint lookups, GDPR erase."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from engine.core.domain import ContactRecord
from engine.core.errors import BadInput
from engine.store import incidents
from engine.store.models import AuditEntry, Contact, Incident, Notification, Receipt
from engine.store.store import Store

C = "contacts"


def from_row(store: Store, r: Contact) -> ContactRecord:
    return ContactRecord(
        id=r.id,
        name=store.open_(C, "name_s", r.id, r.name_s) or "",
        channel=r.channel,
        address=store.open_(C, "address_s", r.id, r.address_s) or "",
        level=r.level,
        owner_id=r.owner_id,
        status=r.status,
        status_detail=store.open_(C, "status_detail_s", r.id, r.status_detail_s),
        resolved=store.open_(C, "resolved_s", r.id, r.resolved_s),
    )


def insert(
    store: Store, name: str, channel: str, address: str, level: int = 1, owner_id: str | None = None
) -> ContactRecord:
    cid = store.fresh_id(Contact)
    row = Contact(
        id=cid,
        name_fp=store.fp("contact.name", name),
        name_s=store.seal(C, "name_s", cid, name),
        channel=channel,
        address_s=store.seal(C, "address_s", cid, address),
        address_fp=store.fp("contact.address", address),
        level=level,
        owner_id=owner_id,
        created_at=time.time(),
    )
    with store.session() as s:
        if s.execute(
            select(col(Contact.id)).where(col(Contact.name_fp).in_(store.fps("contact.name", name)))
        ).first():
            raise BadInput(
                f"a contact named {name!r} already exists",
                "pick another name or remove the old one",
            )
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise BadInput(
                f"a contact named {name!r} already exists", "pick another name"
            ) from None
    return from_row(store, row)


def load_all(store: Store, owner_id: str | None = None) -> list[ContactRecord]:
    with store.session() as s:
        q = select(Contact)
        if owner_id is not None:
            q = q.where(col(Contact.owner_id) == owner_id)
        return [from_row(store, r) for r in s.execute(q).scalars()]


def find(store: Store, ref: str) -> ContactRecord | None:
    with store.session() as s:
        r = s.get(Contact, ref)
        if r is None:
            r = (
                s.execute(
                    select(Contact).where(col(Contact.name_fp).in_(store.fps("contact.name", ref)))
                )
                .scalars()
                .first()
            )
        return from_row(store, r) if r else None


def find_by_address(store: Store, address: str) -> list[ContactRecord]:
    with store.session() as s:
        rows = s.execute(
            select(Contact).where(
                col(Contact.address_fp).in_(store.fps("contact.address", address))
            )
        ).scalars()
        return [from_row(store, r) for r in rows]


def set_status(store: Store, contact_id: str, status: str, detail: str | None = None) -> None:
    with store.session() as s:
        r = s.get(Contact, contact_id)
        if r is not None:
            r.status = status
            r.status_detail_s = store.seal(C, "status_detail_s", r.id, detail)
            s.add(r)
            s.commit()


def set_resolved(store: Store, contact_id: str, resolved: str) -> None:
    with store.session() as s:
        r = s.get(Contact, contact_id)
        if r is not None:
            r.resolved_s = store.seal(C, "resolved_s", r.id, resolved)
            s.add(r)
            s.commit()


ERASED = "erased contact"


def erase(store: Store, contact_id: str) -> None:
    """GDPR erase: the contact, its notifications and their receipts, the audit entries about
    it and its delivery incidents; where its name stands for a person elsewhere (who
    acknowledged, who read, who acted in the audit log), the name is replaced by "erased
    contact". Then the SQLite WAL is truncated, as its old page images hold the removed values.
    Which sealed values carry the name is found first, in a read of its own, so the write
    transaction stays short (probe results keep being written meanwhile)."""
    row = find(store, contact_id)
    renames = _name_holders(store, row.name) if row is not None else []
    with store.session() as s:
        note_ids = [
            n
            for n in s.execute(
                select(col(Notification.id)).where(col(Notification.contact_id) == contact_id)
            ).scalars()
        ]
        if note_ids:
            s.execute(delete(Receipt).where(Receipt.notification_id.in_(note_ids)))  # type: ignore[attr-defined]
            s.execute(delete(Notification).where(Notification.id.in_(note_ids)))  # type: ignore[attr-defined]
        s.execute(delete(Contact).where(col(Contact.id) == contact_id))
        refs = store.refs("contact", contact_id)  # under every key: rows from before a rotation
        s.execute(delete(AuditEntry).where(col(AuditEntry.object_ref).in_(refs)))
        incidents.erase_delivery(s, contact_id)
        for model, table, column, pk, row_key in renames:
            r = s.get(model, pk)
            if r is not None:
                setattr(r, column, store.seal(table, column, row_key, ERASED))
                s.add(r)
        s.commit()
    if store.sqlite:
        from engine.store.subscribers import _truncate_wal

        _truncate_wal(store)


def _name_holders(store: Store, name: str) -> list[tuple[Any, str, str, Any, str]]:
    """(model, table, column, primary key, seal row key) of every sealed value equal to `name`
    among the places a person's name is recorded. Sealed values carry no fingerprint, so each is
    opened and compared; an erase is rare, and retention bounds these tables."""
    columns = (
        (AuditEntry, "audit", "actor_s", lambda r: f"{r.ts:.6f}:{r.action}"),
        (Incident, "incidents", "acked_by_s", lambda r: r.id),
        (Notification, "notifications", "acked_by_s", lambda r: r.id),
        (Receipt, "receipts", "reader_s", lambda r: r.id),
    )
    out = []
    with store.session() as s:
        for model, table, column, key in columns:
            col = getattr(model, column)
            for r in s.execute(select(model).where(col.is_not(None))).scalars():
                if store.open_(table, column, key(r), getattr(r, column)) == name:
                    out.append((model, table, column, r.id, key(r)))
    return out
