"""Property-based proof for the parsers of what people type: target specs, durations, conditions,
probe options, the command layer's limits and the config file. Whatever the input, each either
returns a value or raises the project's own bad-input error (BadInput, which ConfigError is); no
other exception escapes, and what comes back keeps to the documented ranges."""

from __future__ import annotations

import math
import os
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.checks.conditions.parse import parse_condition
from engine.checks.options import check_options
from engine.checks.specs import KINDS, parse_spec
from engine.core.durations import parse_duration
from engine.core.errors import BadInput
from engine.core.limits import (
    BIDI,
    DURATION_MAX,
    INTERVAL,
    LIST_LIMIT,
    NAME_MAX,
    check_int,
    check_number,
    check_text,
)

# SYSALERT_FUZZ_EXAMPLES=5000 digs deeper than the suite's default.
EXAMPLES = int(os.environ.get("SYSALERT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like the real thing more often than random unicode does.
_PIECES = st.sampled_from(
    [
        "tcp://",
        "http://",
        "https://",
        "icmp://",
        "dns://",
        "tls://",
        "heartbeat://",
        "system://",
        "cmd:",
        "disk:",
        "cpu",
        "127.0.0.1",
        "[::1]",
        "example.org",
        ":",
        ":443",
        ":0",
        ":99999",
        "/",
        "?",
        "&",
        "=",
        "count",
        "every",
        "grace",
        "cron",
        "tz",
        "type",
        "max",
        "1e308",
        "-1",
        "nan",
        "5m",
        "0 3 * * *",
        "Europe/Berlin",
        " ",
        "%",
        "\0",
        "\u202e",
        "\ud7ff",
        "'",
        '"',
        "\\",
    ]
)
spec_text = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=10).map("".join))
number_text = st.one_of(
    st.text(alphabet=string.digits + ".-+eE_ ", max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
)
duration_text = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.one_of(number_text, st.sampled_from(["ms", "s", "m", "h", "d", "w", " ", "x"])),
        max_size=6,
    ).map("".join),
)


@FUZZ
@given(spec_text)
@example("http://example.org/a b")
@example("icmp://127.0.0.1?count=0")
@example("icmp://127.0.0.1?count=nan")
@example("heartbeat://job?every=999999999999999999d")
def test_parse_spec_returns_a_spec_or_bad_input(text: str) -> None:
    try:
        spec = parse_spec(text)
    except BadInput as exc:
        assert exc.message and isinstance(exc.message, str)
        return
    assert spec.kind in KINDS
    if spec.kind == "http":
        assert not any(c.isspace() for c in spec.raw)


@FUZZ
@given(
    st.one_of(
        duration_text,
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**30), max_value=10**30),
    )
)
@example("999999999999999999d")
@example(1e308)
@example("0" * 5000)
def test_parse_duration_is_in_range_or_bad_input(value: Any) -> None:
    try:
        seconds = parse_duration(value, "interval", INTERVAL)
    except BadInput as exc:
        assert "interval" in exc.message
        return
    assert math.isfinite(seconds) and INTERVAL[0] <= seconds <= INTERVAL[1]
    try:
        assert 0 <= parse_duration(value) <= DURATION_MAX
    except BadInput:
        raise AssertionError("a duration inside INTERVAL must parse without bounds") from None


condition_text = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "[STATUS]",
                    "[BODY]",
                    "[BODY].a[0].b",
                    "[RESPONSE_TIME]",
                    "[IP]",
                    "[CERTIFICATE_EXPIRATION]",
                    "len(",
                    "pat(",
                    "any(",
                    "has(",
                    ")",
                    "==",
                    "!=",
                    "<",
                    "<=",
                    ">",
                    ">=",
                    "===",
                    " ",
                    "200",
                    "*",
                    "[",
                    "]",
                    ",",
                    "'",
                    '"',
                ]
            ),
            st.text(max_size=5),
        ),
        max_size=8,
    ).map("".join),
)


@FUZZ
@given(condition_text)
@example("[STATUS] === 1")
@example("len([BODY].x[99999999999999999999]) == 1")
def test_parse_condition_returns_a_condition_or_bad_input(text: str) -> None:
    try:
        cond = parse_condition(text)
    except BadInput as exc:
        assert exc.message
        return
    assert cond.text


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
option_key = st.one_of(
    st.sampled_from(
        [
            "method",
            "headers",
            "body",
            "expect_status",
            "keyword",
            "regex",
            "json_path",
            "json_equals",
            "max_latency_ms",
            "follow_redirects",
            "verify_tls",
            "min_days",
            "nagios",
            "max",
            "min",
            "header.X-A",
            "header.",
        ]
    ),
    st.text(max_size=12),
)


