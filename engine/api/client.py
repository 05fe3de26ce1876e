"""The attach client: the command layer's methods, carried over HTTP to a running daemon.

Used by the CLI and the console when a daemon owns the store, so no second engine starts and no
alert goes out twice. Over the data directory's Unix socket, or TCP with an API key (--connect).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from engine.api import wire
from engine.api.acting import ACTOR_HEADER
from engine.api.routes import BY_COMMAND, route_for
from engine.config.settings import Settings
from engine.core.errors import BadInput, NotFound, SysAlertError

if TYPE_CHECKING:
    from engine.store.store import Store

# Arguments that only an in-process call carries: the owner scope of a local caller, the console's
# own clock, an import's file label. Over the API the daemon decides these itself. The audit actor
# (`by`) travels in the X-SysAlert-Actor header where a route has no `by` field of its own.
# Anything else unknown is a bug.
_LOCAL_ONLY = frozenset({"owner_id", "now", "source"})


class RemoteCommands:
    mode = "attached"

    def __init__(
        self,
        base_url: str,
        transport: httpx.BaseTransport | None = None,
        api_key: str | None = None,
        ping_base: str = "",
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(
            base_url=base_url, transport=transport, headers=headers, timeout=30.0
        )
        self.base_url = base_url
        self.transport = transport
        self.api_key = api_key
        self.ping_base = ping_base
        # Set when attached over the data directory's socket: this machine holds the store too.
        self.local_settings: Settings | None = None

    def close(self) -> None:
        self.http.close()

    def health(self) -> dict[str, Any]:
        r = self.http.get("/health", timeout=3.0)
        return dict(r.json())

    def call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        route = route_for(command, kwargs)
        for k in route.fixed:
            kwargs.pop(k, None)
        path = route.path
        rest = list(args)
        if route.path_arg:
            if not rest:
                raise BadInput(f"{command} needs {route.path_arg}", "")
            # Every reserved character escaped, "/" included: `disk /` is one path segment.
            path = path.replace("{" + route.path_arg + "}", quote(str(rest.pop(0)), safe=""))
        # Positional arguments beyond the path one (add_target(spec, ...)) are named as the local
        # command names them, so a call reads the same attached or embedded.
        if rest:
            for name, value in zip(
                _positional_names(command)[1 if route.path_arg else 0 :], rest, strict=False
            ):
                if value is not None:
                    kwargs.setdefault(name, value)
        by = kwargs.pop("by", None) if "by" not in route.body else None
        headers = {ACTOR_HEADER: quote(str(by), safe="")} if by else None
        unknown = set(kwargs) - set(route.body)
        for k in unknown & _LOCAL_ONLY:
            kwargs.pop(k)  # local-only arguments (owner_id on an operator call) are dropped
        if unknown - _LOCAL_ONLY:
            # Never drop an argument silently: the route table must carry it (a bug of ours).
            raise TypeError(f"{command} over the API has no field {sorted(unknown - _LOCAL_ONLY)}")
        try:
            if route.method == "GET":
                r = self.http.request("GET", path, params=kwargs, headers=headers)
            else:
                r = self.http.request(route.method, path, json=kwargs, headers=headers)
        except httpx.TransportError as exc:
            raise SysAlertError(
                f"cannot reach the daemon: {type(exc).__name__}", "is `sysalert --daemon` running?"
            ) from None
        if r.status_code == 200:
            return _decoded(command, r.content)
        _refused(r)

    def target_pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of `target_page` (the same arguments, no cursor), from one streamed answer
        of the daemon (one JSON line a page) instead of one request a page."""
        params = {k: v for k, v in kwargs.items() if v is not None}
        try:
            with self.http.stream("GET", "/api/v1/targets/pages", params=params) as r:
                if r.status_code != 200:
                    r.read()
                    _refused(r)
                parts: list[bytes] = []
                last: dict[str, Any] = {"next": ""}
                for chunk in r.iter_bytes():
                    at = chunk.find(b"\n")
                    while at >= 0:
                        parts.append(chunk[:at])
                        last = json.loads(b"".join(parts))
                        yield last
                        parts, chunk = [], chunk[at + 1 :]
                        at = chunk.find(b"\n")
                    parts.append(chunk)
                if last["next"] is not None or any(parts):  # cut short: never a partial list
                    raise SysAlertError(
                        "the daemon's answer ended before the last page of targets",
                        "see the daemon log, and run the command again",
                    )
        except httpx.TransportError as exc:
            raise SysAlertError(
                f"cannot reach the daemon: {type(exc).__name__}", "is `sysalert --daemon` running?"
            ) from None

    def __getattr__(self, name: str) -> Any:
        if name in BY_COMMAND:
            return lambda *a, **kw: self.call(name, *a, **kw)
        raise AttributeError(name)

    async def telegram_login(self, prompts: Any, by: str = "operator") -> dict[str, Any]:
        """The console's Telegram login while a daemon runs, as `sysalert telegram login` does it.

        The login is interactive and ends by sealing the session into the store, where the daemon
        picks it up within seconds; so on the daemon's own machine it runs right here against the
        store. Over --connect the store is elsewhere: the login must run on that machine.
        """
        if self.local_settings is None:
            raise SysAlertError(
                "Telegram login cannot run over --connect: the session is sealed into the store",
                "run `sysalert telegram login` on the machine that runs the daemon",
            )
        import anyio

        from engine.commands import Commands
        from engine.telegram.account import TelegramAccount

        settings = self.local_settings
        store = await anyio.to_thread.run_sync(_open_local_store, settings)
        try:
            cmds = Commands(store, settings, telegram=TelegramAccount())
            return await cmds.telegram_login(prompts, by=by)
        finally:
            store.close()

    def events(self, types: str = "") -> Iterator[dict[str, Any]]:
        """Blocking SSE reader (run it in a thread worker)."""
        with (
            httpx.Client(
                base_url=self.base_url,
                transport=self.transport,
                timeout=None,
                headers=self.http.headers,
            ) as c,
            c.stream("GET", "/api/v1/events", params={"types": types} if types else None) as r,
        ):
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    yield json.loads(line[6:])
                    event = None


