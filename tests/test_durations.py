"""Durations as people write them, and their short display form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.durations import format_duration, parse_duration
from engine.core.errors import BadInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("45", 45),
        (" 2H ", 7200),
        ("1h 30m", 5400),
        (10, 10.0),
        (2.5, 2.5),
        ("0", 0),
    ],
)
def test_accepted_forms(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "m5", "1h-3m", "1y", "-5s", "5s junk", "1..5s"])
def test_refused_forms_say_what_and_how(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_duration(text, "grace")
    assert "grace" in info.value.message and repr(text) in info.value.message
    assert info.value.hint and "30s" in info.value.hint


def test_negative_number_refused() -> None:
    with pytest.raises(BadInput, match="negative"):
        parse_duration(-1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (45, "45s"),
        (300, "5m"),
        (330, "5m30s"),
        (7800, "2h10m"),
        (7200, "2h"),
        (86400 * 3 + 3600 * 4, "3d4h"),
        (86400, "1d"),
        (-3, "0ms"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(1, 10 * 86400))
def test_format_parses_back_close(seconds: int) -> None:
    # The short form drops the smallest unit above an hour, never more than that unit.
    back = parse_duration(format_duration(seconds))
    assert abs(back - seconds) < (60 if seconds < 86400 else 3600)
