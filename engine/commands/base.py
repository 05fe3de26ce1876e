"""Shared plumbing for the command mixins: audit entries and engine notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.commands.ports import NULL_HOOKS, EngineHooks, NoTelegramAccount, TelegramAccountPort
from engine.core.domain import TargetRecord
from engine.core.limits import ACTOR_MAX, check_text
from engine.store import audit as audit_log

if TYPE_CHECKING:
    from engine.config.settings import Settings
    from engine.store.store import Store


def live_records(hooks: EngineHooks) -> list[TargetRecord] | None:
    """The engine's target records, copied on its loop (Engine.snapshot); None when no engine
    holds any (the store is the truth then)."""
    return hooks.snapshot() if hooks.targets else None


def check_actor(by: str) -> str:
    """Who made a change, as the audit log records it."""
    return check_text(by, "--by", ACTOR_MAX)


class CommandBase:
    store: Store
    settings: Settings
    hooks: EngineHooks = NULL_HOOKS
    telegram_account: TelegramAccountPort = NoTelegramAccount()

    if TYPE_CHECKING:
        # Provided by TargetCommands; the other command mixins use them.
        def target_records(self, owner_id: str | None = None) -> list[TargetRecord]: ...
        def target_record(self, ref: str, owner_id: str | None = None) -> TargetRecord: ...

    def audit(
        self,
        action: str,
        object_ref: str | None,
        actor: str = "operator",
        detail: str | None = None,
    ) -> None:
        """Who did what, when. The actor and detail are sealed; the object is a short keyed ref."""
        audit_log.record(self.store, action, object_ref, actor, detail)

    @property
    def ping_base(self) -> str:
        if self.settings.api.public_url:
            return self.settings.api.public_url
        listen = self.settings.api.listen or "127.0.0.1:8787"
        return f"{'https' if self.settings.api.tls_cert else 'http'}://{listen}"
