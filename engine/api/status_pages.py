"""Public status pages at /status/<slug>, served without a key: the listed targets' states, a
90-day uptime bar from the hourly roll-ups, their open incidents and maintenance windows.

Plain server-rendered HTML and one small stylesheet: no JavaScript, readable on a phone, cheap to
revalidate (ETag, 304). Only targets the page lists are read; nothing else is named.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.api.public_view import (
    PUBLIC_HEADERS,
    STATE_WORDS,
    Listing,
    PublicHost,
    PublicTarget,
    etag_response,
    not_found,
)
from engine.config.status_pages import StatusPageDecl
from engine.store import status as sstore
from engine.store import windows as wstore
from engine.store.windows import Window

BAR_DAYS = 90
RENDER_TTL_S = 2.0
KIND_WORDS = {
    "down": "Outage",
    "heartbeat": "Missed heartbeat",
    "flapping": "Unstable",
    "rule": "Threshold exceeded",
    "benchmark": "Performance",
}
STATE_INCIDENT = {"firing": "Investigating", "acknowledged": "Identified", "silenced": "Identified"}
CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"


def stylesheet() -> bytes:
    return files("engine.api").joinpath("status_page.css").read_bytes()


def status_routes(host: PublicHost) -> list[Route]:
    """GET /status/style.css and /status/{slug} (a slug never holds a dot)."""
    listing = Listing(host)

    async def css(request: Request) -> Response:
        return etag_response(request, stylesheet(), "text/css; charset=utf-8")

    rendered: dict[str, tuple[float, Any, bytes]] = {}

    async def page(request: Request) -> Response:
        decl = listing.page(request.path_params["slug"])
        if decl is None:
            return not_found("status page")
        listed = listing.listed(decl)  # on the loop, which owns the targets
        # A public page may be hit hard: within RENDER_TTL_S the same page of the same targets is
        # served from the last rendering (states at most that old) instead of asking the store.
        key = (decl, tuple(t.id for t in listed))
        hit = rendered.get(decl.slug)
        if hit is not None and hit[1] == key and time.monotonic() < hit[0]:
            body = hit[2]
        else:
            body = await anyio.to_thread.run_sync(render_page, host, decl, listed)
            rendered[decl.slug] = (time.monotonic() + RENDER_TTL_S, key, body)
        response = etag_response(request, body, "text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = CSP
        return response

    return [
        Route("/status/style.css", css, methods=["GET", "HEAD"]),
        Route("/status/{slug}", page, methods=["GET", "HEAD"]),
    ]


def render_page(
    host: PublicHost, page: StatusPageDecl, listed: list[PublicTarget], now: float | None = None
) -> bytes:
    """The page's HTML (worker thread: it reads the store)."""
    now = time.time() if now is None else now
    ids = [t.id for t in listed]
    days = sstore.daily_uptime(host.store, ids, BAR_DAYS, now)
    incidents = sstore.open_incidents(host.store, ids)
    windows = _windows(wstore.load_all(host.store), listed, now)
    names = {t.id: t.name for t in listed}
    title = escape(page.title or page.slug)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        '<link rel="stylesheet" href="/status/style.css">',
        "</head><body><main>",
        f"<header><h1>{title}</h1>{_overall(listed)}</header>",
        '<section class="targets" aria-label="Services">',
    ]
    parts += [_target(t, days.get(t.id, [])) for t in listed]
    if not listed:
        parts.append('<p class="empty">Nothing to show yet.</p>')
    parts.append("</section>")
    parts.append(_incidents(incidents, names))
    parts.append(_maintenance(windows, listed, now))
    parts.append(
        "<footer>Times in UTC. Bars: one per day, last 90 days, from hourly checks.</footer>"
    )
    parts.append("</main></body></html>\n")
    return "\n".join(parts).encode()


def _overall(listed: list[PublicTarget]) -> str:
    states = {t.state for t in listed}
    if "down" in states:
        word, cls = "Some services are down", "down"
    elif states & {"degraded", "pending"}:
        word, cls = "Some services are degraded", "degraded"
    elif "maintenance" in states:
        word, cls = "Maintenance in progress", "maintenance"
    elif states and states <= {"up"}:
        word, cls = "All services are operational", "up"
    else:
        word, cls = "Status not known yet", "unknown"
    return f'<p class="overall state-{cls}">{word}</p>'


