"""Cron expression syntax, shared by heartbeat specs (checks) and windows (timing): one rule for
what parses. Healthchecks' cronsim reads the expression, as it does the ticks (engine.timing.cron).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_NO_DAY = "Bad day-of-month"  # cronsim's error for a day no month has, and for a bad day field


def normalise_cron(expr: object) -> str | None:
    """Five cron fields with single spaces (aliases such as @daily expanded), or None when the
    text is not a cron expression. A day that no named month has (0 0 30 2 *) is valid cron that
    never fires, as in Debian cron: it parses here, and its next tick is None."""
    text = " ".join(str(expr or "").split())
    text = ALIASES.get(text.lower(), text)
    parts = text.split()
    if len(parts) != 5:
        return None
    try:
        CronSim(text, _ANY_TIME)
    except CronSimError as exc:
        if str(exc) != _NO_DAY:
            return None
        try:  # the same day field in a month that has every day: a syntax error still fails
            CronSim(" ".join([*parts[:3], "*", parts[4]]), _ANY_TIME)
        except CronSimError:
            return None
    return text


def never_fires(expr: str) -> bool:
    """True for a parsed expression whose day no named month has (0 0 30 2 *)."""
    try:
        CronSim(expr, _ANY_TIME)
    except CronSimError:
        return True
    return False