def _refused(r: httpx.Response) -> NoReturn:
    """A daemon's answer other than 200, as the error the command raises embedded."""
    try:
        body = r.json()
    except json.JSONDecodeError:
        body = {"error": r.text[:200]}
    err = body.get("error") or f"HTTP {r.status_code}"
    if r.status_code == 404:
        raise NotFound(err, body.get("hint"))
    if r.status_code in (400, 413, 422):  # 413: a body over the daemon's [api] max_body
        raise BadInput(err, body.get("hint"))
    if r.status_code == 401:
        # The daemon's hint speaks HTTP (X-API-Key); whoever is here passes flags.
        raise BadInput(
            err, "pass --api-key KEY or set SYSALERT_API_KEY (`sysalert apikey add` makes one)"
        )
    raise SysAlertError(err, body.get("hint"))


def _open_local_store(settings: Settings) -> Store:
    """The store the daemon on this data directory runs on, with the same key ring (so no key
    check is needed: the daemon's start made it), watching the key file as the daemon does."""
    from engine.security.crypto import load_key_ring
    from engine.store.store import Store

    store = Store.open(settings.database_url, load_key_ring(settings.data_dir))
    store.watch_key_file(settings.data_dir)
    return store


# Commands that return plain JSON (dict[str, Any]; a test holds them to it), read without their
# TypeAdapter: building one imports the whole command layer, a second of `status` start-up.
PLAIN_JSON = frozenset({"target_page", "engine_stats"})


def _decoded(command: str, body: bytes) -> Any:
    """The answer as the type the command returns embedded (its return annotation)."""
    if command in PLAIN_JSON:
        return json.loads(body)
    try:
        return wire.decode(command, body)
    except ValidationError as exc:  # a daemon of another version, or a bug of ours
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise SysAlertError(
            f"the daemon's answer to {command} does not read: {where}: {err['msg']}",
            "run the same SysAlert version as the daemon",
        ) from None


@functools.cache
def _positional_names(command: str) -> list[str]:
    from engine.commands import Commands

    params = list(inspect.signature(getattr(Commands, command)).parameters.values())[1:]  # no self
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _transport_for_socket(path: str) -> httpx.HTTPTransport:
    # Plain HTTP over the 0600 socket: no TLS ever, so no CA bundle to load (50 ms of start-up).
    return httpx.HTTPTransport(uds=path, verify=False)


def connect_if_running(
    settings: Settings, connect: str | None = None, api_key: str | None = None
) -> RemoteCommands | None:
    """A client for the daemon if one answers; None means: work on the store directly."""
    ping_base = settings.api.public_url or ""
    if connect:
        if not re.match(r"^https?://", connect):
            raise BadInput(
                f"--connect {connect!r} is not an http(s) URL",
                "e.g. --connect http://10.0.0.5:8787",
            )
        client = RemoteCommands(
            connect.rstrip("/"),
            api_key=api_key or os.environ.get("SYSALERT_API_KEY"),
            ping_base=ping_base or connect,
        )
        try:
            client.health()
        except httpx.HTTPError:
            client.close()
            raise SysAlertError(
                "the daemon at --connect does not answer", "check the URL and that it runs"
            ) from None
        return client
    sock = settings.socket_path
    if not sock.exists():
        return None
    client = RemoteCommands(
        "http://sysalert", transport=_transport_for_socket(str(sock)), ping_base=ping_base
    )
    try:
        client.health()
    except (httpx.HTTPError, ValueError):
        client.close()
        return None  # a stale socket from a daemon that died
    if not ping_base:
        client.ping_base = "http://" + (settings.api.listen or "127.0.0.1:8787")
    client.local_settings = settings
    return client
