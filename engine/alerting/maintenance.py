"""Maintenance windows: stored sealed (engine.store.windows), evaluated in memory so every result
can ask cheaply.

In maintenance, probes run and history is kept, but no incident opens and nothing is sent. The
evaluator knows the next time any window starts or ends, so the engine re-evaluates exactly then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.store.windows import Window


@dataclass
class MaintenanceIndex:
    """Which targets are in maintenance now; rebuilt when windows change or a boundary passes."""

    windows: list[Window] = field(default_factory=list)
    all_active: bool = False
    targets: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    next_boundary: float | None = None

    def rebuild(self, windows: list[Window], now: float) -> None:
        """Built aside, then swapped in: the loop reads `covers` while a worker thread rebuilds,
        and must never see the sets emptied half-way (a target in maintenance paging)."""
        all_active = False
        targets: set[str] = set()
        tags: set[str] = set()
        boundaries = []
        for w in windows:
            if w.active(now):
                if w.scope == "all":
                    all_active = True
                elif w.scope == "tag" and w.tag:
                    tags.add(w.tag)
                elif w.target_id:
                    targets.add(w.target_id)
            nc = w.next_change(now)
            if nc is not None:
                boundaries.append(nc)
        self.windows, self.targets, self.tags = windows, targets, tags
        self.all_active = all_active
        self.next_boundary = min(boundaries) if boundaries else None

    def covers(self, rec: TargetRecord) -> bool:
        if self.all_active or rec.id in self.targets:
            return True
        return bool(self.tags) and any(t in self.tags for t in rec.tags)

    def shown(self, rec: TargetRecord) -> str:
        """The state people see: paused, in maintenance, or what the probes say."""
        if rec.paused:
            return "paused"
        return "maintenance" if self.covers(rec) else rec.state


def parse_scope(text: str) -> tuple[str, str | None]:
    """`all`, `tag:web`, or a target id/name."""
    t = text.strip()
    if not t:
        raise BadInput("no maintenance target given", "name a target, tag:NAME, or all")
    if t.lower() == "all":
        return "all", None
    if t.startswith("tag:"):
        return "tag", t[4:]
    return "target", t
