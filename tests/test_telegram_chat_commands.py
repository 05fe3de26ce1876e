"""Chat command parsing (every command, good and bad arguments) and the per-sender rate limiter."""

from __future__ import annotations

import pytest

from engine.core.errors import BadInput
from engine.telegram.chat_commands import (
    COMMANDS,
    BadChatCommand,
    ChatCommand,
    RateLimiter,
    help_text,
    parse_chat,
)


@pytest.mark.parametrize("text", ["ack", "ACK", "Ack.", "/ack", "👍", "👍🏽", " ack "])
def test_ack_forms_in_reply_to_an_alert(text):
    assert parse_chat(text, is_reply_to_alert=True) == ChatCommand("ack", reply_ack=True)


@pytest.mark.parametrize("text", ["ack", "/ack", "👍"])
def test_ack_without_reply_or_id_explains_how(text):
    with pytest.raises(BadChatCommand) as err:
        parse_chat(text, is_reply_to_alert=False)
    assert "reply" in err.value.reply.lower() and "/ack" in err.value.reply


def test_ack_with_incident_id():
    assert parse_chat("/ack inc-7f3a", False) == ChatCommand("ack", incident_id="inc-7f3a")
    assert parse_chat("/ack #42", True).incident_id == "42"
    assert parse_chat("/ack@SysAlertBot 42", False).incident_id == "42"
    for bad in ["/ack 42 43", "/ack <script>", "/ack " + "x" * 65]:
        with pytest.raises(BadChatCommand, match="not an incident id"):
            parse_chat(bad, False)


@pytest.mark.parametrize("name", ["status", "whoami", "start", "stats"])
def test_commands_without_arguments(name):
    assert parse_chat(f"/{name}", False) == ChatCommand(name)
    assert parse_chat(f"/{name.upper()}", True) == ChatCommand(name)
    with pytest.raises(BadChatCommand, match="takes no arguments") as err:
        parse_chat(f"/{name} please", False)
    assert err.value.reply.endswith(f"Usage: /{name}")


def test_get_and_history():
    assert parse_chat("/get web 1", False) == ChatCommand("get", target="web 1")
    assert parse_chat("/get cpu", False).target == "cpu"
    assert parse_chat("/history", False) == ChatCommand("history")
    assert parse_chat("/history db", False) == ChatCommand("history", target="db")
    with pytest.raises(BadChatCommand, match="Which target") as err:
        parse_chat("/get", False)
    assert "Usage: /get <target|benchmark|cpu>" in err.value.reply
    with pytest.raises(BadChatCommand, match="too long"):
        parse_chat("/get " + "a" * 101, False)


def test_mode():
    assert parse_chat("/mode maintenance web1", False) == ChatCommand(
        "mode", mode="maintenance", target="web1"
    )
    assert parse_chat("/mode Active ALL", False) == ChatCommand("mode", mode="active", target="all")
    with pytest.raises(BadChatCommand, match="maintenance or active"):
        parse_chat("/mode sleep web1", False)
    with pytest.raises(BadChatCommand, match="Which target"):
        parse_chat("/mode maintenance", False)
    with pytest.raises(BadChatCommand, match="Which mode"):
        parse_chat("/mode", False)


def test_delete_account_needs_a_confirmation_step():
    assert parse_chat("/delete_account", False) == ChatCommand("delete_account")
    assert parse_chat("/delete_account confirm", False) == ChatCommand(
        "delete_account", confirm=True
    )
    with pytest.raises(BadChatCommand, match="confirm"):
        parse_chat("/delete_account yes", False)


@pytest.mark.parametrize("name", ["addsub", "rmsub"])
def test_subscriber_admin_commands_take_a_chat_id(name):
    assert parse_chat(f"/{name} 77441265", False) == ChatCommand(name, chat_id=77441265)
    assert parse_chat(f"/{name} -1001200300400", False).chat_id == -1001200300400
    for bad in [
        f"/{name}",
        f"/{name} @alice",
        f"/{name} 0",
        f"/{name} 12 34",
        f"/{name} 99999999999999999999",
    ]:
        with pytest.raises(BadChatCommand) as err:
            parse_chat(bad, False)
        assert f"Usage: /{name} <chat_id>" in err.value.reply


