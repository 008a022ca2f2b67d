"""A lean HTTP/1.1 keep-alive client for the bench's load: JSON POSTs over one asyncio stream.

The load generator shares the machine's cores with the system it measures. httpx spent about
half a core sending 200 writeOffs/s in the subscription phase; this sends the same requests
for a fraction of that (as pgbench is the ceiling's client rather than a Python one). It does
only what the bench needs: `Content-Length` bodies (uvicorn's answers to POST /graphql), no
redirects, no chunked transfer, no TLS.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class RawHttpError(Exception):
    """The server answered with something other than a 200 and a JSON body."""


class RawClient:
    """One keep-alive connection; one request at a time (the caller serialises)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        url = urlsplit(base)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = f"Host: {url.netloc}\r\nContent-Type: application/json\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` as JSON to `path`; the decoded JSON answer."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        data = json.dumps(body).encode()
        request = f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(data)}\r\n\r\n"
        self._writer.write(request.encode() + data)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, length = _status_and_length(head)
        payload = await self._reader.readexactly(length)
        if status != 200:
            raise RawHttpError(f"HTTP {status}: {payload[:200]!r}")
        return json.loads(payload)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()
            self._writer = self._reader = None


def _status_and_length(head: bytes) -> tuple[int, int]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value)
    raise RawHttpError(f"HTTP {status} without Content-Length: {lines!r}")
