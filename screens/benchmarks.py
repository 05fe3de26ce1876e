"""Benchmarks: each score against its baseline, a trend, and `b` to take the score as baseline.

The benchmark commands may be missing from the engine in use (older daemon, or not built yet):
then the screen says so instead of failing.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from engine.benchmarks.scoring import fmt
from engine.benchmarks.spec import parse_bench_spec, parse_threshold
from engine.core.durations import parse_duration
from screens.actions import bindings_for
from screens.base import ListScreen, Unavailable
from screens.dialogs import Field, FieldsDialog, checked
from screens.fmt import ago, sparkline
from screens.subscribers import owner_labels

EMPTY = "No benchmarks yet. Press a to add one: cpu, an https:// URL, host:port or cmd:…"
MISSING = "Benchmarks are not available from this engine yet."


def _num(b: dict[str, Any], *names: str) -> float | None:
    for n in names:
        v = b.get(n)
        if isinstance(v, int | float):
            return float(v)
    return None


STATUS = {
    "ok": ("●", "green"),
    "regressed": ("✖ regressed", "bold red"),
    "failed": ("✖ failed", "red"),
    "pending": ("◐ pending", "yellow"),
}


def versus_text(b: dict[str, Any]) -> Text:
    """Change against the baseline and the engine's verdict, in words as well as colour."""
    score, base = _num(b, "score", "last_score"), _num(b, "baseline")
    delta = _num(b, "delta_pct")
    if delta is None and score is not None and base:
        delta = (score - base) / abs(base) * 100
    symbol, style = STATUS.get(str(b.get("status", "")), ("", ""))
    text = Text("— " if delta is None else f"{delta:+.1f}% ", style=style)
    text.append(symbol, style=style)
    return text


