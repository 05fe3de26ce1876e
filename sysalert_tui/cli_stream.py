"""`status` and `target list` a page at a time: the first line comes at once, memory stays flat.

The pages come from `target_page` in name order, walked by cursor (`next`), so a target added or
removed meanwhile neither repeats nor shifts another out; the next page is fetched while this one
is printed. The JSON printed is the same document `print_json` would print for the whole list
(indent 2, keys sorted), written as it arrives.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from engine.core.domain import STATE_SYMBOLS
from sysalert_tui.output import ago, print_table

PAGE = 5000
STATUS_FIELDS = ("id", "name", "kind", "state", "probe_state", "state_since", "last_check_at")


def pages(cmds: Any, fields: str = "", page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every page of targets in name order, the next one fetched while the caller works."""
    with ThreadPoolExecutor(1, thread_name_prefix="sysalert-page") as pool:
        fut = pool.submit(cmds.target_page, sort="name", limit=page, fields=fields)
        while True:
            got = fut.result()
            after = got.get("next")
            if after:
                fut = pool.submit(
                    cmds.target_page, sort="name", limit=page, after=after, fields=fields
                )
            yield got
            if not after:
                return


def write_array(chunks: Iterator[list[dict[str, Any]]], out: TextIO, level: int = 0) -> None:
    """A JSON array written a chunk (a page) at a time, exactly as json.dump(indent=2,
    sort_keys=True) writes the whole list at `level` spaces; the caller writes what precedes
    the opening bracket (a key)."""
    pad = " " * level
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        text = json.dumps(chunk, indent=2, sort_keys=True)[2:-2]  # without "[\n" and "\n]"
        if level:
            text = pad + text.replace("\n", "\n" + pad)
        out.write(("[\n" if first else ",\n") + text)
        first = False
    out.write("[]" if first else "\n" + pad + "]")


def status(cmds: Any, as_json: bool, out: TextIO = sys.stdout) -> int:
    """`sysalert status`: every target's shown state; exit 1 when one is down or the engine
    fails. `state` is what is shown (maintenance and pause applied), `probe_state` the probes'."""
    stats = cmds.engine_stats()
    failing = stats.get("failing") or {}
    walk = pages(cmds, ",".join(("shown", *STATUS_FIELDS)))
    first = next(walk)
    down = first["counts"].get("down", 0)
    seen_down = False

    def marked() -> Iterator[list[dict[str, Any]]]:
        nonlocal seen_down
        for p in itertools.chain([first], walk):
            chunk = [_status_row(raw) for raw in p["rows"]]
            seen_down = seen_down or any(r["state"] == "down" for r in chunk)
            yield chunk

    if as_json:
        head = json.dumps(
            {"down": down, "engine": {"failing": failing, "mode": stats.get("mode")}},
            indent=2,
            sort_keys=True,
        )
        out.write(head[: head.rindex("}")].rstrip() + ',\n  "targets": ')
        write_array(marked(), out, 2)
        out.write("\n}\n")
    else:
        table = [
            [f"{STATE_SYMBOLS.get(r['state'], '?')} {r['state']}", r["name"], ago(r["state_since"])]
            for chunk in marked()
            for r in chunk
        ]
        print_table(["state", "name", "since"], table, empty="no targets yet")
        if failing:
            parts = ", ".join(f"{name} ({why})" for name, why in sorted(failing.items()))
            print(f"engine FAILING: {parts}; see the daemon log and GET /health", file=out)
    out.flush()
    return 1 if failing or down or seen_down else 0


def _status_row(r: dict[str, Any]) -> dict[str, Any]:
    row = {k: r.get(k) for k in STATUS_FIELDS}
    row["probe_state"] = r["state"]
    row["state"] = r["shown"]
    return row


def public_pages(cmds: Any) -> Iterator[list[dict[str, Any]]]:
    """`target list --json` rows a page at a time: the record's public shape, as `target show`
    prints it."""
    for p in pages(cmds):
        for r in p["rows"]:
            r.pop("shown", None)
            r.pop("value", None)
        yield p["rows"]
