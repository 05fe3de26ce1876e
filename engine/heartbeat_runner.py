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

from engine.heartbeat import HeartbeatConfig, HeartbeatState, apply_ping, evaluate, settle
from engine.probes.base import ProbeResult

if TYPE_CHECKING:
    from engine.domain import TargetRecord
    from engine.engine import Engine

log = logging.getLogger(__name__)
STATUS_TO_STATE = {
    "up": "up",
    "started": "up",
    "unknown": "unknown",
    "pending": "pending",
    "down": "down",
}


class HeartbeatRunner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.configs: dict[str, HeartbeatConfig] = {}
        self.states: dict[str, HeartbeatState] = {}  # live state; JSON only when persisted
        self._by_fp: dict[str, str] = {}  # token fingerprint -> target id
        self.committed = 0

    # ---- index ------------------------------------------------------------------------------------
    def index(self, rec: TargetRecord) -> None:
        if rec.kind == "heartbeat" and rec.token:
            self._by_fp[self.engine.store.fp("target.token", rec.token)] = rec.id
            self.configs[rec.id] = HeartbeatConfig.from_spec(rec.spec)

    def unindex(self, target_id: str) -> None:
        for fp, tid in list(self._by_fp.items()):
            if tid == target_id:
                del self._by_fp[fp]
        self.configs.pop(target_id, None)
        self.states.pop(target_id, None)

    def lookup(self, token: str) -> TargetRecord | None:
        # HMAC fingerprint, then dict lookup: constant-time with respect to the secret's content.
        tid = self._by_fp.get(self.engine.store.fp("target.token", token))
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
        old = self._state(rec)
        state, outcome = apply_ping(cfg, old, kind, datetime.fromtimestamp(now, UTC), exit_status)
        self._set(rec, state)
        self.engine.metrics.pings[outcome.kind] += 1
        if outcome.kind in ("success", "fail"):
            ok = outcome.kind == "success"
            value = (
                outcome.duration_s
                if outcome.duration_s is not None
                else (float(exit_status) if exit_status is not None else None)
            )
            res = ProbeResult(
                ok,
                None,
                value,
                None if ok else "exit",
                ""
                if ok
                else "ping: fail" + (f" exit {exit_status}" if exit_status is not None else ""),
            )
            if ok and rec.state == "up" and not old.started and not state.started:
                self.engine.process_state(rec, "up", res, now)  # the common case: no verdict needed
            else:
                self._apply(rec, state, now, res)
        else:
            self.engine.writer.add(rec.id, now, ProbeResult(True, None, None, None, ""))
        return rec

    def _apply(
        self, rec: TargetRecord, state: HeartbeatState, now: float, res: ProbeResult
    ) -> None:
        verdict = evaluate(
            self.configs.get(rec.id) or HeartbeatConfig.from_spec(rec.spec),
            state,
            datetime.fromtimestamp(now, UTC),
        )
        self.engine.process_state(rec, STATUS_TO_STATE.get(verdict.status, "unknown"), res, now)

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
        new_state = STATUS_TO_STATE.get(verdict.status, "unknown")
        if new_state != rec.state:
            res = ProbeResult(
                new_state in ("up", "unknown"),
                None,
                None,
                None if new_state in ("up", "unknown") else "missed",
                verdict.detail,
            )
            self.engine.process_state(rec, new_state, res, now)
