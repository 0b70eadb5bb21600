"""The FastAGI server: one asyncio TCP listener, one short session per AGI() call.

A session reads the environment, runs the script named in ``agi_request`` (the call
path's ``screen`` and ``outcome``, the desk phone's feature codes), and closes. Any
malformed or hostile input ends that session only; the server keeps serving. Sessions
beyond :data:`MAX_SESSIONS` are turned away at once (the dialplan then sees no
``SCREENER_VERDICT`` and rings the call through).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from screener.agi.protocol import (
    MAX_LINE_BYTES,
    AgiChannel,
    AgiEnvironment,
    AgiHangup,
    AgiProtocolError,
    read_environment,
)
from screener.settings import AgiSettings

log = logging.getLogger(__name__)

MAX_SESSIONS = 200
SESSION_TIMEOUT_SECONDS = 30.0


AgiScript = Callable[[AgiEnvironment, AgiChannel], Awaitable[object]]
"""One script a session can ask for, by name (``agi://host:4573/NAME``)."""


class AgiServer:
    """Serves FastAGI sessions with ``scripts`` (by name); counters for ``/metrics``."""

    def __init__(self, scripts: Mapping[str, AgiScript], max_sessions: int = MAX_SESSIONS) -> None:
        self.scripts = dict(scripts)
        self.max_sessions = max_sessions
        self.active = 0
        self.sessions = 0
        self.rejected = 0
        self.failed = 0
        self._server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= self.max_sessions:
            self.rejected += 1
            log.warning("too many FastAGI sessions (%d); connection refused", self.active)
            await _close(writer)
            return
        self.active += 1
        self.sessions += 1
        try:
            async with asyncio.timeout(SESSION_TIMEOUT_SECONDS):
                await self._session(reader, writer)
        except AgiHangup:
            log.debug("FastAGI peer went away")
        except AgiProtocolError as exc:
            self.failed += 1
            log.warning("FastAGI session ended: %s", exc)
        except TimeoutError:
            self.failed += 1
            log.warning("FastAGI session took too long; closed")
        except Exception:  # one broken session must never stop the server
            self.failed += 1
            log.exception("FastAGI session failed")
        finally:
            self.active -= 1
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = await read_environment(reader)
        channel = AgiChannel(reader, writer)
        script = self.scripts.get(env.script or "")
        if script is None:
            known = ", ".join(f"/{name}" for name in self.scripts)
            log.warning("unknown FastAGI script requested; use one of %s", known)
            await channel.verbose(f"Screener: unknown script (use {known})")
            return
        await script(env, channel)

    async def start(self, settings: AgiSettings) -> None:
        """Listen on ``settings.host:settings.port`` (an OSError if the port is taken)."""
        self._server = await asyncio.start_server(
            self.handle, settings.host, settings.port, limit=MAX_LINE_BYTES
        )
        log.info("FastAGI listening on %s:%d", settings.host, settings.port)

    @property
    def port(self) -> int | None:
        """The port listened on (useful when the settings asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop taking sessions; those in progress finish (each is bounded in time)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
