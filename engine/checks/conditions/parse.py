"""Gatus-syntax conditions: `[STATUS] == 200`, `[BODY].status == UP`, `len([BODY].items) > 0`.

Parsing happens once, when a target is added or the config is loaded, so a condition that cannot
work is bad input with a caret under the problem, not a check that fails forever. Where Gatus
silently treats a typo as literal text (`[STAUTS] == 200`, `lne([BODY])`, `[STATUS]==200`) we
refuse it; to compare with text that starts with '[' or looks like a call, write any(TEXT).
Evaluation rules live in engine.checks.conditions.evaluate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.checks.conditions.evaluate import (
    BODY,
    EQUALITY_OPERATORS,
    PLACEHOLDERS,
    Operand,
    Resolver,
    compare,
)
from engine.checks.conditions.glob import GlobError, compile_glob
from engine.core.errors import BadInput
from engine.security.privacy import redact

OPERATORS_HINT = "expected one of == != < > <= >= with a space on each side, e.g. '[STATUS] == 200'"
_OPERATOR = re.compile(r"(?:(?<=\s)|^)(==|!=|<=|>=|<|>)(?=\s|$)")
_GLUED = re.compile(r"[=!<>]+")
_FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")
_PLACEHOLDER = re.compile(r"\[([A-Za-z_]+)\]")
_FUNCTIONS = ("len", "has", "pat", "any")


@dataclass
class ConditionFacts:
    """What one check observed. None means the probe does not know it; it reads as Go's zero value
    (0, "" or false), as Gatus does, so `[CERTIFICATE_EXPIRATION] == 0` holds when there is no cert.
    """

    status: int | None = None
    body: bytes | str | None = None
    response_time_ms: float | None = None
    ip: str | None = None
    connected: bool | None = None
    certificate_expiration_s: float | None = None
    domain_expiration_s: float | None = None
    dns_rcode: str | None = None


@dataclass
class ConditionOutcome:
    """One condition's verdict. On failure the description shows the actual values, so it may hold
    body fragments or addresses: it belongs in sealed detail, never in a log line."""

    ok: bool
    description: str


@dataclass(frozen=True)
class Condition:
    """A parsed condition; build it with parse_condition."""

    text: str
    left: Operand
    operator: str
    right: Operand

    @property
    def placeholders(self) -> frozenset[str]:
        """Placeholders used, e.g. {"[BODY]"}: a probe can skip reading what nobody asks for."""
        return frozenset(o.name for o in (self.left, self.right) if o.name)

    def evaluate(self, facts: ConditionFacts) -> ConditionOutcome:
        """Check this one condition against facts."""
        return self._evaluate(Resolver(facts))

    def _evaluate(self, resolver: Resolver) -> ConditionOutcome:
        ok, resolved = compare(self.left, self.operator, self.right, resolver)
        return ConditionOutcome(ok, self.text if ok else resolved)


def evaluate_all(
    conditions: Iterable[Condition | str], facts: ConditionFacts
) -> tuple[bool, list[ConditionOutcome]]:
    """Evaluate every condition (the body is parsed at most once); ok only if all of them hold."""
    resolver = Resolver(facts)
    outcomes = [
        (c if isinstance(c, Condition) else parse_condition(c))._evaluate(resolver)
        for c in conditions
    ]
    return all(o.ok for o in outcomes), outcomes


def parse_conditions(texts: list[str]) -> list[Condition]:
    """Parse each condition; the first that does not parse raises BadInput."""
    return [parse_condition(t) for t in texts]


def parse_condition(text: str) -> Condition:
    """Parse `LEFT OPERATOR RIGHT`; raise BadInput that points at the problem and says the fix."""
    if not isinstance(text, str):
        raise BadInput(f"a condition must be text, not {type(text).__name__}", OPERATORS_HINT)
    text = text.strip()
    if not text:
        raise BadInput("a condition is empty", OPERATORS_HINT)
    found = _top_level_operators(text)
    if not found:
        _no_operator(text)
    if len(found) > 1:
        _fail(
            text,
            found[1].start(),
            f"a second operator '{found[1].group(1)}': a condition makes one comparison",
            "split it into separate conditions; all of them must hold",
        )
    match = found[0]
    operator = match.group(1)
    if not text[: match.start()].strip():
        _fail(text, 0, f"nothing before '{operator}'", "write e.g. '[STATUS] == 200'")
    if not text[match.end() :].strip():
        _fail(text, len(text), f"nothing after '{operator}'", "write e.g. '[STATUS] == 200'")
    left = _operand(text, 0, match.start())
    right = _operand(text, match.end(), len(text))
    _check_pair(text, match.end(), left, operator, right)
    return Condition(text, left, operator, right)


def _top_level_operators(text: str) -> list[re.Match[str]]:
    """Operators outside parentheses, so `pat(*a == b*)` keeps its '=='; all of them when the
    parentheses do not balance (a pattern such as `pat(*:(*)`)."""
    found = list(_OPERATOR.finditer(text))
    depth, depths, balanced = 0, [], True
    for ch in text:
        depths.append(depth)
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            balanced = balanced and depth >= 0
    if not balanced or depth != 0:
        return found
    return [m for m in found if depths[m.start()] == 0]


def _no_operator(text: str) -> None:
    """Explain a condition without a spaced operator: glued, unknown, or missing."""
    for m in _GLUED.finditer(text):
        if text[: m.start()].count("(") != text[: m.start()].count(")"):
            continue
        glued = m.group(0)
        if glued in ("==", "!=", "<=", ">=", "<", ">"):
            _fail(text, m.start(), f"'{glued}' needs a space on each side", OPERATORS_HINT)
        _fail(text, m.start(), f"'{glued}' is not an operator", OPERATORS_HINT)
    gap = re.search(r"\s+(?=\S)", text)
    if gap is not None:
        _fail(text, gap.end(), "expected an operator here", OPERATORS_HINT)
    _fail(text, len(text), "expected an operator and a value after this", OPERATORS_HINT)


def _operand(text: str, start: int, end: int) -> Operand:
    raw = text[start:end]
    col = start + len(raw) - len(raw.lstrip())
    s = raw.strip()
    call = _FUNCTION.match(s)
    if call is not None:
        return _function(text, col, s, call.group(1))
    if _PLACEHOLDER.match(s):
        name, path = _placeholder(text, col, s)
        return Operand(s, "placeholder", name, path)
    return Operand(s, "literal")


def _function(text: str, col: int, s: str, name: str) -> Operand:
    if name not in _FUNCTIONS:
        _fail(
            text,
            col,
            f"unknown function {name}()",
            "the functions are len() has() pat() any(); for literal text write any(TEXT)",
        )
    if not s.endswith(")"):
        _fail(text, col + len(s), f"{name}( is never closed", f"end it with ')', e.g. {name}(...)")
    inner_col = col + len(name) + 1
    inner = s[len(name) + 1 : -1]
    if name == "pat":
        try:
            glob = compile_glob(inner)
        except GlobError as exc:
            _fail(
                text,
                inner_col + exc.offset,
                f"pat() pattern: {exc}",
                "* matches any text, ? one character, [a-z] a class, \\ escapes",
            )
        return Operand(s, "pat", glob=glob)
    if name == "any":
        return Operand(s, "any", options=tuple(o.strip() for o in inner.split(",")))
    at = inner_col + len(inner) - len(inner.lstrip())
    target = inner.strip()
    if not _PLACEHOLDER.match(target):
        _fail(
            text,
            at,
            f"{name}() takes a placeholder",
            f"e.g. {name}([BODY].items)" if name == "len" else "e.g. has([BODY].errors) == false",
        )
    placeholder, path = _placeholder(text, at, target)
    return Operand(s, name, placeholder, path)


def _placeholder(text: str, col: int, s: str) -> tuple[str, tuple[str | int, ...] | None]:
    m = _PLACEHOLDER.match(s)
    assert m is not None
    name = f"[{m.group(1).upper()}]"
    if name not in PLACEHOLDERS:
        _fail(
            text,
            col,
            f"unknown placeholder {m.group(0)}",
            "the placeholders are " + " ".join(PLACEHOLDERS) + "; for literal text write any(TEXT)",
        )
    rest = s[m.end() :]
    if not rest:
        return name, None
    if name != BODY:
        _fail(
            text,
            col + m.end(),
            f"only [BODY] takes a path, not {name}",
            "remove the text after the placeholder, or use [BODY].key",
        )
    return name, _body_path(text, col + m.end(), rest)


def _body_path(text: str, col: int, rest: str) -> tuple[str | int, ...]:
    """`.data[0].name` -> ("data", 0, "name"), like Gatus's jsonpath: dots split keys, [n] indexes."""
    if rest[0] not in ".[":
        _fail(text, col, "after [BODY] write .key or [index]", "e.g. [BODY].status or [BODY][0].id")
    steps: list[str | int] = []
    i = 1 if rest[0] == "." else 0
    while True:
        key_start = i
        while i < len(rest) and rest[i] not in ".[]":
            i += 1
        key = rest[key_start:i]
        if key:
            steps.append(key)
        indexed = False
        while i < len(rest) and rest[i] == "[":
            close = rest.find("]", i)
            if close < 0:
                _fail(text, col + i, "'[' is never closed", "write an index such as [0]")
            index = rest[i + 1 : close]
            if not index.isdigit() or not index.isascii():
                _fail(
                    text,
                    col + i + 1,
                    f"array index '{index}' is not a whole number",
                    "indexes count from 0: [BODY].items[0]",
                )
            steps.append(int(index))
            indexed = True
            i = close + 1
        if not key and not indexed:
            _fail(
                text, col + i, "empty key in the path", "write keys between dots: [BODY].data.name"
            )
        if i == len(rest):
            return tuple(steps)
        if rest[i] != ".":
            _fail(text, col + i, f"unexpected '{rest[i]}' in the path", "e.g. [BODY].data[0].name")
        i += 1


