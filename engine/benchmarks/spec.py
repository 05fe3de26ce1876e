"""Benchmark specs as users type them: `cpu`, an http(s) URL, `tcp://host:port` or `host:port`,
`cmd:/path/to/bench args`. Options ride along: `https://site/?n=20&threshold=30`, `cpu?threshold=10`,
`cmd:/opt/bench --quick ?better=lower`.

One parser for `/setbench`, `sysalert bench add`, the API and the console, so all of them answer a
mistake with the same sentence. Host and URL checks reuse the target spec parser.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from engine.checks.specs import TargetSpec, parse_spec
from engine.core.durations import parse_duration
from engine.core.errors import BadInput

KINDS = ("cpu", "http", "tcp", "command")
FORMS = (
    "cpu, https://host/path (latency p95), tcp://host:port or host:port (connect time p95), "
    "cmd:/path/to/bench (prints a number); options such as ?n=20&threshold=30"
)
UNITS = {"cpu": "ops/s", "http": "ms", "tcp": "ms", "command": ""}
# Latency over a network is noisier than a local CPU loop: a wider default threshold.
DEFAULT_THRESHOLD = {"cpu": 20.0, "http": 50.0, "tcp": 50.0, "command": 20.0}
DEFAULT_N = {"cpu": 1, "http": 10, "tcp": 10, "command": 1}
MAX_N = {"cpu": 1, "http": 100, "tcp": 100, "command": 20}
DEFAULT_TIMEOUT = {"cpu": 5.0, "http": 10.0, "tcp": 5.0, "command": 30.0}
MIN_INTERVAL = 1.0
MAX_TIMEOUT = 120.0
_OPTIONS = {
    "cpu": {"threshold", "interval"},
    "http": {"n", "threshold", "interval", "timeout"},
    "tcp": {"n", "threshold", "interval", "timeout"},
    "command": {"n", "threshold", "interval", "timeout", "better"},
}
_BARE_TCP = re.compile(r"[^\s/:?]+:\d+|\[[0-9a-fA-F:]+\]:\d+")


@dataclass(frozen=True)
class BenchSpec:
    """A parsed benchmark spec. `raw` is what the user typed: sealed in the store, never logged."""

    kind: str
    raw: str
    target: TargetSpec | None = None  # the probe spec for http, tcp and command
    n: int = 1
    timeout_s: float = 5.0
    threshold_pct: float | None = None  # None: the kind's default
    interval_s: float | None = None  # None: the caller's default
    higher_is_better: bool = True

    @property
    def unit(self) -> str:
        return UNITS[self.kind]

    @property
    def default_threshold(self) -> float:
        return DEFAULT_THRESHOLD[self.kind]

    def default_name(self) -> str:
        """A readable default name (sealed like any name)."""
        t = self.target
        if self.kind == "cpu" or t is None:
            return "cpu"
        if self.kind == "http":
            return f"{t.host} latency"
        if self.kind == "tcp":
            return f"{t.host}:{t.port} connect"
        return t.argv[0].rsplit("/", 1)[-1] if t.argv else "command"


def _bad(raw: str, what: str, fix: str) -> BadInput:
    return BadInput(f"benchmark spec {raw!r}: {what}", fix)


def _target(raw: str, text: str) -> TargetSpec:
    """Validate host, port and URL with the target parser; its errors, worded for benchmarks."""
    try:
        return parse_spec(text)
    except BadInput as exc:
        what = exc.message.split(": ", 1)[-1]
        raise _bad(raw, what, exc.hint or FORMS) from None


def _options(raw: str, kind: str, pairs: list[tuple[str, str]]) -> dict[str, str]:
    allowed = _OPTIONS[kind]
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise _bad(
                raw, f"unknown option {key!r}", f"allowed for {kind}: {', '.join(sorted(allowed))}"
            )
        out[key] = value
    return out


def _build(raw: str, kind: str, target: TargetSpec | None, opts: dict[str, str]) -> BenchSpec:
    n = DEFAULT_N[kind]
    if "n" in opts:
        if not opts["n"].isdigit() or not 1 <= int(opts["n"]) <= MAX_N[kind]:
            raise _bad(
                raw, f"n={opts['n']!r} is not a whole number from 1 to {MAX_N[kind]}", "e.g. ?n=20"
            )
        n = int(opts["n"])
    threshold = None
    if "threshold" in opts:
        text = opts["threshold"].strip().removesuffix("%")
        try:
            threshold = float(text)
        except ValueError:
            raise _bad(
                raw,
                f"threshold={opts['threshold']!r} is not a number",
                "a percent, e.g. ?threshold=20",
            ) from None
        if not 0 < threshold <= 1000:
            raise _bad(
                raw,
                f"threshold {threshold:g}% is out of range",
                "use a percent above 0 and at most 1000",
            )
    interval = None
    if "interval" in opts:
        interval = _duration(raw, opts["interval"], "interval")
        if interval < MIN_INTERVAL:
            raise _bad(
                raw,
                f"interval {opts['interval']!r} is too short",
                "use at least 1s; benchmarks load what they measure",
            )
    timeout = DEFAULT_TIMEOUT[kind]
    if "timeout" in opts:
        timeout = _duration(raw, opts["timeout"], "timeout")
        if not 0 < timeout <= MAX_TIMEOUT:
            raise _bad(
                raw,
                f"timeout {opts['timeout']!r} is out of range",
                "use more than 0s and at most 2m",
            )
    higher = kind == "cpu"
    if kind == "command":
        better = opts.get("better", "higher").lower()
        if better not in ("higher", "lower"):
            raise _bad(
                raw, f"better={opts['better']!r} is unknown", "use better=higher or better=lower"
            )
        higher = better == "higher"
    return BenchSpec(kind, raw, target, n, timeout, threshold, interval, higher)


def _duration(raw: str, text: str, what: str) -> float:
    try:
        return parse_duration(text, what)
    except BadInput as exc:
        raise _bad(raw, exc.message, exc.hint or "e.g. 30s, 5m, 1h") from None


def _split_query(query: str, ours: set[str]) -> tuple[list[tuple[str, str]], str]:
    """Take our options out of a URL's query; the site's own parameters stay, byte for byte."""
    mine: list[tuple[str, str]] = []
    kept: list[str] = []
    for part in query.split("&") if query else []:
        key = part.split("=", 1)[0]
        if key in ours:
            mine.extend(parse_qsl(part, keep_blank_values=True))
        elif part:
            kept.append(part)
    return mine, "&".join(kept)


def parse_bench_spec(text: str) -> BenchSpec:
    """Parse a benchmark spec or raise BadInput saying what is wrong and showing the forms."""
    raw = (text or "").strip()
    if not raw:
        raise BadInput("empty benchmark spec", f"forms: {FORMS}")
    if len(raw) > 2000:
        raise _bad(raw[:40] + "…", "too long", "keep a spec under 2000 characters")
    head, _, query = raw.partition("?")
    if head.strip().lower() == "cpu":
        opts = _options(raw, "cpu", parse_qsl(query, keep_blank_values=True))
        return _build(raw, "cpu", None, opts)
    if raw.startswith("cmd:"):
        return _parse_command(raw)
    if "://" not in raw:
        if _BARE_TCP.fullmatch(head):
            return _parse_tcp(raw, head, query)
        raise _bad(raw, "not a benchmark form", f"forms: {FORMS}")
    scheme = raw.split("://", 1)[0].lower()
    if scheme == "tcp":
        return _parse_tcp(raw, head.split("://", 1)[1], query)
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(raw)
        except ValueError:
            raise _bad(raw, "the URL does not parse", "write https://host/path") from None
        mine, kept = _split_query(parts.query, _OPTIONS["http"])
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, kept, parts.fragment))
        return _build(raw, "http", _target(raw, url), _options(raw, "http", mine))
    raise _bad(raw, f"scheme {scheme!r} is not a benchmark", f"forms: {FORMS}")


def _parse_tcp(raw: str, hostport: str, query: str) -> BenchSpec:
    target = _target(raw, "tcp://" + hostport)
    return _build(
        raw, "tcp", target, _options(raw, "tcp", parse_qsl(query, keep_blank_values=True))
    )


def _parse_command(raw: str) -> BenchSpec:
    """`cmd:/path args [?options]`: only a last word starting with `?` holds options."""
    try:
        words = shlex.split(raw[4:])
    except ValueError as exc:
        raise _bad(raw, f"command does not split into words ({exc})", "check the quotes") from None
    query = ""
    if words and words[-1].startswith("?"):
        query = words.pop()[1:]
    if not words:
        raise _bad(raw, "no command", "write cmd:/usr/local/bin/bench --quick")
    target = _target(raw, "cmd:" + shlex.join(words))
    opts = _options(raw, "command", parse_qsl(query, keep_blank_values=True))
    return _build(raw, "command", target, opts)


def parse_threshold(value: str | float) -> float:
    """A regression threshold in percent ("20" or "20%"), above 0 and at most 1000."""
    text = str(value).strip().removesuffix("%")
    try:
        pct = float(text)
    except ValueError:
        raise BadInput(
            f"threshold {value!r} is not a number", "a percent, e.g. --threshold 20"
        ) from None
    if not 0 < pct <= 1000:
        raise BadInput(
            f"threshold {pct:g}% is out of range", "use a percent above 0 and at most 1000"
        )
    return pct
