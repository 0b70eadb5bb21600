"""The caller's recordings (their name and reason): where each one is, and its audio.

The one place a recording is found and read, for the console's player and for speech to
text alike. Two places it can come from, chosen by ``ari.recordings_dir``:

- set (the default ``recordings``): the file ``<recordings_dir>/<name>.<format>`` on this
  machine (Screener beside Asterisk, or sharing its recording directory);
- empty: Asterisk's own copy over ARI, ``GET /ari/recordings/stored/{name}/file`` on
  ``ari.url`` with the ARI user's Basic credentials (Screener on another host or in a
  container).

:func:`recording_status` says which one applies and, when the call page cannot offer a
player, exactly why; :func:`open_ari_recording` streams Asterisk's copy to a browser;
:func:`read_recording` gives speech to text the file or the bytes.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from screener.ari.client import basic_auth_header, rest_base
from screener.settings import Settings

RECORDING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,150}(\.[A-Za-z0-9]{1,8})?$")
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".wav16": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".gsm": "audio/x-gsm",
    ".ulaw": "audio/basic",
    ".sln": "audio/L16",
}
ARI_CHUNK = 64 * 1024


def _candidates(name: str, default_format: str) -> list[str]:
    candidates = [name]
    if "." not in name and re.fullmatch(r"[A-Za-z0-9]{1,8}", default_format or ""):
        candidates.append(f"{name}.{default_format}")
    return candidates


def recording_path(recordings_dir: str, name: str | None, default_format: str) -> Path | None:
    """The file for ``name`` inside ``recordings_dir``, or None (bad name, missing file)."""
    if not recordings_dir or not name or not RECORDING_NAME.match(name):
        return None
    base = Path(recordings_dir).resolve()
    for candidate in _candidates(name, default_format):
        path = (base / candidate).resolve()
        if path.parent == base and path.is_file():
            return path
    return None


def media_type(path: Path) -> str:
    return AUDIO_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """Whether the call page can offer a player, and why not when it cannot."""

    playable: bool
    why: str = ""
    path: Path | None = None
    """The file to serve (``ari.recordings_dir`` set)."""
    ari_name: str | None = None
    """The stored recording to fetch through ARI (``ari.recordings_dir`` empty)."""


class RecordingUnavailable(Exception):
    """ARI did not hand the recording over; the message says why (safe to show)."""


def _file_status(settings: Settings, name: str) -> RecordingStatus:
    recordings_dir = settings.ari.recordings_dir
    base = Path(recordings_dir).resolve()
    looked_for = [base / c for c in _candidates(name, settings.challenge.record_format)]
    for path in looked_for:
        resolved = path.resolve()
        if resolved.parent != base:
            return RecordingStatus(
                False,
                f"The recording {path} leads outside ari.recordings_dir ({base}), so it is "
                "not played.",
            )
        if resolved.is_file():
            try:
                with resolved.open("rb"):
                    pass
            except OSError as exc:
                return RecordingStatus(
                    False,
                    f"The recording {resolved} exists but Screener cannot read it "
                    f"({exc.strerror or type(exc).__name__}): let the user Screener runs as "
                    "read Asterisk's recordings (e.g. add it to the asterisk group).",
                )
            return RecordingStatus(True, path=resolved)
    shown = " or ".join(str(p) for p in looked_for)
    return RecordingStatus(
        False,
        f"The recording is not under ari.recordings_dir: looked for {shown}. Set "
        "ari.recordings_dir to Asterisk's recording directory, or leave it empty to fetch "
        "recordings through ARI.",
    )


def recording_status(settings: Settings, name: str | None) -> RecordingStatus:
    """Where the call's recording is, from the settings alone (no request to Asterisk)."""
    if not name:
        return RecordingStatus(False, "No recording for this call.")
    if not RECORDING_NAME.match(name):
        return RecordingStatus(
            False, "The recording name stored on this call is not a safe file name."
        )
    if settings.ari.recordings_dir:
        return _file_status(settings, name)
    if not settings.ari.url:
        return RecordingStatus(
            False,
            "ari.recordings_dir is empty and ari.url is not set, so there is nowhere to fetch "
            "the recording from.",
        )
    return RecordingStatus(True, ari_name=name)


