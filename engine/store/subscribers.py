"""Telegram subscribers: chat ids sealed and fingerprinted; erase removes everything they own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from engine.errors import BadInput
from engine.privacy import mask_id
from engine.store.models import (
    Benchmark, BenchmarkRun, Contact, Incident, MaintenanceWindow, Notification, Receipt, Result,
    Rollup, Subscriber, Target,
)
from engine.store.store import Store, new_id

S = "subscribers"


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
        return {"id": self.id, "chat": mask_id(self.chat_id), "role": self.role,
                "max_targets": self.max_targets, "max_benchmarks": self.max_benchmarks,
                "created_at": self.created_at, "last_seen_at": self.last_seen_at}


def parse_chat_id(text: str | int) -> int:
    s = str(text).strip()
    if not s.lstrip("-").isdigit() or len(s.lstrip("-")) > 20 or s in ("0", "-0"):
        raise BadInput(f"{text!r} is not a Telegram chat id", "use the numeric id, e.g. 77441265 (ask @userinfobot)")
    return int(s)


def _rec(store: Store, r: Subscriber) -> SubscriberRecord:
    return SubscriberRecord(r.id, int(store.open_(S, "chat_s", r.id, r.chat_s) or 0), r.role, r.max_targets,
                            r.max_benchmarks, r.created_at, r.last_seen_at)


def insert(store: Store, chat_id: int, role: str = "subscriber") -> SubscriberRecord:
    if role not in ("subscriber", "admin"):
        raise BadInput(f"role {role!r} is unknown", "use subscriber or admin")
    if find(store, chat_id) is not None:
        raise BadInput(f"chat {mask_id(chat_id)} is already a subscriber", "remove it first to change it")
    sid = new_id()
    row = Subscriber(id=sid, chat_fp=store.fp("chat", str(chat_id)), chat_s=store.seal(S, "chat_s", sid, str(chat_id)),
                     role=role, created_at=time.time())
    with store.session() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise BadInput(f"chat {mask_id(chat_id)} is already a subscriber", "remove it first") from None
    return _rec(store, row)


def find(store: Store, chat_id: int) -> SubscriberRecord | None:
    with store.session() as s:
        r = s.exec(select(Subscriber).where(Subscriber.chat_fp.in_(store.fps("chat", str(chat_id))))).scalars().first()  # type: ignore[attr-defined]
        return _rec(store, r) if r else None


def load_all(store: Store) -> list[SubscriberRecord]:
    with store.session() as s:
        return [_rec(store, r) for r in s.exec(select(Subscriber)).scalars()]


def touch(store: Store, sub_id: str) -> None:
    with store.session() as s:
        r = s.get(Subscriber, sub_id)
        if r is not None:
            r.last_seen_at = time.time()
            s.add(r)
            s.commit()


def usage(store: Store, sub_id: str) -> dict[str, int]:
    from sqlalchemy import func

    with store.session() as s:
        t = s.exec(select(func.count()).select_from(Target).where(Target.owner_id == sub_id)).scalar_one()
        b = s.exec(select(func.count()).select_from(Benchmark).where(Benchmark.owner_id == sub_id)).scalar_one()
    return {"targets": int(t), "benchmarks": int(b)}


def erase(store: Store, sub_id: str) -> dict[str, int]:
    """Delete every row the subscriber owns, sealed values included, and the subscriber itself."""
    counts: dict[str, int] = {}
    with store.session() as s:
        tids = list(s.exec(select(Target.id).where(Target.owner_id == sub_id)).scalars())
        bids = list(s.exec(select(Benchmark.id).where(Benchmark.owner_id == sub_id)).scalars())
        cids = list(s.exec(select(Contact.id).where(Contact.owner_id == sub_id)).scalars())
        iids = list(s.exec(select(Incident.id).where(Incident.owner_id == sub_id)).scalars())
        nids = list(s.exec(select(Notification.id).where(
            (Notification.contact_id.in_(cids)) | (Notification.incident_id.in_(iids)))).scalars()) if (cids or iids) else []  # type: ignore[attr-defined]
        steps = [
            (Receipt, Receipt.notification_id, nids), (Notification, Notification.id, nids),
            (Result, Result.target_id, tids), (Rollup, Rollup.target_id, tids),
            (MaintenanceWindow, MaintenanceWindow.target_id, tids), (Incident, Incident.id, iids),
            (BenchmarkRun, BenchmarkRun.benchmark_id, bids), (Benchmark, Benchmark.id, bids),
            (Contact, Contact.id, cids), (Target, Target.id, tids),
        ]
        for model, col, ids in steps:
            if ids:
                res = s.exec(delete(model).where(col.in_(ids)))  # type: ignore[attr-defined]
                counts[model.__tablename__] = res.rowcount or 0  # type: ignore[attr-defined]
        s.exec(delete(Subscriber).where(Subscriber.id == sub_id))
        s.commit()
    counts["target_ids"] = len(tids)
    return counts


def erased_target_ids(counts: dict[str, Any]) -> int:
    return int(counts.get("target_ids", 0))
