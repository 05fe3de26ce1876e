"""GET /api/v1/targets/pages: every page of `target_page` in one streamed answer (NDJSON).

`status` and `target list` at 100,000 targets read four (or twenty) pages. One request a page
paid, each time, the request's trip through a loop busy probing, a hop to a worker thread and one
back. Here one worker thread walks the pages by cursor, building and encoding each, and hands it
to the loop, which writes it out: the thread is at most `AHEAD` pages in front of the socket, so
the daemon holds a few pages at a time, never the whole list.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import anyio
from starlette.responses import StreamingResponse

from engine.api import wire
from engine.api.errors import translate

AHEAD = 2  # pages built ahead of the one being written
GONE_S = 60.0  # a client that reads no page for this long is gone (or never began): stop
_WALKS: set[asyncio.Future[None]] = set()  # the loop holds tasks weakly: these, strongly

Item = tuple[bytes, bool] | Exception  # (a page's line, whether it is the last), or a failure


async def page_walk(cmds: Any, kwargs: dict[str, Any]) -> StreamingResponse:
    """The answer, once the first page is built: a first page that fails (a bad sort, a query
    too long) is the usual JSON error, not a cut stream."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[Item] = asyncio.Queue()
    room = threading.Semaphore(AHEAD)
    stop = threading.Event()

    def hand(item: Item) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the daemon is stopping
            loop.call_soon_threadsafe(ready.put_nowait, item)

    def produce() -> None:
        after = None
        try:
            while True:
                if not room.acquire(timeout=GONE_S):
                    raise TimeoutError(f"the client read no page for {GONE_S:g} s")
                if stop.is_set():
                    return
                got = cmds.target_page(**kwargs, after=after)
                body = wire.encode("target_page", got, cmds.ping_base) + b"\n"
                after = got["next"]
                hand((body, after is None))
                if after is None:
                    return
        except Exception as exc:  # to the loop, which answers it (first page) or cuts the stream
            hand(exc)

    worker = asyncio.ensure_future(anyio.to_thread.run_sync(produce))
    _WALKS.add(worker)
    worker.add_done_callback(_WALKS.discard)
    first = await ready.get()
    if isinstance(first, Exception):
        await worker
        raise translate(first, "target_page") from None

    async def lines() -> Any:
        item: Item = first
        try:
            while True:
                if isinstance(item, Exception):
                    raise item  # mid-way: the client sees the answer end before the last page
                body, last = item
                yield body
                room.release()
                if last:
                    return
                item = await ready.get()
        finally:
            stop.set()  # the client left, or all is written: the thread ends at its next page
            room.release()

    return StreamingResponse(lines(), media_type="application/x-ndjson")
