"""How a parsed condition meets the facts: Gatus's resolution, comparison and display rules.

Each side is first resolved to a string as Gatus does it (a JSON path missing from the body is
INVALID). `==` / `!=` compare strings, as integers when both read as Go integers (`0x1 == 1`), or
through pat() / any(). `<` `<=` `>` `>=` compare integers: a Go duration becomes milliseconds
(`48h`), a float is truncated, anything else counts as 0.

Deliberate differences from Gatus, each a Gatus bug or a silent trap: JSON integers print in full
(Gatus prints 1234567 as 1.234567e+06 and then `== 1234567` fails); durations also take `d` and
`w` (Gatus reads `30d` as 0); walking a path through a string, number or array is INVALID rather
than ignoring the rest of the path; an INVALID value never equals anything, not even pat(*), and
shows as INVALID in an ordering too (Gatus shows its 0); long resolved values are cut at 200
characters in the description; durations display correctly (Gatus shows 10s as "1").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from engine.checks.conditions.glob import Glob

if TYPE_CHECKING:
    from engine.checks.conditions.parse import ConditionFacts

BODY = "[BODY]"
CERTIFICATE_EXPIRATION = "[CERTIFICATE_EXPIRATION]"
DOMAIN_EXPIRATION = "[DOMAIN_EXPIRATION]"
PLACEHOLDERS = (
    "[STATUS]",
    "[IP]",
    "[RESPONSE_TIME]",
    BODY,
    "[CONNECTED]",
    CERTIFICATE_EXPIRATION,
    DOMAIN_EXPIRATION,
    "[DNS_RCODE]",
)
EQUALITY_OPERATORS = ("==", "!=")
ORDER_OPERATORS = ("<=", ">=", "<", ">")
PATTERN_DISPLAY_LIMIT = 25  # Gatus cuts the value compared with pat() at 25 characters
DISPLAY_LIMIT = 200  # ours: a whole body in an alert helps nobody

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MISSING: Any = object()


@dataclass(frozen=True)
class Operand:
    """One side of a condition as written, and what it asks for.

    kind: literal | placeholder | len | has | pat | any. For placeholder, len and has, `name` is
    the canonical placeholder and `path` the JSON path steps after [BODY] (None: no path).
    """

    text: str
    kind: str
    name: str = ""
    path: tuple[str | int, ...] | None = None
    options: tuple[str, ...] = ()
    glob: Glob | None = None


# --- Go's number and duration syntax -----------------------------------------------------------

_GO_INT = re.compile(
    r"([+-]?)(?:0([xX])(_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)|0([oO])(_?[0-7]+(?:_[0-7]+)*)"
    r"|0([bB])(_?[01]+(?:_[01]+)*)|([0-9]+(?:_[0-9]+)*))"
)
_GO_FLOAT = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")
_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9}
_NS |= {"m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h|d|w)")


def go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): 42, -7, 0x2A, 0o52, 0b101010, 052 (octal), 1_000."""
    m = _GO_INT.fullmatch(text)
    if m is None:
        return None
    sign = -1 if m.group(1) == "-" else 1
    if m.group(2):
        value = int(m.group(3).replace("_", ""), 16)
    elif m.group(4):
        value = int(m.group(5).replace("_", ""), 8)
    elif m.group(6):
        value = int(m.group(7).replace("_", ""), 2)
    else:
        digits = m.group(8).replace("_", "")
        if len(digits) > 1 and digits[0] == "0":
            if not set(digits) <= set("01234567"):
                return None
            value = int(digits, 8)
        else:
            value = int(digits)
    value *= sign
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def go_duration_ns(text: str) -> int | None:
    """time.ParseDuration (plus d and w): 48h, 1h30m, 1.5s, 250ms, -2m, 0. None if not one."""
    s = text
    negative = s[:1] == "-"
    if s[:1] in ("-", "+"):
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return None
    total = Fraction(0)
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or not (m.group(1) or m.group(2)):
            return None
        value = Fraction(int(m.group(1) or "0"))
        if m.group(2):
            value += Fraction(int(m.group(2)), 10 ** len(m.group(2)))
        total += value * _NS[m.group(3)]
        pos = m.end()
    ns = int(total)
    if ns > (_INT64_MAX + 1 if negative else _INT64_MAX):
        return None
    return -ns if negative else ns


