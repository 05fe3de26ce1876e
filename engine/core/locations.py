"""Locations and quorum: where a target is probed from, and what several locations' views add up to.

Pure rules (no I/O): the command layer validates with them, the store's cluster module and the
engine decide a multi-location target's state with `combine`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.core.errors import BadInput

LOCATION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LOCATIONS_MAX = 16
ANY = "*"  # the lease of a target without locations: any one engine probes it
NO_ENGINE = "no-engine"  # a location where no engine holds the target's lease now


def check_location(name: str, what: str = "location") -> str:
    """One location label: lowercase letters, digits, '-' or '_', at most 40 characters."""
    text = str(name).strip().lower()
    if not LOCATION_RE.match(text):
        raise BadInput(
            f"{what} {name!r} is not a location name",
            "use lowercase letters, digits, '-' or '_' (at most 40), e.g. fra or us-east",
        )
    return text


def check_locations(value: str | Iterable[str] | None) -> list[str]:
    """`fra,nyc` or a list: distinct, valid labels in the order given; empty for none."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise BadInput(f"location {item!r} is not text", "e.g. --locations fra,nyc")
        if not item.strip():
            continue
        name = check_location(item)
        if name not in out:
            out.append(name)
    if len(out) > LOCATIONS_MAX:
        raise BadInput(f"{len(out)} locations; at most {LOCATIONS_MAX}", "name fewer locations")
    return out


def check_quorum(value: int | str | None, locations: list[str]) -> int | None:
    """How many locations must see a target down: 1..number of locations; None = majority."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdecimal():
        raise BadInput(f"quorum {value!r} is not a whole number", "e.g. --quorum 2")
    q = int(text)
    if not locations:
        raise BadInput("--quorum needs --locations", "e.g. --locations fra,nyc,sgp --quorum 2")
    if not 1 <= q <= len(locations):
        raise BadInput(
            f"quorum {q} with {len(locations)} location(s)",
            f"give a quorum from 1 to {len(locations)}",
        )
    return q


def majority(n: int) -> int:
    return n // 2 + 1


@dataclass(frozen=True)
class Verdict:
    state: str  # up | down | partial | unknown
    down: tuple[str, ...]  # locations that see it down
    missing: tuple[str, ...]  # locations with no engine alive
    quorum: int

    def detail(self, total: int) -> str:
        """What an alert and the history say: which locations, against which quorum."""
        parts = []
        if self.down:
            parts.append(
                f"down in {', '.join(self.down)} ({len(self.down)} of {total} locations,"
                f" quorum {self.quorum})"
            )
        if self.missing:
            parts.append(f"no engine alive in {', '.join(self.missing)}")
        return "; ".join(parts)


def combine(locations: list[str], states: Mapping[str, str | None], quorum: int | None) -> Verdict:
    """A multi-location target's state from each location's (None: not reported yet; NO_ENGINE:
    nobody probes there). Down when at least `quorum` locations see it down; `partial` when some
    do but fewer, or when a location has no engine (never counted as up without saying so)."""
    q = quorum or majority(len(locations))
    down = tuple(loc for loc in locations if states.get(loc) == "down")
    missing = tuple(loc for loc in locations if states.get(loc) == NO_ENGINE)
    if len(down) >= q:
        state = "down"
    elif down:
        state = "partial"
    elif all(states.get(loc) in ("up", "degraded", "pending") for loc in locations):
        state = "up"
    elif missing and all(
        states.get(loc) in ("up", "degraded", "pending", NO_ENGINE) for loc in locations
    ):
        state = "partial" if len(missing) < len(locations) else "unknown"
    else:
        state = "unknown"
    return Verdict(state, down, missing, q)
