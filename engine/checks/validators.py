"""Checks on a target's fields that `target add`, an import and a [[targets]] entry in the config
share (the config loader is below the command layer, so they live here): one rule, one error text.
"""

from __future__ import annotations

from engine.core.errors import BadInput


def check_threshold(value: int | str | None, what: str) -> int | None:
    """A per-target down-after / up-after count: a whole number 1-100, or None for the default."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 100:
        raise BadInput(
            f"{what} {value!r} must be a whole number from 1 to 100",
            f"e.g. {what}=3 (checks in a row); leave it out for the [engine] default",
        )
    return int(text)


def validate_conditions(conditions: list[str]) -> list[str]:
    """Gatus conditions that parse, and none this engine cannot give a value to."""
    if not conditions:
        return []
    from engine.checks.conditions.parse import parse_conditions

    parse_conditions(list(conditions))
    for text in conditions:
        if "[DOMAIN_EXPIRATION]" in text.upper():
            # Gatus fills it from a WHOIS/RDAP lookup; no probe here does, so it would read 0 and
            # fail every check for a reason nobody could see.
            raise BadInput(
                f"condition {text!r}: SysAlert does not look up domain registrations, so "
                "[DOMAIN_EXPIRATION] has no value",
                "drop it, or watch the certificate with [CERTIFICATE_EXPIRATION] > 720h",
            )
    return list(conditions)
