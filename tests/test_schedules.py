"""Maintenance windows and cron arithmetic: explicit times, DST in both directions, properties."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import BadInput
from engine.timing.schedules import (
    WindowSchedule,
    business_hours,
    cron_next,
    describe,
    is_active,
    next_change,
    parse_cron_window,
    parse_oneoff,
    parse_weekly,
    parse_window,
)


def u(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "start", "end", "tz"),
    [
        ("mon-fri 22:00-23:30 Europe/Berlin", {0, 1, 2, 3, 4}, "22:00", "23:30", "Europe/Berlin"),
        ("sat,sun 00:00-06:00", {5, 6}, "00:00", "06:00", "UTC"),
        ("Sat, Sun 0:00-6:00", {5, 6}, "00:00", "06:00", "UTC"),
        ("fri-mon 22:00-02:00", {4, 5, 6, 0}, "22:00", "02:00", "UTC"),
        ("daily 00:00-24:00", set(range(7)), "00:00", "24:00", "UTC"),
        (
            "weekdays 09:00-17:00 America/New_York",
            set(range(5)),
            "09:00",
            "17:00",
            "America/New_York",
        ),
        ("Monday,wed 09:00 - 10:00", {0, 2}, "09:00", "10:00", "UTC"),
    ],
)
def test_parse_weekly(text: str, days: set[int], start: str, end: str, tz: str) -> None:
    w = parse_weekly(text)
    assert (w.kind, set(w.days), w.start, w.end, w.tz) == ("weekly", days, start, end, tz)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("funday 10:00-11:00", "'funday' is not a day"),
        ("mon 25:00-26:00", "'25:00' is not HH:MM"),
        ("mon 10:61-11:00", "'10:61' is not HH:MM"),
        ("mon 10:00-10:00", "has no length"),
        ("mon 10:00-11:00 Mars/Base", "time zone 'Mars/Base' is unknown"),
        ("mon", "does not parse"),
        ("", "does not parse"),
    ],
)
def test_parse_weekly_errors_say_what_and_show_an_example(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as err:
        parse_weekly(text)
    assert err.value.hint and (
        "mon" in err.value.hint or "IANA" in err.value.hint or "24:00" in err.value.hint
    )


def test_parse_window_dispatches_the_three_forms() -> None:
    assert parse_window("sat,sun 00:00-06:00", "Europe/Berlin").tz == "Europe/Berlin"
    c = parse_window("cron 0 3 * * 0 for 2h Europe/Berlin")
    assert (c.kind, c.cron, c.duration_s, c.tz) == ("cron", "0 3 * * 0", 7200, "Europe/Berlin")
    o = parse_window("2025-03-01 22:00 to 2025-03-02T01:00 Europe/Berlin")
    assert (o.starts_at, o.ends_at) == (u(2025, 3, 1, 21), u(2025, 3, 2, 0))
    o = parse_window("2025-03-01T22:00+00:00 for 90m")
    assert (o.starts_at, o.ends_at) == (u(2025, 3, 1, 22), u(2025, 3, 1, 23, 30))
    for bad, message in [
        ("cron 0 3 * * 0 2h", "cron window"),
        ("cron 0 3 * * for 2h", "does not parse"),
        ("2025-03-01 22:00 until later", "one-off window"),
        ("2025-03-02 01:00 to 2025-03-01 22:00", "ends before it starts"),
        ("cron 0 3 * * 0 for soon", "not a duration"),
    ]:
        with pytest.raises(BadInput, match=message):
            parse_window(bad)


def test_parse_oneoff_and_cron_window_helpers() -> None:
    o = parse_oneoff("2024-07-01 08:00", duration="30m", tz="Europe/Berlin")
    assert (o.starts_at, o.ends_at) == (u(2024, 7, 1, 6), u(2024, 7, 1, 6, 30))
    with pytest.raises(BadInput, match="needs an end"):
        parse_oneoff("2024-07-01 08:00")
    with pytest.raises(BadInput, match="not a date"):
        parse_oneoff("tomorrow", "2024-07-01 09:00")
    with pytest.raises(BadInput, match="too short.*allowed: 1s"):
        parse_cron_window("0 3 * * *", 0)
    assert parse_cron_window("@daily", "1h").cron == "0 0 * * *"


@pytest.mark.parametrize(
    "schedule",
    [
        parse_weekly("fri-mon 22:00-02:00 Europe/Berlin"),
        parse_window("cron 0 3 * * 0 for 2h Europe/Berlin"),
        parse_oneoff("2024-07-01 08:00", "2024-07-01 09:00", tz="Asia/Kathmandu"),
    ],
)
def test_schedules_round_trip_through_json(schedule: WindowSchedule) -> None:
    assert WindowSchedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule


def test_describe() -> None:
    assert describe(parse_weekly("mon-fri 22:00-23:30 Europe/Berlin")) == (
        "Mon-Fri 22:00-23:30 Europe/Berlin"
    )
    assert describe(parse_weekly("fri-mon 22:00-02:00")) == "Fri-Mon 22:00-02:00 (next day) UTC"
    assert describe(parse_weekly("sat,sun 00:00-06:00")) == "Sat,Sun 00:00-06:00 UTC"
    assert describe(parse_weekly("daily 00:00-24:00")) == "daily 00:00-24:00 UTC"
    assert describe(parse_window("cron 0 3 * * 0 for 2h Europe/Berlin")) == (
        "cron 0 3 * * 0 for 2h Europe/Berlin"
    )
    one = parse_oneoff("2025-03-01 22:00", "2025-03-02 01:00", tz="Europe/Berlin")
    assert describe(one) == "once 2025-03-01 22:00 to 2025-03-02 01:00 Europe/Berlin"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        is_active(parse_weekly("mon 10:00-11:00"), datetime(2024, 1, 1, 10, 30))


# --- one-off ------------------------------------------------------------------------------------------


def test_oneoff_window() -> None:
    w = parse_oneoff("2024-05-01 10:00", "2024-05-01 12:00")
    assert not is_active(w, u(2024, 5, 1, 9, 59)) and next_change(w, u(2024, 5, 1, 9)) == u(
        2024, 5, 1, 10
    )
    assert is_active(w, u(2024, 5, 1, 10)) and next_change(w, u(2024, 5, 1, 10)) == u(
        2024, 5, 1, 12
    )
    assert not is_active(w, u(2024, 5, 1, 12)) and next_change(w, u(2024, 5, 1, 12)) is None


# --- weekly -------------------------------------------------------------------------------------------


def test_weekly_window_in_local_time_follows_summer_and_winter() -> None:
    w = parse_weekly("mon 09:00-10:00 Europe/Berlin")
    assert is_active(w, u(2024, 1, 8, 8, 30)) and not is_active(w, u(2024, 1, 8, 7, 30))  # CET
    assert is_active(w, u(2024, 7, 8, 7, 30)) and not is_active(w, u(2024, 7, 8, 8, 30))  # CEST


def test_weekly_window_crossing_midnight() -> None:
    w = parse_weekly("fri 22:00-02:00")
    assert not is_active(w, u(2024, 5, 2, 23))  # Thursday
    assert is_active(w, u(2024, 5, 3, 22)) and is_active(w, u(2024, 5, 4, 1, 59))
    assert not is_active(w, u(2024, 5, 4, 2))  # the end is exclusive
    assert next_change(w, u(2024, 5, 3, 21)) == u(2024, 5, 3, 22)
    assert next_change(w, u(2024, 5, 3, 23)) == u(2024, 5, 4, 2)
    assert next_change(w, u(2024, 5, 4, 2)) == u(2024, 5, 10, 22)
    sunday_night = parse_weekly("sun 23:00-01:00")  # crosses into Monday and the next week
    assert is_active(sunday_night, u(2024, 5, 6, 0, 30))
    assert not is_active(sunday_night, u(2024, 5, 6, 23, 30))


def test_adjacent_days_merge_into_one_window() -> None:
    w = parse_weekly("sat,sun 00:00-24:00")
    assert is_active(w, u(2024, 5, 4, 23, 59)) and is_active(w, u(2024, 5, 5, 0))
    assert next_change(w, u(2024, 5, 4, 12)) == u(2024, 5, 6, 0)  # not Sunday midnight
    assert next_change(w, u(2024, 5, 6, 0)) == u(2024, 5, 11, 0)


def test_window_open_around_the_clock_never_changes() -> None:
    w = parse_weekly("daily 00:00-24:00 Europe/Berlin")
    assert is_active(w, u(2024, 3, 31, 1, 30)) and next_change(w, u(2024, 3, 31, 1)) is None


def test_weekly_spring_forward_shortens_the_window() -> None:
    # Berlin, Sunday 2024-03-31: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    w = parse_weekly("sun 01:00-04:00 Europe/Berlin")
    assert next_change(w, u(2024, 3, 30, 12)) == u(2024, 3, 31, 0)  # 01:00 CET
    assert next_change(w, u(2024, 3, 31, 0, 30)) == u(2024, 3, 31, 2)  # 04:00 CEST: 2 real hours


def test_weekly_start_in_the_skipped_hour_moves_to_the_jump() -> None:
    w = parse_weekly("sun 02:30-05:00 Europe/Berlin")
    assert not is_active(w, u(2024, 3, 31, 0, 59))
    assert is_active(w, u(2024, 3, 31, 1, 0))
    assert next_change(w, u(2024, 3, 31, 0)) == u(2024, 3, 31, 1)


def test_weekly_window_inside_the_skipped_hour_does_not_happen() -> None:
    w = parse_weekly("sun 02:10-02:50 Europe/Berlin")
    assert next_change(w, u(2024, 3, 30, 12)) == u(2024, 4, 7, 0, 10)  # next Sunday, CEST
    assert not any(is_active(w, u(2024, 3, 31, 0) + timedelta(minutes=m)) for m in range(0, 180, 5))


def test_weekly_fall_back_covers_both_passes_of_the_repeated_hour() -> None:
    # Berlin, Sunday 2024-10-27: 03:00 CEST falls back to 02:00 CET (01:00 UTC).
    w = parse_weekly("sun 02:15-02:45 Europe/Berlin")
    assert next_change(w, u(2024, 10, 26, 12)) == u(2024, 10, 27, 0, 15)  # 02:15 CEST
    for minute in (15, 50, 75, 100):  # first pass, between passes, second pass
        assert is_active(w, u(2024, 10, 27, 0) + timedelta(minutes=minute))
    assert next_change(w, u(2024, 10, 27, 0, 20)) == u(2024, 10, 27, 1, 45)  # 02:45 CET
    long = parse_weekly("sun 01:00-04:00 Europe/Berlin")
    assert next_change(long, u(2024, 10, 26, 12)) == u(2024, 10, 26, 23)
    assert next_change(long, u(2024, 10, 26, 23)) == u(2024, 10, 27, 3)  # 4 real hours


def test_business_hours() -> None:
    b = business_hours("Europe/Berlin")
    assert is_active(b, u(2024, 5, 3, 14, 59)) and not is_active(b, u(2024, 5, 3, 15))
    assert next_change(b, u(2024, 5, 3, 15)) == u(2024, 5, 6, 7)


# --- cron ---------------------------------------------------------------------------------------------


def test_cron_window_opens_at_each_tick_for_its_duration() -> None:
    w = parse_cron_window("0 12 * * *", "30m")
    assert is_active(w, u(2024, 5, 1, 12)) and is_active(w, u(2024, 5, 1, 12, 29))
    assert not is_active(w, u(2024, 5, 1, 12, 30)) and not is_active(w, u(2024, 5, 1, 11, 59))
    assert next_change(w, u(2024, 5, 1, 11)) == u(2024, 5, 1, 12)
    assert next_change(w, u(2024, 5, 1, 12, 10)) == u(2024, 5, 1, 12, 30)
    assert next_change(w, u(2024, 5, 1, 12, 30)) == u(2024, 5, 2, 12)


def test_cron_window_in_a_time_zone_and_across_spring_forward() -> None:
    w = parse_window("cron 0 3 * * 0 for 2h Europe/Berlin")
    assert is_active(w, u(2024, 5, 5, 1, 30)) and not is_active(w, u(2024, 5, 5, 3))
    gap = parse_window("cron 30 2 * * * for 1h Europe/Berlin")
    assert next_change(gap, u(2024, 3, 30, 23)) == u(2024, 3, 31, 1)  # runs at the jump
    assert next_change(gap, u(2024, 3, 31, 1)) == u(2024, 3, 31, 2)


def test_overlapping_cron_occurrences_stay_open() -> None:
    w = parse_cron_window("0 */2 * * *", "3h")
    assert all(is_active(w, u(2024, 5, 1) + timedelta(minutes=m)) for m in range(0, 600, 17))
    t = next_change(w, u(2024, 5, 1, 1))
    assert t is not None and t > u(2024, 5, 10)  # a time to look again, not a busy loop
    assert is_active(w, t - timedelta(seconds=1))
    chain = parse_cron_window("0 10,11 * * *", "1h")  # back to back: one window 10:00-12:00
    assert next_change(chain, u(2024, 5, 1, 10, 15)) == u(2024, 5, 1, 12)


def test_cron_that_never_fires() -> None:
    w = parse_cron_window("0 0 30 2 *", "1h")
    assert not is_active(w, u(2024, 1, 1)) and next_change(w, u(2024, 1, 1)) is None
    assert cron_next("0 0 30 2 *", u(2024, 1, 1)) is None


def test_cron_next_matches_healthchecks_cronsim_in_riga() -> None:
    # Vectors from cronsim's TestDstTransitions (Europe/Riga 2021: +02 -> +03 on Mar 28 03:00).
    def seq(expr: str, start: datetime, n: int) -> list[str]:
        out, t = [], start
        for _ in range(n):
            t = cron_next(expr, t, "Europe/Riga")
            out.append(t.astimezone(start.tzinfo).isoformat())
        return out

    from zoneinfo import ZoneInfo

    riga = ZoneInfo("Europe/Riga")
    assert seq("0 * * * *", datetime(2021, 10, 31, 1, 30, tzinfo=riga), 4) == [
        "2021-10-31T02:00:00+03:00",
        "2021-10-31T03:00:00+03:00",
        "2021-10-31T03:00:00+02:00",
        "2021-10-31T04:00:00+02:00",
    ]
    assert seq("0 3 * * *", datetime(2021, 3, 27, 1, 30, tzinfo=riga), 3) == [
        "2021-03-27T03:00:00+02:00",
        "2021-03-28T04:00:00+03:00",
        "2021-03-29T03:00:00+03:00",
    ]
    assert seq("0 */3 * * *", datetime(2021, 10, 31, 1, 30, tzinfo=riga), 3) == [
        "2021-10-31T03:00:00+03:00",
        "2021-10-31T03:00:00+02:00",
        "2021-10-31T06:00:00+02:00",
    ]
    assert seq("30 1,2,3,4,5 * * *", datetime(2021, 10, 31, 1, 30, tzinfo=riga), 3) == [
        "2021-10-31T02:30:00+03:00",
        "2021-10-31T03:30:00+03:00",
        "2021-10-31T04:30:00+02:00",
    ]


def test_cron_bad_expression_is_bad_input() -> None:
    for bad in ("61 * * * *", "* * *", "0 0 * * * *", ""):
        with pytest.raises(BadInput, match="does not parse"):
            cron_next(bad, u(2024, 1, 1))


# --- properties -------------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
# Around the DST transitions of 2024 as well as ordinary days.
nows = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2025, 1, 1), timezones=st.just(UTC)
)
hhmm = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45])
)


@st.composite
def weekly(draw) -> WindowSchedule:
    start, end = draw(hhmm), draw(hhmm | st.just("24:00"))
    if start == end:
        end = "24:00" if start != "00:00" else "12:00"
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    return WindowSchedule(
        "weekly", days=days, start=start, end=end, tz=draw(st.sampled_from(ZONES))
    )


cron_windows = st.builds(
    lambda expr, minutes, tz: parse_cron_window(expr, minutes * 60, tz),
    st.sampled_from(["0 3 * * *", "30 2 * * 0", "*/20 * * * *", "15 1-4 * * *", "0 12 * * 1-5"]),
    st.integers(1, 300),
    st.sampled_from(ZONES),
)


@settings(max_examples=150, deadline=None)
@given(w=weekly() | cron_windows, now=nows)
def test_property_next_change_is_exactly_where_the_window_flips(
    w: WindowSchedule, now: datetime
) -> None:
    t = next_change(w, now)
    if t is None:
        return
    assert t > now
    before = is_active(w, now)
    assert is_active(w, t - timedelta(microseconds=1)) == before
    assert is_active(w, now + (t - now) / 2) == before
    if w.kind == "weekly" or not before:  # long cron chains may hand back a time to look again
        assert is_active(w, t) != before


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(["0 3 * * *", "30 2 * * *", "*/15 * * * *", "0 * * * *", "45 1,2 * * 0"]),
    tz=st.sampled_from(ZONES),
    after=nows,
)
def test_property_cron_next_is_later_and_the_first_such_tick(
    expr: str, tz: str, after: datetime
) -> None:
    t = cron_next(expr, after, tz)
    assert t is not None and t > after
    assert cron_next(expr, t - timedelta(seconds=1), tz) == t
    if t - after > timedelta(seconds=2):
        assert cron_next(expr, after + (t - after) / 2, tz) == t
