"""Logs never hold an address, URL, port or chat id: a filter redacts them on every handler."""

from __future__ import annotations

import logging
import re

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+"), "<url>"),
    # An IPv6 address: eight groups, or fewer with `::`. An IPv4-mapped tail (::ffff:10.1.2.3)
    # belongs to it, brackets and port too. A time (16:38:16) or `config.toml:12:` is none.
    (
        re.compile(
            r"\[?(?<![\w:])(?:"
            r"(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
            r"|(?:[0-9a-fA-F]{1,4}:){1,7}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?"
            r"|::(?:[0-9a-fA-F]{1,4}:){0,6}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]{1,4})"
            r")(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])\]?(?::\d+)?"
        ),
        "<ip6>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (
        re.compile(
            r"\b[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*"
            r"\.(?!(?:toml|py|json|ya?ml|log|txt|db|sock|key|pem|cfg|ini|conf|service|tcss|md|sh):)"
            r"[a-zA-Z0-9-]+:\d{1,5}\b"
        ),
        "<host:port>",  # but not a file and line (`config.toml:12`)
    ),
    (re.compile(r"\blocalhost:\d{1,5}\b"), "<host:port>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<email>"),
    # A Telegram-style @username (5-32 characters, as Telegram allows); not an e-mail's tail.
    (re.compile(r"(?<![\w.@])@[A-Za-z][A-Za-z0-9_]{4,31}\b"), "<user>"),
    (re.compile(r"(?<![\w.])-?\d{5,}(?![\w.])"), "<id>"),
]

# A bare host name: dot-separated labels of letters, digits and hyphens (no underscore, so a
# module path such as `sysalert_tui.app` is not one) ending in a top-level domain from this list.
# File names (`config.toml`, `engine.py`) and module paths (`engine.notify.dispatcher`) end in
# something else, so they stay readable. Country codes that are also common file extensions
# (py, sh, md, rs, pl, so, cc, ps, mk, gz...) are left out: a traceback's `app.py` must survive.
_TLDS = frozenset(
    """com net org edu gov mil int info biz name pro io co ai me tv xyz online site cloud tech dev
    app eu asia mobi example invalid test localhost local localdomain internal intranet lan home
    corp private onion arpa""".split()  # noqa: SIM905 (a word list reads better than 40 quotes)
) | frozenset(
    """ac ad ae af ag al am ao aq ar at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt
    bw by bz ca cd cf cg ch ci ck cl cm cn cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es
    et fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht
    hu id ie il im in iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr
    ls lt lu lv ly ma mc mg mh ml mm mn mo mp mq mr mt mu mv mw mx my mz na nc ne nf ng ni nl no
    np nr nu nz om pa pe pf pg ph pk pn pr pt pw qa re ro ru rw sa sb sc sd se sg si sk sl sm sn
    sr ss st su sv sx sy sz tc td tg th tj tk tl tm tn to tr tt tw tz ua ug uk us uy uz va vc ve
    vg vi vn vu wf ws ye yt za zm zw""".split()  # noqa: SIM905
)
_HOST = re.compile(
    r"(?<![\w.@/-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-]|\.\w)"
)
# A name a message quotes as a host (a resolver's or a database driver's text), or a libpq
# connection string's fields: a single-label host such as 'dbhost' has no top-level domain.
_QUOTED_HOST = re.compile(
    r"""\b(host(?:name)?|server(?: at)?)(\s*[=:]?\s*)(['"])[^'"\s]+\3""", re.I
)
_CONNINFO = re.compile(r"\b(host|hostaddr|port|user|dbname|password)=(?!<)[^\s'\"]+")
# libpq's "connection to server at "HOST" (ADDR), port 5432 failed": the port of that server.
_SERVER_PORT = re.compile(
    r"""(server(?: at)? ['"][^'"]*['"](?: \([^)]*\))?, port )\d{1,5}\b""", re.I
)
# A phone number written in groups: +49 170 123 4567, +1 (555) 123-4567, +44 7700-900123.
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![\w])")


def _host(m: re.Match[str]) -> str:
    return "<host>" if m.group(1).lower() in _TLDS else m.group(0)


def _phone(m: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in m.group(0))
    return "<phone>" if 7 <= digits <= 15 else m.group(0)


def redact(text: str) -> str:
    """Replace every address-like or id-like run in text."""
    for pattern, repl in _PATTERNS[:-1]:
        text = pattern.sub(repl, text)
    text = _QUOTED_HOST.sub(r"\1\2\3<host>\3", text)
    text = _CONNINFO.sub(r"\1=<redacted>", text)
    text = _SERVER_PORT.sub(r"\1<port>", text)
    text = _HOST.sub(_host, text)
    text = _PHONE.sub(_phone, text)
    return _PATTERNS[-1][0].sub(_PATTERNS[-1][1], text)


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
