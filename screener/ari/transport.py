"""A lean HTTP/1.1 keep-alive transport for ``httpx.AsyncClient`` talking to one Asterisk.

ARI traffic is many tiny requests to a single host. httpx's default transport (httpcore
on anyio) spends more CPU on pool bookkeeping than on the requests themselves at a few
hundred requests a second, so Screener plugs in this transport: a small pool of
persistent asyncio stream connections, ``Content-Length`` and chunked bodies, nothing else
(no proxies, no HTTP/2, no redirects, which ARI never needs). The client API stays httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque

import httpx

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 to the one origin of the client's ``base_url``."""

    def __init__(self, max_connections: int = 8, ssl_context: ssl.SSLContext | None = None):
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._ssl = ssl_context
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        limit = timeouts.get("read") or timeouts.get("connect") or 30.0
        async with self._slots:
            try:
                async with asyncio.timeout(limit):
                    return await self._exchange(request)
            except TimeoutError as exc:
                raise httpx.ReadTimeout("ARI request timed out", request=request) from exc

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        head = _request_head(request, len(body))
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else await self._connect(request)
        try:
            connection.writer.write(head + body)
            status, headers, content, keep_alive = await _read_response(connection.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            connection.close()
            if reused:  # a kept-alive socket the server closed meanwhile: retry once, fresh
                connection = await self._connect(request)
                try:
                    connection.writer.write(head + body)
                    status, headers, content, keep_alive = await _read_response(connection.reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as again:
                    connection.close()
                    raise httpx.ReadError(
                        str(again) or "connection lost", request=request
                    ) from again
            else:
                raise httpx.ReadError(str(exc) or "connection lost", request=request) from exc
        if keep_alive and not self._closed:
            self._idle.append(connection)
        else:
            connection.close()
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _connect(self, request: httpx.Request) -> _Connection:
        url = request.url
        secure = url.scheme == "https"
        port = url.port or (443 if secure else 80)
        try:
            reader, writer = await asyncio.open_connection(
                url.host, port, ssl=(self._ssl or ssl.create_default_context()) if secure else None
            )
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


def _request_head(request: httpx.Request, length: int) -> bytes:
    target = request.url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1"]
    for name, value in request.headers.multi_items():
        if name.lower() in ("content-length", "transfer-encoding", "connection", "accept-encoding"):
            continue
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    raw = await reader.readuntil(b"\r\n\r\n")
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError("response headers too large")
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest.split(" ", 1)[0])
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep_alive = version == "HTTP/1.1"
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        value = value.strip()
        lower = name.strip().lower()
        headers.append((name.strip(), value))
        if lower == "content-length":
            length = int(value)
        elif lower == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif lower == "connection":
            keep_alive = value.lower() != "close"
    if chunked:
        content = await _read_chunked(reader)
        headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
    elif length is not None:
        if length > MAX_BODY_BYTES:
            raise ValueError("response body too large")
        content = await reader.readexactly(length)
    elif status in (204, 304) or 100 <= status < 200:
        content = b""
    else:
        content = await reader.read(MAX_BODY_BYTES)
        keep_alive = False
    return status, headers, content, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # (trailers are not used by Asterisk)
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise ValueError("response body too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
