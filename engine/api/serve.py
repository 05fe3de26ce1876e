"""Run the API servers (Unix socket, optional TCP) inside the engine's task group with uvicorn."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from engine.errors import BadInput

if TYPE_CHECKING:
    from engine.engine import Engine

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--listen {text!r} is not HOST:PORT", "e.g. --listen 127.0.0.1:8787")
    return host.strip("[]") or "127.0.0.1", int(port)


def make_servers(engine: Engine, socket_path: Path | None, listen: str | None) -> list[_Server]:
    from engine.api.server import build_app

    servers = []
    common: dict[str, Any] = {"lifespan": "off", "log_level": "warning", "access_log": False,
                              "loop": "none", "http": "httptools", "timeout_graceful_shutdown": 3}
    if socket_path is not None:
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        cfg = uvicorn.Config(build_app(engine, trusted=True), uds=str(socket_path), **common)
        servers.append(_Server(cfg))
    if listen:
        host, port = parse_listen(listen)
        cfg = uvicorn.Config(build_app(engine, trusted=False), host=host, port=port, **common)
        servers.append(_Server(cfg))
    return servers


async def run_servers(servers: list[_Server], socket_path: Path | None) -> None:
    import anyio

    async with anyio.create_task_group() as tg:
        for s in servers:
            tg.start_soon(s.serve)
        if socket_path is not None:
            for _ in range(100):
                if socket_path.exists():
                    os.chmod(socket_path, 0o600)
                    break
                await anyio.sleep(0.02)


def stop_servers(servers: list[_Server]) -> None:
    for s in servers:
        s.should_exit = True
