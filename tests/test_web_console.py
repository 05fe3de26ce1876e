"""`sysalert web`: the console in a real headless Chromium through textual-serve, attached to a
real daemon, behind its token gate. The terminal's text is read from xterm.js's own buffer over
the DevTools protocol; a key press in the browser pauses a target in the daemon."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.chromium import Browser, png_size
from tests.conftest import free_port
from tests.daemon_harness import ROOT, Daemon, child_env, cli, init_store, start_daemon, sysalert

pytestmark = pytest.mark.slow

# xterm.js keeps its Terminal inside textual-serve's bundle; the heap has it. Its public buffer
# API gives the text each row shows.
READ_TERMINAL = """function () {
  for (const o of this) {
    try {
      if (o && o.cols && o.buffer && o.buffer.active && typeof o.buffer.active.getLine === "function") {
        const b = o.buffer.active, rows = [];
        for (let y = 0; y < b.length; y++) { const l = b.getLine(y); if (l) rows.push(l.translateToString(true)); }
        return rows.join("\\n");
      }
    } catch (e) {}
  }
  return "";
}"""


@dataclass
class WebConsole:
    daemon: Daemon
    data_dir: Path
    proc: subprocess.Popen[str]
    url: str  # with the token, as printed

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]


def start_web(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sysalert_tui", "web", "--listen", f"127.0.0.1:{port}"],
        env=child_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("sysalert web: open http://127.0.0.1:"), line + proc.stdout.read(2000)
    return proc, line.split("open ", 1)[1].strip()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebConsole]:
    d = tmp_path_factory.mktemp("web") / "data"
    init_store(d)
    rc, _, err = cli(
        d, "target", "add", "tcp://127.0.0.1:9", "--name", "web-front", "--interval", "1m"
    )
    assert rc == 0, err
    daemon = start_daemon(d)
    proc, url = start_web(d, free_port())
    try:
        yield WebConsole(daemon, d, proc, url)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        daemon.stop()


def terminal_text(b: Browser) -> str:
    proto = b.send("Runtime.evaluate", expression="Object.prototype")["result"]["objectId"]
    heap = b.send("Runtime.queryObjects", prototypeObjectId=proto)["objects"]["objectId"]
    res = b.send(
        "Runtime.callFunctionOn",
        objectId=heap,
        functionDeclaration=READ_TERMINAL,
        returnByValue=True,
    )
    b.send("Runtime.releaseObject", objectId=heap)
    return str(res["result"].get("value") or "")


def wait_terminal(b: Browser, needle: str, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = terminal_text(b)
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never shown; the terminal reads:\n{text}")
        time.sleep(0.5)


def test_help() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "sysalert_tui", "web", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert r.returncode == 0 and "--listen HOST:PORT" in r.stdout and "token" in r.stdout


def test_refuses_without_a_daemon_and_with_a_weak_token(tmp_path: Path) -> None:
    d = tmp_path / "data"
    init_store(d)
    r = sysalert(d, "web", "--listen", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1  # nothing to attach to: a state, not a mistake in the command
    assert "no daemon answers on" in r.stderr and "sysalert --daemon" in r.stderr
    r = sysalert(d, "web", "--listen", "nowhere")
    assert r.returncode == 2 and "is not HOST:PORT" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "sysalert_tui", "web"],
        env={**child_env(d), "SYSALERT_WEB_TOKEN": "short"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert r.returncode == 2 and "SYSALERT_WEB_TOKEN is too weak" in r.stderr


def test_gate_refuses_without_the_token(web: WebConsole) -> None:
    with httpx.Client(base_url=web.base, timeout=10) as c:
        r = c.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert c.get("/login").status_code == 200
        assert 'type="password"' in c.get("/login").text
        for path in ("/ws", "/static/js/textual.js", "/download/x"):
            assert c.get(path).status_code == 401, path
        bad = c.get("/", params={"token": "wrong"})
        assert (
            bad.status_code == 401 and "not right" in bad.text and "set-cookie" not in bad.headers
        )
        assert c.post("/login", data={"token": "wrong"}).status_code == 401
        good = c.post("/login", data={"token": web.token})
        assert good.status_code == 303 and good.headers["location"] == "/"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and web.token not in cookie
        page = c.get("/")
        assert page.status_code == 200
        assert f'data-session-websocket-url="ws://{web.base.split("//")[1]}/ws"' in page.text
        assert "googleapis" not in page.text
        # A page of another site cannot open the console's websocket with the visitor's cookie.
        ws = c.get(
            "/ws",
            headers={
                "Origin": "http://evil.example",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
            },
        )
        assert ws.status_code == 403


def test_console_in_chromium_renders_and_a_key_acts(web: WebConsole, tmp_path: Path) -> None:
    b = Browser(tmp_path / "profile", 1200, 700)
    try:
        b.goto(web.url)
        assert b.eval("location.href") == web.base + "/"  # the token left the address bar
        text = wait_terminal(b, "web-front")
        assert "◆ attached" in text  # the console attached to the daemon, no engine of its own
        header = next(line for line in text.splitlines() if "State" in line and "Name" in line)
        assert "Kind" in header and "Latency" in header
        shot = tmp_path / "web-console.png"
        w, h = png_size(b.screenshot(shot))
        assert w == 1200 and h > 400 and shot.stat().st_size > 10_000
        # A key press in the page: `p` pauses the selected target, in the daemon.
        b.eval("document.querySelector('.xterm-helper-textarea').focus()")
        b.press("p", "KeyP", 80, "p")
        wait_terminal(b, "paused")
        deadline = time.monotonic() + 15
        while True:
            rc, out, err = cli(web.data_dir, "target", "show", "web-front", "--json")
            assert rc == 0, err
            if json.loads(out)["paused"]:
                break
            assert time.monotonic() < deadline, f"the daemon never paused web-front: {out}"
            time.sleep(0.3)
        b.screenshot(tmp_path / "web-console-paused.png")
    finally:
        b.close()


def test_a_session_console_never_starts_an_engine(tmp_path: Path) -> None:
    """What each browser session runs, with the daemon gone: a clear line, no engine, no lock."""
    d = tmp_path / "data"
    init_store(d)
    r = subprocess.run(
        [sys.executable, "-m", "sysalert_tui"],
        env={**child_env(d), "SYSALERT_ATTACH_ONLY": "1"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert r.returncode == 1
    assert "the daemon does not answer" in r.stderr and "reload the page" in r.stderr
    assert not (d / "sysalert.sock").exists()
