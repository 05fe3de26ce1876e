"""CHANNEL:ADDRESS parsing for `sysalert contacts add NAME CHANNEL:ADDRESS`."""

from __future__ import annotations

import pytest

from engine.core.errors import BadInput
from engine.notify.channels import (
    ADDRESS_CHANNELS,
    CHANNELS,
    EXAMPLES,
    parse_contact_address,
    validate_address,
)

PD_KEY = "0123456789abcdef0123456789ABCDEF"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "webhook:https://ops.example.com/hooks/sysalert",
            ("webhook", "https://ops.example.com/hooks/sysalert"),
        ),
        (
            "webhook:http://127.0.0.1:8080/h?format=alertmanager",
            ("webhook", "http://127.0.0.1:8080/h?format=alertmanager"),
        ),
        ("  WEBHOOK:https://x.example/h  ", ("webhook", "https://x.example/h")),
        (
            "slack:https://hooks.slack.com/services/T000/B000/XXXX",
            ("slack", "https://hooks.slack.com/services/T000/B000/XXXX"),
        ),
        (
            "discord:https://discord.com/api/webhooks/123/ab-CD_ef",
            ("discord", "https://discord.com/api/webhooks/123/ab-CD_ef"),
        ),
        ("email:ops@example.com", ("email", "ops@example.com")),
        ("email:Ops.Team+alerts@Example.COM", ("email", "Ops.Team+alerts@example.com")),
        ("mailto:ops@example.com", ("email", "ops@example.com")),
        (f"pagerduty:{PD_KEY}", ("pagerduty", PD_KEY)),
        ("apprise:json://127.0.0.1:8080/hook", ("apprise", "json://127.0.0.1:8080/hook")),
        ("apprise:ntfy://ntfy.sh/my-topic", ("apprise", "ntfy://ntfy.sh/my-topic")),
        ("telegram:123456789", ("telegram", "123456789")),
        ("telegram:-1001234567890", ("telegram", "-1001234567890")),
        ("telegram:@Ops_Team", ("telegram", "@ops_team")),
        ("telegram:ops_team", ("telegram", "@ops_team")),
        ("telegram:+15551234567", ("telegram", "+15551234567")),
        ("telegram:+1 (555) 123-4567", ("telegram", "+15551234567")),
    ],
)
def test_every_form_is_accepted_and_normalised(text: str, expected: tuple[str, str]) -> None:
    assert parse_contact_address(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ops@example.com", "CHANNEL:ADDRESS"),
        ("https://hooks.slack.com/services/T/B/X", "which channel"),
        ("fax:+15551234567", "unknown channel"),
        ("webhook:", "empty"),
        ("webhook:ftp://files.example.com/x", "http:// or https://"),
        ("webhook:https:///nohost", "no host"),
        ("webhook:https://x.example:99999/h", "port"),
        ("webhook:https://x.example/h?format=xml", "format="),
        ("slack:https://hooks.slack.com/other/T/B/X", "/services/"),
        ("slack:https://mattermost.example.org/hooks/abc", "hooks.slack.com"),
        ("slack:http://hooks.slack.com/services/T/B/X", "hooks.slack.com"),
        ("discord:https://discord.com/channels/1/2", "/api/webhooks/"),
        ("email:not-an-address", "name@domain.tld"),
        ("email:ops@localhost", "name@domain.tld"),
        ("email:a@b.com,c@d.com", "name@domain.tld"),
        ("pagerduty:tooshort", "32 letters and digits"),
        ("pagerduty:" + "x" * 31 + "!", "32 letters and digits"),
        ("apprise:just-text", "scheme://"),
        ("apprise:nosuchservice://secret-token@host", "does not accept"),
        ("telegram:@abc", "username"),
        ("telegram:@1abcdef", "username"),
        ("telegram:@abcdef_", "username"),
        ("telegram:@abc__def", "double underscore"),
        ("telegram:+123", "phone number"),
        ("telegram:0", "cannot be 0"),
    ],
)
def test_bad_addresses_are_refused_with_what_and_an_example(text: str, says: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_contact_address(text)
    err = info.value
    assert says in str(err)
    assert err.exit_code == 2
    assert err.hint and ("example" in err.hint or "write" in err.hint or "use" in err.hint)


@pytest.mark.parametrize(
    "text",
    [
        "apprise:nosuchservice://secret-token@host",
        "webhook:https://x.example/h?format=xml&token=secret-token",
        "pagerduty:secret-token",
    ],
)
def test_errors_never_echo_the_secret(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_contact_address(text)
    assert "secret-token" not in str(info.value)


def test_validate_address_and_registry() -> None:
    assert validate_address("Email", " ops@example.com ") == "ops@example.com"
    with pytest.raises(BadInput, match="unknown channel"):
        validate_address("sms", "+15551234567")
    assert {"webhook", "slack", "discord", "email", "pagerduty", "apprise"} <= CHANNELS
    assert set(EXAMPLES) == set(ADDRESS_CHANNELS) and "telegram" in ADDRESS_CHANNELS
    for channel, example in EXAMPLES.items():
        # Every example we print must itself be accepted.
        assert parse_contact_address(example.split(" ")[0].rstrip(","))[0] == channel
