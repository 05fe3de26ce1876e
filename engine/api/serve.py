"""Run the API servers (Unix socket, optional TCP) inside the engine's task group with uvicorn."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn

from engine.api.ports import ApiEngine
from engine.api.server import PingFastPath, build_app
from engine.core.errors import BadInput, ConfigError, SysAlertError

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGHUP."""

    sock: socket.socket | None = None  # bound by make_servers, served by run_servers

    def __init__(self, app: PingFastPath, **config: Any) -> None:
        super().__init__(uvicorn.Config(app, **config))
        self.app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--listen {text!r} is not HOST:PORT", "e.g. --listen 127.0.0.1:8787")
    return host.strip("[]") or "127.0.0.1", int(port)


def make_servers(
    engine: ApiEngine,
    socket_path: Path | None,
    listen: str | None,
    tls: tuple[str, str] | None = None,
) -> list[_Server]:
    """The Unix socket's server and, with `listen`, the TCP one: HTTPS when `tls` gives the
    certificate and key files (PEM). Pings keep their fast path: TLS sits below the protocol."""
    from engine.api.ping_protocol import ping_protocol

    servers = []
    common: dict[str, Any] = {
        "lifespan": "off",
        "log_level": "warning",
        "access_log": False,
        "loop": "none",
        # uvicorn's httptools protocol, with heartbeat pings answered before ASGI (hot path).
        "http": ping_protocol(engine),
        "timeout_graceful_shutdown": 3,
        "limit_concurrency": engine.settings.api.limit_concurrency,
    }
    # Both sockets are bound here, before anything runs: a taken port or a bad socket path is a
    # one-line error and exit 2, not a traceback from inside uvicorn after the engine started.
    bound: list[socket.socket] = []
    try:
        if socket_path is not None:
            bound.append(bind_private_socket(socket_path))
            server = _Server(build_app(engine, trusted=True), **common)
            server.sock = bound[-1]
            servers.append(server)
        if listen:
            host, port = parse_listen(listen)
            cert, key = check_tls(*tls) if tls else (None, None)
            bound.append(bind_tcp(host, port))
            server = _Server(
                build_app(engine, trusted=False),
                host=host,
                port=port,
                ssl_certfile=cert,
                ssl_keyfile=key,
                **common,
            )
            server.sock = bound[-1]
            servers.append(server)
            engine.ping_listener = f"{host}:{port}"  # heartbeats can be pinged over the network
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return servers


def check_tls(cert: str, key: str) -> tuple[str, str]:
    """Load the certificate and key once here, so a wrong path or a key that does not match is
    one line and exit 2 at start, not an error inside uvicorn after the engine started."""
    import ssl

    cert_path, key_path = os.path.expanduser(cert), os.path.expanduser(key)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"[api] tls_cert / tls_key cannot be used: {reason}",
            "give the PEM certificate (chain) and its private key, readable by this user",
        ) from None
    return cert_path, key_path


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from now on, while the engine starts
    except OSError as exc:
        sock.close()
        raise BadInput(
            f"cannot listen on the --listen address: {exc.strerror or exc}",
            "pick a free port, or stop what holds it",
        ) from None
    return sock


def bind_private_socket(path: Path) -> socket.socket:
    """The Unix socket, bound here with mode 0600 from its first instant.

    Its permissions are the API's only authentication; uvicorn's own `uds=` binding makes the file
    0666 and a later chmod would leave a window in which anyone who can reach the path may connect.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of a daemon that died (the instance lock is already ours)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise SysAlertError(
            f"cannot create the API socket: {exc.strerror or exc}",
            "set [api] socket to a short path in a directory you own",
        ) from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return sock


async def run_servers(servers: list[_Server], socket_path: Path | None = None) -> None:
    import anyio

    try:
        async with anyio.create_task_group() as tg:
            for s in servers:
                tg.start_soon(s.serve, [s.sock] if s.sock is not None else None)
    finally:
        for s in servers:
            if s.sock is not None:
                s.sock.close()


def stop_servers(servers: list[_Server]) -> None:
    for s in servers:
        s.app.closing.set = True  # its event streams end now, not when the engine has stopped
        s.should_exit = True
