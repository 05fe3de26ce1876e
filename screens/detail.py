"""Target detail: a chart over 1h / 24h / 7d, recent results with their error class, the target's
incidents and the maintenance windows that cover it."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from engine import mask_spec
from screens import sla
from screens.actions import bindings_for
from screens.base import EngineScreen
from screens.chart import LatencyChart
from screens.context import field
from screens.engines import location_rows, location_summary
from screens.fmt import (
    ago,
    checking_note,
    incident_text,
    metric_of,
    ms,
    pct,
    run_time,
    severity_text,
    state_text,
    value_text,
    when,
)
from screens.messages import EngineEvents

RANGES = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
BUCKETS = 120


class TargetDetailScreen(EngineScreen):
    SCOPE = "detail"
    NAV = "targets"
    LISTENS = True
    BINDINGS = bindings_for("detail")

    def __init__(self, target_id: str, name: str) -> None:
        super().__init__()
        self.target_id = target_id
        self.target_name = name
        self.nav_title = name
        self.range = "1h"
        self.record: Any = None
        self._stale = False

    def compose_body(self) -> Iterable[Widget]:
        with VerticalScroll(id="detail-body"):
            yield Static(f"Loading {self.target_name}…", id="detail-head")
            yield Static("", id="detail-range", classes="info-line")
            yield Static("", id="detail-sla", classes="info-line")
            for part in (
                Static("Locations", id="detail-locations-title", classes="section-title"),
                Static("", id="detail-locations"),
            ):
                part.display = False  # shown once loaded, for a target with locations
                yield part
            yield LatencyChart(id="chart")
            yield Static("Recent results", classes="section-title")
            yield Static("", id="detail-results")
            yield Static("Incidents", classes="section-title")
            yield Static("", id="detail-incidents")
            yield Static("Maintenance windows", classes="section-title")
            yield Static("", id="detail-windows")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#detail-body").focus()
        self.reload()
        self.set_interval(2.0, self._refresh_if_stale)

    # ---- data ------------------------------------------------------------------------------------
    def reload(self) -> None:
        self.call_fn(self._fetch, self.range, then=self._loaded)

    def _fetch(self, rng: str) -> dict[str, Any]:
        cmds, tid = self.commands, self.target_id
        rec = cmds.get_target(tid)
        shown = (self.optional("target_states", target=tid) or {}).get(tid)
        # no more buckets than checks in the range, so a bucket is empty only when a check was missed
        buckets = max(
            10, min(BUCKETS, int(RANGES[rng] / max(1.0, field(rec, "interval_s") or 30.0)))
        )
        beat = self.optional("heartbeat_info", tid) if field(rec, "kind") == "heartbeat" else None
        # each location's latest result (several engines; SQLite's one engine answers none)
        legs = (self.optional("target_locations", tid) or []) if field(rec, "locations") else []
        series = cmds.target_series(tid, RANGES[rng], buckets, now=self.ctx.clock())
        results = cmds.target_results(tid, limit=15)
        incidents = cmds.list_incidents(target=tid, limit=10)
        tags = set(field(rec, "tags") or [])
        windows = [
            w
            for w in cmds.list_maintenance()
            if w.get("scope") == "all"
            or w.get("target") in (field(rec, "name"), tid)
            or (w.get("scope") == "tag" and w.get("tag") in tags)
        ]
        return {
            "rec": rec,
            "shown": shown,
            "beat": beat,
            "legs": legs,
            "series": series,
            "range": rng,
            "results": results,
            "incidents": incidents,
            "windows": windows,
            "sla": sla.fetch(self, tid),
        }

    def _loaded(self, d: dict[str, Any]) -> None:
        self.record = d["rec"]
        latest = next((r["value"] for r in d["results"] if r.get("value") is not None), None)
        self._show_head(d["rec"], d["shown"], d["beat"], latest)
        series = d["series"]
        buckets = series.get("series") or []
        kind = field(d["rec"], "kind")
        metric = metric_of(kind)
        axis = days if kind == "tls" else value_text(kind)
        self.query_one("#chart", LatencyChart).show(buckets, d["range"], metric, axis)
        points = [b[metric] for b in buckets if b.get(metric) is not None]
        avg = sum(points) / len(points) if points else None
        rng = Text(" range: ")
        for key, name in (("h", "1h"), ("d", "24h"), ("w", "7d"), ("m", "30d")):
            style = "bold reverse" if name == d["range"] else ""
            rng.append(f"[{key}] {name}", style=style)
            rng.append(" ")
        rng.append(f"· uptime {pct(series.get('uptime'))}")
        if kind == "tls":  # what matters is how long the certificate has left, not a mean
            rng.append(f" · certificate {value_text(kind)(latest)}")
        elif metric == "value":
            rng.append(f" · mean {value_text(kind)(avg)}")
        elif d["beat"] is None:  # a heartbeat has no latency of ours to average
            rng.append(f" · mean latency {ms(avg)}")
        self.query_one("#detail-range", Static).update(rng)
        self.query_one("#detail-sla", Static).update(sla.line(d["sla"]))
        self._show_locations(d["rec"], d["legs"])
        self._show_results(d["results"])
        self._show_incidents(d["incidents"])
        self._show_windows(d["windows"])

    def _show_head(
        self, rec: Any, shown: str | None, beat: dict[str, Any] | None, latest: float | None
    ) -> None:
        now = self.ctx.clock()
        state = shown or ("paused" if field(rec, "paused") else field(rec, "state", "unknown"))
        text = state_text(state)
        text.append(f"  {field(rec, 'name')}", style="bold")
        if beat is not None:
            text.append(f"  heartbeat · expects a ping {beat['expects']}")
        else:
            text.append(
                f"  {field(rec, 'kind')} · every {field(rec, 'interval_s'):g}s · "
                f"timeout {field(rec, 'timeout_s'):g}s"
            )
        tags = field(rec, "tags") or []
        if tags:
            text.append(" · tags " + ", ".join(tags))
        text.append(f"\n{mask_spec(field(rec, 'spec') or '')}", style="bright_black")
        if beat is not None:
            self._show_beat(text, beat, state, now)
            self.query_one("#detail-head", Static).update(text)
            return
        text.append(f"\nlast check {ago(field(rec, 'last_check_at'), now)}")
        kind = field(rec, "kind")
        if kind == "system":  # the time a psutil call took says nothing; the percent does
            text.append(f" · {value_text(kind)(latest)}")
        else:
            text.append(f" · {ms(field(rec, 'last_latency_ms'))}")
        if field(rec, "last_error_class"):
            text.append(f" · {field(rec, 'last_error_class')}", style="red")
        text.append(f" · {state} since {ago(field(rec, 'state_since'), now)}")
        conditions = field(rec, "conditions") or []
        if conditions:
            text.append("\nconditions: " + " and ".join(conditions), style="bright_black")
        self.query_one("#detail-head", Static).update(text)

    def _show_beat(self, text: Text, beat: dict[str, Any], state: str, now: float) -> None:
        """A push check's facts: its own verdict, the next deadline and where to ping it."""
        text.append(f"\n{beat['detail']}")
        if beat.get("last_duration_s") is not None:
            text.append(f" · last run {run_time(beat['last_duration_s'])}")
        tz = self.ctx.tz
        if beat.get("expected_at") and state not in ("down", "paused", "maintenance"):
            text.append(f"\nnext ping by {when(beat['expected_at'], tz, now)}")
            if beat.get("down_at"):
                text.append(f" · down after {when(beat['down_at'], tz, now)}")
        text.append(f"\nping {beat['ping_url']}")
        if not beat.get("listening"):
            name = field(self.record, "name")
            text.append(
                f"\nno TCP listener: here `sysalert ping {shlex.quote(name)}`; --listen for other hosts",
                style="yellow",
            )

    def _show_results(self, results: list[dict[str, Any]]) -> None:
        now, tz = self.ctx.clock(), self.ctx.tz
        if not results:
            self.query_one("#detail-results", Static).update(
                Text(" no results yet", style="italic")
            )
            return
        # Time, verdict and latency in columns; the error detail wraps under itself (a hanging
        # indent), never back to column 0.
        rows = Table.grid(padding=(0, 1, 0, 0))
        rows.add_column(justify="right", no_wrap=True)
        rows.add_column(no_wrap=True, min_width=10)
        rows.add_column(justify="right", no_wrap=True, min_width=8)
        rows.add_column(width=1)  # two spaces before the value or detail, as between the others
        rows.add_column(ratio=1, overflow="fold")
        kind = field(self.record, "kind")
        for r in results:
            rest = Text()
            if r.get("ping"):
                label, note = _ping_row(r)
                verdict = Text(label, style="green" if r.get("ok") else "red")
                latency, rest = "", Text(note.strip())
            else:
                if r.get("ok"):
                    verdict = Text("✔ ok", style="green")
                else:
                    verdict = Text(f"✖ {r.get('error_class') or 'failed'}", style="red")
                latency = ms(r.get("latency_ms"))
                if r.get("value") is not None:
                    rest.append(
                        value_text(kind)(r["value"])
                        if metric_of(kind) == "value"
                        else f"value {r['value']:g}"
                    )
                if r.get("detail") and not r.get("ok"):
                    rest.append(("  " if rest else "") + r["detail"], style="bright_black")
            rows.add_row(f" {when(r['ts'], tz, now)}", verdict, latency, "", rest)
        self.query_one("#detail-results", Static).update(rows)

    def _show_locations(self, rec: Any, legs: list[Any]) -> None:
        """A target probed from several locations: each one's latest result, and which see it
        down against the quorum; hidden for a target without locations."""
        names = field(rec, "locations") or []
        for wid in ("#detail-locations-title", "#detail-locations"):
            self.query_one(wid).display = bool(names)
        if not names:
            return
        box = self.query_one("#detail-locations", Static)
        box.styles.padding = (0, 1)  # as the other sections
        if not legs:  # names only: one engine (SQLite) probes it for every location
            box.update(
                Text(
                    f" {', '.join(names)} · one engine (this store is not shared) probes it for all",
                    style="bright_black",
                )
            )
            return
        box.update(Group(location_summary(rec, legs), location_rows(legs, self.ctx.clock())))

    def _show_incidents(self, incidents: list[dict[str, Any]]) -> None:
        now = self.ctx.clock()
        if not incidents:
            self.query_one("#detail-incidents", Static).update(Text(" none", style="italic"))
            return
        rows = Table.grid(padding=(0, 2, 0, 0))  # the summary wraps under itself
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True)
        rows.add_column(ratio=1, overflow="fold")
        for inc in incidents:
            rows.add_row(
                f" {inc['id']}",
                incident_text(inc.get("state", "")),
                severity_text(inc.get("severity", "")),
                f"opened {ago(inc.get('opened_at'), now)}",
                inc.get("summary") or "",
            )
        self.query_one("#detail-incidents", Static).update(rows)

    def _show_windows(self, windows: list[dict[str, Any]]) -> None:
        now, tz = self.ctx.clock(), self.ctx.tz
        if not windows:
            self.query_one("#detail-windows", Static).update(
                Text(" none (m on Targets starts one)", style="italic")
            )
            return
        text = Text()
        for w in windows:
            scope = {"all": "all targets", "tag": f"tag {w.get('tag')}"}.get(
                w.get("scope", ""), "this target"
            )
            until = w.get("schedule") or (
                f"until {when(w['ends_at'], tz, now)}" if w.get("ends_at") else "until ended"
            )
            text.append(
                f" ⚒ {scope} · {w.get('kind')} · since {when(w.get('starts_at'), tz, now)} · {until}"
            )
            if w.get("reason"):
                text.append(f" · {w['reason']}")
            text.append("\n")
        text.rstrip()
        self.query_one("#detail-windows", Static).update(text)

    # ---- live -------------------------------------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        tid = self.target_id
        if any(e.get("target_id") == tid for e in message.events):
            self._stale = True

    def _refresh_if_stale(self) -> None:
        if self._stale and self.is_current:
            self._stale = False
            self.reload()

    # ---- actions ------------------------------------------------------------------------------------
    def action_range(self, rng: str) -> None:
        if rng in RANGES:
            self.range = rng
            self.reload()

    def action_check_now(self) -> None:
        self.call(
            "check_target_now",
            self.target_id,
            then=lambda got: self.notify(checking_note(self.target_name, got)),
        )

    def action_edit(self) -> None:
        from screens.target_form import TargetFormScreen

        if self.record is not None:
            self.app.push_screen(
                TargetFormScreen(self.record), lambda rec: self.reload() if rec else None
            )

    def action_back(self) -> None:
        self.dismiss(None)


def days(value: float) -> str:
    """The chart axis of a TLS target: whole days."""
    return f"{value:.0f}d"


def _ping_row(r: dict[str, Any]) -> tuple[str, str]:
    """A heartbeat's row says which ping it was: start, log, success, fail or an exit status,
    with the run time when a /start came first."""
    ping, value = str(r["ping"]), r.get("value")
    if ping in ("start", "log"):
        return ("▶ start" if ping == "start" else "· log"), ""
    label = ("✔ " if r.get("ok") else "✖ ") + ping.replace(":", " ")
    code = int(ping[5:]) if ping.startswith("exit:") else None
    if value is not None and not (code is not None and value == code):
        return label, f"  ran {run_time(value)}"
    return label, ""
