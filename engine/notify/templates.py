"""Message templates: one wording for every channel, shaped per channel, coloured by severity.

The plain text (render_text) is the reference; Slack, Discord, e-mail and the JSON payloads reuse
its headline so an operator reads the same sentence wherever the alert lands.
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime
from typing import Any

from engine.notify.message import OutgoingMessage

SCHEMA_VERSION = "1"
_ACKABLE = ("alert", "reminder", "escalation", "flapping")
_OK_STATES = ("", "up", "ok", "resolved", "active")

# Colours follow the usual pager palette: red, orange, amber, blue; green when it clears.
SEVERITY_COLOURS = {"critical": 0xD32F2F, "high": 0xF57C00, "medium": 0xFBC02D, "low": 0x1976D2}
KIND_COLOURS = {"resolved": 0x2E7D32, "acknowledged": 0x757575, "test": 0x607D8B}
SEVERITY_EMOJI = {
    "critical": "\U0001f534",
    "high": "\U0001f7e0",
    "medium": "\U0001f7e1",
    "low": "\U0001f535",
}
KIND_EMOJI = {
    "resolved": "\u2705",
    "acknowledged": "\u2611\ufe0f",
    "test": "\U0001f9ea",
    "flapping": "\U0001f501",
}
PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


# ----------------------------------------------------------------------------- small pieces


def utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC: the engine stores UTC everywhere."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """RFC 3339 with a Z, the form Alertmanager and PagerDuty print."""
    return utc(dt).isoformat().replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """Two largest units, the way people say it: 45s, 3m, 1h 5m, 2d 3h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
        if len(parts) == 2:
            break
    return " ".join(parts[:2]) if parts else "0s"


def format_since(since: datetime, now: datetime) -> str:
    """12:03 UTC today, with the date when it started on another day."""
    s, n = utc(since), utc(now)
    return s.strftime("%H:%M UTC") if s.date() == n.date() else s.strftime("%Y-%m-%d %H:%M UTC")


def marker(msg: OutgoingMessage) -> str:
    """The bracketed tag that starts every text: severity, or what happened to the incident."""
    if msg.kind == "resolved":
        return "[RESOLVED]"
    if msg.kind == "acknowledged":
        return "[ACK]"
    if msg.kind == "test":
        return "[TEST]"
    return f"[{msg.severity.upper()}]"


def colour(msg: OutgoingMessage) -> int:
    return KIND_COLOURS.get(msg.kind, SEVERITY_COLOURS.get(msg.severity, 0x757575))


def colour_hex(msg: OutgoingMessage) -> str:
    return f"#{colour(msg):06X}"


def emoji(msg: OutgoingMessage) -> str:
    return KIND_EMOJI.get(msg.kind, SEVERITY_EMOJI.get(msg.severity, ""))


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def ack_line(msg: OutgoingMessage) -> str:
    """How to acknowledge; only on messages that still want someone to act."""
    if msg.kind not in _ACKABLE or msg.extra.get("ended"):
        return ""
    return msg.ack_hint or f"Reply ack or /ack {msg.incident_id}"


def headline(msg: OutgoingMessage, now: datetime | None = None) -> str:
    """One sentence that says what is wrong, with what and since when: 'DOWN db since 12:03 UTC (3m)'."""
    now = _now(now)
    name, state = msg.target_name, (msg.state or "down").upper()
    since = format_since(msg.since, now)
    took = format_duration((utc(now) - utc(msg.since)).total_seconds())
    base = f"{state} {name} since {since} ({took})"
    if msg.kind == "reminder":
        return f"Still {base}"
    if msg.kind == "escalation":
        return f"Escalated to level {msg.level}: {base}"
    if msg.kind == "acknowledged":
        by = msg.extra.get("by")
        return f"Acknowledged{f' by {by}' if by else ''}: {base}"
    if msg.kind == "resolved":
        now_state = "" if msg.state.lower() in _OK_STATES else f", now {state}"
        return f"Resolved: {name} recovered after {took}{now_state} (since {since})"
    if msg.kind == "flapping":
        if msg.extra.get("ended"):
            return f"{name} stopped flapping after {took}, now {state}"
        return f"FLAPPING {name} since {since} ({took}); single flips are not notified"
    if msg.kind == "test":
        return f"Test notification for {name}: this channel works"
    return base


