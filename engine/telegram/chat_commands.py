"""Chat commands as people type them in Telegram: parsed and validated here, executed by the one
command layer. Parsing is strict so a typo gets a clear reply instead of a surprise.

The COMMANDS table drives both the parser's list of known commands and the help text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from engine.checks.specs import TargetSpec, parse_spec
from engine.core.errors import BadInput

ROLES = ("contact", "subscriber", "admin")
_EVERYONE = frozenset(ROLES)
_OWNERS = frozenset({"subscriber", "admin"})
_ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class CommandInfo:
    name: str
    usage: str
    summary: str
    roles: frozenset[str] = _EVERYONE


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("ack", "/ack [incident-id]", "acknowledge an alert (or reply ack or 👍 to it)"),
    CommandInfo("status", "/status", "what is down right now"),
    CommandInfo("get", "/get <target|benchmark|cpu>", "check one now"),
    CommandInfo("history", "/history [target]", "recent incidents"),
    CommandInfo("mode", "/mode maintenance|active <target|all>", "switch maintenance on or off"),
    CommandInfo("whoami", "/whoami", "your masked id, role and quota use"),
    CommandInfo("delete_account", "/delete_account", "erase all your data (asks to confirm)"),
    CommandInfo("start", "/start", "welcome, and how to ask for access"),
    CommandInfo("help", "/help [command]", "this list"),
    CommandInfo(
        "addtarget",
        "/addtarget <spec> [name]",
        "add a target (tcp://host:port, https://…, IP:PORT)",
        _OWNERS,
    ),
    CommandInfo("rmtarget", "/rmtarget <target>", "remove one of your targets", _OWNERS),
    CommandInfo("setbench", "/setbench <cpu|URL|host:port>", "add a benchmark", _OWNERS),
    CommandInfo("rmbench", "/rmbench <benchmark>", "remove one of your benchmarks", _OWNERS),
    CommandInfo("addsub", "/addsub <chat_id>", "add a subscriber", _ADMIN),
    CommandInfo("rmsub", "/rmsub <chat_id>", "remove a subscriber", _ADMIN),
    CommandInfo("stats", "/stats", "counts and delivery rates", _ADMIN),
)
_BY_NAME = {c.name: c for c in COMMANDS}
ACK_WORDS = frozenset({"ack", "/ack"})
_THUMBS_UP = re.compile(r"^\U0001F44D[\U0001F3FB-\U0001F3FF]?\ufe0f?$")
_INCIDENT_ID = re.compile(r"^#?([A-Za-z0-9][A-Za-z0-9_:.-]{0,63})$")
_CHAT_ID = re.compile(r"^-?\d{1,19}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_CHAT_KINDS = {
    "command": "commands",
    "system": "local system metrics",
    "systemd": "systemd units",  # like system://: they read this host, not a service out there
    "docker": "Docker containers",
}
MAX_NAME = 100


class BadChatCommand(BadInput):
    """A command that does not validate; `.reply` is the text to send back to the chat."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message, None)
        self.usage = usage
        self.reply = f"{message}\nUsage: {usage}" if usage else message


@dataclass(frozen=True)
class ChatCommand:
    """One parsed command. Only the fields its `name` uses are set.

    `reply_ack` means "the incident of the alert this message replies to". For `help`, `unknown`
    is the command word that was not recognised (None when the text was no command at all).
    """

    name: str
    incident_id: str | None = None
    reply_ack: bool = False
    target: str | None = None
    mode: str | None = None
    chat_id: int | None = None
    spec: TargetSpec | None = None
    label: str | None = None
    bench: str | None = None
    confirm: bool = False
    topic: str | None = None
    unknown: str | None = None


def help_text(role: str | None = None, unknown: str | None = None) -> str:
    """The commands a role may use, one per line; `role=None` lists them all."""
    lines = [f"Unknown command /{unknown}." if unknown else "SysAlert commands:"]
    for info in COMMANDS:
        if role is None or role in info.roles:
            lines.append(f"{info.usage} - {info.summary}")
    return "\n".join(lines)


