"""Heartbeats inside the engine: pings in, state out, durably.

The ping path is the hot path (thousands a second): the token is looked up by its fingerprint in an
in-memory index, the ping is folded into the target's state, and the answer waits for the group
commit that stores it (one transaction per few milliseconds), so a 200 means "recorded".
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.checks.probes.base import ProbeResult
from engine.core.state import Transition
from engine.heartbeats.heartbeat import (
    HeartbeatConfig,
    HeartbeatState,
    PingOutcome,
    apply_ping,
    evaluate,
    settle,
)
from engine.store.history import SINCE_MARGIN_S, latest_result_ts, pings_since

if TYPE_CHECKING:
    from engine.core.domain import TargetRecord
    from engine.heartbeats.ports import HeartbeatHost
    from engine.security.crypto import KeyRing
    from engine.store.store import Store

log = logging.getLogger(__name__)
STATUS_TO_STATE = {
    "up": "up",
    "started": "up",
    "unknown": "unknown",
    "pending": "pending",
    "down": "down",
}


def target_state(status: str, current: str) -> str:
    """The target state a verdict gives. A run in progress ("started") keeps the current state:
    a /start alone decides nothing, whether the deadline check or a replay sees it first (a
    never-pinged heartbeat stays unknown until its first run ends)."""
    if status == "started" and current in ("unknown", "pending"):
        return current
    return STATUS_TO_STATE.get(status, "unknown")


def ping_code(kind: str, exit_status: int | None) -> str:
    """How a result row names its ping: success, fail, start, log or exit:N (replay reads it)."""
    return f"exit:{exit_status}" if kind == "exit" else kind


def parse_ping_code(code: str) -> tuple[str, int | None]:
    if code.startswith("exit:"):
        return "exit", int(code[5:])
    return code, None


def fold_stored_pings(
    store: Store, target_id: str, cfg: HeartbeatConfig, state: HeartbeatState
) -> tuple[HeartbeatState, list[tuple[float, str]]]:
    """The state with every committed ping newer than it folded in, and those pings: rows a
    crash or an engine-less `sysalert ping` left ahead of the stored state."""
    since = state.last_event_at.timestamp() if state.last_event_at else None
    rows = pings_since(store, target_id, since)
    for ts, code in rows:
        kind, exit_status = parse_ping_code(code)
        state, _ = apply_ping(cfg, state, kind, datetime.fromtimestamp(ts, UTC), exit_status)
    return state, rows


def ping_result(outcome: PingOutcome, exit_status: int | None) -> ProbeResult:
    """The result row a ping leaves: ok for a success, an `exit` failure otherwise; the value is
    the run time when a /start came first, else the exit status. /start and /log rows are ok
    markers that decide nothing."""
    if outcome.kind not in ("success", "fail"):
        return ProbeResult(True, None, None, None, "")
    ok = outcome.kind == "success"
    value = (
        outcome.duration_s
        if outcome.duration_s is not None
        else (float(exit_status) if exit_status is not None else None)
    )
    detail = (
        "" if ok else "ping: fail" + (f" exit {exit_status}" if exit_status is not None else "")
    )
    return ProbeResult(ok, None, value, None if ok else "exit", detail)


class HeartbeatRunner:
    def __init__(self, engine: HeartbeatHost) -> None:
        self.engine = engine
        self.configs: dict[str, HeartbeatConfig] = {}
        self.states: dict[str, HeartbeatState] = {}  # live state; JSON only when persisted
        self._by_fp: dict[str, str] = {}  # token fingerprint -> target id
        # The ring _by_fp was built with: lookups use it too, so an index and its lookups agree
        # even while the store adopts a rotated ring from a worker thread (see rekey).
        self._ring: KeyRing = engine.store.keys
        self.committed = 0

    # ---- index ------------------------------------------------------------------------------------
    def index(self, rec: TargetRecord) -> None:
        if rec.kind == "heartbeat" and rec.token:
            self._by_fp[self._ring.fingerprint(rec.token, "target.token")] = rec.id
            self.configs[rec.id] = HeartbeatConfig.from_spec(rec.spec)

    @staticmethod
    def build_index(
        ring: KeyRing, recs: list[TargetRecord]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Any thread, off the loop: the token index under a rotated ring's MAC key, from a copy
        of the targets (an HMAC per heartbeat: about a second at 100,000). Returns the tokens it
        was built from and the index. Tokens do not change: ping URLs handed out keep working."""
        tokens = {r.id: r.token for r in recs if r.kind == "heartbeat" and r.token}
        return tokens, {ring.fingerprint(tok, "target.token"): tid for tid, tok in tokens.items()}

    def swap_index(self, ring: KeyRing, tokens: dict[str, str], index: dict[str, str]) -> None:
        """Event loop: adopt an index from build_index, with the heartbeats added, removed or given
        a new token since its copy was made. Index and ring change together, so a ping never meets
        an index built under another key than the one its token is fingerprinted with."""
        now = {
            r.id: r.token for r in self.engine.targets.values() if r.kind == "heartbeat" and r.token
        }
        for tid, tok in tokens.items():
            if now.get(tid) != tok:
                index.pop(ring.fingerprint(tok, "target.token"), None)
        for tid, tok in now.items():
            if tokens.get(tid) != tok:
                index[ring.fingerprint(tok, "target.token")] = tid
        self._by_fp, self._ring = index, ring

    def unindex(self, target_id: str) -> None:
        for fp, tid in list(self._by_fp.items()):
            if tid == target_id:
                del self._by_fp[fp]
        self.configs.pop(target_id, None)
        self.states.pop(target_id, None)

    def lookup(self, token: str) -> TargetRecord | None:
        # HMAC fingerprint, then dict lookup: constant-time with respect to the secret's content.
        tid = self._by_fp.get(self._ring.fingerprint(token, "target.token"))
        return self.engine.targets.get(tid) if tid else None

    def _state(self, rec: TargetRecord) -> HeartbeatState:
        st = self.states.get(rec.id)
        if st is None:
            st = (
                HeartbeatState.from_dict(json.loads(rec.hb_state))
                if rec.hb_state
                else HeartbeatState()
            )
            self.states[rec.id] = st
        return st

    def _set(self, rec: TargetRecord, state: HeartbeatState) -> None:
        self.states[rec.id] = state
        self.engine.dirty.add(rec.id)

    def serialize(self, recs: list[TargetRecord]) -> None:
        """Before runtime state is written: the live heartbeat state as JSON on the record."""
        for rec in recs:
            st = self.states.get(rec.id)
            if st is not None:
                rec.hb_state = json.dumps(st.to_dict())

    # ---- pings (event loop) ----------------------------------------------------------------------
    async def ping(
        self, token: str, kind: str, exit_status: int | None = None
    ) -> TargetRecord | None:
        """Record one ping and wait for its commit; the target, or None for an unknown token."""
        rec = self.record(token, kind, exit_status)
        if rec is not None:
            await self.engine.committed()
        return rec

    def record(self, token: str, kind: str, exit_status: int | None = None) -> TargetRecord | None:
        """Fold one ping into the target's state and queue its row; durable at the next commit
        (`Engine.when_committed`). None for an unknown token (HTTP 404)."""
        rec = self.lookup(token)
        if rec is None:
            return None
        cfg = self.configs.get(rec.id) or HeartbeatConfig.from_spec(rec.spec)
        now = self.engine.clock()
        code = ping_code(kind, exit_status)
        old = self._state(rec)
        if not self.engine.probes_here(rec.id):
            # Another engine on the shared store holds this heartbeat: the row is committed here
            # and that engine folds it into the state it keeps (engine.runtime.cluster).
            _, outcome = apply_ping(cfg, old, kind, datetime.fromtimestamp(now, UTC), exit_status)
            self.engine.metrics.pings[outcome.kind] += 1
            self.engine.writer.add(rec.id, now, ping_result(outcome, exit_status), code)
            self.engine.ping_elsewhere(rec, ping_result(outcome, exit_status), now, code)
            return rec
        state, outcome = apply_ping(cfg, old, kind, datetime.fromtimestamp(now, UTC), exit_status)
        self._set(rec, state)
        self.engine.metrics.pings[outcome.kind] += 1
        res = ping_result(outcome, exit_status)
        if outcome.kind in ("success", "fail"):
            if res.ok and rec.state == "up" and not old.started and not state.started:
                # The common case: no verdict needed.
                self.engine.process_state(rec, "up", res, now, code)
            else:
                self._apply(rec, state, now, res, code)
        else:
            self.engine.writer.add(rec.id, now, res, code)
        return rec

    def _apply(
        self, rec: TargetRecord, state: HeartbeatState, now: float, res: ProbeResult, code: str
    ) -> None:
        verdict = evaluate(
            self.configs.get(rec.id) or HeartbeatConfig.from_spec(rec.spec),
            state,
            datetime.fromtimestamp(now, UTC),
        )
        new = STATUS_TO_STATE.get(verdict.status, "unknown")
        self.engine.process_state(rec, new, res, now, code)

    # ---- after a restart (worker thread, before the engine runs) -----------------------------------
    def replay(self, recs: list[TargetRecord], now: float) -> list[tuple[TargetRecord, Transition]]:
        """Fold pings committed after the last runtime-state flush back into each heartbeat's state.

        A 200 is sent once the ping's row is committed, but the state it changed reaches the store
        with the runtime flush, up to two seconds later. Without this, a daemon killed in between
        would come back believing the last ping never came, and page for a job that ran.
        Returns the state changes, for the engine to hand to alerting (idempotent there).
        """
        changes: list[tuple[TargetRecord, Transition]] = []
        latest = latest_result_ts(self.engine.store, [r.id for r in recs])
        for rec in recs:
            cfg = self.configs.get(rec.id)
            if cfg is None or rec.id not in latest:
                continue
            state = self._state(rec)
            since = state.last_event_at.timestamp() if state.last_event_at else None
            if since is not None and latest[rec.id] <= since + SINCE_MARGIN_S:
                continue  # nothing newer than the stored state: the common case
            state, rows = fold_stored_pings(self.engine.store, rec.id, cfg, state)
            if not rows:
                continue
            self.states[rec.id] = state
            new = target_state(
                evaluate(cfg, state, datetime.fromtimestamp(now, UTC)).status, rec.state
            )
            rec.last_check_at = rows[-1][0]
            if new != rec.state:
                changes.append((rec, Transition(rec.state, new)))
                rec.state, rec.state_since = new, rows[-1][0]
            log.info(
                "heartbeat %s: %d ping(s) replayed",
                self.engine.store.ref("target", rec.id),
                len(rows),
            )
        return changes

    def fold_remote(
        self, rec: TargetRecord, ts: float, code: str, now: float
    ) -> list[tuple[TargetRecord, Transition]]:
        """Event loop: one ping another engine of a shared store took and committed for a
        heartbeat held here, folded in from the notification (time and ping code) without
        reading the store. A ping not newer than the state (a replay got it) changes nothing.
        Returns the state change, for the engine to hand to alerting."""
        cfg = self.configs.get(rec.id)
        if cfg is None:
            return []
        state = self._state(rec)
        if state.last_event_at is not None and ts <= state.last_event_at.timestamp():
            return []
        kind, exit_status = parse_ping_code(code)
        state, _ = apply_ping(cfg, state, kind, datetime.fromtimestamp(ts, UTC), exit_status)
        self._set(rec, state)
        new = target_state(evaluate(cfg, state, datetime.fromtimestamp(now, UTC)).status, rec.state)
        rec.last_check_at = ts
        if new == rec.state:
            return []
        change = (rec, Transition(rec.state, new))
        rec.state, rec.state_since = new, ts
        return [change]

    # ---- clock-driven evaluation (scheduler) -------------------------------------------------------
    def evaluate(self, rec: TargetRecord, now: float) -> None:
        """Missed deadlines: pending inside the grace, then down (sticky until a success ping)."""
        cfg = self.configs.get(rec.id)
        if cfg is None:
            self.index(rec)
            cfg = self.configs.get(rec.id)
            if cfg is None:
                return
        when = datetime.fromtimestamp(now, UTC)
        old = self._state(rec)
        state = settle(cfg, old, when)
        if state != old:
            self._set(rec, state)
        verdict = evaluate(cfg, state, when)
        new_state = target_state(verdict.status, rec.state)
        if new_state != rec.state:
            res = ProbeResult(
                new_state in ("up", "unknown"),
                None,
                None,
                None if new_state in ("up", "unknown") else "missed",
                verdict.detail,
            )
            self.engine.process_state(rec, new_state, res, now)
