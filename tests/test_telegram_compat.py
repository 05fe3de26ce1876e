"""Every Telethon name the product code relies on exists in the installed Telethon.

CI runs this file on the newest Telethon the pin admits and again on the floor (`telethon==1.39.0`,
what the Telegram-compatible server speaks), so a reference to an error class, TL type, function,
client method or keyword that one of them lacks fails here instead of killing the bridge with an
AttributeError in production. Names newer than the floor go through engine/telegram/compat.py.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest
import telethon
from telethon import TelegramClient, errors
from telethon.tl.functions.messages import SendMessageRequest
from telethon.tl.types import RpcError

from engine.telegram.compat import rpc_error
from engine.telegram.delivery import send_alert
from engine.telegram.failures import permanent_reason
from tests.telegram_harness import FakeTelegram, connected

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("engine", "screens", "sysalert_tui")
CLIENT_NAMES = {"client", "_client"}  # how the code names a TelegramClient it holds


def _client_has(name: str) -> bool:
    """A method, or an attribute that TelegramClient's constructor sets (`session`)."""
    if hasattr(TelegramClient, name):
        return True
    init = inspect.getsource(TelegramClient.__init__)  # the base client's, which sets them
    return re.search(rf"\bself\.{re.escape(name)}\s*=", init) is not None


def _resolve(dotted: str) -> object:
    """The object a dotted telethon path names, importing submodules on the way."""
    parts = dotted.split(".")
    obj: object = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if not hasattr(obj, part) and isinstance(obj, ModuleType):
            with contextlib.suppress(ImportError):
                importlib.import_module(".".join(parts[: i + 1]))
        obj = getattr(obj, part)  # AttributeError: the installed Telethon lacks it
    return obj


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        return ".".join([aliases[node.id], *reversed(names)])
    return None


def _client_method(node: ast.expr) -> str | None:
    """`client.send_message` or `self._client.get_me` -> the method name."""
    if not isinstance(node, ast.Attribute):
        return None
    holder = node.value
    if isinstance(holder, ast.Name) and holder.id in CLIENT_NAMES:
        return node.attr
    if isinstance(holder, ast.Attribute) and holder.attr in CLIENT_NAMES:
        return node.attr
    return None


def _check_call(call: ast.Call, target: object, where: str, problems: list[str]) -> None:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return
    try:
        signature = inspect.signature(target)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*call.args, **{k.arg: k.value for k in call.keywords if k.arg})
    except TypeError as exc:
        problems.append(f"{where}: {exc}")


def telethon_references(path: Path) -> list[str]:
    """What in `path` the installed Telethon does not have, one line each."""
    tree = ast.parse(path.read_text(), str(path))
    aliases: dict[str, str] = {}
    problems: list[str] = []
    uses_client = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "telethon":
                    aliases[(a.asname or a.name).split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "telethon":
            for a in node.names:
                dotted = f"{node.module}.{a.name}"
                aliases[a.asname or a.name] = dotted
                uses_client |= a.name == "TelegramClient"
                try:
                    _resolve(dotted)
                except (AttributeError, ImportError):
                    problems.append(
                        f"{path.name}:{node.lineno}: from {node.module} import {a.name}"
                    )
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            dotted = _dotted(node, aliases)
            if dotted is not None:
                try:
                    _resolve(dotted)
                except (AttributeError, ImportError):
                    problems.append(f"{where}: {dotted}")
            method = _client_method(node) if uses_client else None
            if method is not None and not _client_has(method):
                problems.append(f"{where}: TelegramClient.{method}")
        if isinstance(node, ast.Call):
            dotted = _dotted(node.func, aliases)
            method = _client_method(node.func) if uses_client else None
            try:
                if dotted is not None:
                    _check_call(node, _resolve(dotted), f"{where}: {dotted}", problems)
                elif method is not None and hasattr(TelegramClient, method):
                    bound = getattr(TelegramClient, method)
                    call = ast.Call(node.func, [ast.Constant(None), *node.args], node.keywords)
                    _check_call(call, bound, f"{where}: TelegramClient.{method}", problems)
            except (AttributeError, ImportError):
                pass  # already reported as a missing name
    return problems


def product_files() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (ROOT / top).rglob("*.py"))


def test_the_product_names_nothing_the_installed_telethon_lacks() -> None:
    assert any("telethon" in p.read_text() for p in product_files())  # the walk sees the code
    problems = [line for p in product_files() for line in telethon_references(p)]
    assert problems == [], (
        f"Telethon {telethon.__version__} lacks what the code names; look it up through "
        "engine/telegram/compat.py with a fallback, or raise the floor:\n" + "\n".join(problems)
    )


def test_the_walk_finds_a_missing_name(tmp_path: Path) -> None:
    """The check above can fail: a made-up error class, TL type, method and keyword are found."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from telethon import TelegramClient, errors\n"
        "from telethon.tl import types\n"
        "from telethon.tl.types import NoSuchTypeAtAll\n"
        "async def f(client: TelegramClient):\n"
        "    _ = errors.NoSuchRpcError\n"
        "    _ = types.InputPeerUser(1, 2, no_such_keyword=3)\n"
        "    await client.no_such_method()\n"
    )
    found = "\n".join(telethon_references(bad))
    for name in ("NoSuchTypeAtAll", "NoSuchRpcError", "no_such_keyword", "no_such_method"):
        assert name in found, found


@pytest.mark.parametrize(
    ("name", "message", "base"),
    [
        ("ChatSendPlainForbiddenError", "CHAT_SEND_PLAIN_FORBIDDEN", errors.ForbiddenError),
        ("SysalertCompatProbeError", "SYSALERT_COMPAT_PROBE", errors.BadRequestError),
    ],
)
def test_rpc_error_is_the_class_telethon_raises_for_its_message(
    name: str, message: str, base: type[errors.RPCError]
) -> None:
    """With the class or without it (the second name exists in no release), Telethon raises what
    the helper returns, so a table keyed by that class matches on every release."""
    cls = rpc_error(name, message, base)
    assert rpc_error(name, message, base) is cls and issubclass(cls, base)
    raised = errors.rpc_message_to_error(RpcError(base.code, message), request=None)
    assert type(raised) is cls and raised.code == base.code


@pytest.mark.anyio
async def test_a_chat_that_refuses_text_is_a_permanent_refusal_with_its_reason() -> None:
    """CHAT_SEND_PLAIN_FORBIDDEN: a class Telethon 1.39-1.42 lack; the bridge must still say why."""
    server = FakeTelegram()
    server.add_user(777001, username="alice_oncall")
    server.fail(SendMessageRequest, "CHAT_SEND_PLAIN_FORBIDDEN", code=403)
    async with connected(server) as client:
        out = await send_alert(client, "@alice_oncall", "alert")
    assert not out.ok and out.permanent
    assert out.error == "this chat does not allow text messages"
    assert permanent_reason(errors.ForbiddenError(None, "OTHER", 403)) is not None
    assert server.bugs == [] and server.unhandled == []