def is_ack_text(text: str) -> bool:
    low = text.strip().lower().rstrip(".!")
    return low in ACK_WORDS or bool(_THUMBS_UP.match(text.strip()))


def parse_chat(text: str, is_reply_to_alert: bool) -> ChatCommand:
    """Parse one message. Raises BadChatCommand (with .reply) when a known command is malformed;
    plain text and unknown commands come back as `help`."""
    raw = (text or "").strip()
    if is_ack_text(raw):
        if not is_reply_to_alert:
            raise BadChatCommand(
                "To acknowledge, reply ack to the alert message, or send /ack <incident-id>.",
                _BY_NAME["ack"].usage,
            )
        return ChatCommand("ack", reply_ack=True)
    if not raw.startswith("/"):
        return ChatCommand("help")
    parts = raw[1:].split(maxsplit=1)
    word = parts[0].split("@", 1)[0].lower() if parts else ""
    rest = parts[1].strip() if len(parts) > 1 else ""
    parser = _PARSERS.get(word)
    if parser is None:
        return ChatCommand("help", unknown=word[:32] or None)
    return parser(rest, is_reply_to_alert)


def _usage(name: str) -> str:
    return _BY_NAME[name].usage


def _no_args(name: str) -> Callable[[str, bool], ChatCommand]:
    def parse(rest: str, _reply: bool) -> ChatCommand:
        if rest:
            raise BadChatCommand(f"/{name} takes no arguments.", _usage(name))
        return ChatCommand(name)

    return parse


def _name(value: str, what: str, usage: str) -> str:
    if not value:
        raise BadChatCommand(f"Which {what}?", usage)
    if len(value) > MAX_NAME or _CONTROL.search(value):
        raise BadChatCommand(f"That {what} name is too long or has control characters.", usage)
    return value


def _parse_ack(rest: str, is_reply: bool) -> ChatCommand:
    if not rest:
        if not is_reply:
            raise BadChatCommand(
                "Reply /ack to the alert message, or give the incident id.", _usage("ack")
            )
        return ChatCommand("ack", reply_ack=True)
    m = _INCIDENT_ID.match(rest)
    if not m:
        raise BadChatCommand(
            "That is not an incident id (letters, digits, - and _).", _usage("ack")
        )
    return ChatCommand("ack", incident_id=m.group(1))


def _parse_get(rest: str, _reply: bool) -> ChatCommand:
    return ChatCommand("get", target=_name(rest, "target", _usage("get")))


def _parse_history(rest: str, _reply: bool) -> ChatCommand:
    return ChatCommand("history", target=_name(rest, "target", _usage("history")) if rest else None)


def _parse_mode(rest: str, _reply: bool) -> ChatCommand:
    usage = _usage("mode")
    parts = rest.split(maxsplit=1)
    if not parts:
        raise BadChatCommand("Which mode, and for what?", usage)
    mode = parts[0].lower()
    if mode not in ("maintenance", "active"):
        raise BadChatCommand(
            f"The mode must be maintenance or active, not {parts[0][:20]!r}.", usage
        )
    target = _name(parts[1].strip() if len(parts) > 1 else "", "target (or all)", usage)
    return ChatCommand("mode", mode=mode, target="all" if target.lower() == "all" else target)


def _parse_delete(rest: str, _reply: bool) -> ChatCommand:
    if not rest:
        return ChatCommand("delete_account")
    if rest.lower() == "confirm":
        return ChatCommand("delete_account", confirm=True)
    raise BadChatCommand(
        "Send /delete_account, then /delete_account confirm.", "/delete_account [confirm]"
    )


def _chat_id(name: str) -> Callable[[str, bool], ChatCommand]:
    def parse(rest: str, _reply: bool) -> ChatCommand:
        usage = _usage(name)
        if not rest:
            raise BadChatCommand("Which chat id?", usage)
        if not _CHAT_ID.match(rest) or int(rest) == 0 or abs(int(rest)) >= 2**63:
            raise BadChatCommand("A chat id is a number like 77441265.", usage)
        return ChatCommand(name, chat_id=int(rest))

    return parse