@FUZZ
@given(st.sampled_from(KINDS), st.dictionaries(option_key, json_value, max_size=6))
@example("http", {"max_latency_ms": -1})
@example("http", {"headers": {"X": "a\r\nInjected: 1"}})
def test_check_options_returns_options_or_bad_input(kind: str, options: dict[str, Any]) -> None:
    try:
        out = check_options(kind, options)
    except BadInput as exc:
        assert exc.message
        return
    assert isinstance(out, dict)
    if "max_latency_ms" in out:
        assert out["max_latency_ms"] >= 0
    for name, value in out.get("headers", {}).items():
        assert "\n" not in name + value and "\r" not in name + value


@FUZZ
@given(st.one_of(st.text(max_size=120), st.integers(), st.none(), st.lists(st.text(max_size=3))))
@example("\ud800")
@example("a\0b")
@example("abc\u202edef")
def test_check_text_keeps_only_printable_bounded_text(value: Any) -> None:
    try:
        text = check_text(value, "name", NAME_MAX)
    except BadInput as exc:
        assert "name" in exc.message
        return
    assert 0 < len(text) <= NAME_MAX
    assert not any(ord(c) < 32 or c in BIDI or 0xD800 <= ord(c) < 0xE000 for c in text)
    text.encode("utf-8")  # storable and sendable


@FUZZ
@given(st.one_of(number_text, st.integers(), st.floats(), st.booleans(), st.none()))
@example("1e308")
@example("-1")
@example("nan")
@example("--0")  # two signs: one clear line, never a ValueError
@example("²")  # a digit int() does not read
def test_numeric_parameters_are_in_range_or_bad_input(value: Any) -> None:
    try:
        n = check_int(value, "limit", LIST_LIMIT)
    except BadInput as exc:
        assert "limit" in exc.message and "1 to 1000" in (exc.hint or "")
    else:
        assert LIST_LIMIT[0] <= n <= LIST_LIMIT[1]
    try:
        s = check_number(value, "seconds", (1.0, 86400.0))
    except BadInput as exc:
        assert "seconds" in exc.message and "1 to 86400" in (exc.hint or "")
    else:
        assert 1.0 <= s <= 86400.0


def _toml(value: Any) -> str:
    """A TOML value for generated configs (JSON strings are TOML basic strings)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else "inf")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


_SCALAR = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.booleans(),
    st.text(max_size=20),
    duration_text,
    spec_text,
)
_CONFIG_KEYS = {
    "engine": ["default_interval", "default_timeout", "concurrency", "location", "bogus"],
    "api": ["listen", "max_body", "limit_concurrency", "api_keys"],
    "alerts": ["resend_interval", "escalation_after", "max_attempts"],
    "retention": ["housekeeping_interval", "results_days"],
}


@st.composite
def config_text(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=200))
    lines: list[str] = []
    for section, keys in _CONFIG_KEYS.items():
        if draw(st.booleans()):
            lines.append(f"[{section}]")
            for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
                lines.append(f"{key} = {_toml(draw(_SCALAR))}")
    for _ in range(draw(st.integers(0, 2))):
        lines.append("[[targets]]")
        lines.append(f"spec = {_toml(draw(spec_text))}")
        if draw(st.booleans()):
            lines.append(f"interval = {_toml(draw(_SCALAR))}")
        if draw(st.booleans()):
            lines.append(f"conditions = {_toml(draw(st.lists(condition_text, max_size=2)))}")
    for _ in range(draw(st.integers(0, 1))):
        lines.append("[[rules]]")
        for key in ("name", "metric", "comparison", "threshold", "duration"):
            if draw(st.booleans()):
                lines.append(f"{key} = {_toml(draw(_SCALAR))}")
    return "\n".join(lines) + "\n"


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(config_text())
@example("[engine]\ndefault_interval = '999999999999999999d'\n")
@example("a = " + "[" * 400 + "]" * 400 + "\n")
def test_load_settings_returns_settings_or_config_error(tmp_path: Path, text: str) -> None:
    from engine.config.settings import load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    try:
        s = load_settings(cfg, tmp_path / "data", env={})
    except BadInput as exc:  # ConfigError is a BadInput
        assert exc.message
        return
    assert 0 < s.engine.default_interval <= DURATION_MAX
