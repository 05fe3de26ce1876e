"""The perf scripts can fail: each has budgets, prints them in its JSON line, and `--check` exits 1
on a miss. (The scripts themselves are too heavy for the suite; their figures are in the README.)"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json

import pytest

from tests.perf.common import add_check_flags, finish

SCRIPTS = ("probe_rate", "ping_rate", "console", "queries", "resume")


def args(*argv: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    add_check_flags(ap)
    return ap.parse_args(list(argv))


def last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


BUDGETS = {"pings_per_s": (">=", 10_000.0), "durable": ("==", 1.0), "p99_ms": ("<=", 10.0)}


def test_a_missed_budget_exits_1_only_under_check(capsys: pytest.CaptureFixture[str]) -> None:
    good = {"pings_per_s": 12_000.0, "durable": True, "p99_ms": 4.0}
    assert finish(dict(good), BUDGETS, args("--check")) == 0
    out = last_json(capsys)
    assert out["missed"] == [] and out["budget"]["pings_per_s"] == ">= 10000.0"
    slow = {**good, "pings_per_s": 9_000.0}
    assert finish(dict(slow), BUDGETS, args("--check")) == 1
    assert last_json(capsys)["missed"] == ["pings_per_s 9000.0 (budget >= 10000.0)"]
    assert finish(dict(slow), BUDGETS, args()) == 0  # measured and printed, not judged


def test_pings_that_are_not_durable_fail_whatever_the_rate(capsys: pytest.CaptureFixture[str]):
    lost = {"pings_per_s": 50_000.0, "durable": False, "p99_ms": 1.0}
    assert finish(lost, BUDGETS, args("--check")) == 1
    assert last_json(capsys)["missed"] == ["durable False (budget == 1.0)"]


def test_a_figure_that_is_missing_is_a_miss_and_budgets_can_be_overridden(capsys) -> None:
    assert finish({"durable": True, "p99_ms": 1.0}, BUDGETS, args("--check")) == 1
    assert "pings_per_s None" in last_json(capsys)["missed"][0]
    fast = {"pings_per_s": 12_000.0, "durable": True, "p99_ms": 4.0}
    assert finish(dict(fast), BUDGETS, args("--check", "--budget", "p99_ms=2")) == 1
    assert last_json(capsys)["budget"]["p99_ms"] == "<= 2.0"
    with pytest.raises(SystemExit, match="no budget named 'p98_ms'"):
        finish(dict(fast), BUDGETS, args("--budget", "p98_ms=2"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_perf_script_has_budgets_and_the_check_flag(name: str) -> None:
    module = importlib.import_module(f"tests.perf.{name}")
    budgets = getattr(module, "BUDGETS", None) or module.budgets(10.0)
    assert budgets and all(op in (">=", "<=", "==") for op, _ in budgets.values())
    assert "--check" in (module.__doc__ or "")
    source = inspect.getsource(module.main)
    assert "add_check_flags(ap)" in source and "finish(" in source
