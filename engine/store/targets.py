"""Targets in the store: sealed names, specs, tags and conditions; lookups by fingerprint."""

from __future__ import annotations

import operator
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

import engine.checks.specs  # noqa: F401  (hands TargetRecord.spec its parser)
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.store.models import Target
from engine.store.store import Store

T = "targets"
_RUNTIME = (
    "state",
    "state_since",
    "next_due",
    "last_check_at",
    "last_latency_ms",
    "last_error_class",
    "fail_streak",
    "ok_streak",
    "flapping",
    "hb_state",
)


def to_row(store: Store, rec: TargetRecord) -> Target:
    rid = rec.id
    row = Target(
        id=rid,
        name_fp=store.fp("target.name", rec.name),
        name_s=store.seal(T, "name_s", rid, rec.name),
        spec_s=store.seal(T, "spec_s", rid, rec.spec_text),
        kind=rec.kind,
        interval_s=rec.interval_s,
        timeout_s=rec.timeout_s,
        tags_s=store.seal_json(T, "tags_s", rid, rec.tags),
        tag_fps=" ".join(store.fp("tag", t) for t in rec.tags),
        conditions_s=store.seal_json(T, "conditions_s", rid, rec.conditions),
        options_s=store.seal_json(T, "options_s", rid, rec.options),
        token_fp=store.fp("target.token", rec.token) if rec.token else None,
        token_s=store.seal(T, "token_s", rid, rec.token),
        owner_id=rec.owner_id,
        parent_id=rec.parent_id,
        failure_threshold=rec.failure_threshold,
        recovery_threshold=rec.recovery_threshold,
        paused=rec.paused,
        declared=rec.declared,
        locations=",".join(rec.locations),
        quorum=rec.quorum,
        created_at=rec.created_at or time.time(),
        updated_at=time.time(),
    )
    for k in _RUNTIME:
        setattr(row, k, getattr(rec, k))
    return row


def from_row(store: Store, row: Target) -> TargetRecord:
    rid = row.id
    rec = TargetRecord(
        id=rid,
        name=store.open_(T, "name_s", rid, row.name_s) or "",
        spec_text=store.open_(T, "spec_s", rid, row.spec_s) or "",
        kind=row.kind,
        interval_s=row.interval_s,
        timeout_s=row.timeout_s,
        tags=store.open_json(T, "tags_s", rid, row.tags_s, []),
        conditions=store.open_json(T, "conditions_s", rid, row.conditions_s, []),
        options=store.open_json(T, "options_s", rid, row.options_s, {}),
        token=store.open_(T, "token_s", rid, row.token_s),
        owner_id=row.owner_id,
        parent_id=row.parent_id,
        failure_threshold=row.failure_threshold,
        recovery_threshold=row.recovery_threshold,
        paused=row.paused,
        declared=row.declared,
        locations=[x for x in (row.locations or "").split(",") if x],
        quorum=row.quorum,
        created_at=row.created_at,
    )
    for k in _RUNTIME:
        setattr(rec, k, getattr(row, k))
    return rec


def insert(store: Store, rec: TargetRecord) -> TargetRecord:
    if not rec.id:
        rec.id = store.fresh_id(Target)
    rec.created_at = rec.created_at or time.time()
    with store.session() as s:
        if s.execute(
            select(col(Target.id)).where(
                col(Target.name_fp).in_(store.fps("target.name", rec.name))
            )
        ).first():
            raise BadInput(f"a target named {rec.name!r} already exists", "choose another --name")
        s.add(to_row(store, rec))
        try:
            s.commit()
        except IntegrityError:
            raise BadInput(
                f"a target named {rec.name!r} already exists", "choose another --name"
            ) from None
    return rec


