"""Target commands: add, edit, remove, pause, list, show (export/import: targets_io; seeds: seeding)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from engine.checks.options import check_options
from engine.checks.specs import parse_spec
from engine.checks.validators import check_threshold, validate_conditions
from engine.commands.base import CommandBase, live_records
from engine.core.domain import TargetRecord
from engine.core.durations import format_duration, parse_duration
from engine.core.errors import BadInput, NotFound
from engine.core.limits import (
    CONDITION_MAX,
    CONDITIONS_MAX,
    INTERVAL,
    SPEC_MAX,
    TAG_MAX,
    TAGS_MAX,
    TIMEOUT,
    Conditions,
    Name,
    Options,
    Ref,
    Spec,
    Tags,
    check_count,
    check_name,
    check_text,
)
from engine.core.locations import check_locations, check_quorum
from engine.core.results import Target
from engine.core.spec_secrets import restore_password
from engine.store import targets as tstore

# What the engine keeps in memory and writes to the store only every few seconds.
RUNTIME_FIELDS = (
    "state",
    "state_since",
    "next_due",
    "last_check_at",
    "last_latency_ms",
    "last_error_class",
    "fail_streak",
    "ok_streak",
    "flapping",
)


def _check_name(name: str) -> str:
    return check_name(name, "target")


def check_local_path(rec: TargetRecord) -> None:
    """A system://disk:PATH must name a path on this machine when it is added: a typo would
    otherwise read as a failing check forever. (Checked at add, not at every load: a disk that
    is unmounted later is what the check is there to report.)"""
    spec = rec.spec
    if spec.kind == "system" and spec.metric == "disk":
        path = spec.params.get("path", "/")
        if not os.path.exists(path):
            raise BadInput(
                f"target spec {rec.spec_text!r}: the path {path!r} does not exist here",
                "give a mounted path, e.g. system://disk:/ or system://disk:/var",
            )


class TargetCommands(CommandBase):
    def build_target(
        self,
        spec: Spec,
        name: Name | None = None,
        interval: str | float | None = None,
        timeout: str | float | None = None,
        tags: Tags | None = None,
        conditions: Conditions | None = None,
        options: Options | None = None,
        owner_id: str | None = None,
        depends_on: Ref | None = None,
        failure_threshold: int | str | None = None,
        recovery_threshold: int | str | None = None,
        declared: bool = False,
        locations: str | list[str] | None = None,
        quorum: int | str | None = None,
    ) -> TargetRecord:
        """Validate everything and return an unsaved record; nothing is stored on error."""
        parsed = parse_spec(check_text(spec, "target spec", SPEC_MAX))
        eng = self.settings.engine
        iv = (
            parse_duration(interval, "interval", INTERVAL)
            if interval is not None
            else eng.default_interval
        )
        if timeout is not None:
            to = parse_duration(timeout, "timeout", TIMEOUT)
            if to > iv and parsed.kind != "heartbeat":
                raise BadInput(
                    f"timeout {format_duration(to)} is longer than the interval "
                    f"{format_duration(iv)}",
                    "give a timeout no longer than the interval, or a longer interval",
                )
        else:  # the [engine] default, cut to the interval of a fast target
            to = min(eng.default_timeout, iv)
        tags = [
            check_text(t, "tag", TAG_MAX, empty_ok=True)
            for t in check_count(tags, "tags", TAGS_MAX)
        ]
        conditions = [
            check_text(c, "condition", CONDITION_MAX)
            for c in check_count(conditions, "conditions", CONDITIONS_MAX)
        ]
        parent_id = None
        if depends_on:
            parent = self.target_record(depends_on)
            parent_id = parent.id
        token = None
        if parsed.kind == "heartbeat":
            from engine.heartbeats.heartbeat import HeartbeatConfig, new_token

            hb = HeartbeatConfig.from_spec(parsed)
            iv = min(max(hb.grace_s / 4, 1.0), 60.0)  # evaluation cadence, not a ping interval
            token = new_token()
        rec = TargetRecord(
            id="",
            name=_check_name(name or parsed.default_name()),
            spec_text=parsed.raw,
            kind=parsed.kind,
            interval_s=iv,
            timeout_s=to,
            tags=[t for t in tags if t],
            conditions=validate_conditions(conditions),
            options=check_options(parsed.kind, options),
            token=token,
            owner_id=owner_id,
            parent_id=parent_id,
            failure_threshold=check_threshold(failure_threshold, "failure_threshold"),
            recovery_threshold=check_threshold(recovery_threshold, "recovery_threshold"),
            declared=declared,
            locations=check_locations(locations),
            quorum=None,
            _spec=parsed,
        )
        rec.quorum = check_quorum(quorum, rec.locations)
        return rec

    def add_target(self, spec: str, *, by: str = "operator", **kw: Any) -> Target:
        self.check_quota("targets", kw.get("owner_id"))  # type: ignore[attr-defined]
        new = self.build_target(spec, **kw)
        check_local_path(new)
        rec = tstore.insert(self.store, new)
        self.audit("target.add", self.store.ref("target", rec.id), by)
        self.hooks.target_changed(rec.id)
        return self.public_target(rec)

    def target_records(self, owner_id: str | None = None) -> list[TargetRecord]:
        """The stored records by name (internal: the public answer is list_targets)."""
        recs = tstore.load_all(self.store, owner_id)
        recs.sort(key=lambda r: r.name.lower())
        return recs

    def list_targets(self, owner_id: str | None = None) -> list[Target]:
        return [self.public_target(r) for r in self.target_records(owner_id)]

    def public_target(self, rec: TargetRecord) -> Target:
        """The answer for one target: the stored definition with the running engine's state laid
        over it (the store has it only every few seconds), so a ping answered 200 a moment ago
        does not still read `unknown`."""
        live = self.hooks.targets.get(rec.id)
        if rec.locations or not self.hooks.probes_here(rec.id):
            live = None  # another engine's, or decided in the store (several engines): the store's
        if live is not None and live is not rec and live.kind == rec.kind:
            rec = replace(rec, **{k: getattr(live, k) for k in RUNTIME_FIELDS})
            beat = self.hooks.alerting.heartbeats.states.get(rec.id)
            rec.hb_state = json.dumps(beat.to_dict()) if beat is not None else live.hb_state
        return Target.from_record(rec, self.ping_base)

    def target_names(self, ids: Iterable[str]) -> dict[str, str]:
        """id -> name for just these targets, from the running engine's memory when there is one,
        else by opening only their names: 100,000 sealed targets take seconds to open in full."""
        wanted = set(ids)
        out: dict[str, str] = {}
        live = self.hooks.targets  # empty without an engine
        for tid in wanted:
            rec = live.get(tid)
            if rec is not None:
                out[tid] = rec.name
        missing = wanted - out.keys()
        if missing:
            out.update(tstore.names_of(self.store, missing))
        return out

    def _live_ids(self) -> list[str]:
        """Every target id: the running engine's, else the store's id column."""
        recs = live_records(self.hooks)
        return [r.id for r in recs] if recs is not None else tstore.all_ids(self.store)

    def target_ref_names(self, refs: Iterable[str]) -> dict[str, str]:
        """Keyed target ref (`target:3f9a1c2e`, as audit rows name a target) -> name. A ref is an
        HMAC of the id; the store keeps each id's ref (Store.refs_of)."""
        wanted = {r for r in refs if r.startswith("target:")}
        if not wanted:
            return {}
        ids = self._live_ids()
        by_ref = self.store.refs_of("target", ids)
        found = {r: by_ref[r] for r in wanted if r in by_ref}
        names = self.target_names(found.values())
        return {r: names[tid] for r, tid in found.items() if tid in names}

    def target_record(self, ref: str, owner_id: str | None = None) -> TargetRecord:
        rec = tstore.find(self.store, ref.strip())
        if rec is None or (owner_id is not None and rec.owner_id != owner_id):
            raise NotFound(f"no target {ref!r}", "see `sysalert target list` for ids and names")
        return rec

    def get_target(self, ref: str, owner_id: str | None = None) -> Target:
        return self.public_target(self.target_record(ref, owner_id))

    def edit_target(
        self, ref: str, owner_id: str | None = None, by: str = "operator", **changes: Any
    ) -> Target:
        old = self.target_record(ref, owner_id)
        new = self.edited_record(old, changes)
        if "depends_on" in changes:
            new.parent_id = (
                self.target_record(changes["depends_on"]).id if changes["depends_on"] else None
            )
            self._check_no_cycle(new)
        tstore.save(self.store, new)
        self.audit("target.edit", self.store.ref("target", new.id), by)
        self.hooks.target_changed(new.id)
        return self.public_target(new)

    def edited_record(self, old: TargetRecord, changes: dict[str, Any]) -> TargetRecord:
        """`old` with `changes` (build_target's arguments; None keeps a value) applied and
        checked, unsaved: edit writes one, import writes them a batch at a time."""
        args: dict[str, Any] = {
            "spec": old.spec_text,
            "name": old.name,
            "interval": old.interval_s,
            "timeout": old.timeout_s,
            "tags": old.tags,
            "conditions": old.conditions,
            "options": old.options,
            "owner_id": old.owner_id,
            "failure_threshold": old.failure_threshold,
            "recovery_threshold": old.recovery_threshold,
            "declared": old.declared,
            "locations": old.locations,
            "quorum": old.quorum,
        }
        args.update({k: v for k, v in changes.items() if v is not None})
        args["spec"] = restore_password(args["spec"], old.spec_text)  # *** means "unchanged"
        if changes.get("timeout") is None and old.kind != "heartbeat":
            # A shorter interval takes the stored timeout down with it; an explicit one is checked.
            iv = parse_duration(args["interval"], "interval", INTERVAL)
            args["timeout"] = min(old.timeout_s, iv)
        new = self.build_target(**args)
        if new.spec_text != old.spec_text:
            check_local_path(new)
        keep = (
            "id",
            "token",
            "parent_id",
            "paused",
            "created_at",
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
        for k in keep:
            setattr(new, k, getattr(old, k))
        if new.kind != old.kind:
            new.state, new.fail_streak, new.ok_streak = "unknown", 0, 0
            if new.kind == "heartbeat" and not new.token:
                from engine.heartbeats.heartbeat import new_token

                new.token = new_token()
        return new

    def _check_no_cycle(self, rec: TargetRecord) -> None:
        """A target may not depend on itself, directly or through its parents: an outage would
        hold its own alerts forever."""

        def stored_parent(tid: str) -> str | None:
            parent = tstore.find(self.store, tid)
            return parent.parent_id if parent is not None else None

        if rec.parent_id and closes_cycle(rec.id, rec.parent_id, stored_parent):
            raise BadInput(
                f"{rec.name!r} cannot depend on a target that depends on it",
                "pick a parent outside its own chain, or --depends-on '' to remove it",
            )

    def remove_target(self, ref: str, owner_id: str | None = None, by: str = "operator") -> Target:
        rec = self.target_record(ref, owner_id)
        tstore.delete_target(self.store, rec.id)
        self.audit("target.remove", self.store.ref("target", rec.id), by)
        self.hooks.target_removed(rec.id)
        return self.public_target(rec)

    def pause_target(
        self, ref: str, paused: bool = True, owner_id: str | None = None, by: str = "operator"
    ) -> Target:
        rec = self.target_record(ref, owner_id)
        rec.paused = paused
        rec.state = "paused" if paused else "unknown"
        tstore.save(self.store, rec)
        self.audit(
            "target.pause" if paused else "target.resume", self.store.ref("target", rec.id), by
        )
        self.hooks.target_changed(rec.id)
        return self.public_target(rec)


def check_declared(settings: Any, decl: Any) -> TargetRecord:
    """A [[targets]] entry built as `target add` builds it, without a store: the config load
    refuses what add would refuse. Its depends_on is resolved when the engine reconciles."""
    checker = TargetCommands()
    checker.settings = settings
    return checker.build_target(**decl_args(decl), declared=True)


def decl_args(d: Any) -> dict[str, Any]:
    """build_target's arguments from a [[targets]] entry (config or import)."""
    return {
        "spec": d.spec,
        "name": d.name or None,
        "interval": d.interval,
        "timeout": d.timeout,
        "tags": d.tags,
        "conditions": d.conditions,
        "options": d.options,
        "failure_threshold": d.failure_threshold,
        "recovery_threshold": d.recovery_threshold,
        "locations": d.locations,
        "quorum": d.quorum,
    }


def closes_cycle(child: str, parent: str, parent_of: Callable[[str], str | None]) -> bool:
    """Whether making `parent` the parent of `child` closes a loop of dependencies."""
    node: str | None
    seen, node = {child}, parent
    while node is not None:
        if node in seen:
            return True
        seen.add(node)
        node = parent_of(node)
    return False
