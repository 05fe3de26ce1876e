"""Watch the watcher: ping an outside monitor while this engine is healthy, `/fail` while not.

`[watchdog] url` is a Healthchecks-compatible ping URL (hc-ping.com, or another SysAlert's
`/ping/<token>`). Every `every` seconds the engine asks its own /health: 200 pings the URL, 503
pings `<url>/fail`. A daemon that dies, hangs or loses its store stops pinging (or fails), and the
other monitor pages. Trouble reaching the URL is logged and shown in /health, but is not a reason
for a 503: the watchdog reports on this engine, it is not part of it. The URL carries a secret
token, so neither the log nor /health ever shows it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from engine.runtime.supervisor import error_class

log = logging.getLogger(__name__)
IDLE_S = 5.0  # no URL configured: look again (a SIGHUP may add one)


def fail_url(url: str) -> str:
    """`<url>/fail` with any query string kept after it."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path.rstrip("/") + "/fail", p.query, ""))


class Watchdog:
    def __init__(self, settings: Callable[[], Any], healthy: Callable[[], bool]) -> None:
        """`settings()` gives the current [watchdog] section (SIGHUP may change it); `healthy()`
        is what /health says, called in a worker thread."""
        self.settings = settings
        self.healthy = healthy
        self.last_ping_at: float | None = None
        self.last_sent: str | None = None  # "up" or "fail"
        self.error: str | None = None  # why the last ping did not arrive, None when it did
        self.pings = 0

    @property
    def configured(self) -> bool:
        return bool(self.settings().url.get_secret_value())

    def health(self) -> dict[str, Any]:
        """The /health part: always ok (see the module doc), with what happened last."""
        return {
            "ok": True,
            "last_ping_at": self.last_ping_at,
            "sent": self.last_sent,
            "error": self.error,
        }

    async def run(self) -> None:
        while True:
            conf = self.settings()
            url = conf.url.get_secret_value()
            if not url:
                await anyio.sleep(IDLE_S)
                continue
            await self.ping_once(url, conf.timeout)
            await anyio.sleep(conf.every)

    async def ping_once(self, url: str, timeout: float) -> None:
        ok = await anyio.to_thread.run_sync(self.healthy)
        sent = "up" if ok else "fail"
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
                r = await http.get(url if ok else fail_url(url))
            if r.status_code >= 400:
                raise WatchdogRefused(f"HTTP {r.status_code}")
        except Exception as exc:
            why = str(exc) if isinstance(exc, WatchdogRefused) else error_class(exc)
            if why != self.error:  # once per change of trouble, not every round
                log.warning("watchdog: the ping (%s) did not arrive: %s", sent, why)
            self.error = why
            return
        if self.error is not None:
            log.info("watchdog: pings arrive again")
        elif sent != self.last_sent:
            log.info("watchdog: pinged the outside monitor (%s)", sent)
        self.error, self.last_sent, self.last_ping_at = None, sent, time.time()
        self.pings += 1


class WatchdogRefused(Exception):
    """The watchdog URL answered with an error status."""
