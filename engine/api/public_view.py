"""What the public surfaces (status pages, badges) may know of the engine, and the one place they
pick the targets a page lists. Everything public goes through `listed`, so a target a page does
not list is never even looked at by the code that renders it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import Response

from engine.config.status_pages import StatusPageDecl, find_page

if TYPE_CHECKING:
    from engine.config.settings import Settings
    from engine.core.domain import TargetRecord
    from engine.store.store import Store


class PublicHost(Protocol):
    """The engine as the public pages see it (the Engine satisfies it structurally)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def targets(self) -> Mapping[str, TargetRecord]: ...

    def display_state(self, rec: TargetRecord) -> str: ...


@dataclass(frozen=True, slots=True)
class PublicTarget:
    """A listed target as a page shows it: its name, shown state and latest latency. Never its
    spec, address, options or token."""

    id: str
    name: str
    state: str
    state_since: float
    latency_ms: float | None
    tags: tuple[str, ...]


# The words a visitor reads, and the shields.io colour, for each shown state.
STATE_WORDS = {
    "up": ("Operational", "brightgreen"),
    "degraded": ("Degraded", "yellow"),
    "down": ("Down", "red"),
    "pending": ("Checking", "yellow"),
    "maintenance": ("Maintenance", "blue"),
    "paused": ("Paused", "lightgrey"),
    "unknown": ("No data yet", "lightgrey"),
}
SELECTION_TTL_S = 5.0


class Listing:
    """Which targets each page lists, refreshed every few seconds: finding them walks every
    target, which a busy public page must not do on each request."""

    def __init__(self, host: PublicHost) -> None:
        self.host = host
        self._cache: dict[str, tuple[float, int, list[str]]] = {}

    def page(self, slug: str) -> StatusPageDecl | None:
        return find_page(self.host.settings, slug)

    def listed(self, page: StatusPageDecl) -> list[PublicTarget]:
        """Call on the engine's loop (it owns `targets`). Sorted by name."""
        now = time.monotonic()
        targets = self.host.targets
        hit = self._cache.get(page.slug)
        if hit is None or hit[0] < now or hit[1] != id(self.host.settings):
            ids = [r.id for r in targets.values() if page.shows(r.name, r.tags)]
            hit = (now + SELECTION_TTL_S, id(self.host.settings), ids)
            self._cache[page.slug] = hit
        out = []
        for tid in hit[2]:
            rec = targets.get(tid)
            if rec is None or not page.shows(rec.name, rec.tags):  # removed or renamed since
                continue
            out.append(
                PublicTarget(
                    rec.id,
                    rec.name,
                    self.host.display_state(rec),
                    rec.state_since,
                    rec.last_latency_ms,
                    tuple(rec.tags),
                )
            )
        out.sort(key=lambda t: t.name.lower())
        return out

    def one(self, page: StatusPageDecl, name: str) -> PublicTarget | None:
        return next((t for t in self.listed(page) if t.name == name), None)


PUBLIC_HEADERS = {
    "Cache-Control": "no-cache",  # revalidate every time: the ETag makes that cheap
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def etag_response(request: Request, body: bytes, media_type: str, status: int = 200) -> Response:
    """The body with a strong ETag (its hash), or 304 when the client already has it."""
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**PUBLIC_HEADERS, "ETag": tag}
    if status == 200 and _matches(request.headers.get("if-none-match", ""), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, status, media_type=media_type, headers=headers)


def _matches(header: str, tag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in header.split(","))


def not_found(what: str) -> Response:
    """One answer for every miss: an unlisted target reads exactly like one that does not exist."""
    return Response(
        f"{what} not found\n", 404, media_type="text/plain; charset=utf-8", headers=PUBLIC_HEADERS
    )
