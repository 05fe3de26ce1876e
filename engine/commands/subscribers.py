"""Subscriber commands (admin): add, list, remove. Removing erases everything the subscriber owns."""

from __future__ import annotations

from typing import Any

from engine.commands.base import CommandBase
from engine.errors import NotFound
from engine.privacy import mask_id
from engine.store import subscribers as sstore


class SubscriberCommands(CommandBase):
    def add_subscriber(self, chat_id: str | int, role: str = "subscriber", by: str = "operator") -> dict[str, Any]:
        cid = sstore.parse_chat_id(chat_id)
        rec = sstore.insert(self.store, cid, role)
        self.audit("subscriber.add", f"subscriber:{rec.id}", by)
        return rec.public()

    def list_subscribers(self) -> list[dict[str, Any]]:
        out = []
        for r in sorted(sstore.load_all(self.store), key=lambda r: r.created_at):
            d = r.public()
            d["usage"] = sstore.usage(self.store, r.id)
            out.append(d)
        return out

    def remove_subscriber(self, chat_id: str | int, by: str = "operator") -> dict[str, Any]:
        cid = sstore.parse_chat_id(chat_id)
        rec = sstore.find(self.store, cid)
        if rec is None:
            raise NotFound(f"chat {mask_id(cid)} is not a subscriber", "see `sysalert subscribers list`")
        from sqlalchemy import select

        from engine.store.models import Target

        with self.store.session() as s:
            tids = list(s.exec(select(Target.id).where(Target.owner_id == rec.id)).scalars())
        counts = sstore.erase(self.store, rec.id)
        for tid in tids:
            self._notify("target_removed", tid)
        # The audit line keeps no personal data: the random subscriber id and the counts only.
        self.audit("subscriber.remove", f"subscriber:{rec.id}", by, f"erased {counts}")
        return {"removed": mask_id(cid), "erased": counts}
