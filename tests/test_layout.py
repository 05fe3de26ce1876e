"""The fixed top-level layout, the README's two commands, and the import direction contract."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "config.toml.example",
        "README.md",
        ".ci/run",
        "engine/__init__.py",
        "screens/__init__.py",
        "sysalert_tui/__init__.py",
        "tests/conftest.py",
        "tests/snapshots",
        "tests/perf",
        "engine/config/example.toml",
    ],
)
def test_top_level_paths_exist(path: str) -> None:
    assert (ROOT / path).exists(), path


def test_ci_script_is_executable() -> None:
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_opens_with_run_and_test_commands() -> None:
    blocks = re.findall(
        r"```(?:sh|bash|console)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    )
    assert len(blocks) >= 2
    run, test = blocks[0].strip(), blocks[1].strip()
    assert "pip install" in run and run.endswith("sysalert")
    assert "pip install" in test and ".[test]" in test and "pytest" in test


def test_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    need("lint-imports next to this Python", lint.exists(), "pip install -e '.[test]'")
    r = subprocess.run(
        [str(lint), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_engine_never_imports_the_ui() -> None:
    """The same rule as the contract, read straight from the sources (also catches lazy imports)."""
    bad = []
    for path in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in ("textual", "screens", "sysalert_tui")
            ]
    assert not bad, bad