def summary(msg: OutgoingMessage) -> str:
    """The incident's own description, as of now: a resolved notice says what the outage was
    ("Was: db is down (refused)") rather than repeating "is down" under [RESOLVED]."""
    text = msg.summary.strip()
    if text and msg.kind == "resolved":
        return f"Was: {text}"
    return text


def _facts(msg: OutgoingMessage) -> list[str]:
    """Error class and incident id; a test message belongs to no incident and names none."""
    if msg.kind == "test":
        return []
    lines = []
    if msg.error_class:
        lines.append(f"Error{' was' if msg.kind == 'resolved' else ''}: {msg.error_class}")
    ref = f" ({msg.target_ref})" if msg.target_ref else ""
    lines.append(f"Incident: {msg.incident_id}{ref}")
    return lines


# ----------------------------------------------------------------------------- plain text / mail


def render_text(msg: OutgoingMessage, now: datetime | None = None) -> str:
    """Plain text for Telegram, SMS-like gateways and the mail body."""
    lines = [f"{marker(msg)} {headline(msg, now)}", *_facts(msg)]
    if text := summary(msg):
        lines.append(_clip(text, 1500))
    if hint := ack_line(msg):
        lines.append(hint)
    return "\n".join(lines)


def render_subject(msg: OutgoingMessage, now: datetime | None = None) -> str:
    """Mail subject: marker, state and name first so an inbox list is readable at a glance."""
    if msg.kind in ("alert", "reminder", "escalation"):
        text = f"{(msg.state or 'down').upper()} {msg.target_name}"
        if msg.kind == "reminder":
            text = f"Still {text}"
        elif msg.kind == "escalation":
            text = f"{text} (escalated, level {msg.level})"
    else:
        text = headline(msg, now)
    subject = f"{marker(msg)} {text} [{msg.incident_id}]"
    # Header injection guard: a name with a newline must not start a new header.
    return _clip(" ".join(subject.split()), 200)


def render_html(msg: OutgoingMessage, now: datetime | None = None) -> str:
    """The HTML alternative: same lines, a coloured bar, everything escaped."""
    e = html.escape
    rows = "".join(f'<p style="margin:4px 0">{e(line)}</p>' for line in _facts(msg))
    text = summary(msg)
    body = f'<pre style="white-space:pre-wrap">{e(_clip(text, 4000))}</pre>' if text else ""
    hint = f"<p><b>{e(ack_line(msg))}</b></p>" if ack_line(msg) else ""
    return (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f'<div style="border-left:6px solid {colour_hex(msg)};padding-left:12px">'
        f'<h2 style="margin:0 0 8px 0">{e(marker(msg))} {e(headline(msg, now))}</h2>'
        f"{rows}{body}{hint}</div></body></html>"
    )


# ----------------------------------------------------------------------------- chat webhooks


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(msg: OutgoingMessage, now: datetime | None = None) -> dict[str, Any]:
    """Slack incoming webhook: `text` is the push-notification fallback, the attachment carries
    the severity colour bar and the blocks."""
    head = f"{emoji(msg)} {marker(msg)} {headline(msg, now)}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_escape(head)}*"}},
    ]
    if text := summary(msg):
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"```{_slack_escape(text)}```", 3000),
                },
            }
        )
    context = " | ".join(_slack_escape(x) for x in _facts(msg))
    if hint := ack_line(msg):
        context += f" | {_slack_escape(hint)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {
        "text": _clip(_slack_escape(head), 3000),
        "attachments": [{"color": colour_hex(msg), "blocks": blocks}],
    }


