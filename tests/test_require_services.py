"""SYSALERT_REQUIRE_SERVICES=1 (what .ci/run sets) turns a missing service or tool into a failure:
a run without PostgreSQL or curl cannot go green by skipping what it did not test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent

TINY = """
import pytest

def test_store(db_url):
    assert db_url

@pytest.mark.needs("sysalert-no-such-tool")
def test_tool():
    pass
"""


def run_tiny(tmp_path: Path, require: bool) -> subprocess.CompletedProcess[str]:
    """pytest on a two-test file with our conftest, PostgreSQL pointed at a port nobody serves."""
    test = tmp_path / "test_tiny.py"
    test.write_text(TINY)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SYSALERT_TEST_PG": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
        "SYSALERT_REQUIRE_SERVICES": "1" if require else "",
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]
        + ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)]
        + ["-p", "tests.conftest", str(test)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_with_the_flag_a_missing_service_or_tool_fails(tmp_path: Path) -> None:
    r = run_tiny(tmp_path, require=True)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "skipped" not in out, out
    assert "1 passed" in out and "2 error" in out, out  # the SQLite param runs; the other two fail
    assert "PostgreSQL" in out and "sysalert-no-such-tool" in out
    assert "SYSALERT_REQUIRE_SERVICES=1" in out


def test_without_the_flag_they_skip_and_say_how_to_provide_them(tmp_path: Path) -> None:
    r = run_tiny(tmp_path, require=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "1 passed, 2 skipped" in out, out
    assert "pg_ctlcluster" in out and "apt-get install sysalert-no-such-tool" in out
