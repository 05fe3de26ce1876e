"""Find the line of a key path in TOML text, so config errors can say `config.toml:12`.

tomllib gives no positions; this scanner follows table headers, arrays of tables and dotted keys
well enough to point a person at the right line.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+?)\s*=")


def _split(path: str) -> list[str]:
    return [p.strip().strip("\"'") for p in path.split(".")]


def locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Return the 1-based line where `loc` (e.g. ("targets", 2, "interval")) is written."""
    table: list[str | int] = []
    counts: dict[tuple, int] = {}
    best: int | None = None
    best_len = -1
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _ARRAY_HEADER.match(line)
        if m:
            name = tuple(_split(m.group(1)))
            idx = counts.get(name, -1) + 1
            counts[name] = idx
            table = [*name, idx]
            current: list[str | int] = list(table)
        elif (m := _HEADER.match(line)) is not None:
            table = list(_split(m.group(1)))
            current = list(table)
        elif (m := _KEY.match(line)) is not None:
            current = [*table, *_split(m.group(1))]
        else:
            continue
        n = _prefix_len(current, loc)
        if n > best_len:  # the first line with the longest match wins
            best, best_len = lineno, n
    return best if best_len > 0 else None


def _prefix_len(a: list[str | int], b: tuple[str | int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if str(x) != str(y):
            break
        n += 1
    return n