def discord_body(msg: OutgoingMessage, now: datetime | None = None) -> dict[str, Any]:
    """Discord webhook: short content for the notification, an embed with the colour. Mentions
    are disabled so a target name like '@everyone' cannot ping a whole server."""
    head = f"{emoji(msg)} {marker(msg)} {headline(msg, now)}".strip()
    fields = [
        {"name": "Severity", "value": msg.severity, "inline": True},
        {"name": "State", "value": _clip(msg.state or "-", 1024), "inline": True},
    ]
    if msg.kind != "test":  # Discord refuses an empty field, and a test has no incident
        fields.append({"name": "Incident", "value": _clip(msg.incident_id, 1024), "inline": True})
    if msg.target_ref:
        fields.append({"name": "Target", "value": _clip(msg.target_ref, 1024), "inline": True})
    if msg.error_class:
        fields.append({"name": "Error", "value": _clip(msg.error_class, 1024), "inline": True})
    embed: dict[str, Any] = {
        "title": _clip(f"{marker(msg)} {headline(msg, now)}", 256),
        "color": colour(msg),
        "fields": fields,
        "timestamp": iso(_now(now)),
        "footer": {"text": _clip(ack_line(msg) or "SysAlert", 2048)},
    }
    if text := summary(msg):
        embed["description"] = _clip(text, 4096)
    return {
        "content": _clip(head, 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


# ----------------------------------------------------------------------------- JSON payloads


def idempotency_key(msg: OutgoingMessage) -> str:
    """<incident>-<kind>-<level>; reminders pass extra["seq"] so each resend is its own key."""
    key = f"{msg.incident_id}-{msg.kind}-{msg.level}"
    seq = msg.extra.get("seq")
    return f"{key}-{seq}" if seq is not None else key


def webhook_body(msg: OutgoingMessage, sent_at: datetime) -> dict[str, Any]:
    """Our own webhook schema (version 1). `sent_at` equals the X-SysAlert-Timestamp header, so
    the signed body covers the timestamp and a receiver can reject replays."""
    return {
        "version": SCHEMA_VERSION,
        "kind": msg.kind,
        "incident_id": msg.incident_id,
        "severity": msg.severity,
        "target_name": msg.target_name,
        "target_ref": msg.target_ref,
        "state": msg.state,
        "since": iso(msg.since),
        "error_class": msg.error_class,
        "summary": summary(msg),
        "level": msg.level,
        "text": render_text(msg, sent_at),
        "sent_at": iso(sent_at),
        "idempotency_key": idempotency_key(msg),
        "extra": msg.extra,
    }


def alertmanager_body(
    msg: OutgoingMessage, now: datetime, receiver: str = "sysalert"
) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4), so receivers written for Prometheus work."""
    resolved = msg.kind == "resolved"
    status = "resolved" if resolved else "firing"
    labels = {
        "alertname": str(msg.extra.get("alertname") or "SysAlertIncident"),
        "severity": msg.severity,
        "target": msg.target_name,
        "target_ref": msg.target_ref,
        "incident_id": msg.incident_id,
    }
    if msg.error_class:
        labels["error_class"] = msg.error_class
    annotations = {"summary": headline(msg, now), "description": summary(msg), "kind": msg.kind}
    fingerprint = hashlib.sha256(msg.incident_id.encode()).hexdigest()[:16]
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso(msg.since),
        "endsAt": iso(now) if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint,
    }
    group = {"incident_id": msg.incident_id}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{incident_id="{msg.incident_id}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [alert],
    }


def pagerduty_action(msg: OutgoingMessage) -> str:
    return {"resolved": "resolve", "acknowledged": "acknowledge"}.get(msg.kind, "trigger")


def pagerduty_body(
    msg: OutgoingMessage, routing_key: str, now: datetime, dedup_key: str | None = None
) -> dict[str, Any]:
    """Events API v2. `source` is the target's short ref, never its host: the host is only in
    custom_details.detail, which the account owner chose to receive."""
    action = pagerduty_action(msg)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": _clip(dedup_key or msg.incident_id, 255),
        "client": "SysAlert",
    }
    if action != "trigger":
        return body
    details: dict[str, Any] = {
        "kind": msg.kind,
        "incident_id": msg.incident_id,
        "state": msg.state,
        "level": msg.level,
        "since": iso(msg.since),
        "error_class": msg.error_class,
        "detail": msg.summary,
    }
    payload: dict[str, Any] = {
        "summary": _clip(f"{marker(msg)} {headline(msg, now)}", 1024),
        "source": msg.target_ref,
        "severity": "info" if msg.kind == "test" else PAGERDUTY_SEVERITY[msg.severity],
        "timestamp": iso(now),
        "component": msg.target_name,
        "custom_details": details,
    }
    if msg.error_class:
        payload["class"] = msg.error_class
    body["payload"] = payload
    return body


def apprise_type(msg: OutgoingMessage) -> str:
    """Apprise's four notify types (they pick the icon and colour on most services)."""
    if msg.kind in ("resolved", "acknowledged"):
        return "success"
    if msg.kind == "test":
        return "info"
    return {"critical": "failure", "high": "failure", "medium": "warning"}.get(msg.severity, "info")
