"""`sysalert subscribers add|list|remove|limit`: masked output, JSON, sealed chat ids, a subscriber's
own quota, and one-line errors with exit code 2 for a bad id."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sysalert_tui.cli import main

Run = Callable[..., tuple[int, str, str]]
CHAT = "77441265"


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    yield
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_sysalert", False):
            root.removeHandler(h)


@pytest.fixture
def run(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    rc, _, err = _run("init")
    assert rc == 0, err
    return _run


def store_text(data_dir: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in data_dir.rglob("*") if p.is_file() and p.name != "config.toml"
    )


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysalert: "), err
    return lines[0]


def test_cli_subscriber_add_list_remove_with_the_chat_id_sealed(run: Run, data_dir: Path):
    rc, out, err = run("subscribers", "add", CHAT)
    assert rc == 0, err
    assert out.strip() == "added subscriber ****1265 (subscriber)"
    rc, out, _ = run("subscribers", "list", "--json")
    items = json.loads(out)
    assert rc == 0 and [(i["chat"], i["role"]) for i in items] == [("****1265", "subscriber")]
    assert items[0]["usage"] == {"targets": 0, "benchmarks": 0}
    assert items[0]["quota"]["targets"]["limit"] is None  # self-hosted: unlimited
    rc, out, _ = run("subscribers", "list")
    assert "****1265" in out and CHAT not in out
    rc, out, _ = run("contacts", "list", "--json")
    contacts = json.loads(out)
    assert [c["channel"] for c in contacts] == ["telegram"]  # their own alert contact
    assert CHAT.encode() not in store_text(data_dir)  # sealed and fingerprinted, never plain
    rc, out, err = run("subscribers", "remove", CHAT)
    assert rc == 0 and out.strip() == "removed subscriber ****1265 and everything they owned"
    rc, out, _ = run("subscribers", "list", "--json")
    assert json.loads(out) == []
    rc, out, _ = run("contacts", "list", "--json")
    assert json.loads(out) == []


def test_cli_subscriber_bad_id_exits_2_with_a_message(run: Run):
    rc, _, err = run("subscribers", "add", "not-an-id")
    assert rc == 2
    line = one_line_error(err)
    assert "'not-an-id' is not a Telegram chat id" in line and "77441265" in line
    rc, _, err = run("subscribers", "remove", "5551234")
    assert rc == 2 and "is not a subscriber" in one_line_error(err)
    assert run("subscribers", "add", CHAT)[0] == 0
    rc, _, err = run("subscribers", "add", CHAT)
    assert rc == 2 and "already a subscriber" in one_line_error(err)


def test_cli_subscriber_admin_role_and_own_quota_limit(run: Run):
    assert run("subscribers", "add", CHAT, "--admin")[0] == 0
    rc, out, err = run("subscribers", "limit", CHAT, "--targets", "2")
    assert rc == 0, err
    assert out.strip() == "subscriber ****1265: up to 2 targets and unlimited benchmarks"
    rc, out, _ = run("subscribers", "list")
    assert "admin" in out and "0/2" in out
    rc, _, err = run("subscribers", "limit", CHAT, "--benchmarks", "lots")
    assert rc == 2 and "is not a count" in one_line_error(err)
    rc, _, err = run("subscribers", "limit", CHAT)
    assert rc == 2 and "no limit given" in one_line_error(err)
    rc, out, _ = run("subscribers", "limit", CHAT, "--targets", "default", "--json")
    assert json.loads(out)["quota"]["targets"]["limit"] is None
