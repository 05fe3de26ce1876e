"""Incident, maintenance, contact and notify commands (the same calls for console, CLI, API, chat)."""

from __future__ import annotations

import time
from typing import Any

import anyio

from engine.alerting import maintenance as mstore
from engine.commands.base import CommandBase, check_actor, live_records
from engine.core.durations import parse_duration
from engine.core.errors import BadInput, NotFound
from engine.core.limits import (
    ADDRESS_MAX,
    LEVEL,
    LIST_LIMIT,
    MAINTENANCE_FOR,
    REASON_MAX,
    REF_MAX,
    SCHEDULE_MAX,
    SILENCE_FOR,
    Actor,
    Address,
    Name,
    Reason,
    Ref,
    Schedule,
    check_int,
    check_name,
    check_text,
)
from engine.core.results import Contact, Incident, MaintenanceOff, MaintenanceOn, Window
from engine.notify import outbox
from engine.store import acks, incident_list
from engine.store import contacts as cstore
from engine.store import incidents as inc_store
from engine.store import windows as wstore


class AlertCommands(CommandBase):
    # ---- incidents ---------------------------------------------------------------------------
    def list_incidents(
        self,
        state: str | None = None,
        owner_id: str | None = None,
        target: Ref | None = None,
        limit: int | str = 200,
    ) -> list[Incident]:
        limit = check_int(limit, "limit", LIST_LIMIT)
        if state and state not in ("firing", "acknowledged", "resolved", "silenced"):
            raise BadInput(
                f"state {state!r} is unknown", "use firing, acknowledged, silenced or resolved"
            )
        tid = self.target_record(target).id if target else None
        found = incident_list.list_incidents(self.store, state, limit, owner_id, tid)
        return [Incident.model_validate(i) for i in found]

    def ack_incident(
        self, incident_id: str, by: Actor = "operator", owner_id: str | None = None
    ) -> Incident:
        by = check_actor(by)
        inc = self._own_incident(incident_id, owner_id)
        inc = inc_store.acknowledge(self.store, inc.id, by)
        outbox.cancel_pending(self.store, inc.id, ("reminder", "escalation"))
        self.audit("incident.ack", f"incident:{inc.id}", by)
        self._mark_notifications_acked(inc.id, by)
        self.hooks.incidents_changed(inc.id)
        return self._incident(inc.id)

    def resolve_incident(
        self, incident_id: str, by: Actor = "operator", owner_id: str | None = None
    ) -> Incident:
        by = check_actor(by)
        inc = self._own_incident(incident_id, owner_id)
        inc_store.resolve(self.store, inc.id)
        outbox.cancel_pending(self.store, inc.id)
        self.hooks.alerting.rules.forget(inc.dedup_key)
        self.audit("incident.resolve", f"incident:{inc.id}", by)
        self.hooks.incidents_changed(inc.id)
        return self._incident(inc.id)

    def silence_incident(
        self,
        incident_id: str,
        duration: str | float,
        by: Actor = "operator",
        owner_id: str | None = None,
    ) -> Incident:
        seconds = parse_duration(duration, "silence duration", SILENCE_FOR)
        by = check_actor(by)
        inc = self._own_incident(incident_id, owner_id)
        inc_store.silence(self.store, inc.id, seconds)
        self.audit("incident.silence", f"incident:{inc.id}", by, f"for {seconds:g}s")
        self.hooks.incidents_changed(inc.id)
        return self._incident(inc.id)

    def _own_incident(self, incident_id: str, owner_id: str | None) -> Any:
        inc = inc_store.get(self.store, incident_id)
        if owner_id is not None and inc.owner_id != owner_id:
            raise NotFound(f"no incident {incident_id!r}", "see /status for yours")
        return inc

    def _incident(self, incident_id: str) -> Incident:
        found = incident_list.list_incidents(self.store, incident_id=incident_id)
        if found:
            return Incident.model_validate(found[0])
        raise NotFound(f"no incident {incident_id!r}", "see `sysalert incidents list`")

    def _mark_notifications_acked(self, incident_id: str, by: str) -> None:
        acks.mark_acked(self.store, incident_id, by)

    # ---- maintenance -------------------------------------------------------------------------
    def maintenance_on(
        self,
        what: Ref,
        duration: str | float | None = None,
        reason: Reason = "",
        by: str = "operator",
        owner_id: str | None = None,
        schedule: Schedule | None = None,
    ) -> MaintenanceOn:
        scope, ref = mstore.parse_scope(check_text(what, "maintenance target", REF_MAX))
        reason = check_text(reason or "", "--reason", REASON_MAX, empty_ok=True)
        if schedule:
            schedule = check_text(schedule, "--schedule", SCHEDULE_MAX)
        if scope == "all" and owner_id is not None:
            return MaintenanceOn(
                windows=[
                    self.maintenance_on(t.id, duration, reason, by, owner_id).windows[0]
                    for t in self.target_records(owner_id)
                ]
            )
        now = time.time()
        target_id = self.target_record(ref, owner_id).id if scope == "target" and ref else None
        sched = None
        kind = "toggle"
        if schedule:
            from engine.timing.schedules import parse_window

            sched = parse_window(schedule)
            kind = sched.kind
        ends = (
            now + parse_duration(duration, "--for", MAINTENANCE_FOR)
            if duration is not None and duration != ""
            else None
        )
        w = wstore.insert(
            self.store,
            wstore.Window(
                "",
                scope,
                target_id,
                ref if scope == "tag" else None,
                kind,
                None if sched else now,
                ends,
                sched,
                reason,
                now,
            ),
        )
        self.audit(
            "maintenance.on", self._scope_ref(scope, target_id), by, _scope_detail(scope, ref)
        )
        self.hooks.maintenance_changed()
        names = {target_id: self.target_record(target_id).name} if target_id else {}
        out = MaintenanceOn(windows=[Window.model_validate(w.public(names))])
        if scope == "tag" and not self._tagged(ref or "", owner_id):
            out.note = (
                f"no target is tagged {ref!r} yet: the window holds targets once they carry the tag"
                f" (`sysalert target edit NAME --tag {ref}`); `sysalert maintenance off tag:{ref}`"
                " ends it"
            )
        return out

    def _scope_ref(self, scope: str, target_id: str | None) -> str:
        """What a maintenance audit entry is about: the target's keyed ref, or `tag` / `all`
        (a tag is sealed data: its name goes in the sealed detail)."""
        return self.store.ref("target", target_id) if target_id else scope

    def _tagged(self, tag: str, owner_id: str | None) -> bool:
        """Whether any target (of this owner) carries `tag`: the running engine's, else stored."""
        recs = live_records(self.hooks)
        if recs is None:
            recs = self.target_records(owner_id)
        return any(tag in r.tags for r in recs if owner_id is None or r.owner_id == owner_id)

    def maintenance_off(
        self, what: Ref, by: str = "operator", owner_id: str | None = None
    ) -> MaintenanceOff:
        """End maintenance now for a target, a tag or all. Recurring and future windows are plans
        and stay (the answer lists them); `note` says when the scope stays in maintenance anyway,
        and which window to remove for that."""
        scope, ref = mstore.parse_scope(what)
        windows = wstore.load_all(self.store)
        now = time.time()
        rec = None
        if scope == "all":
            own = {t.id for t in self.target_records(owner_id)} if owner_id is not None else None
            mine = [w for w in windows if own is None or w.target_id in own]
        elif scope == "tag":
            mine = [w for w in windows if w.scope == "tag" and w.tag == ref]
        else:
            rec = self.target_record(ref or "", owner_id)
            mine = [w for w in windows if w.target_id == rec.id]
        gone = [w.id for w in mine if w.endable(now)]
        kept = [w for w in mine if not w.endable(now)]
        wstore.remove(self.store, gone)
        self.audit(
            "maintenance.off",
            self._scope_ref(scope, rec.id if rec else None),
            by,
            _scope_detail(scope, ref),
        )
        self.hooks.maintenance_changed()
        # Still in maintenance now: a kept recurring window, or (for a target) a tag/all window.
        holding = [w for w in kept if w.active(now)]
        if rec is not None:
            holding += [
                w
                for w in windows
                if w.active(now)
                and w.id not in gone
                and w not in holding
                and (w.scope == "all" or (w.scope == "tag" and w.tag in rec.tags))
            ]
        names = self.target_names(w.target_id for w in kept if w.target_id)  # type: ignore[attr-defined]
        return MaintenanceOff(
            removed=len(gone),
            kept=[Window.model_validate(w.public(names)) for w in kept],
            note=_still_in_maintenance(what, holding, len(kept)),
        )

    def list_maintenance(self) -> list[Window]:
        now = time.time()
        windows = [w for w in wstore.load_all(self.store) if not w.expired(now)]
        names = self.target_names(w.target_id for w in windows if w.target_id)  # type: ignore[attr-defined]
        return [Window.model_validate(w.public(names)) for w in windows]

    def remove_window(self, window_id: str, by: str = "operator") -> dict[str, Any]:
        if not wstore.remove(self.store, [window_id.strip()]):
            raise NotFound(
                f"no maintenance window {window_id!r}", "see `sysalert maintenance list`"
            )
        self.audit("maintenance.remove", self.store.ref("maintenance", window_id), by)
        self.hooks.maintenance_changed()
        return {"removed": 1}

    # ---- contacts ----------------------------------------------------------------------------
    def add_contact(
        self,
        name: Name,
        address: Address,
        level: int | str = 1,
        owner_id: str | None = None,
        by: str = "operator",
    ) -> Contact:
        from engine.notify.channels import parse_contact_address

        name = check_name(name, "contact")
        level = check_int(level, "level", LEVEL)
        channel, addr = parse_contact_address(check_text(address, "address", ADDRESS_MAX))
        rec = cstore.insert(self.store, name, channel, addr, int(level), owner_id)
        self.audit("contact.add", self.store.ref("contact", rec.id), by)
        return Contact.model_validate(rec.public())

    def list_contacts(self, owner_id: str | None = None) -> list[Contact]:
        """Contacts by level; one whose notifications ran out of tries (an open delivery
        incident) shows as failing, not ok: only a permanent failure blocks it in the store."""
        from engine.alerting.trouble import troubled_contacts

        troubled = troubled_contacts(self.store)
        out = []
        for c in sorted(cstore.load_all(self.store, owner_id), key=lambda c: (c.level, c.name)):
            shown = Contact.model_validate(c.public())
            if shown.status == "ok" and c.id in troubled:
                shown.status = "failing"
            out.append(shown)
        return out

    def remove_contact(
        self, ref: str, owner_id: str | None = None, by: str = "operator"
    ) -> dict[str, Any]:
        c = cstore.find(self.store, ref.strip())
        if c is None or (owner_id is not None and c.owner_id != owner_id):
            raise NotFound(f"no contact {ref!r}", "see `sysalert contacts list`")
        cstore.erase(self.store, c.id)
        self.audit("contact.remove", self.store.ref("contact", c.id), by)
        return {"removed": c.name}

    async def notify_test(self, ref: str, by: str = "operator") -> dict[str, Any]:
        """Send a test message now (bypasses the outbox: the point is to see the error live)."""
        import httpx

        from engine.notify.dispatcher import channel_context
        from engine.notify.message import OutgoingMessage

        c = await anyio.to_thread.run_sync(cstore.find, self.store, ref.strip())
        if c is None:
            raise NotFound(f"no contact {ref!r}", "see `sysalert contacts list`")
        from datetime import UTC, datetime

        msg = OutgoingMessage(
            kind="test",
            incident_id="test",
            severity="low",
            target_name="SysAlert test",
            target_ref="",
            state="test",
            since=datetime.now(UTC),
            summary="This is a test notification from SysAlert.",
        )
        async with httpx.AsyncClient(timeout=15.0) as http:
            if self.hooks.running:
                out = await self.hooks.send_to_contact(c, msg)
            else:
                from engine.notify.dispatcher import Dispatcher

                out = await Dispatcher.send_direct(
                    c, msg, channel_context(self.settings, http), self
                )
        self.audit(
            "notify.test",
            self.store.ref("contact", c.id),
            by,
            "ok" if out.ok else out.error,
        )
        return {
            "ok": out.ok,
            "error": out.error,
            "channel": c.channel,
            "message_id": out.message_id,
        }


def _scope_detail(scope: str, ref: str | None) -> str | None:
    """The sealed detail of a tag's maintenance entry: `tag:NAME`, which history shows."""
    return f"tag:{ref}" if scope == "tag" and ref else None


def _still_in_maintenance(what: str, holding: list[wstore.Window], kept: int) -> str | None:
    """The sentence after `maintenance off` when it did not end everything."""
    if holding:
        ids = ", ".join(f"{w.id} ({w.public()['schedule'] or w.scope})" for w in holding[:3])
        return (
            f"{what} is still in maintenance through window {ids}; "
            f"`sysalert maintenance remove {holding[0].id}` deletes it"
        )
    if kept:
        return f"{kept} scheduled window(s) kept for later (`sysalert maintenance list`)"
    return None
