"""Telegram subscribers: chat ids sealed and fingerprinted; erase removes everything they own."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from engine.core.domain import parse_chat_id  # noqa: F401  (callers read it here too)
from engine.core.errors import BadInput
from engine.security.privacy import mask_id
from engine.store.models import (
    AuditEntry,
    Benchmark,
    BenchmarkRun,
    Contact,
    Incident,
    MaintenanceWindow,
    Notification,
    Receipt,
    Result,
    Rollup,
    Subscriber,
    Target,
)
from engine.store.store import Store

S = "subscribers"
log = logging.getLogger(__name__)


@dataclass
class SubscriberRecord:
    id: str
    chat_id: int
    role: str
    max_targets: int | None
    max_benchmarks: int | None
    created_at: float
    last_seen_at: float | None

    def public(self, *_: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "chat": mask_id(self.chat_id),
            "role": self.role,
            "max_targets": self.max_targets,
            "max_benchmarks": self.max_benchmarks,
            "created_at": self.created_at,
            "last_seen_at": self.last_seen_at,
        }


def _rec(store: Store, r: Subscriber) -> SubscriberRecord:
    return SubscriberRecord(
        r.id,
        int(store.open_(S, "chat_s", r.id, r.chat_s) or 0),
        r.role,
        r.max_targets,
        r.max_benchmarks,
        r.created_at,
        r.last_seen_at,
    )


def insert(store: Store, chat_id: int, role: str = "subscriber") -> SubscriberRecord:
    if role not in ("subscriber", "admin"):
        raise BadInput(f"role {role!r} is unknown", "use subscriber or admin")
    if find(store, chat_id) is not None:
        raise BadInput(
            f"chat {mask_id(chat_id)} is already a subscriber", "remove it first to change it"
        )
    sid = store.fresh_id(Subscriber)
    row = Subscriber(
        id=sid,
        chat_fp=store.fp("chat", str(chat_id)),
        chat_s=store.seal(S, "chat_s", sid, str(chat_id)),
        role=role,
        created_at=time.time(),
    )
    with store.session() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise BadInput(
                f"chat {mask_id(chat_id)} is already a subscriber", "remove it first"
            ) from None
    return _rec(store, row)


def find(store: Store, chat_id: int) -> SubscriberRecord | None:
    with store.session() as s:
        r = (
            s.execute(
                select(Subscriber).where(
                    col(Subscriber.chat_fp).in_(store.fps("chat", str(chat_id)))
                )
            )
            .scalars()
            .first()
        )
        return _rec(store, r) if r else None


def get(store: Store, sub_id: str) -> SubscriberRecord | None:
    with store.session() as s:
        r = s.get(Subscriber, sub_id)
        return _rec(store, r) if r else None


def load_all(store: Store) -> list[SubscriberRecord]:
    with store.session() as s:
        return [_rec(store, r) for r in s.execute(select(Subscriber)).scalars()]


def touch(store: Store, sub_id: str) -> None:
    with store.session() as s:
        r = s.get(Subscriber, sub_id)
        if r is not None:
            r.last_seen_at = time.time()
            s.add(r)
            s.commit()


def set_limits(store: Store, sub_id: str, **limits: int | None) -> None:
    """max_targets / max_benchmarks for one subscriber (None: the config or profile applies)."""
    with store.session() as s:
        r = s.get(Subscriber, sub_id)
        if r is None:
            return
        for key, value in limits.items():
            setattr(r, key, value)
        s.add(r)
        s.commit()


def usage(store: Store, sub_id: str) -> dict[str, int]:
    from sqlalchemy import func

    with store.session() as s:
        t = s.execute(
            select(func.count()).select_from(Target).where(col(Target.owner_id) == sub_id)
        ).scalar_one()
        b = s.execute(
            select(func.count()).select_from(Benchmark).where(col(Benchmark.owner_id) == sub_id)
        ).scalar_one()
    return {"targets": int(t), "benchmarks": int(b)}


def erase(store: Store, sub_id: str) -> dict[str, int]:
    """Delete every row the subscriber owns, sealed values included, and the subscriber itself.

    Also goes: audit entries about their targets, benchmarks, contacts and incidents (the caller
    writes one line without personal data afterwards). On SQLite the deleted cells are zeroed
    (secure_delete) and the WAL is checkpointed and truncated, so no copy of a sealed value of
    theirs stays behind in the file's free space or the log.
    """
    counts: dict[str, int] = {}
    with store.session() as s:
        conn = s.connection()
        before = None
        if store.sqlite:  # cells are zeroed as they are freed, within the DELETEs below
            before = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar_one())
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            counts = _erase_rows(store, s, sub_id)
        finally:
            if before is not None:  # the pooled connection goes back as it came
                mode = {0: "OFF", 2: "FAST"}.get(before, "ON")
                conn.exec_driver_sql(f"PRAGMA secure_delete={mode}")
        s.commit()
    if store.sqlite:
        _truncate_wal(store)
    return counts


def _ids(s: Any, column: Any, *where: Any) -> list[str]:
    return list(s.execute(select(column).where(*where)).scalars())


def _erase_rows(store: Store, s: Any, sub_id: str) -> dict[str, int]:
    tids = _ids(s, Target.id, Target.owner_id == sub_id)
    bids = _ids(s, Benchmark.id, Benchmark.owner_id == sub_id)
    cids = _ids(s, Contact.id, Contact.owner_id == sub_id)
    inc_where = Incident.owner_id == sub_id
    if tids:
        inc_where = inc_where | Incident.target_id.in_(tids)  # type: ignore[union-attr]
    iids = _ids(s, Incident.id, inc_where)
    nids = (
        _ids(
            s,
            Notification.id,
            Notification.contact_id.in_(cids) | Notification.incident_id.in_(iids),  # type: ignore[attr-defined,union-attr]
        )
        if (cids or iids)
        else []
    )
    wids = _ids(
        s,
        MaintenanceWindow.id,
        (MaintenanceWindow.owner_id == sub_id) | MaintenanceWindow.target_id.in_(tids or [""]),  # type: ignore[union-attr]
    )
    # Refs under every key of the ring: audit rows written before a rotation go too.
    refs = [r for t in tids for r in store.refs("target", t)]
    refs += [r for b in bids for r in store.refs("bench", b)]
    refs += [r for c in cids for r in store.refs("contact", c)] + [f"incident:{i}" for i in iids]
    refs.append(f"subscriber:{sub_id}")
    steps = [
        (Receipt, Receipt.notification_id, nids),
        (Notification, Notification.id, nids),
        (Result, Result.target_id, tids),
        (Rollup, Rollup.target_id, tids),
        (MaintenanceWindow, MaintenanceWindow.id, wids),
        (Incident, Incident.id, iids),
        (BenchmarkRun, BenchmarkRun.benchmark_id, bids),
        (Benchmark, Benchmark.id, bids),
        (Contact, Contact.id, cids),
        (Target, Target.id, tids),
        (AuditEntry, AuditEntry.object_ref, refs),
    ]
    counts: dict[str, int] = {}
    for model, column, ids in steps:
        for i in range(0, len(ids), 500):  # bounded IN lists
            res = s.execute(delete(model).where(col(column).in_(ids[i : i + 500])))
            name = model.__tablename__  # type: ignore[attr-defined]
            counts[name] = counts.get(name, 0) + (res.rowcount or 0)
    s.execute(delete(Subscriber).where(col(Subscriber.id) == sub_id))
    counts["target_ids"] = len(tids)
    return counts


def _truncate_wal(store: Store) -> None:
    """Fold the WAL into the file and truncate it: old page images hold the erased values."""
    try:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except Exception as exc:  # a busy reader: the next checkpoint overwrites the frames anyway
        log.warning("WAL checkpoint after an erase did not finish: %s", type(exc).__name__)


def owned_target_ids(store: Store, sub_id: str) -> list[str]:
    """The ids of the targets a subscriber owns (their probes stop before the erase)."""
    with store.session() as s:
        return list(
            s.execute(select(col(Target.id)).where(col(Target.owner_id) == sub_id)).scalars()
        )


def counts(store: Store, since: float, open_states: tuple[str, ...]) -> dict[str, int]:
    """The `/stats` counts: rows by kind, and notifications since `since`. No personal data."""
    from sqlalchemy import func

    with store.session() as s:

        def count(model: Any, *where: Any) -> int:
            q = select(func.count()).select_from(model)
            return int(s.execute(q.where(*where) if where else q).scalar_one())

        recent = col(Notification.created_at) >= since
        sent = col(Notification.status) == "sent"
        telegram = col(Notification.channel) == "telegram"
        return {
            "subscribers": count(Subscriber),
            "admins": count(Subscriber, col(Subscriber.role) == "admin"),
            "targets": count(Target),
            "subscriber_targets": count(Target, col(Target.owner_id).is_not(None)),
            "benchmarks": count(Benchmark),
            "open_incidents": count(Incident, col(Incident.state).in_(open_states)),
            "contacts": count(Contact),
            "sent": count(Notification, recent, sent),
            "dead": count(Notification, recent, col(Notification.status) == "dead"),
            "tg_sent": count(Notification, recent, sent, telegram),
            "tg_read": count(
                Notification, recent, sent, telegram, col(Notification.read_at).is_not(None)
            ),
        }
