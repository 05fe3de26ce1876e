"""SSH probe: the server's identification line (`SSH-2.0-OpenSSH_9.2p1`), read directly, without
logging in; with ?fingerprint=SHA256:... the host key is fetched (asyncssh, `sysalert[services]`)
and compared, so a changed key is reported.

The banner alone needs no library: RFC 4253 lets a server send other lines first, so up to a few
lines are read until one starts with `SSH-`.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from engine.checks.probes.base import ProbeContext, ProbeResult
from engine.checks.probes.service import ProtocolError, client, done, guarded, setting
from engine.checks.specs import TargetSpec

LINE_MAX = 255  # RFC 4253 4.2: the identification line, CR LF included
LINES_MAX = 20


async def read_banner(reader: asyncio.StreamReader) -> str:
    """The identification line, or ProtocolError when the peer does not speak SSH."""
    for _ in range(LINES_MAX):
        raw = await reader.readline()
        if not raw:
            raise ProtocolError("the server closed the connection before an SSH banner")
        line = raw[:LINE_MAX].decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("SSH-"):
            return line
    raise ProtocolError("no SSH banner in the first lines the server sent")


async def fingerprint(host: str, port: int) -> str:
    """The server's host key as `SHA256:...` (what `ssh-keygen -lf` prints)."""
    with warnings.catch_warnings():  # asyncssh's DSA support warns on import; not our concern
        warnings.simplefilter("ignore")
        asyncssh = client("asyncssh", "ssh fingerprint")
    key = await asyncssh.get_server_host_key(host, port)
    if key is None:
        raise ProtocolError("the server offered no host key")
    return str(key.get_fingerprint("sha256"))


async def probe(spec: TargetSpec, ctx: ProbeContext) -> ProbeResult:
    """Connect, read the banner, close; compare the host key's fingerprint when pinned."""
    pinned = setting(spec, ctx, "fingerprint")
    if isinstance(pinned, str):
        # base64 has '+', which a query string reads as a space; a fingerprint has no spaces
        pinned = pinned.replace(" ", "+")

    async def run(start: float) -> ProbeResult:
        reader, writer = await asyncio.open_connection(spec.host, spec.port)
        try:
            banner = await read_banner(reader)
        finally:
            writer.close()
        proto, _, rest = banner[4:].partition("-")
        software, _, comment = rest.partition(" ")
        body: dict[str, Any] = {"banner": banner, "protocol": proto, "software": software}
        if comment:
            body["comment"] = comment
        if not proto.startswith("2.") and proto != "1.99":
            return done(ctx, start, body, ("protocol", f"SSH protocol {proto}, not 2.0"))
        if pinned:
            seen = await fingerprint(spec.host or "", spec.port or 22)
            body["fingerprint"] = seen
            if seen.split(":", 1)[-1].rstrip("=") != str(pinned).split(":", 1)[-1].rstrip("="):
                problem = ("protocol", f"host key changed: {seen}, pinned {pinned}")
                return done(ctx, start, body, problem)
        return done(ctx, start, body)

    return await guarded(spec, ctx, run, "the SSH banner")
