"""`sysalert web`: the same Textual console in a browser, through textual-serve, attached to the
running daemon.

Each browser session runs `sysalert` (the console) in attach-only mode as a child process; it
never starts an engine of its own. Access is a secret token: printed once at start in a URL
(`http://HOST:PORT/?token=...`) or typed into the password prompt at /login; a good token sets an
HttpOnly, SameSite=Strict session cookie, and every other request (the page, its websocket, its
files) without that cookie is refused. SYSALERT_WEB_TOKEN sets a fixed token (a service).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import secrets
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.core.errors import BadInput, SysAlertError

DEFAULT_LISTEN = "127.0.0.1:8081"
ENV_TOKEN = "SYSALERT_WEB_TOKEN"
ENV_ATTACH_ONLY = "SYSALERT_ATTACH_ONLY"  # the console refuses to start an engine of its own
COOKIE = "sysalert_web"
TOKEN_MIN = 16
LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SysAlert console: sign in</title>
<style>body{{font:16px system-ui,sans-serif;background:#0c181f;color:#eee;display:flex;
justify-content:center;padding-top:15vh}}form{{background:#12232d;padding:2rem;border-radius:8px}}
input,button{{font:inherit;padding:.4rem;margin-top:.5rem}}p.bad{{color:#f77}}</style>
</head><body><form method="post" action="/login">
<h1>SysAlert console</h1>{message}
<label for="token">Access token (printed by <code>sysalert web</code>)</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<button type="submit">Open</button></form></body></html>
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "web",
        help="the console in a browser (textual-serve), attached to the running daemon",
        description=(
            "Serve the console to a browser, attached to the daemon that runs on this data "
            "directory (or --connect URL with --api-key). Prints a URL with a one-time access "
            f"token; {ENV_TOKEN} sets a fixed one."
        ),
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default=DEFAULT_LISTEN,
        help=f"where the browser connects (default {DEFAULT_LISTEN})",
    )
    p.set_defaults(handler=cmd_web)


def session_value(token: str) -> str:
    """The cookie a good token earns: derived from the token, so a new token ends old sessions."""
    return hashlib.sha256(b"sysalert-web-session:" + token.encode()).hexdigest()


def make_token(env: dict[str, str] | None = None) -> str:
    given = (os.environ if env is None else env).get(ENV_TOKEN, "")
    if not given:
        return secrets.token_urlsafe(24)
    if len(given) < TOKEN_MIN or not given.isprintable() or " " in given:
        raise BadInput(
            f"{ENV_TOKEN} is too weak: use at least {TOKEN_MIN} printable characters, no spaces",
            f"e.g. {ENV_TOKEN}=$(openssl rand -base64 24)",
        )
    return given


class Gate:
    """The auth check in front of textual-serve's routes."""

    def __init__(self, token: str, secure: bool = False) -> None:
        self.token = token
        self.session = session_value(token)
        self.secure = secure

    def good(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def signed_in(self, request: Any) -> bool:
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self.session.encode())

    def admit(self, response: Any) -> Any:
        response.set_cookie(
            COOKIE, self.session, httponly=True, samesite="Strict", path="/", secure=self.secure
        )
        return response

    async def middleware(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        from aiohttp import web

        if request.path == "/login":
            return await (self.login(request) if request.method == "POST" else handler(request))
        presented = request.query.get("token")
        if presented is not None:
            if not self.good(presented):
                return await self._refuse(request)
            # The token leaves the address bar (and history) at once: a cookie carries on.
            query = {k: v for k, v in request.query.items() if k != "token"}
            target = (
                request.rel_url.with_query(query) if query else request.rel_url.with_query(None)
            )
            raise self.admit(web.HTTPSeeOther(str(target)))
        if not self.signed_in(request):
            if request.path == "/" and request.method == "GET":
                raise web.HTTPSeeOther("/login")
            return web.Response(
                status=401, text="sign in first: open the URL `sysalert web` printed\n"
            )
        if request.path == "/ws" and not _same_origin(request):
            return web.Response(status=403, text="websocket from another site refused\n")
        response = await handler(request)
        return response

    async def login_form(self, request: Any) -> Any:
        return _login_page("")

    async def login(self, request: Any) -> Any:
        from aiohttp import web

        form = await request.post()
        if self.good(str(form.get("token", ""))):
            raise self.admit(web.HTTPSeeOther("/"))
        return await self._refuse(request)

    async def _refuse(self, request: Any) -> Any:
        await asyncio.sleep(1.0)  # a guess costs a second
        return _login_page('<p class="bad">That token is not right.</p>', 401)


def _login_page(message: str, status: int = 200) -> Any:
    from aiohttp import web

    return web.Response(
        status=status,
        text=LOGIN_PAGE.format(message=message),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _same_origin(request: Any) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def console_command(args: argparse.Namespace) -> str:
    """What each browser session runs: this same `sysalert`, console only, attach only."""
    argv = [sys.executable, "-m", "sysalert_tui"]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    if args.data_dir:
        argv += ["--data-dir", str(Path(args.data_dir).resolve())]
    if args.connect:
        argv += ["--connect", args.connect]  # the key travels in the environment, not argv
    return f"{ENV_ATTACH_ONLY}=1 exec {shlex.join(argv)}"


def build_app(server: Any, gate: Gate) -> Any:
    """textual-serve's routes (page, websocket, downloads, static files) behind the gate."""
    import aiohttp_jinja2
    import jinja2
    from aiohttp import web

    @web.middleware
    async def gated(request: web.Request, handler: Any) -> Any:
        return await gate.middleware(request, handler)

    app = web.Application(middlewares=[gated])
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(Path(__file__).parent))

    async def index(request: web.Request) -> web.Response:
        # URLs from the Host the browser used, so an SSH tunnel or another name works too.
        base = f"{request.scheme}://{request.host}"
        ws = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}/ws"
        context = {
            "font_size": _int(request.query.get("fontsize"), 16),
            "app_websocket_url": ws,
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": "SysAlert"},
        }
        response = aiohttp_jinja2.render_template("web_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    app.add_routes(
        [
            web.get("/", index),
            web.get("/login", gate.login_form),
            web.post("/login", gate.login),
            web.get("/ws", server.handle_websocket, name="websocket"),
            web.get("/download/{key}", server.handle_download, name="download"),
            web.static("/static", server.statics_path, name="static"),
        ]
    )
    return app