def _spec(text: str, usage: str) -> TargetSpec:
    try:
        spec = parse_spec(text)
    except BadInput as exc:
        raise BadChatCommand(str(exc), usage) from None
    if spec.kind in _NO_CHAT_KINDS:
        raise BadChatCommand(
            f"{_NO_CHAT_KINDS[spec.kind].capitalize()} can only be added from the console or CLI.",
            usage,
        )
    return spec


def _parse_addtarget(rest: str, _reply: bool) -> ChatCommand:
    usage = _usage("addtarget")
    parts = rest.split(maxsplit=1)
    if not parts:
        raise BadChatCommand("Which target? Give a spec such as tcp://db.example:5432.", usage)
    label = _name(parts[1].strip(), "target", usage) if len(parts) > 1 else None
    return ChatCommand("addtarget", spec=_spec(parts[0], usage), label=label)


def _remove(name: str, what: str) -> Callable[[str, bool], ChatCommand]:
    def parse(rest: str, _reply: bool) -> ChatCommand:
        return ChatCommand(name, target=_name(rest, what, _usage(name)))

    return parse


def _parse_setbench(rest: str, _reply: bool) -> ChatCommand:
    usage = _usage("setbench")
    parts = rest.split()
    if len(parts) != 1:
        raise BadChatCommand("Give one benchmark: cpu, an http(s) URL, or host:port.", usage)
    if parts[0].lower() == "cpu":
        return ChatCommand("setbench", bench="cpu")
    spec = _spec(parts[0], usage)
    if spec.kind not in ("http", "tcp"):
        raise BadChatCommand(
            "A benchmark is cpu, an http(s) URL's latency, or a TCP connect time.", usage
        )
    return ChatCommand("setbench", bench=spec.kind, spec=spec)


def _parse_help(rest: str, _reply: bool) -> ChatCommand:
    topic = rest.lstrip("/").lower() or None
    if topic is not None and topic not in _BY_NAME:
        raise BadChatCommand(f"There is no command /{topic[:32]}.", _usage("help"))
    return ChatCommand("help", topic=topic)


_PARSERS: dict[str, Callable[[str, bool], ChatCommand]] = {
    "ack": _parse_ack,
    "status": _no_args("status"),
    "get": _parse_get,
    "history": _parse_history,
    "mode": _parse_mode,
    "whoami": _no_args("whoami"),
    "delete_account": _parse_delete,
    "start": _no_args("start"),
    "help": _parse_help,
    "addtarget": _parse_addtarget,
    "setbench": _parse_setbench,
    "rmtarget": _remove("rmtarget", "target"),
    "rmbench": _remove("rmbench", "benchmark"),
    "addsub": _chat_id("addsub"),
    "rmsub": _chat_id("rmsub"),
    "stats": _no_args("stats"),
}
assert set(_PARSERS) == set(_BY_NAME), "every command in COMMANDS needs a parser"


class RateLimiter:
    """Token bucket per sender: `burst` messages at once, then `rate` per second.

    Buckets of senders who have been quiet long enough to be full again are dropped when the table
    grows past `max_keys`, so a flood of strangers cannot grow memory without bound.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if not rate > 0:
            raise BadInput("rate limit must be above 0 per second", "e.g. rate = 0.5")
        if int(burst) < 1:
            raise BadInput("rate limit burst must be at least 1", "e.g. burst = 5")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def allow(self, key: Hashable) -> bool:
        """Take one token for `key`; False when the sender is over the limit."""
        now = self._clock()
        tokens = self._tokens(key, now)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max_keys:
            self._prune(now)
        return allowed

    def retry_after(self, key: Hashable) -> float:
        """Seconds until `key` may send again (0 when it may now)."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
        for k in full:
            del self._buckets[k]