def test_addtarget_validates_the_spec_like_the_cli():
    cmd = parse_chat("/addtarget 10.0.0.5:22 ssh on db", False)
    assert (cmd.name, cmd.spec.kind, cmd.spec.port, cmd.label) == (
        "addtarget",
        "tcp",
        22,
        "ssh on db",
    )
    assert parse_chat("/addtarget https://example.org/health", False).spec.kind == "http"
    assert parse_chat("/addtarget https://example.org/health", False).label is None
    with pytest.raises(BadChatCommand, match="no port"):
        parse_chat("/addtarget tcp://db.example", False)
    with pytest.raises(BadChatCommand, match="Which target"):
        parse_chat("/addtarget", False)
    # Running commands or reading the host's own metrics is for the local operator only.
    with pytest.raises(BadChatCommand, match="console or CLI"):
        parse_chat("/addtarget cmd:/bin/true", False)
    with pytest.raises(BadChatCommand, match="console or CLI"):
        parse_chat("/addtarget system://cpu", False)


def test_setbench_accepts_cpu_http_and_tcp_only():
    assert parse_chat("/setbench cpu", False) == ChatCommand("setbench", bench="cpu")
    http = parse_chat("/setbench https://example.org/", False)
    assert (http.bench, http.spec.kind) == ("http", "http")
    assert parse_chat("/setbench 192.0.2.7:443", False).bench == "tcp"
    for bad, words in [
        ("/setbench", "one benchmark"),
        ("/setbench cpu extra", "one benchmark"),
        ("/setbench dns://example.org", "A benchmark is"),
        ("/setbench nonsense", "no scheme"),
    ]:
        with pytest.raises(BadChatCommand, match=words):
            parse_chat(bad, False)


def test_unknown_commands_and_plain_text_get_help():
    assert parse_chat("/frobnicate now", False) == ChatCommand("help", unknown="frobnicate")
    assert parse_chat("hello there", False) == ChatCommand("help")
    assert parse_chat("", False) == ChatCommand("help")
    assert parse_chat("/help", False) == ChatCommand("help")
    assert parse_chat("/help /mode", False) == ChatCommand("help", topic="mode")
    with pytest.raises(BadChatCommand, match="no command /nope"):
        parse_chat("/help nope", False)


def test_help_text_lists_what_each_role_may_use():
    everything = help_text()
    assert all(c.usage in everything for c in COMMANDS)
    contact = help_text("contact")
    assert "/status" in contact and "/addsub" not in contact and "/addtarget" not in contact
    subscriber = help_text("subscriber")
    assert "/addtarget" in subscriber and "/setbench" in subscriber and "/stats" not in subscriber
    admin = help_text("admin")
    assert "/addsub <chat_id>" in admin and "/rmsub" in admin and "/stats" in admin
    assert help_text("contact", unknown="frob").startswith("Unknown command /frob.")


def test_rate_limiter_token_bucket_per_sender():
    clock = [100.0]
    limiter = RateLimiter(rate=0.5, burst=3, clock=lambda: clock[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another sender has its own bucket
    assert limiter.retry_after("a") == pytest.approx(2.0)
    clock[0] += 1.0
    assert not limiter.allow("a")  # half a token is not enough
    clock[0] += 1.0
    assert limiter.allow("a") and not limiter.allow("a")
    clock[0] += 60
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_rate_limiter_forgets_idle_senders_and_validates_settings():
    clock = [0.0]
    limiter = RateLimiter(rate=1, burst=1, clock=lambda: clock[0], max_keys=3)
    for sender in range(3):
        limiter.allow(sender)
    clock[0] += 10
    limiter.allow("new")
    assert len(limiter._buckets) == 1
    with pytest.raises(BadInput):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(BadInput):
        RateLimiter(rate=1, burst=0)