def _int(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() and 6 <= int(text) <= 64 else default


def cmd_web(args: argparse.Namespace) -> int:
    from engine.api.client import connect_if_running
    from engine.api.serve import bind_tcp, parse_listen
    from sysalert_tui.cli import load_settings

    settings = load_settings(args)
    host, port = parse_listen(args.listen)
    token = make_token()
    if args.api_key:
        os.environ["SYSALERT_API_KEY"] = args.api_key  # the sessions' consoles read it there
    remote = connect_if_running(settings, args.connect, args.api_key)
    if remote is None:
        raise SysAlertError(
            f"no daemon answers on {settings.socket_path}",
            "start it first (`sysalert --daemon`, or the systemd unit), or give --connect URL",
        )
    remote.close()
    sock = bind_tcp(host, port)
    from textual_serve.server import Server

    server = Server(console_command(args), host=host, port=port, title="SysAlert")
    app = build_app(server, Gate(token))
    shown = f"[{host}]" if ":" in host else host
    print(f"sysalert web: open http://{shown}:{sock.getsockname()[1]}/?token={token}", flush=True)
    print("(the token is shown once; anyone with it can use the console)", flush=True)
    asyncio.run(_serve(app, sock))
    return 0


async def _serve(app: Any, sock: Any) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()  # closes each session's websocket; its console is told to quit


__all__ = ["Gate", "build_app", "cmd_web", "console_command", "register"]