def save(store: Store, rec: TargetRecord) -> None:
    """Rewrite a target's definition (edit) keeping its id."""
    with store.session() as s:
        row = s.get(Target, rec.id)
        if row is None:
            raise BadInput(
                f"target {rec.id} no longer exists", "list targets with `sysalert target list`"
            )
        fresh = to_row(store, rec)
        for col in Target.model_fields:
            if col not in ("id", "created_at"):
                setattr(row, col, getattr(fresh, col))
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise BadInput(
                f"a target named {rec.name!r} already exists", "choose another name"
            ) from None


def load_all(store: Store, owner_id: str | None = None) -> list[TargetRecord]:
    with store.session() as s:
        q = select(Target)
        if owner_id is not None:
            q = q.where(col(Target.owner_id) == owner_id)
        return [from_row(store, r) for r in s.execute(q).scalars()]


def all_ids(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.execute(select(Target.id)).scalars())  # type: ignore[call-overload]


def names_of(store: Store, target_ids: Iterable[str]) -> dict[str, str]:
    """id -> name for just these targets: only their name column is read and opened."""
    ids = sorted(set(target_ids))
    out: dict[str, str] = {}
    with store.session() as s:
        for i in range(0, len(ids), 500):
            q = select(col(Target.id), col(Target.name_s)).where(
                col(Target.id).in_(ids[i : i + 500])
            )
            for tid, name_s in s.execute(q):
                out[tid] = store.open_(T, "name_s", tid, name_s) or ""
    return out


def get(store: Store, target_id: str) -> TargetRecord | None:
    with store.session() as s:
        row = s.get(Target, target_id)
        return from_row(store, row) if row else None


def find(store: Store, ref: str) -> TargetRecord | None:
    """By id or by name (name via fingerprint, so no table scan and no plaintext index)."""
    rec = get(store, ref)
    if rec is not None:
        return rec
    with store.session() as s:
        row = s.execute(
            select(Target).where(col(Target.name_fp).in_(store.fps("target.name", ref)))
        ).first()
        return from_row(store, row[0]) if row else None


def find_by_token(store: Store, token: str) -> TargetRecord | None:
    with store.session() as s:
        row = s.execute(
            select(Target).where(col(Target.token_fp).in_(store.fps("target.token", token)))
        ).first()
        return from_row(store, row[0]) if row else None


def delete_target(store: Store, target_id: str) -> None:
    """The target, its history and its windows, in one transaction."""
    from engine.store.history import history_deletes
    from engine.store.models import MaintenanceWindow, TargetLease

    with store.session() as s:
        for stmt in history_deletes([target_id]):
            s.execute(stmt)
        s.execute(delete(TargetLease).where(col(TargetLease.target_id) == target_id))
        s.execute(delete(MaintenanceWindow).where(col(MaintenanceWindow.target_id) == target_id))
        s.execute(delete(Target).where(col(Target.id) == target_id))
        s.commit()


_RUNTIME_ROW = operator.attrgetter(*_RUNTIME, "id")  # one C call per target, in SQL's order
_SQLITE_RUNTIME = f"UPDATE targets SET {', '.join(f'{k} = ?' for k in _RUNTIME)} WHERE id = ?"


def save_runtime(store: Store, recs: Iterable[TargetRecord]) -> None:
    """Persist the runtime columns of many targets in one transaction."""
    if store.sqlite:  # the driver's executemany; SQLAlchemy's per-row work dominates otherwise
        rows = [_RUNTIME_ROW(r) for r in recs]
        if rows:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(_SQLITE_RUNTIME, rows)
        return
    dicts: list[dict[str, Any]] = [
        {"_id": r.id, **{k: getattr(r, k) for k in _RUNTIME}} for r in recs
    ]
    if not dicts:
        return
    from sqlalchemy import bindparam

    stmt = (
        update(Target.__table__)  # type: ignore[attr-defined]
        .where(Target.__table__.c.id == bindparam("_id"))  # type: ignore[attr-defined]
        .values({k: bindparam(k) for k in _RUNTIME})
    )
    with store.engine.begin() as conn:
        conn.execute(stmt, dicts)
