"""Gatus-compatible conditions: the cases of Gatus's own condition_test.go, our parse errors,
and properties. Pure functions on in-memory facts, so nothing here needs a server."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.checks.conditions import evaluate as conditions_eval
from engine.checks.conditions.evaluate import format_ms, go_duration_ns, go_int, to_number
from engine.checks.conditions.glob import GlobError, compile_glob
from engine.checks.conditions.parse import (
    Condition,
    ConditionFacts,
    ConditionOutcome,
    evaluate_all,
    parse_condition,
    parse_conditions,
)
from engine.core.errors import BadInput

H = 3600.0  # seconds in an hour, for the expiration facts


def run(text: str, **facts: object) -> ConditionOutcome:
    return parse_condition(text).evaluate(ConditionFacts(**facts))  # type: ignore[arg-type]


# (condition, facts, ok, description) -- mostly Gatus's condition_test.go scenarios.
GATUS_CASES = [
    ("[IP] == 127.0.0.1", {"ip": "127.0.0.1"}, True, "[IP] == 127.0.0.1"),
    ("[STATUS] == 200", {"status": 200}, True, "[STATUS] == 200"),
    ("[STATUS] == 200", {"status": 500}, False, "[STATUS] (500) == 200"),
    ("[STATUS] < 300", {"status": 201}, True, "[STATUS] < 300"),
    ("[STATUS] < 300", {"status": 404}, False, "[STATUS] (404) < 300"),
    ("[RESPONSE_TIME] < 500", {"response_time_ms": 50}, True, "[RESPONSE_TIME] < 500"),
    ("[RESPONSE_TIME] < 1s", {"response_time_ms": 50}, True, "[RESPONSE_TIME] < 1s"),
    (
        "[RESPONSE_TIME] < potato",
        {"response_time_ms": 50},
        False,
        "[RESPONSE_TIME] (50) < potato (0)",
    ),
    ("[RESPONSE_TIME] > 500", {"response_time_ms": 750}, True, "[RESPONSE_TIME] > 500"),
    ("[RESPONSE_TIME] > 1s", {"response_time_ms": 2000}, True, "[RESPONSE_TIME] > 1s"),
    ("[RESPONSE_TIME] >= 500", {"response_time_ms": 500}, True, "[RESPONSE_TIME] >= 500"),
    ("[RESPONSE_TIME] >= 500", {"response_time_ms": 499}, False, "[RESPONSE_TIME] (499) >= 500"),
    ("[RESPONSE_TIME] <= 500", {"response_time_ms": 500}, True, "[RESPONSE_TIME] <= 500"),
    ("[RESPONSE_TIME] <= 500", {"response_time_ms": 750}, False, "[RESPONSE_TIME] (750) <= 500"),
    ("[RESPONSE_TIME] < 500", {"response_time_ms": 499.9}, True, "[RESPONSE_TIME] < 500"),
    ("[BODY] == test", {"body": b"test"}, True, "[BODY] == test"),
    ("[BODY] == 123", {"body": b"123"}, True, "[BODY] == 123"),
    ("[BODY] < 124", {"body": b"123"}, True, "[BODY] < 124"),
    ("[BODY] > 123", {"body": b"100"}, False, "[BODY] (100) > 123"),
    ("[BODY].status == UP", {"body": b'{"status":"UP"}'}, True, "[BODY].status == UP"),
    ("[BODY].data.name == john", {"body": '{"data": {"id": 1, "name": "john"}}'}, True, None),
    (
        "[BODY].data.name == john",
        {"body": '{"data": {"id": 1}}'},
        False,
        "[BODY].data.name (INVALID) == john",
    ),
    (
        "len([BODY].data.name) == john",
        {"body": '{"data": {"id": 1}}'},
        False,
        "len([BODY].data.name) (INVALID) == john",
    ),
    (
        "[BODY].user.firstName == [BODY].user.lastName",
        {"body": '{"user": {"firstName": "john", "lastName": "doe"}}'},
        False,
        "[BODY].user.firstName (john) == [BODY].user.lastName (doe)",
    ),
    ("[BODY][0].id == 1", {"body": '[{"id": 1}, {"id": 2}]'}, True, None),
    ("[BODY].data == OK", {"body": '{"data": null}'}, False, "[BODY].data (INVALID) == OK"),
    (
        "[BODY].items[0] == OK",
        {"body": '{"items": [null]}'},
        False,
        "[BODY].items[0] (INVALID) == OK",
    ),
    ("[BODY].data == OK", {"body": "null"}, False, "[BODY].data (INVALID) == OK"),
    (
        "[BODY][0].name == test",
        {"body": '{"statusCode": 500}'},
        False,
        "[BODY][0].name (INVALID) == test",
    ),
    ("[BODY].data[1].id == 2", {"body": '{"data": [{"id": 1}, {"id": 2}]}'}, True, None),
    ("[BODY].data > 0", {"body": '{"data": "0x1"}'}, True, None),
    ("[BODY].data == 15", {"body": '{"data": "0xF"}'}, True, None),
    ("[BODY].data == 12648243", {"body": '{"data": "0xC0ff33"}'}, True, None),
    ("[BODY].data == 0o2", {"body": '{"data": "0o2"}'}, True, None),
    ("[BODY].data == 2", {"body": '{"data": "0b0010"}'}, True, None),
    ("len([BODY].data) == 4", {"body": '{"data": "0x01"}'}, True, None),
    ("[BODY].data.id > 5", {"body": '{"data": {"id": 1}}'}, False, "[BODY].data.id (1) > 5"),
    ("[BODY].balance > 100", {"body": '{"balance": "123.40000000000005"}'}, True, None),
    ("[BODY].data.id < 5", {"body": '{"data": {"id": 10}}'}, False, "[BODY].data.id (10) < 5"),
    ("[CONNECTED] == true", {"connected": True}, True, "[CONNECTED] == true"),
    ("[CONNECTED] == true", {"connected": False}, False, "[CONNECTED] (false) == true"),
    ("[CERTIFICATE_EXPIRATION] == 0", {}, True, "[CERTIFICATE_EXPIRATION] == 0"),
    (
        "[CERTIFICATE_EXPIRATION] > 2419200000",
        {"certificate_expiration_s": 60 * 24 * H},
        True,
        None,
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 2419200000",
        {"certificate_expiration_s": 14 * 24 * H},
        False,
        "[CERTIFICATE_EXPIRATION] (336h) > 2419200000",
    ),
    ("[CERTIFICATE_EXPIRATION] > 12h", {"certificate_expiration_s": 24 * H}, True, None),
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        {"certificate_expiration_s": 24 * H},
        False,
        "[CERTIFICATE_EXPIRATION] (24h) > 48h",
    ),
    ("1 == 2", {}, False, "1 == 2"),
    ("raw == raw", {}, True, "raw == raw"),
    # len()
    ("len([BODY].data.name) == 4", {"body": '{"data": {"name": "john"}}'}, True, None),
    ("len([BODY]) == 3", {"body": '[{"id": 1}, {"id": 2}, {"id": 3}]'}, True, None),
    ("len([BODY].data) == 3", {"body": '{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}'}, True, None),
    (
        "len([BODY].data) == 8",
        {"body": '{"name": "john.doe"}'},
        False,
        "len([BODY].data) (INVALID) == 8",
    ),
    ("len([BODY]) == 8", {"body": b"john.doe"}, True, None),
    ("len([BODY].name) == 8", {"body": '{"name": "john.doe"}'}, True, None),
    ("len([BODY].age) == 2", {"body": '{"age":18}'}, True, None),
    ("len([BODY].adult) == 4", {"body": '{"adult":true}'}, True, None),
    ("len([BODY][0]) == 23", {"body": '[{"age":18,"adult":true}]'}, True, None),
    ("len([BODY][0].age) == 2", {"body": '[{"age":18,"adult":true}]'}, True, None),
    ("len([BODY]) == 20", {"body": '{"name": "john.doe"}'}, True, None),
    # pat()
    ("[BODY] == pat(*john*)", {"body": '{"name": "john.doe"}'}, True, None),
    ("[BODY].name == pat(john*)", {"body": '{"name": "john.doe"}'}, True, None),
    (
        "[BODY].name == pat(bob*)",
        {"body": '{"name": "john.doe"}'},
        False,
        "[BODY].name (john.doe) == pat(bob*)",
    ),
    (
        '[BODY] == pat(*<div id="user">john.doe</div>*)',
        {
            "body": '<!DOCTYPE html><html lang="en"><body><div id="user">jane.doe</div></body></html>'
        },
        False,
        '[BODY] (<!DOCTYPE html><html lang...(truncated)) == pat(*<div id="user">john.doe</div>*)',
    ),
    (
        'pat(*<div id="user">john.doe</div>*) == [BODY]',
        {
            "body": '<!DOCTYPE html><html lang="en"><body><div id="user">jane.doe</div></body></html>'
        },
        False,
        'pat(*<div id="user">john.doe</div>*) == [BODY] (<!DOCTYPE html><html lang...(truncated))',
    ),
    ("[BODY].data == pat(*Whatever*)", {"body": '{"data": ["hello", "Whatever"]}'}, True, None),
    ("[IP] == pat(10.*)", {"ip": "10.0.0.0"}, True, None),
    ("[IP] == pat(10.*)", {"ip": "255.255.255.255"}, False, "[IP] (255.255.255.255) == pat(10.*)"),
    ("[STATUS] == pat(4*)", {"status": 404}, True, None),
    ("[STATUS] == pat(4*)", {"status": 200}, False, "[STATUS] (200) == pat(4*)"),
    # any()
    ("[BODY].name == any(john.doe, jane.doe)", {"body": '{"name": "jane.doe"}'}, True, None),
    (
        "[BODY].name == any(john.doe, jane.doe)",
        {"body": '{"name": "bob"}'},
        False,
        "[BODY].name (bob) == any(john.doe, jane.doe)",
    ),
    ("[STATUS] == any(200, 429)", {"status": 429}, True, None),
    ("any(200, 429) == [STATUS]", {"status": 429}, True, None),
    ("[STATUS] == any(200, 429)", {"status": 404}, False, "[STATUS] (404) == any(200, 429)"),
    # has()
    ("has([BODY].errors) == false", {"body": "{}"}, True, "has([BODY].errors) == false"),
    ("has([BODY].article) == true", {"body": '{\n "article": {"id": 123}\n}'}, True, None),
    (
        "has([BODY].errors) == false",
        {"body": '{"errors": ["1"]}'},
        False,
        "has([BODY].errors) (true) == false",
    ),
]


@pytest.mark.parametrize(("text", "facts", "ok", "description"), GATUS_CASES)
def test_gatus_scenarios(text: str, facts: dict, ok: bool, description: str | None) -> None:
    outcome = run(text, **facts)
    assert outcome.ok is ok
    # A holding condition reads as written; a failing one shows the actual values.
    assert outcome.description == (description or text)


# Every placeholder, holding and failing, so each one's source of facts is exercised.
PLACEHOLDER_CASES = [
    ("[STATUS] == 204", {"status": 204}, {"status": 500}, "[STATUS] (500) == 204"),
    ("[IP] == ::1", {"ip": "::1"}, {"ip": "127.0.0.1"}, "[IP] (127.0.0.1) == ::1"),
    ("[RESPONSE_TIME] < 300", {"response_time_ms": 12.7}, {"response_time_ms": 300.2}, None),
    ("[BODY] == ok", {"body": "  ok\n"}, {"body": b"nope"}, "[BODY] (nope) == ok"),
    ("[CONNECTED] == false", {"connected": False}, {"connected": True}, None),
    (
        "[CERTIFICATE_EXPIRATION] > 720h",
        {"certificate_expiration_s": 31 * 24 * H},
        {"certificate_expiration_s": 29 * 24 * H + 1800},
        "[CERTIFICATE_EXPIRATION] (696h30m) > 720h",
    ),
    (
        "[DOMAIN_EXPIRATION] > 720h",
        {"domain_expiration_s": 365 * 24 * H},
        {"domain_expiration_s": 10 * 24 * H + 15},
        "[DOMAIN_EXPIRATION] (240h0m15s) > 720h",
    ),
    ("[DNS_RCODE] == NOERROR", {"dns_rcode": "NOERROR"}, {"dns_rcode": "NXDOMAIN"}, None),
    ("[DNS_RCODE] == NXDOMAIN", {"dns_rcode": "NXDOMAIN"}, {"dns_rcode": "SERVFAIL"}, None),
]


@pytest.mark.parametrize(("text", "good", "bad", "description"), PLACEHOLDER_CASES)
def test_each_placeholder(text: str, good: dict, bad: dict, description: str | None) -> None:
    assert run(text, **good).ok
    failed = run(text, **bad)
    assert not failed.ok
    if description is not None:
        assert failed.description == description
    assert failed.description != text  # the actual value is always shown


@pytest.mark.parametrize(
    ("text", "facts", "ok"),
    [
        # len() of a non-array counts bytes, not characters or keys.
        ("len([BODY].name) == 6", {"body": '{"name": "h\u00e9llo"}'}, True),
        ("len([BODY]) == 2", {"body": "[1, 2]"}, True),
        ("len([BODY].obj) == 13", {"body": '{"obj": {"b": 1, "a": 2}}'}, True),
        ("len([IP]) == 9", {"ip": "127.0.0.1"}, True),
        # A non-number compares as 0 on either side of an ordering operator.
        ("[BODY].v < 1", {"body": '{"v": "abc"}'}, True),
        ("[BODY].v > -1", {"body": '{"v": "abc"}'}, True),
        ("[BODY].missing < 1", {"body": "{}"}, True),
        ("[BODY].v >= abc", {"body": '{"v": 0}'}, True),
        ("[BODY].v > 1", {"body": '{"v": 1.9}'}, False),  # floats truncate, like Gatus
        ("[BODY].v > 1000", {"body": '{"v": "1.5e3"}'}, True),
        # Durations on either side become milliseconds; ours also reads d and w.
        ("[CERTIFICATE_EXPIRATION] > 48h", {"certificate_expiration_s": 49 * H}, True),
        ("[CERTIFICATE_EXPIRATION] > 30d", {"certificate_expiration_s": 29 * 24 * H}, False),
        ("[CERTIFICATE_EXPIRATION] < 1w", {"certificate_expiration_s": 6 * 24 * H}, True),
        ("[CERTIFICATE_EXPIRATION] > 0", {"certificate_expiration_s": -3600.0}, False),
        ("[BODY].uptime > 1m30s", {"body": '{"uptime": "91s"}'}, True),
        ("[RESPONSE_TIME] <= 1.5s", {"response_time_ms": 1500}, True),
        # Equality: Go integers compare by value, anything else as text.
        ("[STATUS] == 0xC8", {"status": 200}, True),
        ("[BODY] == 010", {"body": "8"}, True),  # a leading 0 is octal in Go
        ("[BODY] == 08", {"body": "8"}, False),  # not octal, so compared as text
        ("[BODY] == 1_000", {"body": "1000"}, True),
        ("[BODY] == 1.0", {"body": "1"}, False),
        ("[BODY] == UP", {"body": "up"}, False),
        ("[BODY].n == 1234567", {"body": '{"n": 1234567}'}, True),
        ("[BODY].n == 5", {"body": '{"n": 5.0}'}, True),
        ("[BODY].flag == true", {"body": '{"flag": true}'}, True),
        ("[BODY].xs == [1 2]", {"body": '{"xs": [1, 2]}'}, True),
        ("[BODY].o == pat(*map?a:1?*)", {"body": '{"o": [{"a": 1}]}'}, True),
        ('[BODY].o == pat({"a":1*)', {"body": '{"o": {"b": [2], "a": 1}}'}, True),
        # INVALID equals nothing, even a catch-all pattern, so != holds.
        ("[BODY].missing == pat(*)", {"body": "{}"}, False),
        ("[BODY].missing != 5", {"body": "{}"}, True),
        # Tolerant of bodies that are not JSON.
        ("[BODY] == pat(*ok*)", {"body": b"all ok here"}, True),
        ("[BODY] == pat(*ok*)", {"body": "\u00e9 ok"}, True),
        ("[BODY] == pat(*ok*)", {"body": b"\xff\xfe ok"}, True),
        ("[BODY].status == UP", {"body": b"<html>UP</html>"}, False),
        ("[BODY].x == 1", {"body": '{"x": NaN}'}, False),
        ("has([BODY].status) == false", {"body": b"not json"}, True),
        ("has([BODY]) == false", {"body": None}, True),
        ("has([BODY]) == true", {"body": " x "}, True),
        # Paths: nested arrays, keys with odd characters, walking through a scalar is INVALID.
        ("[BODY].data[1][1] == eeeee", {"body": '{"data": [["a"], ["d", "eeeee"]]}'}, True),
        ("[BODY][3][2] == 7", {"body": "[[1, 2], [3, 4], [], [5, 6, 7]]"}, True),
        ("[BODY].a-b.c_d == 1", {"body": '{"a-b": {"c_d": 1}}'}, True),
        ("has([BODY].name.first) == false", {"body": '{"name": "john"}'}, True),
        ("has([BODY].items[5]) == false", {"body": '{"items": [1]}'}, True),
        # Placeholder names are case-insensitive, paths are not.
        ("[status] == 200", {"status": 200}, True),
        ("[Body].Status == UP", {"body": '{"Status": "UP"}'}, True),
        ("[BODY].status == UP", {"body": '{"Status": "UP"}'}, False),
        # Facts a probe does not know read as Go's zero values.
        ("[STATUS] == 0", {}, True),
        ("[CONNECTED] == false", {}, True),
        ("[IP] == pat(*)", {}, True),
        ("len([DNS_RCODE]) == 0", {}, True),
        # An operator inside pat() belongs to the pattern.
        ("[BODY] == pat(*a == b*)", {"body": "xa == by"}, True),
        ("[BODY] != pat(*a < b*)", {"body": "a > b"}, True),
        ("[BODY] == pat(*:(*)", {"body": "sad :( face"}, True),
    ],
)
def test_edge_cases(text: str, facts: dict, ok: bool) -> None:
    assert run(text, **facts).ok is ok


@pytest.mark.parametrize(
    ("text", "column", "fragment", "fix"),
    [
        ("[STATUS] ? 201", 10, "expected an operator here", "== != < > <= >="),
        ("[STATUS]==201", 9, "'==' needs a space on each side", "== != < > <= >="),
        ("[STATUS] = = 201", 10, "'=' is not an operator", "== != < > <= >="),
        ("[STATUS] =< 201", 10, "'=<' is not an operator", "== != < > <= >="),
        ("[STATUS] ==", 12, "nothing after '=='", "[STATUS] == 200"),
        ("== 200", 1, "nothing before '=='", "[STATUS] == 200"),
        ("[STATUS]", 9, "expected an operator", "== != < > <= >="),
        ("[STATUS] == 200 == 300", 17, "second operator", "separate conditions"),
        ("[STAUTS] == 200", 1, "unknown placeholder [STAUTS]", "[STATUS]"),
        ("[STATUS] == [CONTEXT].x", 13, "unknown placeholder [CONTEXT]", "any(TEXT)"),
        ("[STATUS].code == 200", 9, "only [BODY] takes a path", "[BODY].key"),
        ("[BODY]status == UP", 7, "after [BODY] write .key or [index]", "[BODY].status"),
        ("[BODY].data[x] == 1", 13, "index 'x' is not a whole number", "[0]"),
        ("[BODY].data[-1] == 1", 13, "index '-1' is not a whole number", "[0]"),
        ("[BODY].data[0 == 1", 12, "'[' is never closed", "[0]"),
        ("[BODY].a..b == 1", 10, "empty key", "[BODY].data.name"),
        ("[BODY]. == 1", 8, "empty key", "[BODY].data.name"),
        ("[BODY].a[0]b == 1", 12, "unexpected 'b'", "[BODY].data[0].name"),
        ("len([BODY].users == 100", 17, "len( is never closed", "')'"),
        ("lne([BODY]) == 3", 1, "unknown function lne()", "len() has() pat() any()"),
        ("len(5) == 1", 5, "len() takes a placeholder", "len([BODY].items)"),
        ("has(errors) == false", 5, "has() takes a placeholder", "has([BODY].errors)"),
        ("[BODY] == pat([a-]x)", 18, "']' must be escaped", "[a-z]"),
        ("[BODY] == pat([a-)", 15, "'[' is never closed", "[a-z]"),
        ("[BODY] == pat(ab[c)", 17, "'[' is never closed", "[a-z]"),
        ("[BODY] == pat(x\\)", 16, "escapes nothing", "\\ escapes"),
        ("[STATUS] < pat(4*)", 12, "pat() works only with == and !=", "[STATUS] =="),
        ("[STATUS] >= any(200, 204)", 13, "any() works only with == and !=", "any(200, 204)"),
        ("pat(a*) == any(b, c)", 12, "any() on both sides", "pat(j*)"),
        ("   ", 1, "empty", "[STATUS] == 200"),
    ],
)
def test_parse_errors_point_at_the_problem(text: str, column: int, fragment: str, fix: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_condition(text)
    err = caught.value
    assert fragment in err.message
    assert fix in (err.hint or "")
    assert err.exit_code == 2
    stripped = text.strip()
    if stripped:
        assert f"(column {column})" in err.message
        assert err.column == column - 1  # type: ignore[attr-defined]
        _, shown, caret = err.message.split("\n")
        assert shown.strip() == stripped  # the condition as written ...
        assert caret.index("^") - shown.index(stripped[0]) == column - 1  # ... caret under it


def test_parse_error_redacts_addresses_but_keeps_the_caret() -> None:
    with pytest.raises(BadInput) as caught:
        parse_condition("[IP] == 10.1.2.3 != x")
    text = str(caught.value)
    assert "10.1.2.3" not in text and "<ip>" in text
    _, shown, caret = caught.value.message.split("\n")
    assert shown[caret.index("^") :].startswith("!= x")


@pytest.mark.parametrize(
    "text",
    [
        "[STATUS] == 200",
        "[STATUS] != 200",
        "[STATUS] <= 200",
        "[STATUS] >= 200",
        "[STATUS] < 200",
        "[STATUS] > 200",
        "[STATUS] == any(200, 201, 202, 203)",
        "[STATUS] == [BODY].status",
        "[BODY].test.wat == wat",
        "[BODY].users[0].id == 1",
        "len([BODY].users) == 100",
        "has([BODY].users[0].name) == true",
        "[DOMAIN_EXPIRATION] > 720h",
        "  [STATUS]\t==  200 ",
        "[BODY] == any([ERROR] disk full)",
    ],
)
def test_valid_conditions_parse(text: str) -> None:
    condition = parse_condition(text)
    assert condition.text == text.strip()
    assert condition.operator in ("==", "!=", "<=", ">=", "<", ">")


def test_bracketed_literal_text_is_compared_literally() -> None:
    assert run("[BODY] == any([ERROR] disk full)", body="[ERROR] disk full").ok
    assert not run("[BODY] == any([ERROR] disk full)", body="[ERROR] disk").ok


def test_condition_is_frozen_and_reports_its_placeholders() -> None:
    condition = parse_condition("len([BODY].items) > [STATUS]")
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.text = "x"  # type: ignore[misc]
    assert condition.placeholders == {"[BODY]", "[STATUS]"}
    assert parse_condition("raw == raw").placeholders == frozenset()
    assert isinstance(condition, Condition)


def test_parse_conditions_parses_all_and_stops_at_the_first_bad_one() -> None:
    parsed = parse_conditions(["[STATUS] == 200", "[BODY].ok == true"])
    assert [c.text for c in parsed] == ["[STATUS] == 200", "[BODY].ok == true"]
    with pytest.raises(BadInput, match="unknown placeholder"):
        parse_conditions(["[STATUS] == 200", "[NOPE] == 1"])


def test_evaluate_all_requires_every_condition() -> None:
    conds = parse_conditions(["[STATUS] == 200", "[BODY].status == UP", "[RESPONSE_TIME] < 300"])
    facts = ConditionFacts(status=200, body=b'{"status": "UP"}', response_time_ms=120.0)
    ok, outcomes = evaluate_all(conds, facts)
    assert ok and [o.ok for o in outcomes] == [True, True, True]
    facts.response_time_ms = 450.0
    ok, outcomes = evaluate_all(conds, facts)
    assert not ok
    assert [o.description for o in outcomes if not o.ok] == ["[RESPONSE_TIME] (450) < 300"]
    assert evaluate_all([], facts) == (True, [])
    ok, outcomes = evaluate_all(["[STATUS] == 200"], facts)  # text is parsed on the way
    assert ok and outcomes == [ConditionOutcome(True, "[STATUS] == 200")]


def test_body_json_is_parsed_once_per_evaluate_all(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_loads = json.loads

    def counting_loads(text: str, **kw: object) -> object:
        calls.append(text)
        return real_loads(text, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(conditions_eval.json, "loads", counting_loads)
    conds = parse_conditions(
        ["[BODY].a == 1", "len([BODY].b) == 2", "has([BODY].c) == false", "[BODY].a < 5"]
    )
    ok, _ = evaluate_all(conds, ConditionFacts(body=b'{"a": 1, "b": [1, 2]}'))
    assert ok and len(calls) == 1
    evaluate_all(conds, ConditionFacts(body=b"not json at all"))
    assert len(calls) == 2  # a body that is not JSON is also tried only once
    evaluate_all(parse_conditions(["[STATUS] == 200", "[BODY] == x"]), ConditionFacts(body="x"))
    assert len(calls) == 2  # no path, no parse


def test_long_values_are_cut_in_the_description() -> None:
    outcome = run("[BODY] == short", body="x" * 5000)
    assert not outcome.ok
    assert outcome.description == f"[BODY] ({'x' * 200}...(truncated)) == short"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [  # Gatus's pattern_test.go, then Go filepath.Match syntax
        ("*", "livingroom_123", True),
        ("**", "livingroom_123", True),
        ("living*", "livingroom_123", True),
        ("*living*", "livingroom_123", True),
        ("*123", "livingroom_123", True),
        ("living*_*3", "livingroom_123", True),
        ("living*room_*3", "livingroom_123", True),
        ("*vin*om*2*", "livingroom_123", True),
        ("livingroom_123", "livingroom_123", True),
        ("*livingroom_123*", "livingroom_123", True),
        ("*test*", "\\test", True),
        ("livingroom", "livingroom_123", False),
        ("*what*", "livingroom_123", False),
        ("*.*", "livingroom_123", False),
        ("room*123", "livingroom_123", False),
        ("a*a", "a", False),
        ("a*b*a", "aba", True),
        ("a*b*a", "ab", False),
        ("h?llo", "hello", True),
        ("h?llo", "hllo", False),
        ("[a-c]at", "bat", True),
        ("[^a-c]at", "bat", False),
        ("[^a-c]at", "rat", True),
        ("\\*x", "*x", True),
        ("\\*x", "ax", False),
        ("[\\]]", "]", True),
        ("*/api/*", "https://host/api/v1", True),  # '/' is dropped from both sides
        ("line1*line2", "line1\nline2", True),
        ("[z-a]", "q", False),
        ("[^z-a]", "q", True),
    ],
)
def test_glob(pattern: str, text: str, matches: bool) -> None:
    assert compile_glob(pattern).match(text) is matches


def test_glob_errors_carry_their_offset() -> None:
    with pytest.raises(GlobError) as caught:
        compile_glob("ab/c[x")
    assert caught.value.offset == 4


def test_glob_stays_fast_on_a_large_body() -> None:
    body = "ab" * 500_000
    started = time.perf_counter()
    assert not compile_glob("*a*b*a*b*c*").match(body)
    assert compile_glob("*a?a*b*[b]").match(body + "aab")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        ("0x2A", 42),
        ("0o52", 42),
        ("0b101010", 42),
        ("052", 42),
        ("1_000", 1000),
        ("0x_1f", 31),
        ("0", 0),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("08", None),
        ("1__0", None),
        ("_1", None),
        ("1_", None),
        ("1.0", None),
        (" 1", None),
        ("", None),
        ("0x", None),
    ],
)
def test_go_int(text: str, value: int | None) -> None:
    assert go_int(text) == value


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("48h", 48 * 3600 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("250ms", 250_000_000),
        ("10us", 10_000),
        ("-2m", -120 * 10**9),
        ("0", 0),
        ("2d", 2 * 86400 * 10**9),
        ("1w", 7 * 86400 * 10**9),
        ("10", None),
        ("h", None),
        (".s", None),
        ("1hx", None),
        ("48H", None),
        ("1000000000h", None),  # past Go's 290-year limit
    ],
)
def test_go_duration(text: str, ns: int | None) -> None:
    assert go_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (999, "0s"),
        (10_000, "10s"),
        (80_000, "1m20s"),
        (14 * 24 * 3600 * 1000, "336h"),
        (5400 * 1000, "1h30m"),
        (3615 * 1000, "1h0m15s"),
        (-24 * 3600 * 1000, "-24h"),
    ],
)
def test_format_ms(ms: int, text: str) -> None:
    assert format_ms(ms) == text


@given(st.integers(min_value=0, max_value=999))
def test_status_equality_property(status: int) -> None:
    facts = ConditionFacts(status=status)
    assert parse_condition(f"[STATUS] == {status}").evaluate(facts).ok
    failed = parse_condition(f"[STATUS] != {status}").evaluate(facts)
    assert not failed.ok
    assert failed.description == f"[STATUS] ({status}) != {status}"


@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1))
def test_ordering_matches_integer_order(a: int, b: int) -> None:
    facts = ConditionFacts(body=str(a))
    for op, expected in (("<", a < b), ("<=", a <= b), (">", a > b), (">=", a >= b)):
        assert parse_condition(f"[BODY] {op} {b}").evaluate(facts).ok is expected
    assert parse_condition(f"[BODY] == {b}").evaluate(facts).ok is (a == b)
    assert to_number(hex(a)) == a


_PLAIN = st.text(st.characters(blacklist_characters="*?[]\\/", blacklist_categories=("Cs",)))


@given(_PLAIN, _PLAIN)
def test_star_pattern_is_substring_search(needle: str, haystack: str) -> None:
    assert compile_glob(f"*{needle}*").match(haystack) is (needle in haystack)
    assert compile_glob(needle).match(haystack) is (needle == haystack)
    assert compile_glob(f"{needle}*").match(haystack) is haystack.startswith(needle)
