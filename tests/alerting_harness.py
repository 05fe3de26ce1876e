"""Drives the real Engine and store by hand: explicit times, no scheduler, no sleeping.

`Engine.process()` queues each transition for the alerting worker; `Rig.drain()` runs the queued
steps inline and in order, exactly as the running engine's worker thread would. The clock starts
just ahead of the real time because the command layer (ack, silence, maintenance toggles) stamps
with time.time(): a toggle made during the test has begun by the rig's time 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import select

from engine.checks.probes.base import ProbeResult
from engine.config.settings import Settings
from engine.core.domain import TargetRecord
from engine.notify import outbox
from engine.runtime.engine import Engine
from engine.security.crypto import KeyRing
from engine.store.models import Notification
from engine.store.store import Store

LEAD_S = 2.0


class Clock:
    """A clock the test moves; the engine reads it wherever it asks for `now`."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def drain_alerting(engine: Any) -> None:
    """Run every queued alerting step here, in order: the engine's loop is not running."""
    al = engine.alerting
    while True:
        try:
            item = al._recv.receive_nowait()
        except anyio.WouldBlock:
            return
        al._handle(item)


@dataclass
class Rig:
    engine: Engine
    store: Store
    clock: Clock
    t0: float

    @property
    def commands(self) -> Any:
        return self.engine.commands

    # ---- setup -------------------------------------------------------------------------------
    def target(self, name: str, **kw: Any) -> TargetRecord:
        """A TCP target that is never probed: the test hands the engine its results."""
        kw.setdefault("interval", "30s")
        rec = self.commands.add_target("tcp://127.0.0.1:9", name=name, **kw)
        return self.engine.targets[rec.id]

    def contact(self, name: str, address: str = "", level: int = 1) -> Any:
        return self.commands.add_contact(
            name, address or f"webhook:http://127.0.0.1:9/{name}", level
        )

    # ---- driving -----------------------------------------------------------------------------
    def at(self, seconds: float) -> float:
        """An absolute time `seconds` after the rig's start; also moves the clock there."""
        self.clock.t = self.t0 + seconds
        return self.clock.t

    def result(
        self,
        rec: TargetRecord,
        ok: bool,
        at: float,
        latency_ms: float = 5.0,
        value: float | None = None,
    ) -> None:
        now = self.at(at)
        res = (
            ProbeResult(ok, latency_ms, value)
            if ok
            else ProbeResult.failure("refused", "", latency_ms)
        )
        self.engine.process(rec, res, now)
        self.drain()

    def results(self, rec: TargetRecord, pattern: str, start: float, step: float = 10.0) -> float:
        """Feed `pattern` ('.' ok, 'x' failed) one result every `step` seconds; returns the end."""
        t = start
        for ch in pattern:
            self.result(rec, ch == ".", t)
            t += step
        return t

    def tick(self, at: float) -> None:
        self.engine.alerting.tick(self.at(at))
        self.drain()

    def drain(self) -> None:
        """Run every queued alerting step (transitions, maintenance changes) in order."""
        drain_alerting(self.engine)

    def go_live(self) -> None:
        """From here on the engine reads the real clock (the dispatcher's real sends and retries)."""
        self.engine.clock = time.time

    def flush(self) -> int:
        """Write the buffered results as the engine's flush loop would; returns how many."""
        return self.engine.writer.write(self.engine.writer.take())

    # ---- reading -----------------------------------------------------------------------------
    def incidents(self, state: str | None = None) -> list[dict[str, Any]]:
        return self.commands.list_incidents(state=state)

    def incident(self, incident_id: str) -> dict[str, Any]:
        return next(i for i in self.incidents() if i["id"] == incident_id)

    def notes(self, incident_id: str | None = None, kind: str | None = None) -> list[Notification]:
        """Outbox rows, oldest first."""
        q = select(Notification)
        if incident_id is not None:
            q = q.where(Notification.incident_id == incident_id)
        if kind is not None:
            q = q.where(Notification.kind == kind)
        with self.store.session() as s:
            rows = list(s.exec(q).scalars())
        return sorted(rows, key=lambda n: (n.created_at, n.id))

    def note_summary(self, incident_id: str | None = None) -> list[tuple[str, str, int]]:
        """(kind, contact name, level) for each outbox row, oldest first."""
        names = {c["id"]: c["name"] for c in self.commands.list_contacts()}
        return [(n.kind, names.get(n.contact_id, "?"), n.level) for n in self.notes(incident_id)]

    def body(self, note: Notification) -> Any:
        return outbox.body(self.store, note)

    def audit(self, kind: str = "incident") -> list[dict[str, Any]]:
        """Audit entries of `kind`, oldest first."""
        return list(reversed(self.commands.history(kind=kind, limit=1000)))

    def set_read(self, note_id: str, at: float) -> None:
        """A read receipt, recorded where the Telegram receipt path records it."""
        with self.store.session() as s:
            row = s.get(Notification, note_id)
            row.read_at = at
            s.add(row)
            s.commit()


def open_store(db_url: str, keyring: KeyRing) -> Store:
    return Store.open(db_url, keyring)


@contextmanager
def make_rig(
    settings: Settings, db_url: str, keyring: KeyRing, start: float | None = None, **alerts: Any
) -> Iterator[Rig]:
    """An Engine on a real store; `alerts` overrides [alerts] settings (resend_interval=...)."""
    for key, value in alerts.items():
        setattr(settings.alerts, key, value)
    store = open_store(db_url, keyring)
    t0 = time.time() + LEAD_S if start is None else start
    clock = Clock(t0)
    engine = Engine(settings, store, clock=clock)
    try:
        yield Rig(engine, store, clock, t0)
    finally:
        store.close()
