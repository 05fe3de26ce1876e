"""Logs never hold an address, URL, port or chat id: a filter redacts them on every handler."""

from __future__ import annotations

import logging
import re

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+"), "<url>"),
    # An IPv4-mapped tail (::ffff:10.1.2.3) belongs to the IPv6 address, brackets and port too.
    (
        re.compile(
            r"\[?(?:[0-9a-fA-F]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]{0,4})\]?(?::\d+)?"
        ),
        "<ip6>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (
        re.compile(r"\b[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)+:\d{1,5}\b"),
        "<host:port>",
    ),
    (re.compile(r"\blocalhost:\d{1,5}\b"), "<host:port>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<email>"),
    (re.compile(r"(?<![\w.])-?\d{5,}(?![\w.])"), "<id>"),
]


def redact(text: str) -> str:
    """Replace every address-like or id-like run in text."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def mask_id(value: str | int) -> str:
    """Show only the last four characters of an id: ****1265."""
    s = str(value)
    return "****" + s[-4:] if len(s) > 4 else "****"


class RedactingFilter(logging.Filter):
    """Formats the record once and redacts the result, args included, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            del exc
        return True


_SYSLOG = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournaldFormatter(logging.Formatter):
    """`<N>` syslog priority prefixes (sd-daemon(3)), so journald files each line at its level."""

    def format(self, record: logging.LogRecord) -> str:
        prio = next(
            (p for lvl, p in sorted(_SYSLOG.items(), reverse=True) if record.levelno >= lvl), 7
        )
        return f"<{prio}>{record.name}: {super().format(record)}"


def configure_logging(level: str | int = "INFO", stream=None, journald: bool = False) -> None:
    """The one place logging is set up: a stderr handler with the redacting filter."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_sysalert", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream)
    handler._sysalert = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JournaldFormatter()
        if journald
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for noisy in ("telethon", "httpx", "httpcore", "uvicorn.access", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
