"""A spec's password, hidden wherever a spec is shown: `amqp://guest:***@host/`.

The store keeps the whole spec sealed; everything that prints one back (target list/show, the API,
the console) shows it masked, and an edit that sends the masked form back keeps the real password.
Pure text handling, so it lives in core where every layer may use it.
"""

from __future__ import annotations

MASK = "***"


def _split(text: str) -> tuple[str, str, str, str] | None:
    """(scheme://, user, password, @rest) when the spec's authority carries a password."""
    if "://" not in text:
        return None
    scheme, rest = text.split("://", 1)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc = rest[:end]
    if "@" not in netloc:
        return None
    userinfo, hostpart = netloc.rsplit("@", 1)
    if ":" not in userinfo:
        return None
    user, password = userinfo.split(":", 1)
    if not password:
        return None
    return f"{scheme}://", user, password, f"@{hostpart}{rest[end:]}"


def mask_spec(text: str) -> str:
    """The spec with the password of `user:password@` replaced by ***; anything else unchanged."""
    if not text or "@" not in text:  # no user:password@ (most specs): a page of 25,000 at once
        return text
    parts = _split(text)
    if parts is None:
        return text
    head, user, _password, tail = parts
    return f"{head}{user}:{MASK}{tail}"


def spec_password(text: str) -> str | None:
    """The password written in a spec, or None."""
    parts = _split(text or "")
    return parts[2] if parts else None


def restore_password(new: str, old: str) -> str:
    """An edited spec that still says *** keeps the stored password: a form or an API client was
    only ever given the masked text, so *** means "unchanged", not a new password."""
    parts = _split(new or "")
    old_password = spec_password(old)
    if parts is None or parts[2] != MASK or old_password is None:
        return new
    head, user, _pw, tail = parts
    return f"{head}{user}:{old_password}{tail}"