def _target(t: PublicTarget, days: list[sstore.DayUptime]) -> str:
    word = STATE_WORDS.get(t.state, STATE_WORDS["unknown"])[0]
    name = escape(t.name)
    checks = sum(d.checks for d in days)
    total = f"{_pct(sum(d.ok for d in days) / checks)} uptime" if checks else "no data yet"
    cells = "".join(_cell(d) for d in days)
    ms = t.latency_ms
    latency = (
        ""
        if ms is None
        else f'<span class="latency">{"&lt;1" if ms < 1 else f"{ms:.0f}"} ms</span>'
    )
    return (
        f'<article class="target"><div class="row"><h2>{name}</h2>{latency}'
        f'<span class="state state-{escape(t.state)}">{word}</span></div>'
        f'<div class="bar" role="img" aria-label="{name}: {total} over {BAR_DAYS} days">'
        f"{cells}</div>"
        f'<div class="legend"><span>{BAR_DAYS} days ago</span><span>{total}</span>'
        "<span>today</span></div></article>"
    )


def _cell(d: sstore.DayUptime) -> str:
    day = datetime.fromtimestamp(d.day * 86400, UTC).strftime("%Y-%m-%d")
    r = d.ratio
    if r is None:
        return f'<i class="none" title="{day}: no data"></i>'
    cls = "ok" if r >= 0.999 else "part" if r >= 0.95 else "bad"
    return f'<i class="{cls}" title="{day}: {_pct(r)}"></i>'


def _pct(r: float) -> str:
    return "100%" if r >= 1 else f"{min(r * 100, 99.99):.2f}%"


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else ""


def _incidents(incidents: list[sstore.OpenIncident], names: dict[str, str]) -> str:
    head = '<section class="incidents"><h2>Open incidents</h2>'
    if not incidents:
        return head + '<p class="empty">No open incidents.</p></section>'
    items = "".join(
        f'<li class="sev-{escape(i.severity)}"><strong>{escape(names[i.target_id])}</strong>: '
        f"{KIND_WORDS.get(i.kind, 'Incident')} · {STATE_INCIDENT.get(i.state, 'Open')} · "
        f"since {_when(i.opened_at)}</li>"
        for i in incidents
        if i.target_id in names
    )
    return f"{head}<ul>{items}</ul></section>"


def _windows(windows: list[Window], listed: list[PublicTarget], now: float) -> list[Window]:
    """Windows now or to come that cover a listed target (a window for `all` covers them all)."""
    ids = {t.id for t in listed}
    tags = {tag for t in listed for tag in t.tags}
    return [
        w
        for w in windows
        if not w.expired(now)
        and (w.scope == "all" or w.target_id in ids or (w.scope == "tag" and w.tag in tags))
    ]


def _maintenance(windows: list[Window], listed: list[PublicTarget], now: float) -> str:
    head = '<section class="maintenance"><h2>Maintenance</h2>'
    if not windows:
        return head + '<p class="empty">No maintenance scheduled.</p></section>'
    items = []
    for w in windows:
        covered = [t.name for t in listed if _covers(w, t)]
        info: dict[str, Any] = w.public(now=now)
        when = (
            f"{escape(str(info['schedule']))}"
            if info["schedule"]
            else " – ".join(x for x in (_when(w.starts_at) or "now", _when(w.ends_at)) if x)
        )
        state = "in progress" if info["active"] else "scheduled"
        who = escape(", ".join(covered))
        items.append(f"<li><strong>{who}</strong>: {state} · {when}</li>")
    return f"{head}<ul>{''.join(items)}</ul></section>"


def _covers(w: Window, t: PublicTarget) -> bool:
    return w.scope == "all" or w.target_id == t.id or (w.scope == "tag" and w.tag in t.tags)


__all__ = ["PUBLIC_HEADERS", "render_page", "status_routes", "stylesheet"]
