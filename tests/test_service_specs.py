"""The service kinds' specs: forms, default ports, options in the query or as --option, one-line
errors for what cannot work, and the password masked wherever a spec is shown."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.checks.options import check_options
from engine.checks.service_specs import SCHEMES
from engine.checks.specs import parse_spec
from engine.core.domain import TargetRecord
from engine.core.errors import BadInput
from engine.core.spec_secrets import mask_spec, restore_password, spec_password


@pytest.mark.parametrize(
    ("text", "kind", "host", "port"),
    [
        ("postgres://u:p@db.internal/app", "postgres", "db.internal", 5432),
        ("postgresql://db.internal:6543/app?query=SELECT 2", "postgres", "db.internal", 6543),
        ("mysql://root@10.0.0.5/app", "mysql", "10.0.0.5", 3306),
        ("mariadb://root@10.0.0.5:3307", "mysql", "10.0.0.5", 3307),
        ("redis://:pw@cache/2?info=role", "redis", "cache", 6379),
        ("rediss://cache:6380/0", "redis", "cache", 6380),
        ("mqtt://broker", "mqtt", "broker", 1883),
        ("mqtts://broker?topic=a/b", "mqtt", "broker", 8883),
        ("amqp://guest:guest@mq/vh?queue=jobs", "amqp", "mq", 5672),
        ("amqps://guest:guest@mq/", "amqp", "mq", 5671),
        ("nats://[::1]:4222?subject=x", "nats", "::1", 4222),
        ("smtp://mail?starttls=true&min_days=7", "smtp", "mail", 25),
        ("smtps://mail", "smtp", "mail", 465),
        ("ssh://host?fingerprint=SHA256:abc", "ssh", "host", 22),
        ("udp://127.0.0.1:9999?send=ping&expect=pong", "udp", "127.0.0.1", 9999),
        ("systemd://nginx.service", "systemd", "nginx.service", None),
        ("systemd://nginx", "systemd", "nginx.service", None),
        ("docker://web-1", "docker", "web-1", None),
    ],
)
def test_forms(text: str, kind: str, host: str, port: int | None) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.host, spec.port) == (kind, host, port)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("postgres://", "no host"),
        ("postgres://db?nope=1", "unknown option 'nope'"),
        ("postgres://db?sslmode=maybe", "sslmode='maybe' is unknown"),
        ("postgres://db?in_recovery=perhaps", "is not true or false"),
        ("postgres://db?max_replication_lag_s=soon", "is not a number"),
        ("mysql://db:99999", "not a number from 1 to 65535"),
        ("redis://cache/zero", "is not a number"),
        ("udp://host?send=x", "no port"),
        ("udp://host:53", "nothing to send"),
        ("smtp://mail?min_days=-1", "out of range"),
        ("ssh://host?fingerprint=abc", "must name its hash"),
        ("mqtt://broker/path", "takes no path"),
        ("systemd://", "no unit name"),
        ("docker://", "no container"),
        ("docker://web?socket=relative.sock", "absolute path"),
    ],
)
def test_errors_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_spec(text)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_options_are_typed_and_checked() -> None:
    assert check_options("postgres", {"in_recovery": "false", "query": "SELECT 2"}) == {
        "in_recovery": False,
        "query": "SELECT 2",
    }
    assert check_options("smtp", {"starttls": "yes", "min_days": "7"}) == {
        "starttls": True,
        "min_days": 7.0,
    }
    with pytest.raises(BadInput, match="did you mean 'queue'"):
        check_options("amqp", {"queeu": "jobs"})


def test_password_masking_and_restoring() -> None:
    raw = "amqp://guest:zebra-secret@127.0.0.1:5672/?queue=jobs"
    assert mask_spec(raw) == "amqp://guest:***@127.0.0.1:5672/?queue=jobs"
    assert mask_spec("redis://:pw@cache/0") == "redis://:***@cache/0"
    for untouched in ("tcp://h:1", "postgres://user@db/app", "cmd:/bin/echo a:b@c", "h:1"):
        assert mask_spec(untouched) == untouched
    assert spec_password(raw) == "zebra-secret"
    edited = "amqp://guest:***@10.0.0.9:5672/?queue=jobs"
    assert restore_password(edited, raw) == "amqp://guest:zebra-secret@10.0.0.9:5672/?queue=jobs"
    assert restore_password("amqp://guest:new@h/", raw) == "amqp://guest:new@h/"
    rec = TargetRecord(id="t1", name="mq", spec_text=raw, kind="amqp")
    assert "zebra-secret" not in str(rec.public())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(sorted(SCHEMES)),
    rest=st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
    | st.from_regex(r"[a-z:@/\[\]0-9.?=&%]{0,40}", fullmatch=True),
)
def test_any_text_after_a_service_scheme_parses_or_says_why(scheme: str, rest: str) -> None:
    """Whatever follows the scheme: a spec, or one BadInput line, never another exception."""
    try:
        spec = parse_spec(f"{scheme}://{rest}")
    except BadInput as exc:
        assert "\n" not in str(exc)
        return
    assert spec.kind == SCHEMES[scheme]
    assert mask_spec(spec.raw).count(":***@") <= 1
