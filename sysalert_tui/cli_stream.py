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
from json.encoder import encode_basestring_ascii as encode_str  # type: ignore[attr-defined]
from typing import Any, TextIO

from engine.core.domain import STATE_SYMBOLS
from sysalert_tui.output import ago, print_table

PAGE = 5000  # full rows (`target list`) per request
STATUS_PAGE = 25_000  # `status` rows (eight fields) per request: four requests at 100,000
STATUS_FIELDS = ("id", "name", "kind", "state", "probe_state", "state_since", "last_check_at")
_STATUS_KEYS = frozenset(STATUS_FIELDS)
_STR_FIELDS = ("id", "kind", "name", "probe_state", "state")
_INF = float("inf")


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


def _scalar(v: Any) -> str:
    """One value as json.dumps writes it (ensure_ascii), for the scalars a status row holds."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return encode_str(v)
    if isinstance(v, float) and v == v and v not in (_INF, -_INF):
        return float.__repr__(v)
    return json.dumps(v)


def status_text(rows: list[dict[str, Any]], level: int) -> str:
    """Status rows (always the same seven scalar fields) as json.dumps(indent=2, sort_keys=True)
    lays them out, without its pure-Python indenting encoder: 100,000 rows in half the time,
    which is most of what `status --json` costs this side."""
    p = " " * level
    line = f",\n{p}    "
    out = []
    for r in rows:
        if not all(type(r[k]) is str for k in _STR_FIELDS):
            return _generic(rows, level)
        out.append(
            f'{p}  {{\n{p}    "id": {encode_str(r["id"])}{line}"kind": {encode_str(r["kind"])}'
            f'{line}"last_check_at": {_scalar(r["last_check_at"])}'
            f'{line}"name": {encode_str(r["name"])}'
            f'{line}"probe_state": {encode_str(r["probe_state"])}'
            f'{line}"state": {encode_str(r["state"])}'
            f'{line}"state_since": {_scalar(r["state_since"])}\n{p}  }}'
        )
    return ",\n".join(out)


def _generic(rows: list[dict[str, Any]], level: int) -> str:
    text = json.dumps(rows, indent=2, sort_keys=True)[2:-2]  # without "[\n" and "\n]"
    return " " * level + text.replace("\n", "\n" + " " * level) if level else text


def write_array(chunks: Iterator[list[dict[str, Any]]], out: TextIO, level: int = 0) -> None:
    """A JSON array written a chunk (a page) at a time, exactly as json.dump(indent=2,
    sort_keys=True) writes the whole list at `level` spaces; the caller writes what precedes
    the opening bracket (a key)."""
    pad = " " * level
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        if all(len(r) == len(STATUS_FIELDS) and r.keys() == _STATUS_KEYS for r in chunk):
            text = status_text(chunk, level)
        else:
            text = _generic(chunk, level)
        out.write(("[\n" if first else ",\n") + text)
        first = False
    out.write("[]" if first else "\n" + pad + "]")


def status(cmds: Any, as_json: bool, out: TextIO | None = None) -> int:
    """`sysalert status`: every target's shown state; exit 1 when one is down or the engine
    fails. `state` is what is shown (maintenance and pause applied), `probe_state` the probes'."""
    out = out if out is not None else sys.stdout  # the stdout of now (tests redirect it)
    stats = cmds.engine_stats()
    failing = stats.get("failing") or {}
    walk = pages(cmds, ",".join(("shown", *STATUS_FIELDS)), STATUS_PAGE)
    first = next(walk)
    down = first["counts"].get("down", 0)
    partial = first["counts"].get("partial", 0)  # down in fewer locations than the quorum
    seen_down = False

    def marked() -> Iterator[list[dict[str, Any]]]:
        nonlocal seen_down
        for p in itertools.chain([first], walk):
            chunk = [_status_row(raw) for raw in p["rows"]]
            seen_down = seen_down or any(r["state"] in ("down", "partial") for r in chunk)
            yield chunk

    if as_json:
        head = json.dumps(
            {
                "down": down,
                "partial": partial,
                "engine": {"failing": failing, "mode": stats.get("mode")},
            },
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
    return 1 if failing or down or partial or seen_down else 0


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
