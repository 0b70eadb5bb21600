"""A lean HTTP/1.1 keep-alive client for the one Asterisk Screener talks to.

ARI traffic is many tiny requests to a single host. A general HTTP client spends more CPU
on its own machinery than the requests cost (about 200 µs a request for httpx on this
project's own transport, against 15 µs here; docs/performance.md), so Screener speaks the
little HTTP it needs itself: a small pool of persistent connections, ``Content-Length``
and chunked bodies, nothing else (no proxies, redirects, cookies or HTTP/2, which ARI
never uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


class HttpError(Exception):
    """No usable answer: the connection failed, timed out, or the reply was not HTTP."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    reason: str
    body: bytes
    content_type: str


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class KeepAliveClient:
    """Keep-alive HTTP/1.1 to the origin of ``base_url`` (``http`` or ``https``)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout: float = 5.0,
        max_connections: int = 16,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = urlsplit(base_url)
        self._secure = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._secure else 80)
        self._prefix = url.path.rstrip("/")
        default_port = 443 if self._secure else 80
        host_header = self._host if self._port == default_port else f"{self._host}:{self._port}"
        fixed = {"Host": host_header, **headers}
        self._fixed_headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._ssl = (ssl_context or ssl.create_default_context()) if self._secure else None
        self._timeout = timeout
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> HttpResponse:
        """``target`` is the path (below the base URL's path) with its query string."""
        head = [f"{method} {self._prefix}{target} HTTP/1.1\r\n", self._fixed_headers]
        if content_type:
            head.append(f"Content-Type: {content_type}\r\n")
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        message = "".join(head).encode("latin-1") + body
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._exchange(message)
            except TimeoutError as exc:
                raise HttpError("timed out") from exc

    async def _exchange(self, message: bytes) -> HttpResponse:
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else await self._connect()
        try:
            response, keep = await _send(connection, message)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            connection.close()
            if not reused:
                raise HttpError(str(exc) or type(exc).__name__) from exc
            # A kept-alive socket the server closed meanwhile: once more, on a fresh one.
            connection = await self._connect()
            try:
                response, keep = await _send(connection, message)
            except (OSError, asyncio.IncompleteReadError, ValueError) as again:
                connection.close()
                raise HttpError(str(again) or type(again).__name__) from again
        if keep and not self._closed:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._ssl, limit=MAX_HEADER_BYTES
            )
        except OSError as exc:
            raise HttpError(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


async def _send(connection: _Connection, message: bytes) -> tuple[HttpResponse, bool]:
    connection.writer.write(message)
    return await _read_response(connection.reader)


async def _read_response(reader: asyncio.StreamReader) -> tuple[HttpResponse, bool]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/"):
        raise ValueError("not an HTTP response")
    code, _, reason = rest.partition(" ")
    status = int(code)
    length: int | None = None
    chunked = False
    content_type = ""
    keep_alive = version == "HTTP/1.1"
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        lower = name.strip().lower()
        value = value.strip()
        if lower == "content-length":
            length = int(value)
        elif lower == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif lower == "connection":
            keep_alive = value.lower() != "close"
        elif lower == "content-type":
            content_type = value
    if chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        if length > MAX_BODY_BYTES:
            raise ValueError("response body too large")
        body = await reader.readexactly(length)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read(MAX_BODY_BYTES)
        keep_alive = False
    return HttpResponse(status, reason, body, content_type), keep_alive


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