def _trunc_div(a: int, b: int) -> int:
    """Integer division toward zero, as Go's."""
    q = abs(a) // b
    return -q if a < 0 else q


def to_number(value: str | None) -> int:
    """What an ordering comparison sees: duration in ms, Go integer, truncated float, else 0."""
    if value is None:
        return 0
    ns = go_duration_ns(value)
    if ns:
        return _trunc_div(ns, 10**6)
    number = go_int(value)
    if number is not None:
        return number
    if _GO_FLOAT.fullmatch(value):
        f = float(value)
        if math.isfinite(f):
            return max(_INT64_MIN, min(_INT64_MAX, int(f)))
    return 0


def format_ms(ms: int) -> str:
    """A millisecond count the way Gatus means to show it: 336h, 1h30m, 1h0m15s, 45s, 0s."""
    sign = "-" if ms < 0 else ""
    seconds = abs(ms) // 1000
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if seconds == 0:
        return "0s"
    out = f"{h}h" if h else ""
    if m or (h and s):
        out += f"{m}m"
    if s:
        out += f"{s}s"
    return sign + out


# --- JSON values the way Go prints them ---------------------------------------------------------


def _float_text(f: float) -> str:
    if f.is_integer() and abs(f) < 1e21:
        return str(int(f))
    return repr(f)


