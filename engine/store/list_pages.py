"""Windows of the long lists (the audit history, incidents, maintenance windows) in a fixed order.

A console shows forty rows of 100,000 events: it asks for the window it shows and the number that
match, never the whole list. Each order is total (a unique id breaks ties), so a window at an
offset and one after a row (the `next` cursor of the window before) both follow from the index.
A window past the middle is read from the other end of the index in the reverse order, so End
costs what Home costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from engine.store.audit import AuditRow
from engine.store.models import AuditEntry, Incident, MaintenanceWindow
from engine.store.store import Store

SORT_MAX = 5000  # matches a filtered window sorts; beyond, it filters the time index instead
INCIDENT_STATES = ("firing", "acknowledged", "silenced", "resolved")  # the Alerts screen's order


@dataclass
class Window:
    """Where a window starts in the whole order, how many match, and the rows (as the query
    yields them, in order)."""

    offset: int
    total: int
    rows: list[Any]


def _bounds(offset: int, limit: int, total: int, after: bool = False) -> tuple[int, int]:
    """The window asked for, inside the list: one asked at or past the end is the last full
    window (End); after a cursor it starts there, however few rows are left."""
    if offset >= total and not after:
        offset = total - limit
    offset = max(0, min(offset, total))
    return offset, max(0, min(limit, total - offset))


def _slice(
    conn: Any,
    q: Any,
    order: Sequence[ColumnElement[Any]],
    desc: bool,
    offset: int,
    limit: int,
    total: int,
) -> list[Any]:
    """Rows offset..offset+limit of `q` ordered by `order` (descending when `desc`): read from
    the nearer end of the index, then put back in the order asked."""
    if limit <= 0:
        return []
    fwd = [c.desc() if desc else c.asc() for c in order]
    if offset + limit // 2 <= total // 2:
        return list(conn.execute(q.order_by(*fwd).offset(offset).limit(limit)).all())
    back = [c.asc() if desc else c.desc() for c in order]
    skip = max(0, total - offset - limit)
    return list(reversed(conn.execute(q.order_by(*back).offset(skip).limit(limit)).all()))


# ---- the audit history (newest first) ---------------------------------------------------------
def _audit_where(
    store: Store, target_id: str | None, kind: str | None, until: float | None, scan: bool = False
) -> Any:
    """The History filters. `scan`: as a filter over the time index rather than through the
    ref and action indexes (which would sort every match): SQLite takes an index whenever a
    column can use one, so the columns are written as expressions that cannot."""
    a = AuditEntry.__table__  # type: ignore[attr-defined]
    ref = a.c.object_ref.concat("") if scan else a.c.object_ref
    action = a.c.action.concat("") if scan else a.c.action
    conds: list[Any] = []
    if target_id is not None:
        its_incidents = select(literal("incident:") + col(Incident.id)).where(
            col(Incident.target_id) == target_id
        )
        conds.append(or_(ref.in_(store.refs("target", target_id)), ref.in_(its_incidents)))
    if kind:  # `kind.` up to `kind/` ("/" follows "."): a range of the action index
        conds.append(and_(action >= kind + ".", action < kind + "/"))
    if until is not None:
        conds.append(a.c.ts < until)
    return and_(literal(True), *conds)


def audit_window(
    store: Store,
    target_id: str | None,
    kind: str | None,
    until: float | None,
    offset: int,
    limit: int,
    after: tuple[float, int] | None = None,
) -> Window:
    """Audit entries newest first (ts, then id), filtered as `audit.page`; rows are
    (id, ts, action, object_ref, actor_s, detail_s). `after` (ts, id) starts after that entry."""
    a = AuditEntry.__table__  # type: ignore[attr-defined]
    where = _audit_where(store, target_id, kind, until)
    with store.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(a).where(where)).scalar() or 0)
        if after is not None:
            ts, rid = after
            newer = or_(a.c.ts > ts, and_(a.c.ts == ts, a.c.id >= rid))
            offset = int(
                conn.execute(select(func.count()).select_from(a).where(where, newer)).scalar() or 0
            )
        offset, limit = _bounds(offset, limit, total, after is not None)
        # Many matches: walking the time index meets a window's worth soon; few: sort them.
        if (target_id or kind) and total > SORT_MAX and store.sqlite:
            where = _audit_where(store, target_id, kind, until, scan=True)
        q = select(a.c.id, a.c.ts, a.c.action, a.c.object_ref, a.c.actor_s, a.c.detail_s).where(
            where
        )
        rows = _slice(conn, q, (a.c.ts, a.c.id), True, offset, limit, total)
    return Window(offset, total, rows)


def opened(store: Store, rows: list[Any]) -> list[AuditRow]:
    """A window's entries with actor and detail opened."""
    out = []
    for r in rows:
        key = f"{r.ts:.6f}:{r.action}"
        actor = store.open_("audit", "actor_s", key, r.actor_s)
        out.append(
            AuditRow(
                r.ts,
                r.action,
                r.object_ref,
                actor,
                store.open_("audit", "detail_s", key, r.detail_s),
            )
        )
    return out


