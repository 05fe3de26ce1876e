"""A real `sysalert --daemon` process on a temporary store, for the daemon tests.

The store is created in-process (config, master key, empty database); the daemon runs as a child
process with its own environment, listening on the data directory's Unix socket and on a loopback
TCP port, exactly as an operator would start it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
BASE_CONFIG = """\
[engine]
seed_local_targets = false
result_batch_ms = 20

[retention]
housekeeping_interval = "1h"
"""


def write_config(data_dir: Path, extra: str = "") -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = data_dir / "config.toml"
    cfg.write_text(BASE_CONFIG + extra, encoding="utf-8")
    return cfg


def child_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSALERT_")}
    env.update(
        SYSALERT_DATA_DIR=str(data_dir),
        SYSALERT_CONFIG=str(data_dir / "config.toml"),
        PYTHONPATH=str(ROOT),
        SYSALERT_LOG_LEVEL="INFO",
    )
    env.pop("JOURNAL_STREAM", None)
    return env


def init_store(data_dir: Path, extra_config: str = "") -> None:
    """config.toml, master key and an empty store, without seeded local targets."""
    from engine.config.settings import load_settings
    from engine.runtime.bootstrap import init_data_dir

    cfg = write_config(data_dir, extra_config)
    init_data_dir(load_settings(cfg, data_dir, env={}))


def sysalert(data_dir: Path, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run the real CLI against this store (it attaches to the daemon when one runs)."""
    return subprocess.run(
        [sys.executable, "-m", "sysalert_tui", *argv],
        env=child_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def cli(data_dir: Path, *argv: str) -> tuple[int, str, str]:
    """The CLI's own main() in this process: the same path as the console script (attaching to the
    daemon when one runs), without paying interpreter start-up for every command."""
    import contextlib
    import io
    import logging

    from sysalert_tui.cli import main

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(
                ["--data-dir", str(data_dir), "--config", str(data_dir / "config.toml"), *argv]
            )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return rc, out.getvalue(), err.getvalue()


@dataclass
class Daemon:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    _clients: list[httpx.Client] = field(default_factory=list)
    _unix: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "sysalert.sock"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "sysalert.db"

    def tcp(self, key: str | None = None, bearer: bool = False) -> httpx.Client:
        headers = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
        c = httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0)
        self._clients.append(c)
        return c

    def unix(self) -> httpx.Client:
        """A client on the trusted Unix socket (one per daemon, reused)."""
        if self._unix is None:
            self._unix = httpx.Client(
                base_url="http://sysalert",
                timeout=10.0,
                transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            )
            self._clients.append(self._unix)
        return self._unix

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def db(self) -> sqlite3.Connection:
        """The store file read from the test, as another process would (what is committed)."""
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int:
        for c in self._clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return int(self.proc.returncode)


def start_daemon(
    data_dir: Path,
    port: int | None = None,
    ready_timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> Daemon:
    """Start the daemon and wait until /health answers on TCP and the socket exists. `env` adds
    to the child's environment (SYSALERT_FAULT, a PYTHONPATH with a broken module first...)."""
    port = port or free_port()
    log_path = data_dir.parent / f"daemon-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sysalert_tui", "--daemon", "--listen", f"127.0.0.1:{port}"],
            env={**child_env(data_dir), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    d = Daemon(data_dir, port, proc, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}: {d.log()[-2000:]}")
        try:
            r = httpx.get(f"{d.base_url}/health", timeout=1.0)
            if r.status_code in (200, 503) and d.socket_path.exists():
                return d
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    d.proc.kill()
    raise RuntimeError(f"daemon not ready in {ready_timeout}s: {d.log()[-2000:]}")


@contextmanager
def running_daemon(data_dir: Path, extra_config: str = "") -> Iterator[Daemon]:
    init_store(data_dir, extra_config)
    d = start_daemon(data_dir)
    try:
        yield d
    finally:
        d.stop()


def wait_for(pred: Any, timeout: float = 5.0, step: float = 0.05) -> Any:
    """Poll until pred() is truthy; returns its value (or the last falsy one after the timeout)."""
    deadline = time.monotonic() + timeout
    val = pred()
    while not val and time.monotonic() < deadline:
        time.sleep(step)
        val = pred()
    return val
