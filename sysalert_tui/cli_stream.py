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
# What `status` asks of each target: plain attributes only (and the shown state), which the
# daemon reads straight off its records; one field it does not know (probe_state is `state`)
# sent it down the full-row path, masking 100,000 specs it then threw away.
STATUS_ASK = "shown,id,name,kind,state,state_since,last_check_at"
_STR_FIELDS = ("id", "kind", "name", "probe_state", "state")
_INF = float("inf")


def pages(
    cmds: Any, fields: str = "", page: int = PAGE, columns: bool = False
) -> Iterator[dict[str, Any]]:
    """Every page of targets in name order, the next one read while the caller works on this
    one. Attached, one streamed answer carries them all (`target_pages`); else a cursor walk."""
    cmds = getattr(cmds, "plain", cmds)  # a read records no actor (attached: no import of it)
    kw: dict[str, Any] = {"sort": "name", "limit": page, "fields": fields}
    if columns:
        kw["columns"] = True
    if hasattr(cmds, "target_pages"):
        yield from _ahead(cmds.target_pages(**kw))
        return
    with ThreadPoolExecutor(1, thread_name_prefix="sysalert-page") as pool:
        fut = pool.submit(cmds.target_page, **kw)
        while True:
            got = fut.result()
            after = got.get("next")
            if after:
                fut = pool.submit(cmds.target_page, after=after, **kw)
            yield got
            if not after:
                return


def _ahead(walk: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The pages of `walk`, each next one read (from the socket, decoded) in a thread meanwhile."""
    with ThreadPoolExecutor(1, thread_name_prefix="sysalert-page") as pool:
        fut = pool.submit(next, walk, None)
        while True:
            got = fut.result()
            if got is None:
                return
            fut = pool.submit(next, walk, None)
            yield got


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
    write_texts((_generic(chunk, level) for chunk in chunks if chunk), out, level)


def write_texts(texts: Iterator[str], out: TextIO, level: int = 0) -> None:
    """The array around its elements' texts (each a run of them, laid out at `level`)."""
    first = True
    for text in texts:
        if not text:
            continue
        out.write(("[\n" if first else ",\n") + text)
        first = False
    out.write("[]" if first else "\n" + " " * level + "]")


def status(cmds: Any, as_json: bool, out: TextIO | None = None) -> int:
    """`sysalert status`: every target's shown state; exit 1 when one is down or the engine
    fails. `state` is what is shown (maintenance and pause applied), `probe_state` the probes'."""
    out = out if out is not None else sys.stdout  # the stdout of now (tests redirect it)
    cmds = getattr(cmds, "plain", cmds)
    walk = pages(cmds, STATUS_ASK, STATUS_PAGE, columns=True)
    with ThreadPoolExecutor(1, thread_name_prefix="sysalert-stats") as pool:
        asked = pool.submit(cmds.engine_stats)  # meanwhile the first page comes
        first = next(walk)
        stats = asked.result()
    failing = stats.get("failing") or {}
    down = first["counts"].get("down", 0)
    partial = first["counts"].get("partial", 0)  # down in fewer locations than the quorum
    seen_down = False

    def marked() -> Iterator[dict[str, list[Any]]]:
        nonlocal seen_down
        for p in itertools.chain([first], walk):
            cols = p["columns"]
            seen_down = seen_down or not _DOWN.isdisjoint(cols["shown"])
            yield cols

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
        write_texts((status_columns_text(c, 2) for c in marked()), out, 2)
        out.write("\n}\n")
    else:
        table = [
            [f"{STATE_SYMBOLS.get(shown, '?')} {shown}", name, ago(since)]
            for c in marked()
            for shown, name, since in zip(c["shown"], c["name"], c["state_since"], strict=True)
        ]
        print_table(["state", "name", "since"], table, empty="no targets yet")
        if failing:
            parts = ", ".join(f"{name} ({why})" for name, why in sorted(failing.items()))
            print(f"engine FAILING: {parts}; see the daemon log and GET /health", file=out)
    out.flush()
    return 1 if failing or down or partial or seen_down else 0


def status_columns_text(cols: dict[str, list[Any]], level: int) -> str:
    """A page of status columns as json.dumps(indent=2, sort_keys=True) lays its rows out: each
    column encoded by C code (a string column by the json module's own string encoder, a column
    of numbers by json.dumps itself), then one %-template per row, all under map(): 100,000
    rows in tens of milliseconds. A value of another type takes the row-by-row way."""
    ids, kinds, names = _strs(cols["id"]), _strs(cols["kind"]), _strs(cols["name"])
    probe, shown = _strs(cols["state"]), _strs(cols["shown"])
    checked, since = _nums(cols["last_check_at"]), _nums(cols["state_since"])
    if None in (ids, kinds, names, probe, shown, checked, since):
        return status_text(
            [_status_row(*r) for r in zip(*(cols[k] for k in _ASKED), strict=True)], level
        )
    p = " " * level
    line = f",\n{p}    "
    row = (
        f'{p}  {{\n{p}    "id": %s{line}"kind": %s{line}"last_check_at": %s{line}"name": %s'
        f'{line}"probe_state": %s{line}"state": %s{line}"state_since": %s\n{p}  }}'
    )
    return ",\n".join(
        map(row.__mod__, zip(ids, kinds, checked, names, probe, shown, since, strict=True))
    )


_ASKED = STATUS_ASK.split(",")
_DOWN = frozenset(("down", "partial"))
_NUMS = frozenset((float, int, type(None)))


def _strs(col: list[Any]) -> list[str] | None:
    """Each string JSON-encoded (ensure_ascii, as json.dumps), or None if one is no string."""
    return list(map(encode_str, col)) if set(map(type, col)) <= {str} else None


def _nums(col: list[Any]) -> list[str] | None:
    """Each number or null as json.dumps writes it, or None if one is something else. Numbers
    hold no ", ", so the encoded list splits back into its elements."""
    if not col:
        return []
    return json.dumps(col)[1:-1].split(", ") if set(map(type, col)) <= _NUMS else None


def _status_row(
    shown: Any, tid: Any, name: Any, kind: Any, state: Any, since: Any, checked: Any
) -> dict[str, Any]:
    return {
        "id": tid,
        "name": name,
        "kind": kind,
        "state": shown,
        "probe_state": state,
        "state_since": since,
        "last_check_at": checked,
    }


def public_pages(cmds: Any) -> Iterator[list[dict[str, Any]]]:
    """`target list --json` rows a page at a time: the record's public shape, as `target show`
    prints it."""
    for p in pages(cmds):
        for r in p["rows"]:
            r.pop("shown", None)
            r.pop("value", None)
        yield p["rows"]
