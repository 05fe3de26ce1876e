"""First start: this machine's cpu, memory and disk as targets, each with a rule that pages on a
sustained level, so the console shows live data at once and a spike pages nobody."""

from __future__ import annotations

from engine.commands.targets import TargetCommands
from engine.core.durations import format_duration
from engine.store import targets as tstore

# This machine's cpu, memory and disk, added on first start so the console shows live data at
# once. They carry no threshold of their own: a busy machine spikes to 100% for seconds all the
# time, and a target that fails on one check pages, recovers and flaps. A rule per target pages
# instead, and only once the level has held for SEED_FOR (Prometheus's `for: 5m`).
LOCAL_SEEDS = (
    ("system://cpu", "cpu"),
    ("system://memory", "memory"),
    ("system://disk:/", "disk /"),
)
SEED_FOR_S = 300.0
SEED_RULES = (  # rule name, metric, above, target name
    ("cpu high", "system.cpu", 95.0, "cpu"),
    ("memory high", "system.memory", 90.0, "memory"),
    ("disk / full", "system.disk", 90.0, "disk /"),
)


def seeded_note(names: list[str]) -> str:
    """What the first start added, and when it pages: `sysalert init` and the console say it."""
    held = ", ".join(f"{t} above {above:g}%" for _, _, above, t in SEED_RULES if t in names)
    return (
        f"added this machine's {', '.join(names)} as targets; they alert only when a level holds"
        f" for {format_duration(SEED_FOR_S)} ({held}), not on a spike."
        " See `sysalert rules list`; `sysalert target remove NAME` drops one"
    )


class SeedCommands(TargetCommands):
    def seed_local_targets(self) -> list[str]:
        """First run: this machine's cpu, memory and disk, so the console shows live data at once,
        each with a rule that pages on a sustained level (see LOCAL_SEEDS)."""
        if tstore.load_all(self.store):
            return []
        names = [
            self.add_target(spec, name=name, interval="15s", by="seed").name
            for spec, name in LOCAL_SEEDS
        ]
        taken = {r["name"] for r in self.list_rules()}  # type: ignore[attr-defined]
        for rule, metric, above, target in SEED_RULES:
            if rule not in taken:  # a config [[rules]] entry of that name wins
                self.add_rule(  # type: ignore[attr-defined]
                    rule, metric, ">", above, SEED_FOR_S, "high", target=target, by="seed"
                )
        return names
