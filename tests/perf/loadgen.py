"""A small HTTP/1.1 keep-alive load generator (run as its own process): C connections, each sending
the next request when the previous answer arrives. Prints one JSON line: requests/s, p99, codes."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time


class Conn(asyncio.Protocol):
    def __init__(self, gen: Gen) -> None:
        self.gen = gen
        self.buf = b""
        self.t0 = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        if time.perf_counter() >= self.gen.stop or self.transport is None:
            if self.transport is not None:
                self.transport.close()
            return
        self.t0 = time.perf_counter()
        self.transport.write(self.gen.request())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            code = head[9:12].decode()
            self.buf = self.buf[end + 4 + length :]
            self.gen.done(code, time.perf_counter() - self.t0)
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.closed += 1


class Gen:
    def __init__(self, paths: list[bytes], seconds: float) -> None:
        self.paths = paths
        self.stop = time.perf_counter() + seconds
        self.codes: dict[str, int] = {}
        self.lat: list[float] = []
        self.closed = 0

    def request(self) -> bytes:
        return (
            b"GET "
            + random.choice(self.paths)
            + b" HTTP/1.1\r\nHost: l\r\nUser-Agent: curl/8\r\n\r\n"
        )

    def done(self, code: str, dt: float) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        if len(self.lat) < 2_000_000:
            self.lat.append(dt)


async def run(port: int, paths: list[bytes], concurrency: int, seconds: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    gen = Gen(paths, seconds)
    t0 = time.perf_counter()
    for _ in range(concurrency):
        await loop.create_connection(lambda: Conn(gen), "127.0.0.1", port)
    while time.perf_counter() < gen.stop + 2 and gen.closed < concurrency:
        await asyncio.sleep(0.05)
    dt = time.perf_counter() - t0
    n = sum(gen.codes.values())
    lat = sorted(gen.lat)
    return {
        "requests": n,
        "per_s": n / dt,
        "codes": gen.codes,
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1000 if lat else None,
    }


def main() -> None:
    port, concurrency, seconds, pathfile = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        float(sys.argv[3]),
        sys.argv[4],
    )
    with open(pathfile) as fh:
        paths = [p.encode() for p in fh.read().split()]
    try:
        import uvloop

        res = uvloop.run(run(port, paths, concurrency, seconds))
    except ImportError:
        res = asyncio.run(run(port, paths, concurrency, seconds))
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
