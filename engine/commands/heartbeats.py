"""Heartbeat commands: a heartbeat's schedule and ping URL, and a ping taken while no engine runs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from engine.commands.base import CommandBase
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.core.results import HeartbeatInfo
from engine.heartbeats.heartbeat import HeartbeatConfig, HeartbeatState, no_listener_hint
from engine.heartbeats.heartbeat import summary as hb_summary


class HeartbeatCommands(CommandBase):
    def heartbeat_info(self, ref: str, owner_id: str | None = None) -> HeartbeatInfo:
        """A heartbeat's schedule, its last ping and next deadline, and where to ping it: for a
        push check the probe interval means nothing, so the console and `target show` read this.
        `listening` says whether the running engine takes pings over the network at all."""
        rec = self._heartbeat(ref, owner_id)
        cfg = HeartbeatConfig.from_spec(rec.spec)
        state = self.hooks.alerting.heartbeats.states.get(rec.id)
        if state is None:  # no engine has it in memory: the stored state and pings since
            state = self._stored_beat(rec, cfg)
        now = self.hooks.clock()
        info = hb_summary(cfg, state, datetime.fromtimestamp(now, UTC))
        listener = self.hooks.ping_listener
        return HeartbeatInfo(
            **info,
            ping_url=rec.public(self.ping_base).get("ping_url"),
            listening=listener is not None,
            hint=no_listener_hint(rec.name, listener, bool(self.settings.api.public_url)),
        )

    def _heartbeat(self, ref: str, owner_id: str | None = None) -> TargetRecord:
        rec = self.target_record(ref, owner_id)
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
    ) -> HeartbeatInfo:
        """A ping taken while no engine runs (`sysalert ping` during a restart or before the
        first start): its row is committed now and folded into the heartbeat's state when the
        engine starts (the same replay that covers a crash after a 200), so a cron job that ran
        meanwhile is not reported missing. The caller holds the engine lock meanwhile."""
        if self.hooks.running:
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
        return HeartbeatInfo(**info, stored_for_replay=True)
