"""Silences in Alertmanager for the incidents it sent us: acknowledging or silencing such an
incident in SysAlert (console, CLI, API, a Telegram reply) makes one there for the alert's
labels (API v2); resolving it, or the SysAlert silence ending, removes it.

A reconciler, not a hook on each path: every second it compares the store (incident state, the
silence we hold) with what should be, so an acknowledgement from any process is honoured and a
failed call is simply tried again. Failures are logged as errors, kept on the alert (shown with
the incident) and open one `engine` incident until a call works again; nothing here crashes.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from engine.store import alertmanager as am_store
from engine.store.alertmanager import AmRow

if TYPE_CHECKING:
    from engine.alerting.alerting import Alerting

log = logging.getLogger(__name__)
TROUBLE_KEY = "engine:alertmanager-silences"
RETRY_S = 30.0
ENDED_EVERY_S = 5.0  # how often the alerts behind our silences are looked up there


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class SilenceError(Exception):
    """A call to Alertmanager failed: what happened, without its address (`str`, for logs and
    the engine incident) and Alertmanager's own answer, which may repeat labels (`detail`, kept
    sealed on the alert)."""

    def __init__(self, text: str, detail: str = "") -> None:
        super().__init__(text)
        self.detail = detail


class SilenceSync:
    def __init__(self, alerting: Alerting) -> None:
        self.alerting = alerting
        self.store = alerting.store
        self._retry_at: dict[str, float] = {}
        self._failing = False
        self._checked_at = 0.0

    async def run(self) -> None:
        """Supervised: one reconcile a second while `[alertmanager] url` is set."""
        while True:
            await anyio.sleep(1.0)
            cfg = self.alerting.engine.settings.alertmanager
            url = cfg.url.get_secret_value()
            if url:
                await self.reconcile(url, cfg.ack_silence, cfg.timeout, time.time())

    async def reconcile(self, url: str, ack_silence: float, timeout: float, now: float) -> int:
        """One pass; returns how many calls failed."""
        rows = await anyio.to_thread.run_sync(am_store.rows_to_sync, self.store)
        failed = 0
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
            held = [r for r in rows if r.silence_id and r.state != "resolved"]
            if held and now - self._checked_at >= ENDED_EVERY_S:
                try:
                    rows = await self._ended(client, held, rows, now)
                except SilenceError as exc:
                    failed += 1
                    await self._failed(held[0], str(exc), exc.detail)
            for row in rows:
                if self._retry_at.get(row.id, 0.0) > now:
                    continue
                try:
                    await self._one(client, row, ack_silence, now)
                    self._retry_at.pop(row.id, None)
                except SilenceError as exc:
                    failed += 1
                    self._retry_at[row.id] = now + RETRY_S
                    await self._failed(row, str(exc), exc.detail)
        if rows and not failed and self._failing:
            self._failing = False
            await anyio.to_thread.run_sync(self.alerting.resolve_local_incident, TROUBLE_KEY)
        return failed

    async def _ended(
        self, client: httpx.AsyncClient, held: list[AmRow], rows: list[AmRow], now: float
    ) -> list[AmRow]:
        """Alertmanager sends nothing about a silenced alert, its end included: ask it which
        alerts are still there, and resolve the incidents of those that are gone."""
        self._checked_at = now
        r = await self._call(client, "GET", "/api/v2/alerts")
        try:
            live = {str(a["fingerprint"]) for a in r.json()}
        except (ValueError, KeyError, TypeError):
            raise SilenceError("Alertmanager's alert list is not what API v2 answers") from None
        gone = {r.incident_id for r in held if r.fingerprint not in live}
        for row in held:
            if row.incident_id in gone:
                key = am_store.KEY_PREFIX + row.fingerprint
                await anyio.to_thread.run_sync(self.alerting.resolve_open, key, now)
                row.state = "resolved"
        return rows

    async def _one(
        self, client: httpx.AsyncClient, row: AmRow, ack_silence: float, now: float
    ) -> None:
        want: float | None = None  # until when a silence should hold; None: no silence
        if row.state == "silenced" and row.silenced_until and row.silenced_until > now:
            want = row.silenced_until
        elif row.state == "acknowledged":
            keep = row.silence_until if row.silence_id else None
            # Renewed while acknowledged, a quarter of the length before it would end.
            want = keep if keep and keep - now > ack_silence / 4 else now + ack_silence
        if want is None:
            if row.silence_id:
                await self._delete(client, row.silence_id)
                await self._save(row, None, None)
                self._audit(row, "alertmanager.unsilence")
            return
        if row.silence_id and row.silence_until and abs(row.silence_until - want) < 1.0:
            return  # held as it should be
        sid = await self._create(client, row, want, now)
        await self._save(row, sid, want)
        self._audit(row, "alertmanager.silence")

    async def _create(self, client: httpx.AsyncClient, row: AmRow, until: float, now: float) -> str:
        why = (
            f"acknowledged in SysAlert by {row.acked_by}"
            if row.state == "acknowledged"
            else "silenced in SysAlert"
        )
        body: dict[str, Any] = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in sorted(row.labels.items())
            ],
            "startsAt": _iso(now),
            "endsAt": _iso(until),
            "createdBy": "sysalert",
            "comment": f"{why} (incident {row.incident_id})",
        }
        if row.silence_id:
            body["id"] = row.silence_id  # Alertmanager updates it (or replaces it: new id)
        r = await self._call(client, "POST", "/api/v2/silences", body)
        try:
            return str(r.json()["silenceID"])
        except (ValueError, KeyError, TypeError):
            raise SilenceError("Alertmanager's answer has no silenceID") from None

    async def _delete(self, client: httpx.AsyncClient, silence_id: str) -> None:
        try:
            await self._call(client, "DELETE", f"/api/v2/silence/{silence_id}")
        except SilenceError as exc:
            if "HTTP 404" in str(exc) or any(w in exc.detail for w in ("expired", "not found")):
                return  # gone there already (0.25 answers 500 "silence not found"): done
            raise

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        try:
            r = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise SilenceError(f"{method} {path}: {type(exc).__name__}") from None
        if r.status_code >= 300:
            raise SilenceError(f"{method} {path}: HTTP {r.status_code}", r.text[:300].strip())
        return r

    async def _save(self, row: AmRow, sid: str | None, until: float | None) -> None:
        await anyio.to_thread.run_sync(am_store.set_silence, self.store, row.id, sid, until)
        self.alerting.publish_incident(row.incident_id, row.state, None, "alertmanager silence")

    def _audit(self, row: AmRow, action: str) -> None:
        self.alerting.audit(action, row.incident_id, "engine")

    async def _failed(self, row: AmRow, error: str, detail: str = "") -> None:
        log.error(
            "ALERTMANAGER SILENCE FAILED for incident %s (retried in %gs): %s",
            row.incident_id,
            RETRY_S,
            error,
        )
        kept = f"{error}: {detail}" if detail else error
        await anyio.to_thread.run_sync(am_store.set_silence, self.store, row.id, None, None, kept)
        if not self._failing:
            self._failing = True
            await anyio.to_thread.run_sync(
                self.alerting.open_local_incident,
                TROUBLE_KEY,
                "engine",
                f"Alertmanager silences cannot be made or removed: {error}",
            )
