"""/metrics in Prometheus text format, built with prometheus-client from the engine's counters.

No label carries a sealed value: probes are labelled by kind and outcome, states by name.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from engine.api.ports import MetricsSource
from engine.core.incident_states import OPEN_STATES
from engine.notify.outbox import depth
from engine.store.metrics import incident_counts


class EngineCollector:
    def __init__(self, engine: MetricsSource) -> None:
        self.engine = engine

    def collect(self) -> Any:
        e = self.engine
        m = e.metrics
        probes = CounterMetricFamily(
            "sysalert_probes", "Checks completed", labels=["kind", "outcome"]
        )
        for (kind, outcome), n in sorted(m.probes.items()):
            probes.add_metric([kind, outcome], n)
        yield probes
        lat = HistogramMetricFamily(
            "sysalert_probe_latency_milliseconds", "Probe latency", labels=["kind"]
        )
        for kind, h in sorted(m.latency.items()):
            lat.add_metric([kind], h.cumulative(), h.total)
        yield lat
        lateness = GaugeMetricFamily(
            "sysalert_scheduler_lateness_seconds", "Scheduler start lateness", labels=["quantile"]
        )
        pct = e.scheduler.lateness_percentiles()
        lateness.add_metric(["0.5"], pct["p50_ms"] / 1000)
        lateness.add_metric(["0.99"], pct["p99_ms"] / 1000)
        yield lateness
        yield GaugeMetricFamily(
            "sysalert_scheduler_inflight", "Checks running now", value=e.scheduler.inflight
        )
        yield GaugeMetricFamily(
            "sysalert_probe_rate", "Checks per second, recent", value=e.scheduler.probe_rate()
        )
        states = GaugeMetricFamily("sysalert_targets", "Targets by state", labels=["state"])
        counts: dict[str, int] = {
            s: 0 for s in ("up", "pending", "down", "degraded", "unknown", "maintenance", "paused")
        }
        for rec in e.snapshot():  # copied on the loop: this runs in a worker thread
            s = e.display_state(rec)
            counts[s] = counts.get(s, 0) + 1
        for s, n in counts.items():
            states.add_metric([s], n)
        yield states
        inc = GaugeMetricFamily("sysalert_incidents_open", "Open incidents", labels=["state"])
        rows = incident_counts(e.store, OPEN_STATES)
        for st in OPEN_STATES:
            inc.add_metric([st], rows.get(st, 0))
        yield inc
        ob = GaugeMetricFamily("sysalert_outbox", "Notifications by status", labels=["status"])
        for st, n in sorted(depth(e.store).items()):
            ob.add_metric([st], n)
        yield ob
        nr = CounterMetricFamily(
            "sysalert_notifications", "Delivery attempts", labels=["channel", "result"]
        )
        for (ch, res), n in sorted(m.notifications.items()):
            nr.add_metric([ch, res], n)
        yield nr
        pings = CounterMetricFamily("sysalert_pings", "Heartbeat pings recorded", labels=["kind"])
        for kind, n in sorted(m.pings.items()):
            pings.add_metric([kind], n)
        yield pings
        yield CounterMetricFamily(
            "sysalert_results_written", "Results committed to the store", value=e.writer.written
        )
        yield GaugeMetricFamily(
            "sysalert_event_subscribers", "Live event stream readers", value=e.events.subscribers
        )
        restarts = CounterMetricFamily(
            "sysalert_task_restarts", "Background task restarts after a crash", labels=["task"]
        )
        failing = GaugeMetricFamily(
            "sysalert_task_failing",
            "1 while a background task is down or crash-looping",
            labels=["task"],
        )
        down = e.supervisor.failing()
        for name, n in sorted(e.supervisor.restarts().items()):
            restarts.add_metric([name], n)
            failing.add_metric([name], 1 if name in down else 0)
        yield restarts
        yield failing


def render_metrics(engine: MetricsSource) -> str:
    reg = CollectorRegistry()
    reg.register(EngineCollector(engine))
    return generate_latest(reg).decode()
