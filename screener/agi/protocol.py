"""The FastAGI wire protocol: the environment Asterisk sends, commands and their replies.

Everything read here comes from the network and is treated as hostile: lines,
line count, total size and waiting time are bounded, and anything that does not
look like AGI ends the session with :class:`AgiProtocolError`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_LINE_BYTES = 1024
"""Longest line accepted (Asterisk's own lines are well under this)."""
MAX_ENV_LINES = 64
MAX_ENV_BYTES = 16 * 1024
MAX_ARGS = 16
MAX_REPLY_LINES = 32
ENV_TIMEOUT_SECONDS = 5.0
REPLY_TIMEOUT_SECONDS = 5.0

_KEY = re.compile(r"agi_[a-z0-9_]{1,40}")
_ARG_KEY = re.compile(r"agi_arg_([0-9]{1,3})")
_VAR_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_SCRIPT = re.compile(r"[a-z][a-z0-9_-]{0,31}")

UNKNOWN = "unknown"
"""What Asterisk sends for an unset caller ID, name or DNID."""

# Q.931 presentation indicator (agi_callingpres) -> Asterisk's CALLERID(pres) names.
PRESENTATIONS: Mapping[int, str] = {
    0: "allowed_not_screened",
    1: "allowed_passed_screen",
    2: "allowed_failed_screen",
    3: "allowed",
    32: "prohib_not_screened",
    33: "prohib_passed_screen",
    34: "prohib_failed_screen",
    35: "prohib",
    67: "unavailable",
}


class AgiProtocolError(Exception):
    """The peer did not speak AGI within the limits; the session ends."""


class AgiHangup(Exception):
    """The channel hung up (``HANGUP`` or the connection closed) while we talked to it."""


def presentation_name(raw: str | None) -> str | None:
    """Map the numeric ``agi_callingpres`` to a presentation name, or None if unusable."""
    if raw is None or not raw.strip().isdigit() or len(raw.strip()) > 3:
        return None
    value = int(raw.strip())
    if value in PRESENTATIONS:
        return PRESENTATIONS[value]
    if value > 127:
        return None
    restriction = value & 0x60  # bits 6-7 of octet 3a
    if restriction == 0x20:
        return "prohib"
    if restriction == 0x40:
        return "unavailable"
    return "allowed" if restriction == 0 else None


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The ``agi_*`` variables of one request."""

    values: Mapping[str, str]
    args: tuple[str, ...]

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def known(self, key: str) -> str | None:
        """The value unless it is empty or Asterisk's ``unknown`` placeholder."""
        value = self.values.get(key)
        if value is None or not value.strip() or value.strip().lower() == UNKNOWN:
            return None
        return value.strip()

    def arg(self, index: int) -> str | None:
        """1-based argument, None when absent or empty."""
        if 1 <= index <= len(self.args) and self.args[index - 1].strip():
            return self.args[index - 1].strip()
        return None

    @property
    def script(self) -> str | None:
        """``screen`` for ``agi://host:4573/screen?x``; None when absent or odd."""
        name = self.values.get("agi_network_script")
        if name is None:
            request = self.values.get("agi_request", "")
            try:
                name = urlsplit(request).path
            except ValueError:
                return None
        name = name.split("?", 1)[0].strip().strip("/").lower()
        return name if _SCRIPT.fullmatch(name) else None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def parse_environment(lines: list[bytes]) -> AgiEnvironment:
    """Turn the raw environment lines (without the blank line) into an environment."""
    values: dict[str, str] = {}
    args: dict[int, str] = {}
    for raw in lines:
        line = _decode(raw.rstrip(b"\r\n"))
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if not sep or not _KEY.fullmatch(key):
            raise AgiProtocolError("not an AGI environment line")
        arg = _ARG_KEY.fullmatch(key)
        if arg:
            index = int(arg[1])
            if not 1 <= index <= MAX_ARGS:
                raise AgiProtocolError("too many AGI arguments")
            args.setdefault(index, value)
        else:
            values.setdefault(key, value)
    if "agi_request" not in values and "agi_network_script" not in values:
        raise AgiProtocolError("no agi_request in the environment")
    ordered = tuple(args.get(i, "") for i in range(1, max(args, default=0) + 1))
    return AgiEnvironment(values, ordered)


async def read_line(reader: asyncio.StreamReader, wait_seconds: float) -> bytes:
    """One line, bounded by the reader's limit and ``wait_seconds``."""
    try:
        async with asyncio.timeout(wait_seconds):
            return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise AgiProtocolError("line too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise AgiHangup("connection closed") from exc
    except TimeoutError as exc:
        raise AgiProtocolError("timed out waiting for the peer") from exc
    except ValueError as exc:  # the buffer limit was hit without a separator
        raise AgiProtocolError("line too long") from exc


async def read_environment(reader: asyncio.StreamReader) -> AgiEnvironment:
    """Read ``agi_*: value`` lines up to the blank line, within every limit."""
    lines: list[bytes] = []
    total = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ENV_TIMEOUT_SECONDS
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AgiProtocolError("timed out reading the AGI environment")
        line = await read_line(reader, remaining)
        total += len(line)
        if len(line) > MAX_LINE_BYTES:
            raise AgiProtocolError("line too long")
        if total > MAX_ENV_BYTES:
            raise AgiProtocolError("AGI environment too large")
        if line in (b"\n", b"\r\n"):
            return parse_environment(lines)
        lines.append(line)
        if len(lines) > MAX_ENV_LINES:
            raise AgiProtocolError("too many AGI environment lines")


def quote(value: str) -> str:
    """An AGI command argument in double quotes (backslash escapes, one line)."""
    cleaned = value.replace("\\", "\\\\").replace('"', '\\"')
    cleaned = cleaned.replace("\r", " ").replace("\n", " ").replace("\x00", "")
    return f'"{cleaned}"'


def set_variable_command(name: str, value: str) -> str:
    if not _VAR_NAME.fullmatch(name):
        raise ValueError(f"not a channel variable name: {name!r}")
    return f"SET VARIABLE {name} {quote(value)}"


def verbose_command(message: str, level: int = 1) -> str:
    return f"VERBOSE {quote(message[:200])} {level}"


@dataclass(frozen=True, slots=True)
class AgiReply:
    code: int
    result: str | None
    text: str

    @property
    def ok(self) -> bool:
        return self.code == 200


_REPLY = re.compile(r"^(?P<code>[0-9]{3})(?P<sep>[ -])(?P<rest>.*)$")
_RESULT = re.compile(r"result=(?P<result>-?[0-9]+)")


async def read_reply(reader: asyncio.StreamReader) -> AgiReply:
    """Read one reply: ``200 result=1``, ``510 ...``, or a multi-line ``520-...`` block."""
    for _ in range(MAX_REPLY_LINES):
        line = _decode(await read_line(reader, REPLY_TIMEOUT_SECONDS)).strip()
        if line == "HANGUP":
            raise AgiHangup("the channel hung up")
        match = _REPLY.match(line)
        if match is None:
            raise AgiProtocolError("unexpected reply from Asterisk")
        code = int(match["code"])
        if match["sep"] == "-":  # multi-line usage text: read to the "520 End..." line
            continue
        found = _RESULT.search(match["rest"])
        return AgiReply(code, found["result"] if found else None, match["rest"][:200])
    raise AgiProtocolError("reply too long")


class AgiChannel:
    """Send commands to one AGI session and check each reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @property
    def peer(self) -> str | None:
        """The address of the PBX on the other end (for the audit log), if known."""
        name = self.writer.get_extra_info("peername")
        if isinstance(name, tuple) and name:
            return str(name[0])
        return None

    async def command(self, line: str) -> AgiReply:
        try:
            self.writer.write(line.encode() + b"\n")
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise AgiHangup("connection closed") from exc
        return await read_reply(self.reader)

    async def set_variable(self, name: str, value: str) -> None:
        reply = await self.command(set_variable_command(name, value))
        if not reply.ok or reply.result != "1":
            raise AgiProtocolError(f"SET VARIABLE {name} refused ({reply.code})")

    async def verbose(self, message: str) -> None:
        await self.command(verbose_command(message))
