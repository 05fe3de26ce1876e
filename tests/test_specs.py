"""The one spec parser: every DESIGN section 8 form accepted, every bad one refused with a message."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.checks.specs import TargetSpec, parse_spec
from engine.core.errors import BadInput


@pytest.mark.parametrize(
    ("text", "kind", "host", "port"),
    [
        ("tcp://db.internal:5432", "tcp", "db.internal", 5432),
        ("tcp://10.0.0.5:22", "tcp", "10.0.0.5", 22),
        ("tcp://[2001:db8::1]:443", "tcp", "2001:db8::1", 443),
        ("10.0.0.5:22", "tcp", "10.0.0.5", 22),
        ("db.internal:5432", "tcp", "db.internal", 5432),
        ("[2001:db8::1]:443", "tcp", "2001:db8::1", 443),
        ("http://example.org", "http", "example.org", 80),
        ("https://example.org/health", "http", "example.org", 443),
        ("https://secret-panel.example.org:8443/healthz", "http", "secret-panel.example.org", 8443),
        ("https://[2001:db8::1]:8443/x?a=1", "http", "2001:db8::1", 8443),
        ("HTTPS://Example.org/", "http", "Example.org", 443),
        ("icmp://10.0.0.1", "icmp", "10.0.0.1", None),
        ("icmp://[::1]", "icmp", "::1", None),
        ("icmp://router.lan?count=3&max_loss=10&max_rtt=200", "icmp", "router.lan", None),
        ("ping://router.lan", "icmp", "router.lan", None),
        ("tls://example.org:443?min_days=14", "tls", "example.org", 443),
        ("tls://example.org", "tls", "example.org", 443),
        ("tls://mail.example.org:993?servername=imap.example.org", "tls", "mail.example.org", 993),
    ],
)
def test_network_forms(text: str, kind: str, host: str, port: int | None) -> None:
    spec = parse_spec(text)
    raw = (
        text if "://" in text else "tcp://" + text
    )  # a bare HOST:PORT is stored as its tcp:// form
    assert (spec.kind, spec.host, spec.port, spec.raw) == (kind, host, port, raw)


def test_http_keeps_the_url() -> None:
    spec = parse_spec("https://example.org/health?x=1")
    assert spec.url == "https://example.org/health?x=1"
    assert spec.default_name() == "example.org"


@pytest.mark.parametrize(
    ("text", "rtype", "extra"),
    [
        ("dns://example.org", "A", {}),
        ("dns://example.org?type=A&expect=1.2.3.4", "A", {"expect": "1.2.3.4"}),
        ("dns://example.org?type=aaaa", "AAAA", {}),
        ("dns://example.org?type=MX&expect=mx.example.org", "MX", {"expect": "mx.example.org"}),
        ("dns://example.org?type=TXT&server=127.0.0.1:5353", "TXT", {"server": "127.0.0.1:5353"}),
    ],
)
def test_dns_forms(text: str, rtype: str, extra: dict[str, str]) -> None:
    spec = parse_spec(text)
    assert spec.kind == "dns" and spec.host == "example.org"
    assert spec.params == {"type": rtype, **extra}


def test_tls_min_days_param() -> None:
    assert parse_spec("tls://example.org:443?min_days=14").param_float("min_days") == 14.0


def test_command_forms() -> None:
    spec = parse_spec("cmd:/opt/very-secret-script --token s3cr3t")
    assert spec.kind == "command" and spec.argv == ("/opt/very-secret-script", "--token", "s3cr3t")
    assert parse_spec("cmd: /bin/check 'two words'").argv == ("/bin/check", "two words")
    assert spec.default_name() == "very-secret-script"


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ("heartbeat://nightly-backup?every=1d&grace=1h", {"every": "1d", "grace": "1h"}),
        ("heartbeat://hb?every=5m&grace=1m", {"every": "5m", "grace": "1m"}),
        (
            "heartbeat://job?cron=0 3 * * *&tz=Europe/Berlin&grace=1h",
            {"cron": "0 3 * * *", "tz": "Europe/Berlin", "grace": "1h"},
        ),
        ("heartbeat://job?cron=0%203%20*%20*%20*&tz=UTC", {"cron": "0 3 * * *", "tz": "UTC"}),
        ("heartbeat://job?every=1h&schedule=business", {"every": "1h", "schedule": "business"}),
    ],
)
def test_heartbeat_forms(text: str, params: dict[str, str]) -> None:
    spec = parse_spec(text)
    assert spec.kind == "heartbeat" and spec.params == params
    assert spec.default_name() == spec.host


def test_heartbeat_durations() -> None:
    spec = parse_spec("heartbeat://b?every=1d&grace=1h")
    assert spec.param_duration("every") == 86400 and spec.param_duration("grace") == 3600


@pytest.mark.parametrize(
    ("text", "metric", "params", "name"),
    [
        ("system://cpu?max=90", "cpu", {"max": "90"}, "cpu"),
        ("system://memory", "memory", {}, "memory"),
        ("system://disk:/", "disk", {"path": "/"}, "disk /"),
        ("system://disk:/var?max=80", "disk", {"max": "80", "path": "/var"}, "disk /var"),
        ("system://disk", "disk", {"path": "/"}, "disk /"),
        ("system://load?max=4", "load", {"max": "4"}, "load"),
        ("system://load?max=400", "load", {"max": "400"}, "load"),  # % of cores: 4 busy cores
        ("system://swap?max=50", "swap", {"max": "50"}, "swap"),
    ],
)
def test_system_forms(text: str, metric: str, params: dict[str, str], name: str) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.metric, spec.params, spec.default_name()) == (
        "system",
        metric,
        params,
        name,
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty target spec"),
        ("   ", "empty target spec"),
        ("tcp://:80", "no host"),
        ("https://", "no host"),
        ("dns://?type=A", "no host"),
        ("tcp://nohost", "no port"),
        ("tcp://host:99999", "is not a number from 1 to 65535"),
        ("tcp://host:0", "is not a number from 1 to 65535"),
        ("tcp://host:abc", "is not a number from 1 to 65535"),
        ("https://example.org:70000/", "is not a number from 1 to 65535"),
        ("tcp://[::1", "unclosed ["),
        ("tcp://bad_host!:80", "not a valid host name"),
        ("foo://x", "scheme 'foo' is unknown"),
        ("justtext", "no scheme"),
        ("dns://example.org?type=BOGUS", "record type 'BOGUS' is not supported"),
        ("dns://example.org?server=1.1.1.1:99999", "is not a number from 1 to 65535"),
        ("heartbeat://x?every=soon", "every 'soon' is not a duration"),
        ("heartbeat://x?grace=1y", "grace '1y' is not a duration"),
        ("heartbeat://x?tz=Mars/Olympus", "time zone 'Mars/Olympus' is unknown"),
        ("heartbeat://x?cron=bad", "cron 'bad' does not parse"),
        ("heartbeat://x?schedule=sometimes", "schedule 'sometimes' is unknown"),
        ("heartbeat://", "no heartbeat name"),
        ("tls://h?bogus=1", "unknown option 'bogus'"),
        ("tcp://host:80?x=1", "unknown option 'x'"),
        ("tls://h?min_days=abc", "is not a number"),
        ("icmp://h:22", "ICMP has no port"),
        ("icmp://h?count=many", "is not a number"),
        ("system://gpu", "system metric 'gpu' is unknown"),
        ("system://cpu:/x", "cpu takes no path"),
        ("system://cpu?max=hot", "is not a number"),
        # A bound no reading can cross alerts forever (or never): refused when added.
        ("system://cpu?max=-5", "max=-5 is out of range"),
        ("system://memory?min=200", "min=200 is out of range"),
        ("system://disk:/?max=1e308", "max=1e308 is out of range"),
        ("system://load?max=-1", "max=-1 is out of range"),
        ("tls://h?min_days=-5", "min_days=-5 is out of range"),
        ("tls://h?min_days=1e308", "min_days=1e308 is out of range"),
        ("cmd:", "no command"),
        ("cmd:'unclosed", "does not split into words"),
    ],
)
def test_bad_specs_are_refused_with_a_message(text: str, says: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_spec(text)
    assert says in info.value.message
    assert info.value.hint, "every refusal says how to fix it"
    assert info.value.exit_code == 2


@given(
    host=st.one_of(
        st.ip_addresses(v=4).map(str),
        st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True),
    ),
    port=st.integers(1, 65535),
)
def test_tcp_round_trip(host: str, port: int) -> None:
    spec = parse_spec(f"tcp://{host}:{port}")
    assert isinstance(spec, TargetSpec) and (spec.host, spec.port) == (host, port)
    assert parse_spec(f"{host}:{port}").kind == "tcp"


@given(addr=st.ip_addresses(v=6), port=st.integers(1, 65535))
def test_ipv6_round_trip(addr: ipaddress.IPv6Address, port: int) -> None:
    spec = parse_spec(f"tcp://[{addr}]:{port}")
    assert ipaddress.ip_address(spec.host) == addr and spec.port == port


@pytest.mark.parametrize(
    "text",
    [
        "system://cpu?min=101",
        "tls://h?min_days=-5",
        "icmp://h?count=0",
        "system://load?max=-1",
        "http://h/a b",
    ],
)
def test_a_stored_spec_keeps_running_when_a_range_was_tightened_since(text: str) -> None:
    """Ranges are checked when a target is added or edited; one stored before a range existed
    still parses (it used to raise at every check: a traceback per interval, state unknown)."""
    from engine.core.domain import TargetRecord

    with pytest.raises(BadInput):
        parse_spec(text)
    rec = TargetRecord(id="t1", name="old", spec_text=text, kind=text.split(":", 1)[0])
    assert rec.spec.raw == text
