"""Probe options (`--option KEY=VALUE`, `options = {...}` in config and imports): which options a
kind takes and of what type, checked once when a target is built.

From the command line every value is a string, so `follow_redirects=false` must be read as false
here (a probe's `bool("false")` is True), and a mistyped key must be an error instead of an option
that silently does nothing. `header.NAME=VALUE` builds the `headers` table, which the CLI cannot
write as a table.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from typing import Any

from engine.core.errors import BadInput
from engine.core.limits import (
    HEADER_NAME_MAX,
    HEADER_VALUE_MAX,
    HEADERS_MAX,
    LATENCY_MS,
    OPTION_MAX,
    OPTIONS_MAX,
    check_count,
    check_number,
    check_text,
)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadInput(f"option {key}={value!r} is not true or false", f"e.g. {key}=false")


def _number(key: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise BadInput(f"option {key}={value!r} is not a number", f"e.g. {key}=500") from None


def _latency(key: str, value: Any) -> float:
    return check_number(_number(key, value), f"option {key}", LATENCY_MS)


def _text(key: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise BadInput(f"option {key} must be text, not a table or list", f"e.g. {key}=ok")
    return check_text(str(value), f"option {key}", OPTION_MAX, empty_ok=True, strip=False)


def _regex(key: str, value: Any) -> str:
    text = _text(key, value)
    try:
        re.compile(text)
    except re.error as exc:
        raise BadInput(
            f"option {key}={text!r} does not compile: {exc}", "check the pattern"
        ) from None
    return text


def _method(key: str, value: Any) -> str:
    method = _text(key, value).strip().upper()
    if method not in _METHODS:
        raise BadInput(f"option method={value!r} is not an HTTP method", "e.g. method=POST")
    return method


def _headers(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadInput(
            "option headers must be a table of name = value",
            "on the command line: --option header.Authorization='Bearer …'",
        )
    return check_headers(value)


def check_headers(headers: dict[Any, Any]) -> dict[str, str]:
    """At most HEADERS_MAX headers; names and values bounded and free of control characters
    (a CR or LF in a value would write a header of its own)."""
    check_count(headers, "headers", HEADERS_MAX)
    return {
        check_text(str(k), "header name", HEADER_NAME_MAX): check_text(
            str(v), f"header {str(k)[:40]!r}", HEADER_VALUE_MAX, empty_ok=True
        )
        for k, v in headers.items()
    }


def _body(key: str, value: Any) -> Any:
    """Text, or a table/list sent as JSON; bounded like any option, and valid text."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise BadInput(
            f"option {key} is not valid text or JSON", "send UTF-8 text or a plain table"
        ) from None
    if len(text) > OPTION_MAX:
        raise BadInput(
            f"option {key} is {len(text)} characters long", f"keep it to at most {OPTION_MAX}"
        )
    return value


def _expect_status(key: str, value: Any) -> Any:
    from engine.checks.probes.http import parse_expect_status

    parse_expect_status(value)  # raises BadInput with its own example
    return value


_HTTP: dict[str, Callable[[str, Any], Any]] = {
    "method": _method,
    "headers": _headers,
    "body": _body,
    "expect_status": _expect_status,
    "keyword": _text,
    "keyword_absent": _text,
    "regex": _regex,
    "json_path": _text,
    "json_equals": _body,
    "max_latency_ms": _latency,
    "follow_redirects": _bool,
    "verify_tls": _bool,
}
SCHEMA: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "http": _HTTP,
    "tls": {"verify_tls": _bool, "min_days": _number},
    "command": {"nagios": _bool, "max": _number, "min": _number},
    "system": {"max": _number, "min": _number},
    # the service kinds (engine/checks/service_specs.py): the same keys work in the spec's query
    "postgres": {
        "query": _text,
        "sslmode": _text,
        "max_replication_lag_s": _number,
        "in_recovery": _bool,
    },
    "mysql": {"query": _text, "ssl": _bool, "max_replication_lag_s": _number},
    "redis": {"info": _text},
    "mqtt": {"topic": _text},
    "amqp": {"queue": _text},
    "nats": {"subject": _text, "payload": _text, "expect": _text},
    "smtp": {"starttls": _bool, "min_days": _number, "verify_tls": _bool},
    "ssh": {"fingerprint": _text},
    "udp": {"send": _text, "expect": _text},
    "systemd": {"max_restarts": _number},
    "docker": {"socket": _text, "max_restarts": _number},
}


def flag(options: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean option as a probe reads it: also a string stored before options were checked
    (`"false"` is false)."""
    value = options.get(key, default)
    return value if isinstance(value, bool) else str(value).strip().lower() not in _FALSE


def check_options(kind: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The options with their values read as their types; BadInput names a bad key or value."""
    if not options:
        return {}
    if not isinstance(options, dict):
        raise BadInput("options must be a table of name = value", "e.g. method=POST")
    check_count(options, "options", OPTIONS_MAX)
    known = SCHEMA.get(kind, {})
    out: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for key, value in options.items():
        key = check_text(str(key), "option name", HEADER_NAME_MAX)
        if key.lower().startswith("header.") and "headers" in known:
            name = key[7:].strip()
            if not name:
                raise BadInput("option header. needs a header name", "e.g. header.Accept=*/*")
            headers[name] = str(value)
            continue
        check = known.get(key)
        if check is None:
            if not known:
                raise BadInput(f"{kind} targets take no options (got {key!r})", "remove the option")
            close = difflib.get_close_matches(key, list(known), n=1)
            raise BadInput(
                f"{kind} targets have no option {key!r}",
                f"did you mean {close[0]!r}?" if close else f"options: {', '.join(known)}",
            )
        out[key] = check(key, value)
    if headers:
        out["headers"] = check_headers({**out.get("headers", {}), **headers})
    if "json_equals" in out and "json_path" not in out:
        raise BadInput("option json_equals needs json_path", "e.g. json_path=status json_equals=UP")
    return out
