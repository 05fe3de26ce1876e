"""The one command table: key bindings, the Help screen and the command palette all read it.

A command belongs to a scope: `global` commands are App actions; the others are actions of the
screen with that SCOPE. Add an action here and it gets its key, its help line and its palette
entry at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Command:
    scope: str
    key: str  # Textual key name(s), comma separated
    action: str  # action on the App (global) or on the scope's screen
    label: str  # short footer label
    help: str  # one sentence for Help and the palette
    show: bool = True  # shown in the footer
    bind: bool = True  # False when Textual binds the key itself (ctrl+p)
    priority: bool = False


SCOPES: dict[str, str] = {
    "global": "Everywhere",
    "targets": "Targets",
    "detail": "Target detail",
    "form": "Add / edit target",
    "alerts": "Alerts",
    "history": "History",
    "maintenance": "Maintenance",
    "benchmarks": "Benchmarks",
    "contacts": "Contacts & Telegram",
    "subscribers": "Subscribers",
    "rules": "Alert rules",
    "engines": "Engines",
}
# Scopes that are App modes (reached with a number key); the others are pushed screens.
MODES = (
    "targets",
    "alerts",
    "history",
    "maintenance",
    "benchmarks",
    "contacts",
    "subscribers",
    "rules",
    "engines",
)

C = Command
# One command a line reads as a table: keep the formatter out of it.
# fmt: off
COMMANDS: tuple[Command, ...] = (
    C("global", "1", "switch_mode('targets')", "Targets", "Show the targets table (home)", show=False),
    C("global", "2", "switch_mode('alerts')", "Alerts", "Show firing and acknowledged alerts", show=False),
    C("global", "3", "switch_mode('history')", "History", "Show the event history", show=False),
    C("global", "4", "switch_mode('maintenance')", "Maint", "Show maintenance windows", show=False),
    C("global", "5", "switch_mode('benchmarks')", "Bench", "Show benchmarks", show=False),
    C("global", "6", "switch_mode('contacts')", "Contacts", "Show contacts and Telegram", show=False),
    C("global", "7", "switch_mode('subscribers')", "Subs", "Show Telegram subscribers", show=False),
    C("global", "8", "switch_mode('rules')", "Rules", "Show metric alert rules", show=False),
    C("global", "9", "switch_mode('engines')", "Engines",
      "Show the engines sharing this store (PostgreSQL)", show=False),
    C("global", "question_mark", "help", "Help", "List every key"),
    C("global", "ctrl+p", "command_palette", "Palette", "Search every action by name", show=False,
      bind=False),
    C("global", "q", "quit", "Quit", "Quit (stops the embedded engine cleanly)"),
    C("targets", "enter", "open_detail", "Detail", "Open the selected target's detail"),
    C("targets", "a", "add", "Add", "Add a target"),
    C("targets", "e", "edit", "Edit", "Edit the selected target"),
    C("targets", "x", "delete", "Delete", "Delete the selected target (asks first)"),
    C("targets", "m", "toggle_maintenance", "Maint", "Toggle maintenance for the selected target"),
    C("targets", "r", "check_now", "Check", "Check the selected target now"),
    C("targets", "p", "toggle_pause", "Pause", "Pause or resume the selected target"),
    C("targets", "slash", "filter", "Filter",
      "Filter targets by name, kind, tag or state; owner:1265 (or owner:operator) by owner"),
    C("targets", "s", "cycle_sort", "Sort", "Sort by state, name or latency"),
    C("targets", "escape", "close_filter", "Clear", "Clear and close the filter", show=False),
    C("detail", "h", "range('1h')", "1h", "Chart the last hour"),
    C("detail", "d", "range('24h')", "24h", "Chart the last 24 hours"),
    C("detail", "w", "range('7d')", "7d", "Chart the last 7 days"),
    C("detail", "m", "range('30d')", "30d", "Chart the last 30 days (hourly roll-ups)"),
    C("detail", "r", "check_now", "Check", "Check this target now"),
    C("detail", "e", "edit", "Edit", "Edit this target"),
    C("detail", "escape", "back", "Back", "Back to the targets table"),
    C("form", "ctrl+s", "save", "Save", "Save the target (nothing is saved while a field is wrong)"),
    C("form", "escape", "cancel", "Cancel", "Close the form without saving"),
    C("alerts", "a", "ack", "Ack", "Acknowledge the selected alert"),
    C("alerts", "r", "resolve", "Resolve", "Resolve the selected alert"),
    C("alerts", "s", "silence", "Silence", "Silence the selected alert for a while (asks how long)"),
    C("alerts", "v", "toggle_resolved", "Resolved", "Show or hide resolved alerts"),
    C("history", "slash", "filter_target", "Target", "Show only one target's history"),
    C("history", "k", "cycle_kind", "Kind", "Show one kind of event (state, incident, ...)"),
    C("history", "t", "jump_time", "Time", "Go back to a time (asks: 2h, 1d, 2024-05-01 12:00)"),
    C("history", "g", "newest", "Newest", "Back to the newest events, filters cleared"),
    C("maintenance", "a", "add_window", "Add", "Add a maintenance window (target, tag or all)"),
    C("maintenance", "e", "edit_window", "Edit", "Change the selected window (what, length, schedule)"),
    C("maintenance", "x", "remove_window", "Remove", "Remove the selected window (asks first)"),
    C("maintenance", "m", "toggle_all", "All", "Toggle maintenance for every target"),
    C("benchmarks", "a", "add_benchmark", "Add", "Add a benchmark (cpu, https:// URL, host:port, cmd:…)"),
    C("benchmarks", "r", "run_benchmark", "Run", "Measure the selected benchmark now"),
    C("benchmarks", "x", "remove_benchmark", "Remove", "Remove the selected benchmark and its runs (asks first)"),
    C("benchmarks", "b", "set_baseline", "Baseline", "Set the baseline to the current score"),
    C("benchmarks", "g", "reload", "Reload", "Reload benchmarks"),
    C("benchmarks", "o", "cycle_owner", "Owner", "Show every owner's, the operator's or one "
      "subscriber's benchmarks", show=False),
    C("contacts", "a", "add_contact", "Add", "Add a contact (CHANNEL:ADDRESS, level)"),
    C("contacts", "x", "remove_contact", "Remove", "Remove the selected contact (asks first)"),
    C("contacts", "t", "test_contact", "Test", "Send a test notification to the selected contact"),
    C("contacts", "l", "telegram_login", "Login", "Log in to Telegram (phone, code, 2FA)"),
    C("rules", "a", "add_rule", "Add", "Add a metric alert rule (metric, comparison, for how long)"),
    C("rules", "t", "toggle_rule", "On/off", "Switch the selected rule on or off"),
    C("rules", "x", "remove_rule", "Remove", "Remove the selected rule (asks first)"),
    C("subscribers", "a", "add_subscriber", "Add", "Add a subscriber by Telegram chat id"),
    C("subscribers", "x", "remove_subscriber", "Remove",
      "Remove the selected subscriber and erase everything they own (asks first)"),
    C("subscribers", "g", "reload", "Reload", "Reload subscribers"),
    C("engines", "g", "reload", "Reload", "Read the engine list again (it also refreshes by itself)"),
    C("engines", "v", "toggle_gone", "Stopped", "Show or hide engines that stopped or are gone"),
)
# fmt: on


def commands_for(scope: str) -> list[Command]:
    return [c for c in COMMANDS if c.scope == scope]


def bindings_for(scope: str) -> list[Binding]:
    return [
        Binding(c.key, c.action, c.label, show=c.show, priority=c.priority)
        for c in COMMANDS
        if c.scope == scope and c.bind
    ]


def key_display(key: str) -> str:
    """How a key reads in Help: the first alternative, with Textual's names made readable."""
    first = key.split(",")[0]
    names = {"question_mark": "?", "slash": "/", "enter": "Enter", "escape": "Esc"}
    if first in names:
        return names[first]
    return first.replace("ctrl+", "Ctrl+")