class BenchmarksScreen(ListScreen):
    TABLE_ID = "benchmarks"
    INFO_ID = "bench-info"
    EMPTY_ID = "bench-empty"
    COLUMNS = ("Name", "Score", "Baseline", "vs baseline", "Trend", "Last run")
    LOADING = "Loading benchmarks…"
    EMPTY = EMPTY
    MISSING = MISSING
    NOUN = "benchmark"
    SCOPE = "benchmarks"
    LISTENS = False
    BINDINGS = bindings_for("benchmarks")

    def __init__(self) -> None:
        super().__init__()
        self.all_items: list[dict[str, Any]] = []  # `items` are the rows shown (owner filter)
        self.owners: dict[str, str] = {}  # subscriber id -> masked chat id
        self.owner_filter: str | None = None  # None: everyone's; "": the operator's; else an id

    def action_reload(self) -> None:
        self.call_fn(self._fetch, then=self._loaded, fail=self._failed)

    def _fetch(self) -> tuple[Any, dict[str, str]]:
        fn = getattr(self.commands, "list_benchmarks", None)
        if fn is None:
            raise Unavailable("this engine does not offer list benchmarks", None)
        return fn(), owner_labels(self.optional("list_subscribers"))

    def _failed(self, exc: BaseException) -> None:
        self.all_items = []
        super()._failed(exc)

    def _loaded(self, value: tuple[Any, dict[str, str]]) -> None:
        items, self.owners = value
        self.all_items = list(items or [])
        self._filter_owner()
        self._fill(EMPTY)

    def _filter_owner(self) -> None:
        wanted = self.owner_filter
        self.items = [
            b for b in self.all_items if wanted is None or (b.get("owner_id") or "") == wanted
        ]

    def _owner_name(self, owner_id: str | None) -> str:
        if owner_id is None:
            return "everyone"
        return self.owners.get(owner_id, "****") if owner_id else "the operator"

    def action_cycle_owner(self) -> None:
        """Everyone's benchmarks, then the operator's, then each subscriber's in turn."""
        choices: list[str | None] = [None, "", *sorted(self.owners, key=lambda i: self.owners[i])]
        at = choices.index(self.owner_filter) if self.owner_filter in choices else 0
        self.owner_filter = choices[(at + 1) % len(choices)]
        self._filter_owner()
        self._fill(EMPTY)
        self.notify(f"Showing the benchmarks of {self._owner_name(self.owner_filter)}.")

    def info(self) -> str:
        n = len(self.items)
        owners = ""
        if self.owners or self.owner_filter is not None:
            owners = f" · owner: {self._owner_name(self.owner_filter)} (o)"
        return f" {n} benchmark{'s' if n != 1 else ''}{owners} · b sets the baseline to the current score"

    def cells(self, b: dict[str, Any]) -> tuple[Any, ...]:
        score = _num(b, "score", "last_score")
        base = _num(b, "baseline")
        trend = list(b.get("trend") or [])
        name = Text(str(b.get("name", "?")))
        if b.get("owner_id"):  # a subscriber's: their masked chat id after the name
            name.append(f" · {self.owners.get(b['owner_id'], '****')}", style="cyan")
        return (
            name,
            "—" if score is None else fmt(score, b.get("unit") or ""),
            "—" if base is None else fmt(base, b.get("unit") or ""),
            versus_text(b),
            sparkline(
                [v if isinstance(v, int | float) else None for v in trend], 16, relative=True
            ),
            ago(_num(b, "last_run_at"), self.ctx.clock()),
        )

    def action_add_benchmark(self) -> None:
        dialog = FieldsDialog(
            "Add a benchmark",
            [
                Field(
                    "spec",
                    "What:",
                    "",
                    "cpu, https://example.org/, db:5432, cmd:./score.sh",
                    checked(parse_bench_spec, optional=False),
                    required=True,
                ),
                Field("name", "Name:", "", "(from what it measures)"),
                Field(
                    "interval",
                    "Every:",
                    "",
                    "1h (default from the kind)",
                    checked(lambda v: parse_duration(v, "interval")),
                ),
                Field("threshold", "Threshold %:", "", "20", checked(parse_threshold)),
            ],
            hint="A run worse than the baseline by more than the threshold opens an incident.",
        )

        def answered(values: dict[str, str] | None) -> None:
            if values:
                self.call(
                    "add_benchmark",
                    values["spec"].strip(),
                    name=values["name"].strip() or None,
                    interval=values["interval"].strip() or None,
                    threshold=values["threshold"].strip() or None,
                    then=self._added,
                )

        self.app.push_screen(dialog, answered)

    def _added(self, b: Any) -> None:
        name = b.get("name")
        self.done(f"Benchmark {name} added; its first runs set the baseline.")

    def action_run_benchmark(self) -> None:
        b = self.selected()
        if b is None:
            return
        self.notify(f"Measuring {b.get('name')}…")
        self.call("run_benchmark", str(b.get("id") or b.get("name")), then=self._ran)

    def _ran(self, out: Any) -> None:
        name, score = out.get("name", "the benchmark"), _num(out, "score")
        if not out.get("ok") or score is None:
            why = out.get("detail") or out.get("error_class") or "no score"
            self.notify(f"Run of {name} failed: {why}", severity="error", timeout=6)
        else:
            delta = _num(out, "delta_pct")
            versus = "" if delta is None else f" ({delta:+.1f}% vs baseline, {out.get('status')})"
            self.notify(f"{name}: {fmt(score, out.get('unit') or '')}{versus}")
        self.action_reload()

    def action_remove_benchmark(self) -> None:
        b = self.selected()
        if b is not None:
            self.ask_then_call(
                f"Remove {b.get('name')!r} and all its runs?",
                "Remove",
                "remove_benchmark",
                str(b.get("id") or b.get("name")),
                done=f"Removed {b.get('name')}.",
            )

    def action_set_baseline(self) -> None:
        b = self.selected()
        if b is not None:
            self.ask_then_call(
                f"Set the baseline of {b.get('name')!r} to its current score?",
                "Set",
                "set_baseline",
                str(b.get("id") or b.get("name")),
                done=f"Baseline of {b.get('name')} set to its current score.",
            )
