"""Heartbeat semantics against Healthchecks' rules, on a hand-driven clock (no sleeping)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.checks.specs import parse_spec
from engine.core.errors import BadInput
from engine.heartbeats.heartbeat import (
    HeartbeatConfig,
    HeartbeatState,
    apply_ping,
    evaluate,
    expected_at,
    new_token,
    parse_ping_path,
    settle,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # a Monday
HOURLY = HeartbeatConfig(every_s=3600, grace_s=300)


def at(minutes: float, base: datetime = T0) -> datetime:
    return base + timedelta(minutes=minutes)


def pinged(cfg: HeartbeatConfig, *pings: tuple[str, datetime] | tuple[str, datetime, int]):
    state = HeartbeatState()
    for p in pings:
        state, _ = apply_ping(cfg, state, *p)
    return state


# --- status over time -----------------------------------------------------------------------------


def test_never_pinged_is_unknown_and_never_goes_down() -> None:
    state = HeartbeatState()
    for later in (T0, at(61), T0 + timedelta(days=3650)):
        v = evaluate(HOURLY, state, later)
        assert v.status == "unknown"
        assert v.next_deadline is None
    assert "never pinged" in evaluate(HOURLY, state, T0).detail


def test_up_then_pending_inside_grace_then_down() -> None:
    state = pinged(HOURLY, ("success", T0))
    up = evaluate(HOURLY, state, at(59))
    assert up.status == "up" and up.next_deadline == at(60) and up.expected_at == at(60)
    assert up.detail == "last ping 59m ago, expected every 1h with 5m grace"
    # Healthchecks compares with >=: the grace starts exactly at last ping + period.
    pending = evaluate(HOURLY, state, at(60))
    assert pending.status == "pending" and pending.next_deadline == at(65)
    assert evaluate(HOURLY, state, at(65) - timedelta(microseconds=1)).status == "pending"
    down = evaluate(HOURLY, state, at(65))
    assert down.status == "down" and down.next_deadline is None and down.down_at == at(65)
    assert "no ping in time" in down.detail


def test_success_ping_restarts_the_period() -> None:
    state = pinged(HOURLY, ("success", T0), ("success", at(62)))
    assert evaluate(HOURLY, state, at(100)).status == "up"
    assert evaluate(HOURLY, state, at(122)).status == "pending"


def test_zero_grace_goes_straight_from_up_to_down() -> None:
    cfg = HeartbeatConfig(every_s=60, grace_s=0)
    state = pinged(cfg, ("success", T0))
    assert evaluate(cfg, state, at(0.99)).status == "up"
    assert evaluate(cfg, state, at(1)).status == "down"


def test_down_is_sticky_until_a_success_ping() -> None:
    state = settle(HOURLY, pinged(HOURLY, ("success", T0)), at(70))
    assert state.status == "down" and state.down_since == at(65)
    # A longer period configured afterwards does not bring it back: only a success does.
    relaxed = HeartbeatConfig(every_s=86400, grace_s=3600)
    assert evaluate(relaxed, state, at(71)).status == "down"
    state, out = apply_ping(HOURLY, state, "log", at(72))
    assert evaluate(HOURLY, state, at(72)).status == "down" and not out.changed
    state, _ = apply_ping(HOURLY, state, "start", at(73))
    v = evaluate(HOURLY, state, at(74))
    assert v.status == "down" and v.running and "run started 1m ago" in v.detail
    state, out = apply_ping(HOURLY, state, "success", at(75))
    assert out.changed and (out.old_status, out.new_status) == ("down", "up")
    assert evaluate(HOURLY, state, at(76)).status == "up"
    assert state.down_since is None


def test_settle_leaves_a_state_that_is_not_down_alone() -> None:
    state = pinged(HOURLY, ("success", T0))
    assert settle(HOURLY, state, at(62)) == state
    assert settle(HOURLY, HeartbeatState(), at(10_000)) == HeartbeatState()


# --- ping kinds -------------------------------------------------------------------------------------


def test_fail_ping_is_down_at_once() -> None:
    state, out = apply_ping(HOURLY, HeartbeatState(), "fail", T0)
    assert (out.kind, out.old_status, out.new_status) == ("fail", "unknown", "down")
    assert state.down_since == T0 and state.last_ping_at == T0
    v = evaluate(HOURLY, state, at(1))
    assert v.status == "down" and "failure" in v.detail
    state, out = apply_ping(HOURLY, state, "fail", at(5))
    assert not out.changed and state.down_since == T0  # down since the first failure
    state, _ = apply_ping(HOURLY, state, "start", at(6))  # a retry starts: still down, still why
    v = evaluate(HOURLY, state, at(7))
    assert v.status == "down" and v.running and v.detail.startswith("last ping was a failure")


@pytest.mark.parametrize(
    ("code", "kind", "status"), [(0, "success", "up"), (1, "fail", "down"), (255, "fail", "down")]
)
def test_exit_status_zero_is_success_other_values_fail(code: int, kind: str, status: str) -> None:
    state, out = apply_ping(HOURLY, HeartbeatState(), "exit", T0, exit_status=code)
    assert out.kind == kind and out.exit_status == code
    assert state.status == status and state.last_exit_status == code
    assert evaluate(HOURLY, state, at(1)).status == status


@pytest.mark.parametrize("code", [256, -1, 1000, None])
def test_exit_status_outside_0_255_is_bad_input(code: int | None) -> None:
    before = pinged(HOURLY, ("success", T0))
    with pytest.raises(BadInput, match="exit status must be 0-255"):
        apply_ping(HOURLY, before, "exit", at(1), exit_status=code)


def test_unknown_kind_is_bad_input_and_exit_status_needs_kind_exit() -> None:
    with pytest.raises(BadInput, match="unknown"):
        apply_ping(HOURLY, HeartbeatState(), "pause", T0)
    with pytest.raises(ValueError):
        apply_ping(HOURLY, HeartbeatState(), "success", T0, exit_status=0)


def test_log_changes_nothing_but_the_count() -> None:
    for before in (
        HeartbeatState(),
        pinged(HOURLY, ("success", T0)),
        pinged(HOURLY, ("success", T0), ("start", at(50))),
        pinged(HOURLY, ("fail", T0)),
    ):
        after, out = apply_ping(HOURLY, before, "log", at(61))
        assert out.kind == "log" and not out.changed
        assert after.n_pings == before.n_pings + 1 and after.last_event_at == at(61)
        assert after.to_dict() | {"n_pings": 0, "last_event_at": None} == before.to_dict() | {
            "n_pings": 0,
            "last_event_at": None,
        }
        for m in (0, 30, 62, 66, 200):
            assert evaluate(HOURLY, after, at(m)) == evaluate(HOURLY, before, at(m))


def test_start_without_success_goes_down_after_the_grace() -> None:
    state = pinged(HOURLY, ("start", T0))  # a brand-new check that only ever started
    v = evaluate(HOURLY, state, at(4))
    assert v.status == "started" and v.running and v.next_deadline == at(5)
    down = evaluate(HOURLY, state, at(5))
    assert down.status == "down" and "run did not end within the grace" in down.detail
    assert settle(HOURLY, state, at(6)).status == "down"


def test_start_never_postpones_a_deadline_already_set() -> None:
    # Healthchecks' going_down_after takes the earlier of the period deadline and the run deadline.
    state = pinged(HOURLY, ("success", T0), ("start", at(62)))
    v = evaluate(HOURLY, state, at(63))
    assert v.status == "started" and v.next_deadline == at(65)
    assert evaluate(HOURLY, state, at(65)).status == "down"


def test_start_then_success_measures_the_run_time() -> None:
    state, out = apply_ping(HOURLY, HeartbeatState(), "start", T0)
    assert out.kind == "start" and state.status == "unknown" and state.started
    state, out = apply_ping(HOURLY, state, "success", T0 + timedelta(seconds=90))
    assert out.duration_s == 90 and state.last_duration_s == 90
    assert not state.started and state.status == "up"
    assert evaluate(HOURLY, state, at(30)).status == "up"


def test_start_then_fail_measures_and_fails() -> None:
    state = pinged(HOURLY, ("success", T0), ("start", at(10)))
    state, out = apply_ping(HOURLY, state, "exit", at(12), exit_status=2)
    assert out.duration_s == 120 and out.new_status == "down" and not state.started


def test_runs_longer_than_72h_report_no_duration() -> None:
    state = pinged(HOURLY, ("start", T0))
    _, out = apply_ping(HOURLY, state, "success", T0 + timedelta(hours=73))
    assert out.duration_s is None


def test_success_without_start_has_no_duration() -> None:
    state = pinged(HOURLY, ("start", T0), ("success", at(1)))
    _, out = apply_ping(HOURLY, state, "success", at(2))
    assert out.duration_s is None


# --- cron and time zones ---------------------------------------------------------------------------


def test_cron_expects_the_next_tick_after_the_last_ping_across_dst() -> None:
    cfg = HeartbeatConfig(every_s=None, grace_s=1800, cron="0 3 * * *", tz="Europe/Berlin")
    # Sat 2024-03-30 03:00:30 CET; Berlin springs forward the next night (02:00 CET -> 03:00 CEST).
    state = pinged(cfg, ("success", datetime(2024, 3, 30, 2, 0, 30, tzinfo=UTC)))
    due = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST: 23 hours later
    assert expected_at(cfg, state) == due
    assert evaluate(cfg, state, due - timedelta(seconds=1)).status == "up"
    assert evaluate(cfg, state, due + timedelta(minutes=10)).status == "pending"
    assert evaluate(cfg, state, due + timedelta(minutes=30)).status == "down"
    assert "cron 0 3 * * * (Europe/Berlin) with 30m grace" in evaluate(cfg, state, due).detail


def test_cron_time_skipped_by_spring_forward_is_due_at_the_jump() -> None:
    cfg = HeartbeatConfig(every_s=None, grace_s=600, cron="30 2 * * *", tz="Europe/Berlin")
    state = pinged(cfg, ("success", datetime(2024, 3, 30, 1, 31, tzinfo=UTC)))  # 02:31 CET
    # 02:30 does not exist on 2024-03-31; Debian cron (and Healthchecks) runs it at 03:00 CEST.
    assert expected_at(cfg, state) == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)


def test_cron_ambiguous_time_is_due_at_its_first_occurrence_and_not_twice() -> None:
    cfg = HeartbeatConfig(every_s=None, grace_s=600, cron="30 2 * * *", tz="Europe/Berlin")
    state = pinged(cfg, ("success", datetime(2024, 10, 26, 0, 31, tzinfo=UTC)))
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST, before the clock falls back
    assert expected_at(cfg, state) == first
    # A ping in the repeated hour (02:20 CET) expects the next day, not 02:30 CEST in the past.
    state = pinged(cfg, ("success", datetime(2024, 10, 27, 1, 20, tzinfo=UTC)))
    assert expected_at(cfg, state) == datetime(2024, 10, 28, 1, 30, tzinfo=UTC)


def test_cron_every_half_hour_fires_in_both_passes_of_the_repeated_hour() -> None:
    cfg = HeartbeatConfig(every_s=None, grace_s=60, cron="*/30 * * * *", tz="Europe/Berlin")
    state = pinged(cfg, ("success", datetime(2024, 10, 27, 0, 31, tzinfo=UTC)))  # 02:31 CEST
    assert expected_at(cfg, state) == datetime(2024, 10, 27, 1, 0, tzinfo=UTC)  # 02:00 CET


# --- business hours -------------------------------------------------------------------------------


BUSINESS = HeartbeatConfig(every_s=3600, grace_s=600, tz="Europe/Berlin", schedule="business")


def test_business_deadline_outside_hours_waits_for_the_next_business_morning() -> None:
    fri_1630 = datetime(2024, 5, 3, 14, 30, tzinfo=UTC)  # Friday 16:30 CEST
    mon_0900 = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    state = pinged(BUSINESS, ("success", fri_1630))
    late = evaluate(BUSINESS, state, fri_1630 + timedelta(hours=2))
    assert late.status == "pending" and late.next_deadline == mon_0900
    assert evaluate(BUSINESS, state, datetime(2024, 5, 5, 12, tzinfo=UTC)).status == "pending"
    assert evaluate(BUSINESS, state, mon_0900 - timedelta(seconds=1)).status == "pending"
    assert evaluate(BUSINESS, state, mon_0900).status == "down"
    assert "down only Mon-Fri 09:00-17:00 Europe/Berlin" in late.detail


def test_business_deadline_inside_hours_is_unchanged() -> None:
    mon_1000 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    state = pinged(BUSINESS, ("success", mon_1000))
    assert evaluate(BUSINESS, state, mon_1000 + timedelta(minutes=69)).status == "pending"
    assert evaluate(BUSINESS, state, mon_1000 + timedelta(minutes=70)).status == "down"


def test_business_weeknight_deadline_moves_to_the_next_morning_and_applies_to_runs() -> None:
    tue_1655 = datetime(2024, 5, 7, 14, 55, tzinfo=UTC)
    wed_0900 = datetime(2024, 5, 8, 7, 0, tzinfo=UTC)
    state = pinged(BUSINESS, ("start", tue_1655))
    v = evaluate(BUSINESS, state, tue_1655 + timedelta(hours=3))
    assert v.status == "started" and v.next_deadline == wed_0900
    assert evaluate(BUSINESS, state, wed_0900).status == "down"


# --- config and storage -----------------------------------------------------------------------------


def test_config_from_spec_defaults_like_healthchecks() -> None:
    cfg = HeartbeatConfig.from_spec(parse_spec("heartbeat://nightly-backup"))
    assert (cfg.every_s, cfg.grace_s, cfg.cron, cfg.tz, cfg.schedule) == (
        86400,
        3600,
        None,
        "UTC",
        "always",
    )


def test_config_from_spec_reads_every_option() -> None:
    spec = parse_spec("heartbeat://job?every=5m&grace=1m&tz=Europe/Berlin&schedule=business")
    cfg = HeartbeatConfig.from_spec(spec)
    assert (cfg.every_s, cfg.grace_s, cfg.tz, cfg.schedule) == (
        300,
        60,
        "Europe/Berlin",
        "business",
    )
    cron = HeartbeatConfig.from_spec(parse_spec("heartbeat://job?cron=0 3 * * *"))
    assert cron.cron == "0 3 * * *" and cron.every_s is None and cron.grace_s == 3600


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_s": 0}, "period"),
        ({"grace_s": -1}, "negative"),
        ({"tz": "Mars/Olympus"}, "time zone"),
        ({"schedule": "weekends"}, "schedule"),
        ({"cron": "61 * * * *"}, "cron"),
    ],
)
def test_bad_config_is_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        HeartbeatConfig(**kwargs)


def test_state_round_trips_through_json() -> None:
    state = pinged(HOURLY, ("success", T0), ("start", at(1)), ("exit", at(3), 7), ("start", at(4)))
    back = HeartbeatState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert back == state and back.last_exit_status == 7 and back.started
    assert HeartbeatState.from_dict({"status": "up", "future_field": 1}).status == "up"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate(HOURLY, HeartbeatState(), datetime(2024, 1, 1))


# --- ping paths and tokens -------------------------------------------------------------------------

TOKEN = "k2iy5YzxaN5cnzvTP98zHx35"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/ping/{TOKEN}", (TOKEN, "success", None)),
        (f"/ping/{TOKEN}/", (TOKEN, "success", None)),
        (f"/ping/{TOKEN}?rid=1", (TOKEN, "success", None)),
        (f"/ping/{TOKEN}/start", (TOKEN, "start", None)),
        (f"/ping/{TOKEN}/fail", (TOKEN, "fail", None)),
        (f"/ping/{TOKEN}/log", (TOKEN, "log", None)),
        (f"/ping/{TOKEN}/0", (TOKEN, "exit", 0)),
        (f"/ping/{TOKEN}/1", (TOKEN, "exit", 1)),
        (f"/ping/{TOKEN}/255", (TOKEN, "exit", 255)),
        (f"/ping/{TOKEN}/stop", None),
        (f"/ping/{TOKEN}/start/1", None),
        ("/ping/", None),
        ("/ping/short", None),
        (f"/api/{TOKEN}", None),
        ("", None),
    ],
)
def test_parse_ping_path(path: str, expected: tuple | None) -> None:
    assert parse_ping_path(path) == expected


def test_ping_path_exit_status_above_255_parses_and_negative_is_no_ping_form() -> None:
    """Healthchecks' route takes digits only (`/-1` is no route: 404); a number above 255 is
    refused by apply_ping once the token is known, so an unknown token stays 404."""
    assert parse_ping_path(f"/ping/{TOKEN}/256") == (TOKEN, "exit", 256)
    assert parse_ping_path(f"/ping/{TOKEN}/99999999999999999999") == (TOKEN, "exit", 256)
    for suffix in ("-1", "+1", "1.0", "١"):  # the last: an Arabic-Indic digit, not ASCII
        assert parse_ping_path(f"/ping/{TOKEN}/{suffix}") is None


def test_new_token_is_url_safe_random_and_parses() -> None:
    tokens = {new_token() for _ in range(500)}
    assert len(tokens) == 500
    for t in list(tokens)[:20]:
        assert len(t) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", t)
        assert parse_ping_path(f"/ping/{t}/fail") == (t, "fail", None)


# --- properties -------------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
periods = st.floats(min_value=1, max_value=90 * 86400, allow_nan=False)
graces = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(t=moments, p=periods, g=graces)
def test_property_half_a_period_after_a_ping_is_up(t: datetime, p: float, g: float) -> None:
    cfg = HeartbeatConfig(every_s=p, grace_s=g)
    state = pinged(cfg, ("success", t))
    assert evaluate(cfg, state, t + timedelta(seconds=p / 2)).status == "up"
    after = evaluate(cfg, state, t + timedelta(seconds=p + g + 1))
    assert after.status == "down"


@settings(max_examples=200, deadline=None)
@given(t=moments, p=periods, g=graces, offsets=st.lists(periods, min_size=1, max_size=6))
def test_property_status_only_worsens_until_the_next_ping(
    t: datetime, p: float, g: float, offsets: list[float]
) -> None:
    cfg = HeartbeatConfig(every_s=p, grace_s=g)
    state = pinged(cfg, ("success", t))
    rank = {"up": 0, "pending": 1, "down": 2}
    seen = [rank[evaluate(cfg, state, t + timedelta(seconds=o)).status] for o in sorted(offsets)]
    assert seen == sorted(seen)
    for o in offsets:  # next_deadline is exactly where the status changes
        v = evaluate(cfg, state, t + timedelta(seconds=o))
        if v.next_deadline is not None:
            assert v.next_deadline > t + timedelta(seconds=o)
            assert evaluate(cfg, state, v.next_deadline).status != v.status
