"""Several real `sysalert --daemon` processes sharing one PostgreSQL schema, for the cluster tests
and tests/perf/cluster.py: a store made once (init), its data directory copied per engine (the same
master key), each engine started with its own location, and TCP listeners that count connections
(a probe is a connection: duplicates are counted on the receiving side)."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import PG_URL, free_port
from tests.daemon_harness import BASE_CONFIG, ROOT, child_env


@contextmanager
def pg_schema() -> Iterator[str]:
    """A throwaway schema; yields the database URL that uses it."""
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


class Counter:
    """TCP listeners, one per target; each accepted connection is one probe."""

    def __init__(self, n: int) -> None:
        self.counts: dict[int, int] = {}
        self.lock = threading.Lock()
        self.socks: dict[int, socket.socket] = {}
        self.ports = []
        for _ in range(n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(512)
            s.settimeout(0.3)
            port = s.getsockname()[1]
            self.socks[port] = s
            self.ports.append(port)
            threading.Thread(target=self._serve, args=(port, s), daemon=True).start()

    def _serve(self, port: int, s: socket.socket) -> None:
        while self.socks.get(port) is s:
            try:
                c, _ = s.accept()
                c.close()
                with self.lock:
                    self.counts[port] = self.counts.get(port, 0) + 1
            except TimeoutError:
                pass
            except OSError:
                return

    def close_port(self, port: int) -> None:
        s = self.socks.pop(port)
        s.close()

    def snapshot(self) -> dict[int, int]:
        with self.lock:
            return dict(self.counts)

    def rates(self, seconds: float) -> dict[int, float]:
        c0 = self.snapshot()
        time.sleep(seconds)
        c1 = self.snapshot()
        return {p: (c1.get(p, 0) - c0.get(p, 0)) / seconds for p in self.ports}

    def close(self) -> None:
        socks, self.socks = self.socks, {}
        for s in socks.values():
            s.close()


class Hooks:
    """A webhook receiver: every POST body, with its arrival time."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, str]] = []
        posts = self.posts

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append((time.time(), body.decode(errors="replace")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def about(self, word: str) -> list[str]:
        return [b for _, b in self.posts if word in b]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Node:
    name: str
    data_dir: Path
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self, ready_timeout: float = 30.0) -> Node:
        self.port = free_port()
        log_path = self.data_dir.parent / f"{self.name}-{self.port}.log"
        self.logs.append(log_path)
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sysalert_tui",
                    "--daemon",
                    "--listen",
                    f"127.0.0.1:{self.port}",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no /health 200 in {ready_timeout}s: {self.log()[-2000:]}")

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).json())

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0 if self.proc is None else int(self.proc.returncode)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise

    def cli(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sysalert_tui", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


class Cluster:
    """Engines on one schema. `node(name, location)` copies the first engine's data directory."""

    def __init__(self, root: Path, db_url: str, config: str = "") -> None:
        self.root = root
        self.db_url = db_url
        self.nodes: list[Node] = []
        first = root / "n0" / "data"
        first.mkdir(parents=True)
        (first / "config.toml").write_text(BASE_CONFIG + config, encoding="utf-8")
        self.first = first
        r = self._node("n0", first, "default").cli("init")
        if r.returncode:
            raise RuntimeError(f"init failed: {r.stderr[-500:]}")

    def _node(self, name: str, data: Path, location: str) -> Node:
        env = child_env(data)
        env.update(
            SYSALERT_DATABASE_URL=self.db_url,
            SYSALERT_LOCATION=location,
            CHK_LOC=location,
            SYSALERT_LOG_LEVEL="INFO",
        )
        return Node(name, data, env)

    def commands(self) -> Any:
        """The command layer on the shared store in this process (no engine: the running engines
        hear of changes over NOTIFY): quicker than a CLI process per target."""
        from engine.commands import Commands
        from engine.config.settings import load_settings
        from engine.runtime.bootstrap import open_store

        env = {"SYSALERT_DATA_DIR": str(self.first), "SYSALERT_DATABASE_URL": self.db_url}
        settings = load_settings(self.first / "config.toml", self.first, env=env)
        return Commands(open_store(settings), settings)

    def admin(self) -> Node:
        """A CLI on the store without attaching to any daemon (its own data dir, none runs)."""
        return self._node("n0", self.first, "default")

    def node(self, name: str, location: str = "default") -> Node:
        data = self.root / name / "data"
        shutil.copytree(
            self.first, data, ignore=shutil.ignore_patterns("*.lock", "*.sock", "*.pid", "*.log")
        )
        n = self._node(name, data, location)
        self.nodes.append(n)
        return n

    def stop(self) -> None:
        for n in self.nodes:
            with suppress(Exception):
                n.stop()
