"""Message templates: the wording per kind, severity markers and colours, channel limits."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.notify import templates as t
from tests.test_channel_webhook import NOW, make_msg


def test_alert_text_has_marker_headline_error_incident_and_ack_hint() -> None:
    text = t.render_text(make_msg(), NOW)
    lines = text.splitlines()
    assert lines[0] == "[CRITICAL] DOWN db-primary since 12:03 UTC (3m)"
    assert "Error: timeout" in lines
    assert "Incident: inc-7 (target:3f9a1c2e)" in lines
    assert "connect to 10.0.0.5:5432 timed out" in lines
    assert lines[-1] == "Reply ack or /ack inc-7"


@pytest.mark.parametrize(
    ("severity", "mark"),
    [
        ("low", "[LOW]"),
        ("medium", "[MEDIUM]"),
        ("high", "[HIGH]"),
        ("critical", "[CRITICAL]"),
    ],
)
def test_severity_marker(severity: str, mark: str) -> None:
    assert t.render_text(make_msg(severity=severity), NOW).startswith(mark + " ")


def test_each_kind_reads_differently_and_only_open_ones_ask_for_ack() -> None:
    out = {
        k: t.render_text(
            make_msg(k, level=2, state="up" if k == "resolved" else "down", extra={"by": "alice"}),
            NOW,
        )
        for k in ("alert", "reminder", "escalation", "acknowledged", "resolved", "flapping", "test")
    }
    assert out["reminder"].startswith("[CRITICAL] Still DOWN db-primary since 12:03 UTC")
    assert out["escalation"].startswith("[CRITICAL] Escalated to level 2: DOWN db-primary")
    assert out["acknowledged"].startswith("[ACK] Acknowledged by alice: DOWN db-primary")
    assert out["resolved"].startswith("[RESOLVED] Resolved: db-primary recovered after 3m")
    assert out["flapping"].startswith("[CRITICAL] FLAPPING db-primary")
    assert out["test"].startswith("[TEST] Test notification for db-primary")
    for kind in ("alert", "reminder", "escalation", "flapping"):
        assert "/ack inc-7" in out[kind], kind
    for kind in ("acknowledged", "resolved", "test"):
        assert "/ack" not in out[kind], kind
    assert len(set(out.values())) == len(out)


def test_custom_ack_hint_and_flapping_end() -> None:
    assert t.render_text(make_msg(ack_hint="Press A in the console"), NOW).endswith(
        "Press A in the console"
    )
    ended = t.render_text(make_msg("flapping", state="up", extra={"ended": True}), NOW)
    assert "stopped flapping" in ended and "/ack" not in ended


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (180, "3m"),
        (3900, "1h 5m"),
        (3600, "1h"),
        (183600, "2d 3h"),
        (-5, "0s"),
    ],
)
def test_durations(seconds: int, text: str) -> None:
    assert t.format_duration(seconds) == text


def test_since_shows_the_date_when_not_today_and_naive_means_utc() -> None:
    yesterday = make_msg(since=NOW - timedelta(days=1, minutes=3))
    assert "since 2024-04-30 12:03 UTC (1d 3m)" in t.render_text(yesterday, NOW)
    naive = make_msg(since=datetime(2024, 5, 1, 12, 3))
    assert t.render_text(naive, NOW).startswith("[CRITICAL] DOWN db-primary since 12:03 UTC (3m)")
    other_zone = make_msg(since=datetime(2024, 5, 1, 14, 3, tzinfo=ZoneInfo("Europe/Berlin")))
    assert "since 12:03 UTC" in t.render_text(other_zone, NOW)


def test_subject_is_one_short_line() -> None:
    assert t.render_subject(make_msg(), NOW) == "[CRITICAL] DOWN db-primary [inc-7]"
    assert t.render_subject(make_msg("escalation", level=2), NOW) == (
        "[CRITICAL] DOWN db-primary (escalated, level 2) [inc-7]"
    )
    evil = t.render_subject(make_msg(target_name="db\r\nBcc: everyone@example.com"), NOW)
    assert "\n" not in evil and "\r" not in evil
    assert len(t.render_subject(make_msg(target_name="x" * 500), NOW)) <= 200


def test_html_is_escaped_and_coloured() -> None:
    page = t.render_html(make_msg(target_name="<script>alert(1)</script>"), NOW)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "#D32F2F" in page


def test_colours_by_severity_and_kind() -> None:
    assert [t.colour(make_msg(severity=s)) for s in ("critical", "high", "medium", "low")] == [
        0xD32F2F,
        0xF57C00,
        0xFBC02D,
        0x1976D2,
    ]
    assert t.colour(make_msg("resolved")) == 0x2E7D32
    assert t.slack_body(make_msg("resolved"), NOW)["attachments"][0]["color"] == "#2E7D32"
    assert t.discord_body(make_msg(severity="high"), NOW)["embeds"][0]["color"] == 0xF57C00
    assert t.slack_body(make_msg(), NOW)["text"].startswith("\U0001f534 [CRITICAL]")


def test_discord_content_within_limit_and_mentions_disabled() -> None:
    body = t.discord_body(make_msg(target_name="@everyone " * 300), NOW)
    assert len(body["content"]) <= 2000 and body["allowed_mentions"] == {"parse": []}


def test_pagerduty_and_apprise_mappings() -> None:
    assert t.pagerduty_action(make_msg("resolved")) == "resolve"
    assert t.pagerduty_action(make_msg("acknowledged")) == "acknowledge"
    assert t.pagerduty_action(make_msg("reminder")) == "trigger"
    body = t.pagerduty_body(make_msg("resolved"), "k" * 32, NOW)
    assert "payload" not in body and body["dedup_key"] == "inc-7"
    assert t.apprise_type(make_msg(severity="medium")) == "warning"
    assert t.apprise_type(make_msg(severity="low")) == "info"
    assert t.apprise_type(make_msg("resolved")) == "success"


def test_webhook_body_is_json_ready_with_iso_times() -> None:
    body = t.webhook_body(make_msg(extra={"when": NOW}), NOW)
    assert body["since"] == "2024-05-01T12:03:00Z" and body["sent_at"] == "2024-05-01T12:06:00Z"
    assert body["idempotency_key"] == "inc-7-alert-1"
