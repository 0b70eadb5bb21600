"""The FastAGI server: one asyncio TCP listener, one short session per AGI() call.

A session reads the environment, runs the script named in ``agi_request``, and
closes. Any malformed or hostile input ends that session only; the server keeps
serving. Sessions beyond :data:`MAX_SESSIONS` are turned away at once (the
dialplan then sees no ``SCREENER_VERDICT`` and rings the call through).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from screener.agi.protocol import (
    MAX_LINE_BYTES,
    AgiChannel,
    AgiHangup,
    AgiProtocolError,
    read_environment,
)
from screener.agi.scripts import AgiScripts
from screener.db.lifecycle import Database
from screener.events import EventBus
from screener.screening import ScreeningService
from screener.settings import Settings

log = logging.getLogger(__name__)

MAX_SESSIONS = 200
SESSION_TIMEOUT_SECONDS = 30.0


class AgiServer:
    def __init__(self, scripts: AgiScripts, max_sessions: int = MAX_SESSIONS) -> None:
        self.scripts = scripts
        self.max_sessions = max_sessions
        self.active = 0
        self.sessions = 0
        self.rejected = 0

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
            log.warning("FastAGI session ended: %s", exc)
        except TimeoutError:
            log.warning("FastAGI session took too long; closed")
        except Exception:  # one broken session must never stop the server
            log.exception("FastAGI session failed")
        finally:
            self.active -= 1
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = await read_environment(reader)
        channel = AgiChannel(reader, writer)
        script = env.script
        if script == "screen":
            await self.scripts.screen(env, channel)
        elif script == "outcome":
            await self.scripts.outcome(env, channel)
        else:
            log.warning("unknown FastAGI script requested; use /screen or /outcome")
            await channel.verbose("Screener: unknown script (use /screen or /outcome)")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def start_agi_server(
    settings: Settings,
    database: Database,
    screening: ScreeningService,
    bus: EventBus,
) -> tuple[asyncio.Server, AgiServer]:
    """Listen on ``agi.host:agi.port``; returns the listening server and its handler."""
    handler = AgiServer(AgiScripts(settings, database, screening, bus))
    server = await asyncio.start_server(
        handler.handle, settings.agi.host, settings.agi.port, limit=MAX_LINE_BYTES
    )
    log.info("FastAGI listening on %s:%d", settings.agi.host, settings.agi.port)
    return server, handler


async def run_agi_server(
    settings: Settings,
    database: Database,
    screening: ScreeningService,
    bus: EventBus,
) -> None:
    """Serve FastAGI until cancelled."""
    server, _handler = await start_agi_server(settings, database, screening, bus)
    async with server:
        await server.serve_forever()
