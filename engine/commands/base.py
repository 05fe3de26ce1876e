"""Shared plumbing for the command mixins: audit entries and engine notifications."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from engine.core.errors import BadInput
from engine.core.limits import ACTOR_MAX, NAME_MAX, check_text
from engine.store.models import AuditEntry

if TYPE_CHECKING:
    from engine.commands import EngineHooks
    from engine.config.settings import Settings
    from engine.core.domain import TargetRecord
    from engine.store.store import Store


def live_records(hooks: Any) -> list[Any] | None:
    """The running engine's target records, copied on its loop (Engine.snapshot); None without an
    engine. Other hooks with a `targets` dict: a copy that meets a change is tried again."""
    snapshot = getattr(hooks, "snapshot", None)
    if snapshot is not None:
        return list(snapshot())
    live = getattr(hooks, "targets", None)
    for _ in range(3 if live is not None else 0):
        try:
            return list(live.values())  # type: ignore[union-attr]
        except RuntimeError:
            continue
    return None


def check_name(name: str, what: str) -> str:
    """A display name for a target, benchmark, rule or contact: non-empty, printable, not too
    long (engine.core.limits)."""
    if isinstance(name, str) and not name.strip():
        raise BadInput(f"{what} name is empty", "give --name a few letters")
    return check_text(name, f"{what} name", NAME_MAX)


def check_actor(by: str) -> str:
    """Who made a change, as the audit log records it."""
    return check_text(by, "--by", ACTOR_MAX)


class CommandBase:
    store: Store
    settings: Settings
    hooks: EngineHooks | None

    if TYPE_CHECKING:
        # Provided by TargetCommands; the other command mixins use them.
        def list_targets(self, owner_id: str | None = None) -> list[TargetRecord]: ...
        def get_target(self, ref: str, owner_id: str | None = None) -> TargetRecord: ...

    def audit(
        self,
        action: str,
        object_ref: str | None,
        actor: str = "operator",
        detail: str | None = None,
    ) -> None:
        """Who did what, when. The actor and detail are sealed; the object is a short keyed ref."""
        ts = time.time()
        entry = AuditEntry(ts=ts, action=action, object_ref=object_ref)
        row = f"{ts:.6f}:{action}"
        entry.actor_s = self.store.seal("audit", "actor_s", row, actor)
        entry.detail_s = self.store.seal("audit", "detail_s", row, detail)
        with self.store.session() as s:
            s.add(entry)
            s.commit()

    def _notify(self, method: str, *args: Any) -> None:
        if self.hooks is not None:
            getattr(self.hooks, method)(*args)
        elif not self.store.sqlite:  # no engine here: tell the engines sharing the store
            from engine.store.cluster_live import announce

            announce(self.store, method, *args)

    @property
    def ping_base(self) -> str:
        if self.settings.api.public_url:
            return self.settings.api.public_url
        listen = self.settings.api.listen or "127.0.0.1:8787"
        return f"{'https' if self.settings.api.tls_cert else 'http'}://{listen}"
