"""Read-side commands: results, charts, uptime, history pages, engine figures."""

from __future__ import annotations

import time
from typing import Any

from engine.commands.base import CommandBase, live_records
from engine.core.errors import BadInput
from engine.core.history_kinds import HISTORY_KINDS
from engine.core.limits import (
    BUCKETS,
    EPOCH,
    LIST_LIMIT,
    SERIES_SECONDS,
    Ref,
    check_int,
    check_number,
)
from engine.store import audit as audit_log
from engine.store import history as hist


class QueryCommands(CommandBase):
    def target_results(
        self, ref: str, limit: int | str = 50, before: float | str | None = None
    ) -> list[dict[str, Any]]:
        n, until = check_int(limit, "limit", LIST_LIMIT), _moment(before, "before")
        rec = self.target_record(ref)
        return hist.recent_results(self.store, rec.id, n, until)

    def target_series(
        self,
        ref: str,
        seconds: float | str = 3600,
        buckets: int | str = 60,
        now: float | str | None = None,
    ) -> dict[str, Any]:
        """`now` ends the window (default: the clock); the console passes its own clock."""
        s = check_number(seconds, "seconds", SERIES_SECONDS)
        b, end = check_int(buckets, "buckets", BUCKETS), _moment(now, "now")
        rec = self.target_record(ref)
        return {
            "series": hist.latency_series(self.store, rec.id, s, b, end),
            "uptime": hist.uptime(self.store, rec.id, s, end),
        }

    def uptimes(
        self, seconds: float | str = 86400, now: float | str | None = None
    ) -> dict[str, float]:
        s = check_number(seconds, "seconds", SERIES_SECONDS)
        return hist.uptime_many(self.store, s, _moment(now, "now"))

    def target_states(self, target: Ref | None = None) -> dict[str, str]:
        """Each target's shown state as the running engine sees it (maintenance and pause applied),
        or only `target`'s (the detail screen: all of them take 60 ms and more at 100,000).
        The store holds only the probe state, saved every few seconds; without an engine the
        stored state with pause and the maintenance windows of now applied (`sysalert status`)."""
        if not self.hooks.targets:  # no engine, or one that holds no target yet
            return self._stored_states(target)
        live, shown = self.hooks.targets, self.hooks.display_state
        if target:
            rec = live.get(target) or live.get(self.target_record(target).id)
            return {rec.id: shown(rec)} if rec is not None else {}
        return {rec.id: shown(rec) for rec in live_records(self.hooks) or ()}

    def _stored_states(self, target: str | None) -> dict[str, str]:
        from engine.alerting import maintenance as mstore
        from engine.store import windows as wstore

        now = time.time()
        index = mstore.MaintenanceIndex()
        index.rebuild(wstore.load_all(self.store), now)
        recs = [self.target_record(target)] if target else self.target_records()
        return {r.id: index.shown(r) for r in recs}

    def history(
        self,
        target: Ref | None = None,
        kind: str | None = None,
        before: float | str | None = None,
        limit: int | str = 100,
    ) -> list[dict[str, Any]]:
        """Audit-backed history, newest first, paged by `before` (never loads everything)."""
        n, until = check_int(limit, "limit", LIST_LIMIT), _moment(before, "before")
        if kind and kind not in HISTORY_KINDS:
            raise BadInput(
                f"history kind {kind!r} is unknown", f"use one of {', '.join(HISTORY_KINDS)}"
            )
        tid = self.target_record(target).id if target else None  # its own and its incidents'
        rows, incident_target = audit_log.page(self.store, tid, kind, until, n)
        return self._events(rows, incident_target)

    def _events(
        self, rows: list[audit_log.AuditRow], incident_target: dict[str, str | None]
    ) -> list[dict[str, Any]]:
        """Audit entries as history events, with the target each names (read for these only)."""
        # Names for this page only: opening every target's name took 4 s at 100,000 targets.
        refs = {r.object_ref or "" for r in rows}
        names = self.target_ref_names(refs)  # type: ignore[attr-defined]
        by_id = self.target_names(t for t in incident_target.values() if t)  # type: ignore[attr-defined]
        for iid, tid in incident_target.items():
            if tid in by_id:
                names[f"incident:{iid}"] = by_id[tid]
        names.update(self._few_names(refs))
        out = []
        for r in rows:
            target = names.get(r.object_ref or "")
            if target is None and r.action.startswith("maintenance."):
                # A tag's or everything's window: the sealed detail names the tag.
                target = {"tag": r.detail, "all": "all"}.get(r.object_ref or "")
            out.append(
                {
                    "ts": r.ts,
                    "kind": r.action.split(".", 1)[0],
                    "action": r.action,
                    "target": target,
                    "ref": r.object_ref,
                    "actor": r.actor,
                    "detail": r.detail,
                }
            )
        return out

    def _few_names(self, refs: set[str]) -> dict[str, str]:
        """Benchmarks and contacts by their keyed refs: there are few of them, so all are read,
        and only when the page names one."""
        from engine.store import benchmarks as bstore
        from engine.store import contacts as cstore

        out: dict[str, str] = {}
        for kind, load in (("bench", bstore.load_all), ("contact", cstore.load_all)):
            if any(r.startswith(kind + ":") for r in refs):
                for rec in load(self.store):
                    for ref in self.store.refs(kind, rec.id):  # before a rotation too
                        out[ref] = rec.name
        return out

    def engine_stats(self) -> dict[str, Any]:
        live = self.hooks.stats()  # empty without an engine
        if live:
            return live
        return {
            "mode": "offline",
            "targets": len(self.target_records()),
            "probe_rate": 0.0,
            "ts": time.time(),
        }


def _moment(value: float | str | None, what: str) -> float | None:
    """A point in time as Unix seconds (`before=`, `now=`), or None when not given."""
    if value is None or value == "":
        return None
    return check_number(value, what, EPOCH)