@dataclass
class AriAudio:
    """An open ARI download: read :attr:`chunks`, then :meth:`aclose` (also on error)."""

    media_type: str
    length: str | None
    response: httpx.Response
    client: httpx.AsyncClient

    async def chunks(self) -> AsyncIterator[bytes]:
        """The audio, then the connection closed (also when the browser goes away)."""
        try:
            async for chunk in self.response.aiter_bytes(ARI_CHUNK):
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        try:
            await self.response.aclose()
        finally:
            await self.client.aclose()


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every download: building one reads the CA bundle (about 40 ms
    of CPU), which a new client would otherwise do each time, on the event loop."""
    return httpx.create_ssl_context()


def prepare() -> None:
    """Build the TLS context and load the HTTP client's modules now (about 0.1 s): call
    it in a thread at start-up, so the first download does not do it on the event loop."""
    httpx.AsyncClient(verify=_tls_context())


def _ari_client(settings: Settings) -> httpx.AsyncClient:
    ari = settings.ari
    return httpx.AsyncClient(
        base_url=rest_base(ari.url),
        headers={"Authorization": basic_auth_header(ari.username, ari.password.get_secret_value())},
        timeout=ari.request_timeout_seconds,
        verify=_tls_context(),
    )


def _refusal(settings: Settings, name: str, status: int) -> str:
    if status == 404:
        return f"Asterisk ({settings.ari.url}) has no stored recording named {name}."
    if status in (401, 403):
        return "Asterisk refused the ARI user: check ari.username and ari.password."
    return f"Asterisk answered {status} when asked for the recording {name}."


async def ari_recording_status(settings: Settings, name: str) -> RecordingStatus:
    """Ask Asterisk whether it still has the stored recording (``GET
    /recordings/stored/{name}``), so the call page can say why there is no player."""
    async with _ari_client(settings) as client:
        try:
            response = await client.get(f"/recordings/stored/{quote(name, safe='')}")
        except httpx.HTTPError as exc:
            return RecordingStatus(
                False,
                f"Asterisk could not be reached at {settings.ari.url} "
                f"({type(exc).__name__}) to fetch the recording.",
            )
    if response.status_code != 200:
        return RecordingStatus(False, _refusal(settings, name, response.status_code))
    return RecordingStatus(True, ari_name=name)


async def open_ari_recording(settings: Settings, name: str) -> AriAudio:
    """Start downloading the stored recording ``name`` from Asterisk (streamed).

    Raises :class:`RecordingUnavailable` when Asterisk cannot be reached or has no such
    recording. The ARI password travels only in the ``Authorization`` header.
    """
    client = _ari_client(settings)
    path = f"/recordings/stored/{quote(name, safe='')}/file"
    try:
        response = await client.send(client.build_request("GET", path), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise RecordingUnavailable(
            f"Asterisk could not be reached at {settings.ari.url} ({type(exc).__name__})."
        ) from exc
    if response.status_code != 200:
        status = response.status_code
        await response.aclose()
        await client.aclose()
        raise RecordingUnavailable(_refusal(settings, name, status))
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    if not content_type.startswith("audio/"):
        content_type = AUDIO_TYPES.get(Path(name).suffix.lower(), "") or (
            AUDIO_TYPES.get("." + settings.challenge.record_format.lower(), "audio/wav")
        )
    return AriAudio(content_type, response.headers.get("content-length"), response, client)


async def read_recording(settings: Settings, name: str, *, max_bytes: int) -> Path | bytes:
    """The audio of recording ``name``, whole: the file in ``ari.recordings_dir`` when that
    is set, otherwise the bytes of Asterisk's copy over ARI.

    Raises :class:`RecordingUnavailable` saying why (no such recording, unreadable, larger
    than ``max_bytes``, Asterisk unreachable or refusing); never with the credentials.
    """
    status = recording_status(settings, name)
    if status.path is not None:
        return status.path
    if status.ari_name is None:
        raise RecordingUnavailable(status.why)
    audio = await open_ari_recording(settings, status.ari_name)
    try:
        if audio.length and audio.length.isdigit() and int(audio.length) > max_bytes:
            raise RecordingUnavailable(f"The recording {name} is larger than {max_bytes} bytes.")
        chunks: list[bytes] = []
        size = 0
        async for chunk in audio.response.aiter_bytes(ARI_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise RecordingUnavailable(
                    f"The recording {name} is larger than {max_bytes} bytes."
                )
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise RecordingUnavailable(
            f"Asterisk stopped sending the recording {name} ({type(exc).__name__})."
        ) from exc
    finally:
        await audio.aclose()
    return b"".join(chunks)
