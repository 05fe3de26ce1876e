"""pat() globs, matched the way Gatus matches them: Go's filepath.Match with every '/' removed.

Syntax (Go's): `*` any run of characters, `?` one character, `[abc]` `[a-z]` `[^a-z]` a class,
`\\x` a literal x. Gatus removes the path separator from both sides first, so `*` also spans '/'.

Matching splits the pattern at each `*` into fixed-width pieces and finds them leftmost, in order.
That is exact for globs and stays linear on a megabyte body, where a backtracking regex made from
`*a*b*c*` could run for minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class GlobError(ValueError):
    """A pattern Go would reject (ErrBadPattern); `offset` is where, in the pattern as written."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Glob:
    """A compiled pat() pattern: the pieces between stars, each a fixed-width regex."""

    source: str
    pieces: tuple[re.Pattern[str], ...]
    widths: tuple[int, ...]

    def match(self, text: str) -> bool:
        """True when the whole of text matches, as Gatus's pattern.Match decides."""
        text = text.replace("/", "")
        if len(self.pieces) == 1:
            return self.pieces[0].fullmatch(text) is not None
        first, last = self.pieces[0], self.pieces[-1]
        if first.match(text) is None:
            return False
        pos = self.widths[0]
        end = len(text) - self.widths[-1]
        if end < pos:
            return False
        for piece, width in zip(self.pieces[1:-1], self.widths[1:-1], strict=True):
            if width == 0:
                continue
            found = piece.search(text, pos, end)
            if found is None:
                return False
            pos = found.end()
        return last.fullmatch(text, end) is not None


def compile_glob(pattern: str) -> Glob:
    """Compile a pat() pattern; raise GlobError for one Go's filepath.Match calls malformed."""
    kept = [i for i, ch in enumerate(pattern) if ch != "/"]
    src = pattern.replace("/", "")

    def where(i: int) -> int:
        """Offset in the pattern as written, for a caret under the right character."""
        return kept[i] if i < len(kept) else len(pattern)

    pieces: list[list[str]] = [[]]
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "*":
            pieces.append([])
            i += 1
        elif ch == "?":
            pieces[-1].append(".")
            i += 1
        elif ch == "\\":
            if i + 1 >= len(src):
                raise GlobError("'\\' at the end escapes nothing", where(i))
            pieces[-1].append(re.escape(src[i + 1]))
            i += 2
        elif ch == "[":
            atom, i = _class(src, i, where)
            pieces[-1].append(atom)
        else:
            pieces[-1].append(re.escape(ch))
            i += 1
    compiled = tuple(re.compile("".join(atoms), re.DOTALL) for atoms in pieces)
    return Glob(pattern, compiled, tuple(len(atoms) for atoms in pieces))


def _class(src: str, start: int, where) -> tuple[str, int]:
    """Parse `[...]` at start; return one regex atom and the index after the ']'."""
    i = start + 1
    negated = i < len(src) and src[i] == "^"
    if negated:
        i += 1
    items: list[str] = []
    count = 0
    while True:
        if i < len(src) and src[i] == "]" and count > 0:
            i += 1
            break
        lo, i = _class_char(src, i, start, where)
        hi = lo
        if src[i] == "-":
            hi, i = _class_char(src, i + 1, start, where)
        if lo <= hi:  # Go accepts an empty range; it simply matches nothing
            items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
        count += 1
    if not items:
        return ("." if negated else "(?!)"), i
    return f"[{'^' if negated else ''}{''.join(items)}]", i


def _class_char(src: str, i: int, start: int, where) -> tuple[str, int]:
    """One (possibly escaped) character of a class, as Go's getEsc reads it."""
    if i >= len(src):
        raise GlobError("'[' is never closed with ']'", where(start))
    if src[i] in "-]":
        raise GlobError(f"'{src[i]}' must be escaped as '\\{src[i]}' inside [...]", where(i))
    if src[i] == "\\":
        i += 1
        if i >= len(src):
            raise GlobError("'[' is never closed with ']'", where(start))
    ch = src[i]
    i += 1
    if i >= len(src):
        raise GlobError("'[' is never closed with ']'", where(start))
    return ch, i
