"""Subscriber commands: add, list, remove (admins: CLI, API, console, `/addsub` `/rmsub`), the
subscriber's own alert contact, and the `/stats` figures.

A subscriber is a Telegram chat that owns targets, benchmarks and contacts (owner_id = the
Subscriber row id). Removing one stops their probes first, then erases every row they own and
leaves one audit line that holds no personal data.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio

from engine.commands.base import CommandBase
from engine.core.domain import ContactRecord
from engine.core.errors import BadInput, NotFound
from engine.core.incident_states import OPEN_STATES
from engine.core.results import Subscriber
from engine.security.privacy import mask_id
from engine.store import contacts as cstore
from engine.store import subscribers as sstore

STATS_WINDOW_S = 7 * 86400.0
COMMIT_WAIT_S = 5.0


class SubscriberCommands(CommandBase):
    def add_subscriber(
        self, chat_id: str | int, role: str = "subscriber", by: str = "operator"
    ) -> Subscriber:
        """Allow a chat in; it gets its own Telegram contact at once, so its alerts reach it."""
        cid = sstore.parse_chat_id(chat_id)
        rec = sstore.insert(self.store, cid, role)
        self.audit("subscriber.add", f"subscriber:{rec.id}", by)
        self.subscriber_contact(rec.id)
        return Subscriber.model_validate(rec.public())

    def find_subscriber(self, ref: str | int) -> sstore.SubscriberRecord | None:
        """By chat id, or by the subscriber's own id (what the console, which never sees a full
        chat id, passes)."""
        text = str(ref).strip()
        if text.isalpha():
            return sstore.get(self.store, text)
        return sstore.find(self.store, sstore.parse_chat_id(text))

    def _subscriber(self, ref: str | int) -> sstore.SubscriberRecord:
        rec = self.find_subscriber(ref)
        if rec is None:
            shown = str(ref) if str(ref).strip().isalpha() else mask_id(str(ref).strip())
            raise NotFound(f"chat {shown} is not a subscriber", "see `sysalert subscribers list`")
        return rec

    def list_subscribers(self) -> list[Subscriber]:
        """Masked chat ids, role, use and limits, last seen: what the console and CLI list."""
        out = []
        for r in sorted(sstore.load_all(self.store), key=lambda r: r.created_at):
            d = r.public()
            d["usage"] = sstore.usage(self.store, r.id)
            d["quota"] = self.quota_use(r.id)  # type: ignore[attr-defined]
            out.append(Subscriber.model_validate(d))
        return out

    def set_subscriber_limits(
        self,
        chat_id: str | int,
        max_targets: int | str | None = None,
        max_benchmarks: int | str | None = None,
        by: str = "operator",
    ) -> dict[str, Any]:
        """A subscriber's own quota (it wins over the config and the profile); `default` clears
        it, None leaves it as it is, 0 allows none."""
        rec = self._subscriber(chat_id)
        changes = {
            key: _limit_value(key, value)
            for key, value in (("max_targets", max_targets), ("max_benchmarks", max_benchmarks))
            if value is not None
        }
        if not changes:
            raise BadInput("no limit given", "e.g. --targets 10 or --benchmarks default")
        sstore.set_limits(self.store, rec.id, **changes)
        self.audit("subscriber.limits", f"subscriber:{rec.id}", by, str(changes))
        return {"chat": mask_id(rec.chat_id), "quota": self.quota_use(rec.id)}  # type: ignore[attr-defined]

    def subscriber_contact(self, sub_id: str) -> ContactRecord:
        """The subscriber's own Telegram contact (owner = them, address = their chat id), created
        when missing. Alerting routes their incidents to the contacts they own."""
        own = [c for c in cstore.load_all(self.store, sub_id) if c.channel == "telegram"]
        if own:
            return own[0]
        chat = sstore.get(self.store, sub_id)
        if chat is None:
            raise NotFound("no such subscriber", "see `sysalert subscribers list`")
        name = f"subscriber {mask_id(chat.chat_id)}"
        if cstore.find(self.store, name) is not None:  # two chat ids may share their last digits
            name = f"{name} {sub_id}"
        rec = cstore.insert(self.store, name, "telegram", str(chat.chat_id), 1, sub_id)
        self.audit("contact.add", self.store.ref("contact", rec.id), f"subscriber:{sub_id}")
        return rec

    def remove_subscriber(self, chat_id: str | int, by: str = "operator") -> dict[str, Any]:
        """Stop their probes, then erase everything they own (sealed values included).
        `chat_id` may also be the subscriber's id (the console's masked list knows only that)."""
        rec = self._subscriber(chat_id)
        for tid in self._owned_targets(rec.id):
            self.hooks.target_removed(tid)
        counts = sstore.erase(self.store, rec.id)
        self.hooks.benchmarks.wake()
        # The audit line keeps no personal data: the random subscriber id and the counts only.
        self.audit("subscriber.remove", f"subscriber:{rec.id}", by, f"erased {counts}")
        return {"removed": mask_id(rec.chat_id), "erased": counts}

    async def erase_subscriber(self, chat_id: str | int, by: str = "operator") -> dict[str, Any]:
        """remove_subscriber for callers on the engine's loop (`/delete_account`, `/rmsub`): the
        probes stop first and results already in flight are committed before the erase, so no
        row of theirs is written after it."""
        rec = await anyio.to_thread.run_sync(self._subscriber, chat_id)
        hooks = self.hooks
        if hooks.loop is not None and hooks.loop is _running_loop():
            for tid in await anyio.to_thread.run_sync(self._owned_targets, rec.id):
                hooks.target_removed(tid)  # on the loop: removed from the schedule at once
            with anyio.move_on_after(COMMIT_WAIT_S):
                await hooks.committed()
        return await anyio.to_thread.run_sync(self.remove_subscriber, rec.id, by)

    def _owned_targets(self, sub_id: str) -> list[str]:
        return sstore.owned_target_ids(self.store, sub_id)

    # ---- /stats -------------------------------------------------------------------------------
    def subscriber_stats(self, window_s: float = STATS_WINDOW_S) -> dict[str, Any]:
        """Counts and rates for admins: no names, no addresses, no chat ids."""
        n = sstore.counts(self.store, time.time() - window_s, tuple(OPEN_STATES))
        sent, dead, tg_sent, tg_read = n["sent"], n["dead"], n["tg_sent"], n["tg_read"]
        probe_rate = float(self.engine_stats().get("probe_rate") or 0.0)  # type: ignore[attr-defined]
        return {
            "subscribers": n["subscribers"],
            "admins": n["admins"],
            "targets": n["targets"],
            "subscriber_targets": n["subscriber_targets"],
            "benchmarks": n["benchmarks"],
            "contacts": n["contacts"],
            "open_incidents": n["open_incidents"],
            "probe_rate": round(probe_rate, 1),
            "window_days": round(window_s / 86400, 1),
            "notifications_sent": sent,
            "notifications_failed": dead,
            "delivery_rate": _rate(sent, sent + dead),
            "telegram_sent": tg_sent,
            "read_rate": _rate(tg_read, tg_sent),
        }


def _limit_value(key: str, value: int | str) -> int | None:
    text = str(value).strip().lower()
    if text in ("default", "none", ""):
        return None
    if not text.isdigit() or int(text) > 1_000_000:
        raise BadInput(
            f"{key.removeprefix('max_')} limit {value!r} is not a count",
            "a whole number (0 allows none) or `default`",
        )
    return int(text)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 3)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