def incident_targets(store: Store, incident_ids: set[str]) -> dict[str, str | None]:
    """Incident id -> target id, for the incidents a window of history names."""
    if not incident_ids:
        return {}
    with store.session() as s:
        return {
            iid: tid
            for iid, tid in s.execute(
                select(col(Incident.id), col(Incident.target_id)).where(
                    col(Incident.id).in_(sorted(incident_ids))
                )
            ).all()
        }


# ---- incidents: firing, acknowledged, silenced, resolved; newest first in each -----------------
def incident_counts(store: Store) -> dict[str, int]:
    """Incidents per state (one index scan)."""
    i = Incident.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        q = select(i.c.state, func.count()).group_by(i.c.state)
        return {str(s): int(n) for s, n in conn.execute(q).all()}


def _placed(position: int, limit: int, after: bool) -> int:
    """The offset of the window after a row at `position` (1-based), or around it (a third of
    the way down: the row an action or a change moved stays in the window)."""
    return position if after else max(0, position - 1 - limit // 3)


def incident_window(
    store: Store,
    states: Sequence[str],
    offset: int,
    limit: int,
    after: str | None = None,
    around: str | None = None,
) -> tuple[Window, dict[str, int]]:
    """Incident ids in the Alerts order among `states`, and the count per state (of all). Each
    state is its own run of the (state, opened_at) index, so a window is at most a few seeks.
    `after` an incident, or `around` one (LookupError when it is not among them)."""
    i = Incident.__table__  # type: ignore[attr-defined]
    counts = incident_counts(store)
    wanted = [s for s in INCIDENT_STATES if s in states]
    sizes = [counts.get(s, 0) for s in wanted]
    total = sum(sizes)
    with store.engine.connect() as conn:
        if after is not None or around is not None:
            at = _incident_position(conn, wanted, sizes, after or around or "")
            offset = _placed(at, limit, after is not None)
        offset, limit = _bounds(offset, limit, total, after is not None)
        rows: list[Any] = []
        start = 0
        for state, size in zip(wanted, sizes, strict=True):
            lo, hi = max(offset, start), min(offset + limit, start + size)
            if lo < hi:
                q = select(i.c.id).where(i.c.state == state)
                rows += _slice(conn, q, (i.c.opened_at, i.c.id), True, lo - start, hi - lo, size)
            start += size
    return Window(offset, total, [r[0] for r in rows]), counts


def _incident_position(conn: Any, wanted: list[str], sizes: list[int], after: str) -> int:
    """Where incident `after` stands, from 1: it and all before it."""
    i = Incident.__table__  # type: ignore[attr-defined]
    row = conn.execute(select(i.c.state, i.c.opened_at).where(i.c.id == after)).first()
    if row is None or row[0] not in wanted:
        raise LookupError(after)
    state, opened = row
    before = sum(sizes[: wanted.index(state)])
    newer = or_(i.c.opened_at > opened, and_(i.c.opened_at == opened, i.c.id >= after))
    q = select(func.count()).select_from(i).where(i.c.state == state, newer)
    return before + int(conn.execute(q).scalar() or 0)


# ---- maintenance windows: everything's first, then by start ------------------------------------
def _live(now: float) -> Any:
    m = MaintenanceWindow.__table__  # type: ignore[attr-defined]
    return or_(m.c.schedule_s.is_not(None), m.c.ends_at.is_(None), m.c.ends_at > now)


def _window_order() -> tuple[ColumnElement[Any], ...]:
    m = MaintenanceWindow.__table__  # type: ignore[attr-defined]
    return (
        case((m.c.scope == "all", 0), else_=1),
        func.coalesce(m.c.starts_at, 0.0),
        m.c.id,
    )


def maintenance_window(
    store: Store,
    now: float,
    offset: int,
    limit: int,
    after: str | None = None,
    around: str | None = None,
) -> tuple[Window, int]:
    """Windows not yet over, everything's first then by start (then id): their rows, and how
    many cover every target. `after` a window, or `around` one, as `incident_window`."""
    m = MaintenanceWindow.__table__  # type: ignore[attr-defined]
    live = _live(now)
    with store.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(m).where(live)).scalar() or 0)
        alls = int(
            conn.execute(
                select(func.count()).select_from(m).where(live, m.c.scope == "all")
            ).scalar()
            or 0
        )
        order = _window_order()
        if after is not None or around is not None:
            keys = conn.execute(select(*order).where(m.c.id == (after or around), live)).first()
            if keys is None:
                raise LookupError(after or around)
            a, b, c = order
            later = or_(b < keys[1], and_(b == keys[1], c <= keys[2]))
            upto = or_(a < keys[0], and_(a == keys[0], later))
            at = int(
                conn.execute(select(func.count()).select_from(m).where(live, upto)).scalar() or 0
            )
            offset = _placed(at, limit, after is not None)
        offset, limit = _bounds(offset, limit, total, after is not None)
        rows = _slice(conn, select(m).where(live), order, False, offset, limit, total)
    return Window(offset, total, rows), alls