def _plain(value: Any) -> Any:
    """Integral floats as ints, so a re-marshalled object reads like Go's (5, not 5.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def go_text(value: Any, nested: bool = False) -> str:
    """fmt %v of a decoded JSON value; an object at the end of a path is minified JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, list):
        return "[" + " ".join(go_text(v, True) for v in value) + "]"
    if nested:
        return "map[" + " ".join(f"{k}:{go_text(value[k], True)}" for k in sorted(value)) + "]"
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def go_len(value: Any) -> int:
    """len() of a path's value: elements of an array, bytes of anything else as printed."""
    if isinstance(value, list):
        return len(value)
    return len(go_text(value).encode("utf-8"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _walk(doc: Any, path: tuple[str | int, ...]) -> Any:
    current = doc
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return _MISSING
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return _MISSING
            current = current[step]
    return _MISSING if current is None else current


# --- resolution ---------------------------------------------------------------------------------


def _ms_of_seconds(seconds: float | None) -> int:
    """Whole milliseconds, truncated like Go's Duration.Milliseconds (rounding off float dust)."""
    return 0 if seconds is None else int(round(seconds * 1000, 6))


class Resolver:
    """Resolves operands against one set of facts; the body is decoded and parsed at most once."""

    def __init__(self, facts: ConditionFacts) -> None:
        self.facts = facts
        self._raw: str | None = None
        self._json: Any = None
        self._parsed = False

    def _raw_body(self) -> str:
        if self._raw is None:
            body = self.facts.body
            if body is None:
                self._raw = ""
            elif isinstance(body, bytes | bytearray | memoryview):
                self._raw = bytes(body).decode("utf-8", "replace")
            else:
                self._raw = str(body)
        return self._raw

    def body_json(self) -> Any:
        """The body as JSON, or _MISSING when it is not JSON (Go-strict: no NaN, no Infinity)."""
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self._raw_body(), parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                self._json = _MISSING
        return self._json

    def _scalar(self, name: str) -> str:
        f = self.facts
        if name == "[STATUS]":
            return str(int(f.status or 0))
        if name == "[IP]":
            return f.ip or ""
        if name == "[RESPONSE_TIME]":
            return str(int(f.response_time_ms or 0))
        if name == "[CONNECTED]":
            return "true" if f.connected else "false"
        if name == CERTIFICATE_EXPIRATION:
            return str(_ms_of_seconds(f.certificate_expiration_s))
        if name == DOMAIN_EXPIRATION:
            return str(_ms_of_seconds(f.domain_expiration_s))
        if name == "[DNS_RCODE]":
            return f.dns_rcode or ""
        raise AssertionError(f"placeholder {name} was not rejected by the parser")

    def resolve(self, op: Operand) -> str | None:
        """The side's value as Gatus would print it; None for INVALID (a path that is not there)."""
        if op.kind in ("literal", "pat", "any"):
            return op.text
        if op.name == BODY:
            return self._body(op)
        value = self._scalar(op.name)
        if op.kind == "len":
            return str(len(value.encode("utf-8")))
        if op.kind == "has":
            return "true" if value else "false"
        return value

    def _body(self, op: Operand) -> str | None:
        if op.path is None:
            text = self._raw_body().strip()
            if op.kind == "has":
                return "true" if text else "false"
            if op.kind == "len":
                if text.startswith("[") and text.endswith("]"):
                    doc = self.body_json()
                    if isinstance(doc, list):
                        return str(len(doc))
                return str(len(text.encode("utf-8")))
            return text
        doc = self.body_json()
        value = _MISSING if doc is _MISSING else _walk(doc, op.path)
        if op.kind == "has":
            return "false" if value is _MISSING else "true"
        if value is _MISSING:
            return None
        return str(go_len(value)) if op.kind == "len" else go_text(value)


# --- comparison and display ---------------------------------------------------------------------


def _equal(left: Operand, lv: str | None, right: Operand, rv: str | None) -> bool:
    if lv is None or rv is None:
        return False
    if left.kind == "pat":
        return left.glob is not None and left.glob.match(rv)
    if right.kind == "pat":
        return right.glob is not None and right.glob.match(lv)
    if left.kind == "any":
        return rv in left.options
    if right.kind == "any":
        return lv in right.options
    li, ri = go_int(lv), go_int(rv)
    if li is not None and ri is not None:
        return li == ri
    return lv == rv


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...(truncated)"


def _side(op: Operand, resolved: str | None, shown: str) -> str:
    """Gatus's prettify: the side as written, then what it resolved to when that differs."""
    if resolved is None:
        return f"{op.text} (INVALID)"
    return op.text if shown == op.text else f"{op.text} ({shown})"


def _shown_number(op: Operand, number: int) -> str:
    is_expiry = op.kind == "placeholder" and op.name in (CERTIFICATE_EXPIRATION, DOMAIN_EXPIRATION)
    if is_expiry or go_duration_ns(op.text) is not None:
        return format_ms(number)
    return str(number)


def compare(left: Operand, op: str, right: Operand, resolver: Resolver) -> tuple[bool, str]:
    """Decide one condition; the text is Gatus's resolved form, e.g. "[STATUS] (503) == 200"."""
    lv, rv = resolver.resolve(left), resolver.resolve(right)
    if op in EQUALITY_OPERATORS:
        ok = _equal(left, lv, right, rv) == (op == "==")
        lshown = _clip(lv or "", PATTERN_DISPLAY_LIMIT if right.kind == "pat" else DISPLAY_LIMIT)
        rshown = _clip(rv or "", PATTERN_DISPLAY_LIMIT if left.kind == "pat" else DISPLAY_LIMIT)
    else:
        ln, rn = to_number(lv), to_number(rv)
        if op == "<":
            ok = ln < rn
        elif op == "<=":
            ok = ln <= rn
        elif op == ">":
            ok = ln > rn
        else:
            ok = ln >= rn
        lshown, rshown = _shown_number(left, ln), _shown_number(right, rn)
    return ok, f"{_side(left, lv, lshown)} {op} {_side(right, rv, rshown)}"
