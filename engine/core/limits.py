"""Every size and range SysAlert accepts, in one place.

The command layer checks its arguments against these (so the CLI, the console, the HTTP API and
Telegram refuse the same things with the same sentence), and the API's request models and
/openapi.json read the same numbers. A value outside them is bad input (exit 2, HTTP 400), never a
500 or a row the store cannot hold.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from engine.core.errors import BadInput

# ---- HTTP -----------------------------------------------------------------------------------
MAX_BODY = 1024 * 1024  # [api] max_body default: a JSON request body, read in pieces, 413 beyond
PING_BODY_MAX = 100_000  # a ping's body (a log excerpt) kept, as Healthchecks' PING_BODY_LIMIT
# A ping with a longer body is still recorded (a cron wrapper's `curl --data-binary @job.log` must
# not turn a job that ran fine into a page); the rest is read and dropped, never buffered. Reading
# and dropping costs the daemon time, so a body past this (100 times the kept part, more than any
# log excerpt) gets 413 and a closed connection, and that ping is not recorded.
PING_DISCARD_MAX = 10 * 1024 * 1024
LIMIT_CONCURRENCY = 1000  # connections+tasks per listener before uvicorn answers 503

# ---- text fields (characters) ---------------------------------------------------------------
NAME_MAX = 80  # target, benchmark, rule and contact names
SPEC_MAX = 2048  # a target or benchmark spec (URLs, commands)
TAG_MAX = 64
TAGS_MAX = 32  # tags per target
CONDITION_MAX = 1024
CONDITIONS_MAX = 50  # conditions per target
OPTIONS_MAX = 32  # options per target (the headers table counts as one)
OPTION_MAX = 65_536  # one option's value (an HTTP body may be a few kB of JSON)
HEADERS_MAX = 32  # HTTP headers per target
HEADER_NAME_MAX = 256
HEADER_VALUE_MAX = 8192
ADDRESS_MAX = 2048  # a contact address (webhook URL, e-mail, chat id)
REASON_MAX = 500  # a maintenance reason
ACTOR_MAX = 64  # who made a change (`--by`, X-SysAlert-Actor)
REF_MAX = 256  # an id or name given to find something
SCHEDULE_MAX = 256  # a maintenance schedule (cron or weekly)
CHANNELS_MAX = 32  # contacts a rule notifies
IMPORT_MAX = 64 * 1024 * 1024  # `target import` TOML text (100,000 targets are about 8 MB)

# ---- numbers ----------------------------------------------------------------------------------
LIST_LIMIT = (1, 1000)  # `limit` of list queries
SERIES_SECONDS = (1.0, 400 * 86400.0)  # how far back a series / uptime reaches
BUCKETS = (1, 500)
EPOCH = (0.0, 32503680000.0)  # a Unix time (`before=`, `now=`): 1970 to the year 3000
RUNS = (1, 1000)
LEVEL = (1, 9)  # a contact's escalation level
ICMP_COUNT = (1, 100)  # icmp://host?count=
TLS_MIN_DAYS = (0, 36_500)  # tls://host?min_days=
SYSTEM_PERCENT = (0, 100)  # system://cpu|memory|swap|disk?max=|min=
SYSTEM_LOAD = (0, 100_000)  # system://load?max= (% of the cores: 400 is four busy ones)
LATENCY_MS = (0.0, 3_600_000.0)  # max_latency_ms

# ---- durations (seconds): (shortest, longest) -------------------------------------------------
DURATION_MAX = 366 * 86400.0  # nothing anywhere lasts longer than a year
INTERVAL = (0.2, 7 * 86400.0)  # a target's probe interval
TIMEOUT = (0.01, 3600.0)  # a probe's timeout (and never longer than the interval)
MAINTENANCE_FOR = (1.0, DURATION_MAX)  # maintenance on --for
SILENCE_FOR = (1.0, 90 * 86400.0)  # incidents silence --for
RULE_FOR = (0.0, 30 * 86400.0)  # a rule's `duration` (how long it must hold)
HEARTBEAT_EVERY = (1.0, DURATION_MAX)  # heartbeat every=
HEARTBEAT_GRACE = (0.0, DURATION_MAX)  # heartbeat grace=
BENCH_INTERVAL = (1.0, 30 * 86400.0)
WINDOW_LENGTH = (1.0, DURATION_MAX)  # a recurring maintenance window's length

# Characters no name, tag, header or reason may hold: NUL and the other C0/C1 controls, and the
# bidirectional overrides and isolates that make text display differently from what it is
# ("Trojan Source", CVE-2021-42574).
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The other format characters (zero-width space, soft hyphen, BOM...) are invisible: "db\u200b-prod"
# would read as "db-prod". Only the zero-width joiner stays, as emoji sequences need it.
ZWJ = "\u200d"


_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")
_PRINTABLE_LINES = re.compile(r"[\x20-\x7e\n\t\r]*\Z")


def bad_char(text: str, multiline: bool = False) -> str | None:
    """A description of the first character `text` may not hold, or None. Printable ASCII, the
    common case, is passed by one regex match (an 8 MB import file in 20 ms, not 5 s)."""
    if (_PRINTABLE_LINES if multiline else _PRINTABLE).match(text):
        return None
    for i, c in enumerate(text):
        if multiline and c in "\n\t\r":
            continue
        o = ord(c)
        if o < 32 or 0x7F <= o < 0xA0:
            return f"a control character (U+{o:04X}) at position {i + 1}"
        if c in BIDI:
            return f"a bidirectional control character (U+{o:04X}) at position {i + 1}"
        if 0xD800 <= o < 0xE000:
            return f"a lone surrogate (U+{o:04X}) at position {i + 1}, which is not valid text"
        if o > 0x7F and c != ZWJ and unicodedata.category(c) == "Cf":
            return f"an invisible format character (U+{o:04X}) at position {i + 1}"
    return None


def check_text(
    value: Any,
    what: str,
    max_len: int,
    *,
    empty_ok: bool = False,
    multiline: bool = False,
    strip: bool = True,
) -> str:
    """`value` as a string within `max_len` characters and without control, bidi or surrogate
    characters; BadInput names the field and the limit."""
    if not isinstance(value, str):
        raise BadInput(f"{what} must be text, not {type(value).__name__}", f"e.g. {what}=web1")
    text = value.strip() if strip else value
    if not text and not empty_ok:
        raise BadInput(f"{what} is empty", f"give {what} a value")
    if len(text) > max_len:
        raise BadInput(
            f"{what} is {len(text)} characters long",
            f"keep it to at most {max_len} characters",
        )
    bad = bad_char(text, multiline)
    if bad is not None:
        raise BadInput(f"{what} holds {bad}", "use printable characters only")
    return text


def no_nul(ref: str) -> str:
    """A reference (id, name, tag:T) without NUL: none holds one, and PostgreSQL cannot even
    compare text with one (a lookup would fail in the driver rather than find nothing)."""
    if "\0" in ref:
        raise ValueError(f"holds a NUL character at position {ref.index(chr(0)) + 1}")
    return ref


def check_count(items: Iterable[Any] | None, what: str, max_items: int) -> list[Any]:
    """A list of at most `max_items` entries."""
    out = list(items or [])
    if len(out) > max_items:
        raise BadInput(f"{len(out)} {what} given", f"a target takes at most {max_items} {what}")
    return out


def check_int(value: Any, what: str, bounds: tuple[int, int]) -> int:
    """A whole number (or its text) inside `bounds`; the error names the parameter and range."""
    lo, hi = bounds
    text = str(value).strip()
    whole = isinstance(value, int) or (
        isinstance(value, str) and text.removeprefix("-").isdecimal() and len(text) < 20
    )
    if isinstance(value, bool) or not whole:
        raise BadInput(
            f"{what} {text[:40]!r} is not a whole number (an integer)",
            f"give {what} from {lo} to {hi}",
        )
    if not lo <= int(text) <= hi:
        raise BadInput(f"{what} {int(text)} is out of range", f"give {what} from {lo} to {hi}")
    return int(text)


def check_number(value: Any, what: str, bounds: tuple[float, float]) -> float:
    """A finite number (or its text) inside `bounds`; the error names the parameter and range."""
    lo, hi = bounds
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if math.isnan(number):
        raise BadInput(
            f"{what} {str(value)[:40]!r} is not a number",
            f"give {what} from {_num(lo)} to {_num(hi)}",
        )
    if not lo <= number <= hi:
        raise BadInput(
            f"{what} {str(value)[:40]} is out of range",
            f"give {what} from {_num(lo)} to {_num(hi)}",
        )
    return number


def _num(x: float) -> str:
    """A bound as people read it: 86400, 3600000, 0.5 (not 3.6e+06)."""
    return f"{x:.0f}" if x.is_integer() else f"{x:g}"


# ---- the same limits as types, for command signatures -----------------------------------------
# The HTTP API builds its request models and /openapi.json from the command layer's signatures
# (engine.api.routes), so a parameter annotated with one of these is documented and checked with
# its limit there; the command body checks it again for the CLI, console and Telegram.
Name = Annotated[str, Field(max_length=NAME_MAX)]
Spec = Annotated[str, Field(max_length=SPEC_MAX)]
Ref = Annotated[str, Field(max_length=REF_MAX), AfterValidator(no_nul)]
Reason = Annotated[str, Field(max_length=REASON_MAX)]
Schedule = Annotated[str, Field(max_length=SCHEDULE_MAX)]
Address = Annotated[str, Field(max_length=ADDRESS_MAX)]
Actor = Annotated[str, Field(max_length=ACTOR_MAX)]
ImportText = Annotated[str, Field(max_length=IMPORT_MAX)]
Tags = Annotated[list[Annotated[str, Field(max_length=TAG_MAX)]], Field(max_length=TAGS_MAX)]
Conditions = Annotated[
    list[Annotated[str, Field(max_length=CONDITION_MAX)]], Field(max_length=CONDITIONS_MAX)
]
Options = Annotated[dict[str, Any], Field(max_length=OPTIONS_MAX)]
Channels = Annotated[
    list[Annotated[str, Field(max_length=NAME_MAX)]], Field(max_length=CHANNELS_MAX)
]


def check_name(name: str, what: str) -> str:
    """A display name for a target, benchmark, rule or contact: non-empty, printable, not too
    long (engine.core.limits)."""
    if isinstance(name, str) and not name.strip():
        raise BadInput(f"{what} name is empty", "give --name a few letters")
    return check_text(name, f"{what} name", NAME_MAX)
