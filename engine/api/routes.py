"""One table maps HTTP routes to command-layer methods: the server, the attach client and the
OpenAPI document all read it, so an action is written once and reachable everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    command: str
    summary: str
    path_arg: str | None = None  # the command's first positional argument, taken from the path
    fixed: dict[str, Any] = field(default_factory=dict)
    body: tuple[str, ...] = ()  # accepted JSON body / query keys: the command's parameters
    signature: str | None = None  # the method whose parameters type `body` (default: command)


R = Route
# What add and edit accept for a target: the command layer's build_target arguments.
_TARGET_FIELDS = (
    "spec",
    "name",
    "interval",
    "timeout",
    "tags",
    "conditions",
    "options",
    "depends_on",
    "failure_threshold",
    "recovery_threshold",
    "locations",
    "quorum",
)
ROUTES: tuple[Route, ...] = (
    R("GET", "/api/v1/targets", "list_targets", "List targets"),
    R(
        "POST",
        "/api/v1/targets",
        "add_target",
        "Add a target",
        body=_TARGET_FIELDS,
        signature="build_target",
    ),
    R("GET", "/api/v1/targets/{ref}", "get_target", "One target", "ref"),
    R(
        "GET",
        "/api/v1/targets/{ref}/locations",
        "target_locations",
        "Each location's latest result and latency, and the engine probing there",
        "ref",
    ),
    R(
        "GET",
        "/api/v1/targets/{ref}/locations/uptime",
        "location_uptimes",
        "Uptime from each of a target's locations",
        "ref",
        body=("seconds",),
    ),
    R("GET", "/api/v1/engines", "list_engines", "The engines sharing this store"),
    R(
        "GET",
        "/api/v1/targets/{ref}/heartbeat",
        "heartbeat_info",
        "A heartbeat's schedule, last ping, next deadline and ping URL",
        "ref",
    ),
    R(
        "PATCH",
        "/api/v1/targets/{ref}",
        "edit_target",
        "Change a target",
        "ref",
        body=_TARGET_FIELDS,
        signature="build_target",
    ),
    R("DELETE", "/api/v1/targets/{ref}", "remove_target", "Delete a target and its history", "ref"),
    R(
        "POST",
        "/api/v1/targets/{ref}/pause",
        "pause_target",
        "Stop probing",
        "ref",
        {"paused": True},
    ),
    R(
        "POST",
        "/api/v1/targets/{ref}/resume",
        "pause_target",
        "Probe again",
        "ref",
        {"paused": False},
    ),
    R(
        "POST",
        "/api/v1/targets/{ref}/check",
        "check_target_now",
        "Check now (jumps the queue)",
        "ref",
    ),
    R(
        "GET",
        "/api/v1/targets/{ref}/results",
        "target_results",
        "Recent results",
        "ref",
        body=("limit", "before"),
    ),
    R(
        "GET",
        "/api/v1/targets/{ref}/series",
        "target_series",
        "Latency/availability series",
        "ref",
        body=("seconds", "buckets"),
    ),
    R(
        "GET",
        "/api/v1/targets/page",
        "target_page",
        "A window of targets by sort order and filter, with the count matching",
        body=("sort", "query", "offset", "limit", "after", "owners", "fields", "around", "columns"),
    ),
    R(
        "GET",
        "/api/v1/targets/uptimes",
        "target_uptimes",
        "Uptime of the targets named (a console's rows)",
        body=("ids", "seconds"),
    ),
    R(
        "POST",
        "/api/v1/targets/import",
        "import_targets",
        "Import targets as TOML (check_only: check and count, write nothing)",
        body=("text", "check_only", "added_before"),
    ),
    R(
        "GET",
        "/api/v1/incidents",
        "list_incidents",
        "Incidents with notifications and receipts",
        body=("state", "target", "limit"),
    ),
    R(
        "POST",
        "/api/v1/incidents/{incident_id}/ack",
        "ack_incident",
        "Acknowledge",
        "incident_id",
        body=("by",),
    ),
    R(
        "POST",
        "/api/v1/incidents/{incident_id}/resolve",
        "resolve_incident",
        "Resolve",
        "incident_id",
        body=("by",),
    ),
    R(
        "POST",
        "/api/v1/incidents/{incident_id}/silence",
        "silence_incident",
        "Silence for a duration",
        "incident_id",
        body=("duration", "by"),
    ),
    R(
        "GET",
        "/api/v1/report",
        "sla_report",
        "SLA report: uptime, downtime, incidents, MTTA, MTTR per target (maintenance left out)",
        body=("month", "start", "end", "days", "target", "tag"),
    ),
    R("GET", "/api/v1/rules", "list_rules", "Alert rules (config and run-time)"),
    R(
        "POST",
        "/api/v1/rules",
        "add_rule",
        "Add a rule",
        body=(
            "name",
            "metric",
            "comparison",
            "threshold",
            "duration",
            "severity",
            "channels",
            "target",
        ),
    ),
    R(
        "POST",
        "/api/v1/rules/{ref}/enable",
        "set_rule_enabled",
        "Enable a rule",
        "ref",
        {"enabled": True},
    ),
    R(
        "POST",
        "/api/v1/rules/{ref}/disable",
        "set_rule_enabled",
        "Disable a rule",
        "ref",
        {"enabled": False},
    ),
    R("DELETE", "/api/v1/rules/{ref}", "remove_rule", "Remove a rule", "ref"),
    R("GET", "/api/v1/maintenance", "list_maintenance", "Maintenance windows"),
    R(
        "POST",
        "/api/v1/maintenance/on",
        "maintenance_on",
        "Start maintenance",
        body=("what", "duration", "reason", "schedule"),
    ),
    R(
        "POST",
        "/api/v1/maintenance/off",
        "maintenance_off",
        "End maintenance",
        body=("what",),
    ),
    R("DELETE", "/api/v1/maintenance/{window_id}", "remove_window", "Delete a window", "window_id"),
    R("GET", "/api/v1/contacts", "list_contacts", "Contacts"),
    R(
        "POST",
        "/api/v1/contacts",
        "add_contact",
        "Add a contact",
        body=("name", "address", "level"),
    ),
    R("DELETE", "/api/v1/contacts/{ref}", "remove_contact", "Remove a contact", "ref"),
    R("POST", "/api/v1/contacts/{ref}/test", "notify_test", "Send a test notification", "ref"),
    R(
        "GET",
        "/api/v1/history",
        "history",
        "State changes, incidents, maintenance and audit events",
        body=("target", "kind", "before", "limit"),
    ),
    R(
        "GET",
        "/api/v1/history/page",
        "history_page",
        "A window of the history, newest first, with the count matching",
        body=("target", "kind", "before", "offset", "limit", "after"),
    ),
    R(
        "GET",
        "/api/v1/incidents/page",
        "incident_page",
        "A window of incidents in the Alerts order, with the count matching and per state",
        body=("resolved", "offset", "limit", "after", "around"),
    ),
    R(
        "GET",
        "/api/v1/maintenance/page",
        "maintenance_page",
        "A window of maintenance windows, with the count and those covering every target",
        body=("offset", "limit", "after", "around"),
    ),
    R("GET", "/api/v1/benchmarks", "list_benchmarks", "Benchmarks with score and baseline"),
    R(
        "POST",
        "/api/v1/benchmarks",
        "add_benchmark",
        "Add a benchmark",
        body=("spec", "name", "interval", "threshold"),
    ),
    R(
        "GET",
        "/api/v1/benchmarks/{ref}",
        "show_benchmark",
        "One benchmark with its runs",
        "ref",
        body=("runs",),
    ),
    R(
        "DELETE",
        "/api/v1/benchmarks/{ref}",
        "remove_benchmark",
        "Remove a benchmark and its runs",
        "ref",
    ),
    R("POST", "/api/v1/benchmarks/{ref}/run", "run_benchmark", "Measure now", "ref"),
    R(
        "POST",
        "/api/v1/benchmarks/{ref}/baseline",
        "set_baseline",
        "Baseline := current score",
        "ref",
    ),
    R("GET", "/api/v1/stats", "engine_stats", "Engine figures for the status bar"),
    R(
        "POST",
        "/api/v1/keys/adopt",
        "adopt_keys",
        "Read the key ring again (rotate-keys calls this before re-sealing)",
    ),
    R(
        "GET",
        "/api/v1/states",
        "target_states",
        "Every target's shown state (maintenance applied), or one target's",
        body=("target",),
    ),
    R("GET", "/api/v1/uptimes", "uptimes", "Share of good checks per target", body=("seconds",)),
    R("GET", "/api/v1/telegram", "telegram_status", "Telegram session state (masked)"),
    R("GET", "/api/v1/subscribers", "list_subscribers", "Telegram subscribers (masked)"),
    R(
        "POST",
        "/api/v1/subscribers",
        "add_subscriber",
        "Add a subscriber",
        body=("chat_id", "role"),
    ),
    R(
        "DELETE",
        "/api/v1/subscribers/{chat_id}",
        "remove_subscriber",
        "Remove a subscriber",
        "chat_id",
    ),
    R(
        "PATCH",
        "/api/v1/subscribers/{chat_id}",
        "set_subscriber_limits",
        "A subscriber's own quota",
        "chat_id",
        body=("max_targets", "max_benchmarks"),
    ),
)
BY_COMMAND: dict[str, list[Route]] = {}
for _r in ROUTES:
    BY_COMMAND.setdefault(_r.command, []).append(_r)


def route_for(command: str, kwargs: dict[str, Any]) -> Route:
    """The route a client call maps to (pause/resume share a command and differ by `paused`)."""
    routes = BY_COMMAND[command]
    for r in routes:
        if all(kwargs.get(k, v) == v for k, v in r.fixed.items()):
            return r
    return routes[0]
