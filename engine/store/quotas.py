"""Per-owner quotas on targets and benchmarks.

Where a limit comes from, first match wins:
1. the subscriber's own `max_targets` / `max_benchmarks` (None: not set; 0 means none allowed);
2. `[quotas] max_targets` / `max_benchmarks` in the config when above 0;
3. the profile's default: `hosted` allows 5 targets and 3 benchmarks, `self-hosted` is unlimited.
The local operator (owner None: console and CLI) owns the box and has no quota. An owner id is a
subscriber's row id. The check runs before anything is written, so a refused add stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from engine.config.settings import Settings
from engine.core.errors import BadInput, QuotaExceeded
from engine.store.models import Benchmark, Subscriber, Target
from engine.store.store import Store

KINDS = ("targets", "benchmarks")
PROFILE_DEFAULTS: dict[str, dict[str, int | None]] = {
    "hosted": {"targets": 5, "benchmarks": 3},
    "self-hosted": {"targets": None, "benchmarks": None},
}
_MODELS: dict[str, Any] = {"targets": Target, "benchmarks": Benchmark}
_REMOVE = {"targets": "sysalert target remove ID", "benchmarks": "sysalert bench remove ID"}


@dataclass(frozen=True)
class Quota:
    kind: str
    limit: int | None  # None: unlimited
    source: str  # operator | subscriber | config | profile
    used: int

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "limit": self.limit, "used": self.used, "source": self.source}


def normalize_kind(kind: str) -> str:
    k = kind.strip().lower()
    k = k if k.endswith("s") else k + "s"
    if k not in KINDS:
        raise BadInput(f"quota kind {kind!r} is unknown", "use targets or benchmarks")
    return k


def limit_for(
    store: Store, settings: Settings, kind: str, owner_id: str | None
) -> tuple[int | None, str]:
    kind = normalize_kind(kind)
    if owner_id is None:
        return None, "operator"
    with store.session() as s:
        sub = s.get(Subscriber, owner_id)
    own = getattr(sub, f"max_{kind}", None) if sub is not None else None
    if own is not None:
        return int(own), "subscriber"
    configured = int(getattr(settings.quotas, f"max_{kind}"))
    if configured > 0:
        return configured, "config"
    return PROFILE_DEFAULTS[settings.general.profile][kind], "profile"


def used(store: Store, kind: str, owner_id: str | None) -> int:
    model = _MODELS[normalize_kind(kind)]
    with store.session() as s:
        q = select(func.count()).select_from(model).where(model.owner_id == owner_id)
        return int(s.execute(q).scalar_one())


def quota(store: Store, settings: Settings, kind: str, owner_id: str | None) -> Quota:
    kind = normalize_kind(kind)
    limit, source = limit_for(store, settings, kind, owner_id)
    return Quota(kind, limit, source, used(store, kind, owner_id))


def _ids(store: Store, kind: str, owner_id: str | None, limit: int = 10) -> list[str]:
    model = _MODELS[kind]
    with store.session() as s:
        return list(
            s.execute(select(model.id).where(model.owner_id == owner_id).limit(limit)).scalars()
        )


def check(
    store: Store, settings: Settings, kind: str, owner_id: str | None, adding: int = 1
) -> Quota:
    """Raise QuotaExceeded (which limit, the use, what to remove) if `adding` more would not fit.

    The message names only counts and random ids, never a name or an address, so it is safe to log.
    """
    q = quota(store, settings, kind, owner_id)
    if q.limit is None or q.used + adding <= q.limit:
        return q
    where = {
        "subscriber": "this subscriber's own limit",
        "config": f"quotas.max_{q.kind} in the config",
        "profile": f"the {settings.general.profile} profile's default",
    }[q.source]
    single = q.kind[:-1]
    ids = _ids(store, q.kind, owner_id)
    if q.limit == 0:
        hint = f"this account may not add {q.kind}; ask an admin to raise the limit"
    else:
        over = q.used + adding - q.limit
        hint = (
            f"remove {over} {single if over == 1 else q.kind} first ({_REMOVE[q.kind]}; "
            f"yours: {', '.join(ids)}) or ask an admin to raise the limit"
        )
    exc = QuotaExceeded(
        f"{single} quota reached: {q.used} of {q.limit} {q.kind} in use ({where})", hint
    )
    exc.quota = q  # type: ignore[attr-defined]
    exc.ids = ids  # type: ignore[attr-defined]
    raise exc
