"""Target commands: add, edit, remove, pause, list, show, check, seed, export, import."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from engine.checks.options import check_options
from engine.checks.specs import parse_spec
from engine.commands.base import CommandBase, check_name, live_records
from engine.commands.importing import TargetImport
from engine.commands.importing import decl_args as _decl_args
from engine.commands.importing import definition as _definition
from engine.commands.paging import TargetPaging
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
    check_text,
)
from engine.heartbeats.heartbeat import HeartbeatConfig, HeartbeatState, no_listener_hint
from engine.heartbeats.heartbeat import summary as hb_summary
from engine.store import target_batch
from engine.store import targets as tstore

# This machine's cpu, memory and disk, added on first start so the console shows live data at
# once. They carry no threshold of their own: a busy machine spikes to 100% for seconds all the
# time, and a target that fails on one check pages, recovers and flaps. A rule per target pages
# instead, and only once the level has held for SEED_FOR (Prometheus's `for: 5m`).
LOCAL_SEEDS = (
    ("system://cpu", "cpu"),
    ("system://memory", "memory"),
    ("system://disk:/", "disk /"),
)
SEED_FOR_S = 300.0
SEED_RULES = (  # rule name, metric, above, target name
    ("cpu high", "system.cpu", 95.0, "cpu"),
    ("memory high", "system.memory", 90.0, "memory"),
    ("disk / full", "system.disk", 90.0, "disk /"),
)


def seeded_note(names: list[str]) -> str:
    """What the first start added, and when it pages: `sysalert init` and the console say it."""
    from engine.core.durations import format_duration

    held = ", ".join(f"{t} above {above:g}%" for _, _, above, t in SEED_RULES if t in names)
    return (
        f"added this machine's {', '.join(names)} as targets; they alert only when a level holds"
        f" for {format_duration(SEED_FOR_S)} ({held}), not on a spike."
        " See `sysalert rules list`; `sysalert target remove NAME` drops one"
    )


def _check_name(name: str) -> str:
    return check_name(name, "target")


def check_threshold(value: int | str | None, what: str) -> int | None:
    """A per-target down-after / up-after count: a whole number 1-100, or None for the default."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 100:
        raise BadInput(
            f"{what} {value!r} must be a whole number from 1 to 100",
            f"e.g. {what}=3 (checks in a row); leave it out for the [engine] default",
        )
    return int(text)


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


def validate_conditions(conditions: list[str]) -> list[str]:
    if not conditions:
        return []
    from engine.checks.conditions.parse import parse_conditions

    parse_conditions(list(conditions))
    for text in conditions:
        if "[DOMAIN_EXPIRATION]" in text.upper():
            # Gatus fills it from a WHOIS/RDAP lookup; no probe here does, so it would read 0 and
            # fail every check for a reason nobody could see.
            raise BadInput(
                f"condition {text!r}: SysAlert does not look up domain registrations, so "
                "[DOMAIN_EXPIRATION] has no value",
                "drop it, or watch the certificate with [CERTIFICATE_EXPIRATION] > 720h",
            )
    return list(conditions)


