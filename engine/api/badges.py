"""Badges of a status page's targets, without a key: /badge/<slug>/<target>/<what>.<svg|json>.

`status`, `uptime` (?period=24h|7d|30d) and `latency` (mean over ?period, default 24h), as a
flat SVG badge or as shields.io's endpoint JSON (schemaVersion, label, message, color). A target
the page does not list gets the same 404 as one that does not exist.
"""

from __future__ import annotations

import json
from html import escape

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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
from engine.store import status as sstore

PERIODS = {"24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
KINDS = ("status", "uptime", "latency")
COLORS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellowgreen": "#a4a61d",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "blue": "#007ec6",
    "lightgrey": "#9f9f9f",
}


def badge_routes(host: PublicHost) -> list[Route]:
    listing = Listing(host)

    async def badge(request: Request) -> Response:
        slug = request.path_params["slug"]
        name = request.path_params["target"].replace("\0", "/")  # see PingFastPath
        what, _, fmt = request.path_params["file"].rpartition(".")
        if what not in KINDS or fmt not in ("svg", "json"):
            return not_found("badge")
        page = listing.page(slug)
        target = listing.one(page, name) if page is not None else None
        if target is None:
            return not_found("badge")
        period = request.query_params.get("period", "24h")
        if what != "status" and period not in PERIODS:
            return JSONResponse(
                {
                    "error": f"period {period[:20]!r} is not one of 24h, 7d, 30d",
                    "hint": f"e.g. /badge/{slug}/<target>/{what}.{fmt}?period=7d",
                },
                400,
                headers=PUBLIC_HEADERS,
            )
        label, message, color = await anyio.to_thread.run_sync(_values, host, target, what, period)
        if fmt == "json":
            body = json.dumps(
                {"schemaVersion": 1, "label": label, "message": message, "color": color},
                separators=(",", ":"),
            ).encode()
            return etag_response(request, body, "application/json")
        return etag_response(request, render_svg(label, message, color), "image/svg+xml")

    return [Route("/badge/{slug}/{target}/{file}", badge, methods=["GET", "HEAD"])]


def _values(host: PublicHost, t: PublicTarget, what: str, period: str) -> tuple[str, str, str]:
    """(label, message, shields colour name). Worker thread: uptime and latency read the store."""
    if what == "status":
        word, color = STATE_WORDS.get(t.state, STATE_WORDS["unknown"])
        return "status", word.lower(), color
    stats = sstore.period_stats(host.store, t.id, PERIODS[period])
    if what == "uptime":
        up = stats.uptime
        if up is None:
            return f"uptime {period}", "no data", "lightgrey"
        text = "100%" if up >= 1 else f"{min(up * 100, 99.99):.2f}%"
        return f"uptime {period}", text, uptime_color(up)
    ms = stats.latency_ms
    if ms is None:
        return f"latency {period}", "no data", "lightgrey"
    return f"latency {period}", f"{ms:.0f} ms", latency_color(ms)


def uptime_color(up: float) -> str:
    for floor, color in ((0.999, "brightgreen"), (0.99, "green"), (0.97, "yellowgreen")):
        if up >= floor:
            return color
    return "yellow" if up >= 0.95 else "orange" if up >= 0.9 else "red"


def latency_color(ms: float) -> str:
    for ceiling, color in ((100, "brightgreen"), (300, "green"), (600, "yellow"), (1000, "orange")):
        if ms < ceiling:
            return color
    return "red"


# Verdana 11px advance widths, roughly, for the characters badges use; others count as 7.
_NARROW = set("il.:,;'|!ftrjI1 ()[]/")
_WIDE = set("mwMW%@")


def text_width(text: str) -> int:
    return int(sum(3.8 if c in _NARROW else 10.5 if c in _WIDE else 7.0 for c in text)) + 1


def render_svg(label: str, message: str, color: str) -> bytes:
    """A flat badge in shields.io's look: grey label, coloured message."""
    lw, mw = text_width(label) + 10, text_width(message) + 10
    w = lw + mw
    fill = COLORS.get(color, COLORS["lightgrey"])
    lab, msg = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
        f'aria-label="{lab}: {msg}"><title>{lab}: {msg}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{fill}"/>'
        f'<rect width="{w}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{lw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{lab}</text>'
        f'<text x="{lw / 2:.1f}" y="14">{lab}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{msg}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="14">{msg}</text></g></svg>'
    ).encode()
