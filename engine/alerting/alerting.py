"""Alerting: turns state changes into incidents and incidents into outbox rows.

Runs beside the scheduler. Transitions are queued and handled in order in a worker thread (they touch
the store); a one-second tick handles maintenance boundaries, rule durations, escalation, resends
and silences. Nothing here blocks probing.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from engine.alerting import alertmanager, notifications, trouble
from engine.alerting.escalation import escalate_and_resend
from engine.alerting.maintenance import MaintenanceIndex
from engine.alerting.rules import RuleEvaluator
from engine.core.events import IncidentEvent, MaintenanceEvent
from engine.core.incident_states import SEVERITY_BY_KIND
from engine.core.state import Transition
from engine.heartbeats.runner import HeartbeatRunner
from engine.notify import outbox
from engine.notify.dispatcher import Dispatcher
from engine.notify.message import Kind
from engine.notify.ports import DeliveryTrouble
from engine.store import contacts as cstore
from engine.store import incidents as inc_store
from engine.store import windows as wstore

if TYPE_CHECKING:
    from engine.alerting.ports import AlertingHost
    from engine.checks.probes.base import ProbeResult
    from engine.core.domain import TargetRecord
    from engine.store.models import Incident

log = logging.getLogger(__name__)
STEP_ATTEMPTS = 3


class Alerting:
    def __init__(self, engine: AlertingHost) -> None:
        self.engine = engine
        self.store = engine.store
        self.maintenance = MaintenanceIndex()
        self.heartbeats = HeartbeatRunner(engine)
        self.rules = RuleEvaluator(engine, self)
        self.alertmanager = alertmanager.AlertmanagerReceiver(self)
        self.dispatcher = Dispatcher(
            engine,
            DeliveryTrouble(
                troubled=partial(trouble.troubled_contacts, self.store),
                report=partial(trouble.raise_trouble, self),
                clear=partial(trouble.clear_trouble, self),
            ),
        )
        self._send, self._recv = anyio.create_memory_object_stream[tuple[Any, ...]](100_000)
        self._was_in_maintenance: set[str] = set()
        self._step: tuple[tuple[Any, ...], int] | None = None  # in hand: retried after a crash

    # ---- called on the event loop, must be cheap ----------------------------------------------
    def in_maintenance(self, rec: TargetRecord) -> bool:
        return self.maintenance.covers(rec)

    def on_transition(
        self, rec: TargetRecord, tr: Transition, res: ProbeResult, now: float
    ) -> None:
        if tr.old == "unknown" and tr.new == "up" and not tr.flapping_changed:
            # A first success is no news (_on_transition neither audits nor alerts it). Queued,
            # it cost a worker-thread hop and an outbox claim each: every target of a fresh
            # import makes one, 100,000 in its first interval, which kept the alerting task
            # busy for minutes after the start.
            return
        snapshot = (
            rec.id,
            rec.name,
            rec.state,
            rec.flapping,
            rec.parent_id,
            rec.owner_id,
            rec.state_since,
        )
        try:
            self._send.send_nowait(("transition", snapshot, tr, res.error_class, res.detail, now))
        except anyio.WouldBlock:
            log.error("alerting queue full; a transition was dropped")

    def incident_changed(self, incident_id: str) -> None:
        self.engine.events.publish(IncidentEvent(self.engine.clock(), incident_id, "changed"))
        self.dispatcher.wake()

    def maintenance_changed(self) -> None:
        self._send.send_nowait(("maintenance",))

    # ---- the loops (each one a supervised task: a crash is logged, restarted, shown) ------------
    async def run(self) -> None:
        """State changes in order. A step that fails crashes the task and is retried first when
        the supervisor restarts it (the store may be back), up to STEP_ATTEMPTS times."""
        await anyio.to_thread.run_sync(self.reload_maintenance, self.engine.clock())
        while True:
            if self._step is None:
                self._step = (await self._recv.receive(), 0)
            item, attempts = self._step
            if attempts >= STEP_ATTEMPTS:
                log.error("alerting: a %s step failed %d times and is dropped", item[0], attempts)
            else:
                self._step = (item, attempts + 1)
                await anyio.to_thread.run_sync(self._handle, item)
            self._step = None
            self.dispatcher.wake()

    async def rules_loop(self) -> None:
        while True:
            await anyio.sleep(1.0)
            await anyio.to_thread.run_sync(self.rules_tick, self.engine.clock())
            self.dispatcher.wake()

    async def escalation_loop(self) -> None:
        while True:
            await anyio.sleep(1.0)
            await anyio.to_thread.run_sync(escalate_and_resend, self, self.engine.clock())
            self.dispatcher.wake()

    def _handle(self, item: tuple[Any, ...]) -> None:
        if item[0] == "transition":
            _, snap, tr, error_class, detail, now = item
            self._on_transition(snap, tr, error_class, detail, now)
        elif item[0] == "maintenance":
            self.reload_maintenance(self.engine.clock())

    # ---- transitions (worker thread) -------------------------------------------------------------
    def _on_transition(
        self,
        snap: tuple[Any, ...],
        tr: Transition,
        error_class: str | None,
        detail: str,
        now: float,
    ) -> None:
        tid, name, state, flapping, parent_id, owner_id, since = snap
        rec = self.engine.targets.get(tid)
        if rec is None:
            return
        if tr.old != tr.new and not (
            tr.old == "unknown" and tr.new == "up"
        ):  # first success is no news
            self.engine.commands.audit(
                f"state.{tr.new}",
                self.store.ref("target", tid),
                "engine",
                f"{tr.old} -> {tr.new}" + (f" ({error_class})" if error_class else ""),
            )
        if self.in_maintenance(rec):
            return  # no incident opens in maintenance; the window's end re-evaluates
        if tr.flapping_changed:
            self._flapping(rec, flapping, now)
            return
        if flapping:
            return  # one notice for the flapping, none per flip
        if state == "down" and tr.old != "down":
            self.open_for_target(rec, error_class, detail, now)
        elif state in ("up", "degraded", "partial") and tr.old in ("down", "pending"):
            self.resolve_for_target(rec, now)

    def _flapping(self, rec: TargetRecord, flapping: bool, now: float) -> None:
        key = f"flap:{rec.id}"
        if flapping:
            inc, created = inc_store.open_incident(
                self.store,
                key,
                "flapping",
                "medium",
                f"{rec.name} is flapping",
                rec.id,
                owner_id=rec.owner_id,
                now=now,
            )
            if created:
                self.audit("incident.open", inc.id, "engine")
                self.notify_level(inc, rec, 1, "flapping", now)
                self.publish_incident(inc.id, "firing", rec.id, "opened")
        else:
            still_open = inc_store.find_open(self.store, key)
            if still_open is not None:
                self.resolve_incident(still_open, rec, now, "engine")
            if rec.state == "down":
                self.open_for_target(rec, rec.last_error_class, "", now)
            elif rec.state in ("up", "degraded"):
                self.resolve_for_target(rec, now)

    def open_for_target(
        self, rec: TargetRecord, error_class: str | None, detail: str, now: float
    ) -> None:
        parent_inc = None
        parent = self.engine.targets.get(rec.parent_id) if rec.parent_id else None
        if parent is not None and parent.state in ("pending", "down"):
            parent_inc = inc_store.find_open(self.store, f"target:{parent.id}")
            if parent_inc is None:
                # The parent is failing too but has no incident (yet): the router and its hosts
                # fail in the same round. Wait for its verdict; _settle_children opens this then.
                return
        summary = (
            f"{rec.name} is down"
            + (f" ({error_class})" if error_class else "")
            + (f": {detail}" if detail else "")
        )
        inc, created = inc_store.open_incident(
            self.store,
            f"target:{rec.id}",
            "down",
            SEVERITY_BY_KIND["down"],
            summary,
            rec.id,
            error_class=error_class,
            parent_incident_id=parent_inc.id if parent_inc else None,
            owner_id=rec.owner_id,
            now=now,
        )
        if not created:
            return
        self.audit("incident.open", inc.id, "engine")
        if parent_inc is None:
            self.notify_level(inc, rec, 1, "alert", now)
        self.publish_incident(inc.id, "firing", rec.id, "opened")
        self._settle_children(rec, now)  # children that waited for this verdict: held under it

    def resolve_for_target(self, rec: TargetRecord, now: float) -> None:
        inc = inc_store.find_open(self.store, f"target:{rec.id}")
        if inc is not None:
            self.resolve_incident(inc, rec, now, "engine")
        self._settle_children(rec, now)  # the parent is fine: children still down page now

    def _settle_children(self, parent: TargetRecord, now: float) -> None:
        """Open incidents for children that went down while this parent's state was undecided.
        (Worker thread: the loop's parent -> children index, read with one get, not a walk.)"""
        targets = self.engine.targets
        for kid_id in self.engine.children.get(parent.id, ()):
            kid = targets.get(kid_id)
            if (
                kid is not None
                and kid.parent_id == parent.id
                and kid.state == "down"
                and not kid.flapping
                and not self.in_maintenance(kid)
            ):
                self.open_for_target(kid, kid.last_error_class, "", now)  # deduplicated

    def resolve_incident(self, inc: Any, rec: TargetRecord | None, now: float, by: str) -> None:
        was_held = inc.parent_incident_id is not None
        inc_store.resolve(self.store, inc.id, now)
        outbox.cancel_pending(self.store, inc.id)
        self.audit("incident.resolve", inc.id, by)
        if not was_held:
            self.notify_level(inc, rec, 0, "resolved", now)
        self.publish_incident(inc.id, "resolved", inc.target_id, "resolved")
        self.release_children(inc.id, now)

    def release_children(self, parent_incident_id: str, now: float) -> None:
        """The parent recovered: children still down page on their own now."""
        for kid in inc_store.held_children(self.store, parent_incident_id):
            child = self.engine.targets.get(kid.target_id or "")
            if not inc_store.unhold(self.store, kid.id):
                continue  # removed meanwhile (its target was deleted)
            if child is not None and child.state == "down":
                self.notify_level(kid, child, 1, "alert", now)
            elif child is not None:
                self.resolve_incident(kid, child, now, "engine")

    def open_incident(
        self,
        dedup_key: str,
        kind: str,
        severity: str,
        summary: str,
        now: float,
        *,
        target_id: str | None = None,
        rule_id: str | None = None,
        error_class: str | None = None,
        owner_id: str | None = None,
        names: list[str] | None = None,
    ) -> tuple[Incident, bool]:
        """Open (deduplicated) an incident about no target's state (a rule, a benchmark): audit,
        page level 1 (or the named contacts) and publish when it is new. (incident, created)."""
        inc, created = inc_store.open_incident(
            self.store,
            dedup_key,
            kind,
            severity,
            summary,
            target_id,
            rule_id=rule_id,
            error_class=error_class,
            owner_id=owner_id,
            now=now,
        )
        if created:
            self.audit("incident.open", inc.id, "engine")
            self.notify_level(inc, None, 1, "alert", now, names=names)
            self.publish_incident(inc.id, "firing", None, "opened")
        return inc, created

    def resolve_open(self, dedup_key: str, now: float) -> bool:
        """Resolve the open incident with this key, if any (a rule or benchmark is fine again)."""
        inc = inc_store.find_open(self.store, dedup_key)
        if inc is None:
            return False
        self.resolve_incident(inc, None, now, "engine")
        return True

    # ---- local incidents: the engine's own trouble (a broken Telegram session) -------------------
    def open_local_incident(
        self,
        dedup_key: str,
        kind: str,
        summary: str,
        now: float | None = None,
        *,
        everyone: bool = False,
        skip_channels: frozenset[str] = frozenset(),
    ) -> str | None:
        """Open (deduplicated) and notify level 1 (the next level with someone, if nobody there),
        or with `everyone` every operator contact of any level whose channel is not in
        `skip_channels` (the engine's own trouble); the new incident's id, None if already open."""
        now = now or time.time()
        inc, created = inc_store.open_incident(
            self.store, dedup_key, kind, SEVERITY_BY_KIND.get(kind, "high"), summary, now=now
        )
        if not created:
            return None
        self.audit("incident.open", inc.id, "engine")
        if everyone:
            names = [
                c.name
                for c in cstore.load_all(self.store)
                if c.status == "ok" and c.owner_id is None and c.channel not in skip_channels
            ]
            if names:
                self.notify_level(inc, None, 1, "alert", now, names=names)
        else:
            self.notify_level(inc, None, 1, "alert", now)
        self.publish_incident(inc.id, "firing", None, "opened")
        return inc.id

    def resolve_local_incident(self, dedup_key: str, now: float | None = None) -> bool:
        return self.resolve_open(dedup_key, now or time.time())

    # ---- notifications ------------------------------------------------------------------------
    def notify_level(
        self,
        inc: Any,
        rec: TargetRecord | None,
        level: int,
        kind: Kind,
        now: float,
        names: list[str] | None = None,
        seq: int | None = None,
    ) -> int:
        """Queue one notification per contact of `level` (see notifications.notify_level)."""
        return notifications.notify_level(
            self.store, self.rules.channels_for, inc, rec, level, kind, now, names, seq
        )

    # ---- the tick (worker thread) ------------------------------------------------------------
    def tick(self, now: float) -> None:
        """One round of what the rules and escalation loops do each second (tests, tools)."""
        self.rules_tick(now)
        escalate_and_resend(self, now)

    def rules_tick(self, now: float) -> None:
        nb = self.maintenance.next_boundary
        if nb is not None and now >= nb:
            self.reload_maintenance(now)
        self.rules.tick(now)

    def reload_maintenance(self, now: float) -> None:
        """Windows read again (changed, or a boundary passed); ended ones re-evaluate at once."""
        windows = wstore.load_all(self.store)
        expired = [w.id for w in windows if w.expired(now)]
        if expired:
            wstore.remove(self.store, expired)
            windows = [w for w in windows if w.id not in expired]
        self.maintenance.rebuild(windows, now)
        # Worker thread: walk a copy the loop made, not the dict the loop changes.
        covered = {r.id for r in self.engine.snapshot() if self.maintenance.covers(r)}
        ended = self._was_in_maintenance - covered
        started = covered - self._was_in_maintenance
        self._was_in_maintenance = covered
        wstore.sync_spans(self.store, covered, now)
        for tid in started:
            self.engine.events.publish(MaintenanceEvent(now, tid, True))
        for tid in ended:
            self.engine.events.publish(MaintenanceEvent(now, tid, False))
            rec = self.engine.targets.get(tid)
            if rec is None:
                continue
            # Ending a window re-evaluates at once: a target still down now pages.
            if rec.state == "down":
                self.open_for_target(rec, rec.last_error_class, "still down after maintenance", now)
            elif rec.state == "up":
                self.resolve_for_target(rec, now)
        if ended:
            self.rules.tick(now)  # rules on those targets too, not a tick later

    def audit(self, action: str, incident_id: str, actor: str) -> None:
        self.engine.commands.audit(action, f"incident:{incident_id}", actor)

    def publish_incident(
        self, incident_id: str, state: str, target_id: str | None, action: str
    ) -> None:
        """Tell the event bus's subscribers (console, API streams), from any thread."""
        ev = IncidentEvent(self.engine.clock(), incident_id, state, target_id, action)
        self.engine.call_in_loop(self.engine.events.publish, ev)