class TargetCommands(TargetImport, TargetPaging, CommandBase):
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
            parent = self.get_target(depends_on)
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
            _spec=parsed,
        )
        return rec

    def add_target(self, spec: str, *, by: str = "operator", **kw: Any) -> TargetRecord:
        self.check_quota("targets", kw.get("owner_id"))  # type: ignore[attr-defined]
        new = self.build_target(spec, **kw)
        check_local_path(new)
        rec = tstore.insert(self.store, new)
        self.audit("target.add", self.store.ref("target", rec.id), by)
        self._notify("target_changed", rec.id)
        return rec

    def list_targets(self, owner_id: str | None = None) -> list[TargetRecord]:
        recs = tstore.load_all(self.store, owner_id)
        recs.sort(key=lambda r: r.name.lower())
        return recs

    def target_names(self, ids: Iterable[str]) -> dict[str, str]:
        """id -> name for just these targets, from the running engine's memory when there is one,
        else by opening only their names: 100,000 sealed targets take seconds to open in full."""
        wanted = set(ids)
        out: dict[str, str] = {}
        live = getattr(self.hooks, "targets", None)
        if live is not None:
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

    def get_target(self, ref: str, owner_id: str | None = None) -> TargetRecord:
        rec = tstore.find(self.store, ref.strip())
        if rec is None or (owner_id is not None and rec.owner_id != owner_id):
            raise NotFound(f"no target {ref!r}", "see `sysalert target list` for ids and names")
        return rec

    def heartbeat_info(self, ref: str, owner_id: str | None = None) -> dict[str, Any]:
        """A heartbeat's schedule, its last ping and next deadline, and where to ping it: for a
        push check the probe interval means nothing, so the console and `target show` read this.
        `listening` says whether the running engine takes pings over the network at all."""
        rec = self._heartbeat(ref, owner_id)
        cfg = HeartbeatConfig.from_spec(rec.spec)
        runner = getattr(getattr(self.hooks, "alerting", None), "heartbeats", None)
        state = runner.states.get(rec.id) if runner is not None else None
        if state is None:  # no engine has it in memory: the stored state and pings since
            state = self._stored_beat(rec, cfg)
        now = getattr(self.hooks, "clock", time.time)()
        info = hb_summary(cfg, state, datetime.fromtimestamp(now, UTC))
        listener = getattr(self.hooks, "ping_listener", None)
        info["ping_url"] = rec.public(self.ping_base).get("ping_url")
        info["listening"] = listener is not None
        info["hint"] = no_listener_hint(rec.name, listener, bool(self.settings.api.public_url))
        return info

    def _heartbeat(self, ref: str, owner_id: str | None = None) -> TargetRecord:
        rec = self.get_target(ref, owner_id)
        if rec.kind != "heartbeat" or not rec.token:
            raise BadInput(
                f"target {rec.name!r} is a {rec.kind} check, not a heartbeat",
                "only heartbeat:// targets take pings and have a ping schedule",
            )
        return rec

    def _stored_beat(self, rec: TargetRecord, cfg: HeartbeatConfig) -> HeartbeatState:
        """A heartbeat's state as the next engine start will see it: the stored state with the
        pings committed after it (a crash, or `sysalert ping` while no engine ran) folded in."""
        from engine.heartbeats.runner import fold_stored_pings

        stored = HeartbeatState.from_dict(json.loads(rec.hb_state or "{}"))
        return fold_stored_pings(self.store, rec.id, cfg, stored)[0]

    def store_ping(
        self, ref: str, kind: str = "success", exit_status: int | None = None
    ) -> dict[str, Any]:
        """A ping taken while no engine runs (`sysalert ping` during a restart or before the
        first start): its row is committed now and folded into the heartbeat's state when the
        engine starts (the same replay that covers a crash after a 200), so a cron job that ran
        meanwhile is not reported missing. The caller holds the engine lock meanwhile."""
        if self.hooks is not None:
            raise BadInput("a running engine takes pings itself", "send it to the ping URL")
        rec = self._heartbeat(ref)
        from engine.heartbeats.heartbeat import apply_ping
        from engine.heartbeats.runner import ping_code, ping_result
        from engine.store.history import ResultWriter

        cfg = HeartbeatConfig.from_spec(rec.spec)
        state = self._stored_beat(rec, cfg)  # a /start stored a minute ago times this run
        now = time.time()
        new, outcome = apply_ping(cfg, state, kind, datetime.fromtimestamp(now, UTC), exit_status)
        writer = ResultWriter(self.store)
        writer.add(rec.id, now, ping_result(outcome, exit_status), ping_code(kind, exit_status))
        writer.commit(writer.prepare(writer.take()), rollups=True)
        info = hb_summary(cfg, new, datetime.fromtimestamp(now, UTC))
        info["stored_for_replay"] = True
        return info

    def edit_target(
        self, ref: str, owner_id: str | None = None, by: str = "operator", **changes: Any
    ) -> TargetRecord:
        old = self.get_target(ref, owner_id)
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
        }
        args.update({k: v for k, v in changes.items() if v is not None})
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
        if "depends_on" in changes:
            new.parent_id = (
                self.get_target(changes["depends_on"]).id if changes["depends_on"] else None
            )
            self._check_no_cycle(new)
        tstore.save(self.store, new)
        self.audit("target.edit", self.store.ref("target", new.id), by)
        self._notify("target_changed", new.id)
        return new

    def _check_parents(
        self, source: str | Callable[[int], str], decls: list[Any], built: list[TargetRecord]
    ) -> None:
        """An import's (or the config's) depends_on names a target in the file or the store, and
        forms no cycle with the rest: checked in full first, so a bad file changes nothing.
        `source` names the file, or gives the place of entry i."""
        at = source if callable(source) else (lambda _i: source)
        recs = {r.id: r for r in self.list_targets()}
        parent_of = {r.name: recs[r.parent_id].name for r in recs.values() if r.parent_id in recs}
        for d, rec in zip(decls, built, strict=True):
            if d.depends_on:  # an entry without one keeps its stored parent, as edit does
                parent_of[rec.name] = d.depends_on
        names = {r.name for r in recs.values()} | {rec.name for rec in built}
        for i, (d, rec) in enumerate(zip(decls, built, strict=True)):
            if not d.depends_on:
                continue
            if d.depends_on not in names:
                raise BadInput(
                    f"{at(i)}: {rec.name!r} depends on {d.depends_on!r}, which is not a target",
                    "add that target (in the file or before) or fix the name",
                )
            if _closes_cycle(rec.name, d.depends_on, parent_of.get):
                raise BadInput(
                    f"{at(i)}: {rec.name!r} depends on itself through {d.depends_on!r}",
                    "break the cycle in depends_on",
                )

    def _check_no_cycle(self, rec: TargetRecord) -> None:
        """A target may not depend on itself, directly or through its parents: an outage would
        hold its own alerts forever."""

        def stored_parent(tid: str) -> str | None:
            parent = tstore.find(self.store, tid)
            return parent.parent_id if parent is not None else None

        if rec.parent_id and _closes_cycle(rec.id, rec.parent_id, stored_parent):
            raise BadInput(
                f"{rec.name!r} cannot depend on a target that depends on it",
                "pick a parent outside its own chain, or --depends-on '' to remove it",
            )

    def remove_target(
        self, ref: str, owner_id: str | None = None, by: str = "operator"
    ) -> TargetRecord:
        rec = self.get_target(ref, owner_id)
        tstore.delete_target(self.store, rec.id)
        self.audit("target.remove", self.store.ref("target", rec.id), by)
        self._notify("target_removed", rec.id)
        return rec

    def pause_target(
        self, ref: str, paused: bool = True, owner_id: str | None = None, by: str = "operator"
    ) -> TargetRecord:
        rec = self.get_target(ref, owner_id)
        rec.paused = paused
        rec.state = "paused" if paused else "unknown"
        tstore.save(self.store, rec)
        self.audit(
            "target.pause" if paused else "target.resume", self.store.ref("target", rec.id), by
        )
        self._notify("target_changed", rec.id)
        return rec

    def seed_local_targets(self) -> list[str]:
        """First run: this machine's cpu, memory and disk, so the console shows live data at once,
        each with a rule that pages on a sustained level (see LOCAL_SEEDS)."""
        if tstore.load_all(self.store):
            return []
        names = [
            self.add_target(spec, name=name, interval="15s", by="seed").name
            for spec, name in LOCAL_SEEDS
        ]
        taken = {r["name"] for r in self.list_rules()}  # type: ignore[attr-defined]
        for rule, metric, above, target in SEED_RULES:
            if rule not in taken:  # a config [[rules]] entry of that name wins
                self.add_rule(  # type: ignore[attr-defined]
                    rule, metric, ">", above, SEED_FOR_S, "high", target=target, by="seed"
                )
        return names

    # ---- targets as code ----------------------------------------------------------------------
    def export_targets(self) -> str:
        """TOML that `import` reads back: targets as code."""
        lines = ["# sysalert export: targets as code (contains addresses: keep it private)", ""]
        recs = self.list_targets()
        names = {r.id: r.name for r in recs}
        for r in recs:
            lines.append("[[targets]]")
            lines.append(f"spec = {_toml_str(r.spec_text)}")
            lines.append(f"name = {_toml_str(r.name)}")
            if r.kind != "heartbeat":  # a heartbeat's cadence follows from its period and grace
                lines.append(f'interval = "{r.interval_s:g}s"')
                lines.append(f'timeout = "{r.timeout_s:g}s"')
            if r.tags:
                lines.append(f"tags = {_toml_value(r.tags)}")
            if r.conditions:
                lines.append(f"conditions = {_toml_value(r.conditions)}")
            if r.options:
                lines.append(f"options = {_toml_value(r.options)}")
            if r.parent_id and r.parent_id in names:
                lines.append(f"depends_on = {_toml_str(names[r.parent_id])}")
            for key in ("failure_threshold", "recovery_threshold"):
                if getattr(r, key) is not None:
                    lines.append(f"{key} = {getattr(r, key)}")
            lines.append("")
        return "\n".join(lines)

    def reconcile_declared(self) -> dict[str, int]:
        """Config [[targets]] are the truth for declared targets: add, update, remove. Every
        entry is built and its depends_on checked first, so a bad config changes nothing."""
        decls = self.settings.targets
        built = [self.build_target(**_decl_args(d), declared=True) for d in decls]
        if any(d.depends_on for d in decls):  # reading every target costs at 100,000
            self._check_parents(self._config_source, decls, built)
        existing = {r.name: r for r in target_batch.iter_all(self.store) if r.declared}
        seen: set[str] = set()
        added = updated = removed = 0
        for rec in built:
            seen.add(rec.name)
            old = existing.get(rec.name) or tstore.find(self.store, rec.name)
            if old is None:
                self.add_target(name=rec.name, by="config", **_definition(rec))
                added += 1
            elif _definition(old) != _definition(rec):
                self.edit_target(old.id, by="config", **_definition(rec))
                updated += 1
        for name, old in existing.items():
            if name not in seen:
                self.remove_target(old.id, by="config")
                removed += 1
        for d in decls:
            if d.depends_on:
                child = tstore.find(self.store, d.name)
                if child is None:
                    continue
                parent = self.target_names([child.parent_id]) if child.parent_id else {}
                if parent.get(child.parent_id or "") != d.depends_on:  # every start, no rewrite
                    self.edit_target(child.id, depends_on=d.depends_on, by="config")
        return {"added": added, "updated": updated, "removed": removed}

    def _config_source(self, i: int) -> str:
        """`file:line` of the i-th [[targets]] entry's depends_on, for a reconcile error."""
        from engine.config.settings import config_where

        return config_where(self.settings.config_path, None, ("targets", i, "depends_on"))


def check_declared(settings: Any, decl: Any) -> TargetRecord:
    """A [[targets]] entry built as `target add` builds it, without a store: the config load
    refuses what add would refuse. Its depends_on is resolved when the engine reconciles."""
    checker = TargetCommands()
    checker.settings = settings
    return checker.build_target(**_decl_args(decl), declared=True)


def _closes_cycle(child: str, parent: str, parent_of: Callable[[str], str | None]) -> bool:
    """Whether making `parent` the parent of `child` closes a loop of dependencies."""
    node: str | None
    seen, node = {child}, parent
    while node is not None:
        if node in seen:
            return True
        seen.add(node)
        node = parent_of(node)
    return False


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_value(v: Any) -> str:
    """A value for `export`: strings, numbers, booleans, arrays and inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):
        items = ", ".join(f"{_toml_str(str(k))} = {_toml_value(x)}" for k, x in v.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return _toml_str(str(v))