def _check_pair(text: str, right_col: int, left: Operand, operator: str, right: Operand) -> None:
    """pat() and any() stand for a set of values: compared for equality, against a value."""
    for side, col in ((left, 0), (right, right_col)):
        if side.kind in ("pat", "any") and operator not in EQUALITY_OPERATORS:
            _fail(
                text,
                col + len(text[col:]) - len(text[col:].lstrip()),
                f"{side.kind}() works only with == and !=",
                f"e.g. '[STATUS] == {side.kind}(2*)'"
                if side.kind == "pat"
                else "e.g. '[STATUS] == any(200, 204)'",
            )
    if left.kind in ("pat", "any") and right.kind in ("pat", "any"):
        _fail(
            text,
            right_col + len(text[right_col:]) - len(text[right_col:].lstrip()),
            f"{right.kind}() on both sides",
            "compare a placeholder with pat() or any(), e.g. '[BODY].name == pat(j*)'",
        )


def _fail(text: str, col: int, problem: str, hint: str) -> None:
    """Raise BadInput with the condition and a caret under col; addresses in it are redacted."""
    shown, caret = _redact_keeping_column(text, col)
    pad = "".join("\t" if ch == "\t" else " " for ch in shown[:caret])
    error = BadInput(f"condition: {problem} (column {col + 1})\n    {shown}\n    {pad}^", hint)
    error.column = col  # type: ignore[attr-defined]
    raise error


def _redact_keeping_column(text: str, col: int) -> tuple[str, int]:
    """Redact word by word (the privacy patterns never span a space) so the caret still lands on
    the same word; inside a word that redaction changed it points at the word's start."""
    out: list[str] = []
    length = 0
    caret = None
    for m in re.finditer(r"\S+|\s+", text):
        piece = m.group(0)
        shown = piece if piece.isspace() else redact(piece)
        if caret is None and m.start() <= col < m.end():
            caret = length + (col - m.start() if shown == piece else 0)
        out.append(shown)
        length += len(shown)
    return "".join(out), length if caret is None else caret
