"""An in-process fake Asterisk that speaks real ARI (HTTP + WebSocket) on 127.0.0.1.

It behaves like Asterisk 22 as recorded in the ARI transcripts, quirks included:

* ``Channel.caller`` has only name and number; presentation is only readable through
  ``GET /channels/{id}/variable?variable=CALLERID(pres)``;
* reading an absent function or SIP header answers **500** "Unable to read provided function";
* after ``StasisEnd`` every request on the channel answers **404** "Channel not found",
  and no ``ChannelDestroyed`` follows, unless the application subscribed to the channel
  (``POST /applications/{app}/subscription?eventSource=channel:{id}``, 422 for an unknown
  channel): then the dialplan's doings follow, as :class:`Destination` describes for the
  location the call was continued to (``ChannelDialplan``, ``Dial`` with its
  ``dialstatus``, ``ChannelHangupRequest``, ``ChannelDestroyed``); a location the
  fake's dialplan does not have ends the channel at once with no ``ChannelDialplan``
  (cause 0), as Asterisk does with "sent to invalid extension";
* ``POST /play`` answers 201 with state ``queued``, and ``PlaybackStarted`` may reach the
  socket **before** that response (every other playback here);
* a caller hanging up mid-prompt gives ``ChannelVarset`` noise, ``ChannelHangupRequest``,
  ``PlaybackFinished`` with state ``failed``, then ``StasisEnd``;
* ``Stasis()`` with no connected application fails at once (``STASISSTATUS=FAILED``), so
  the dialplan rings reception: :attr:`FakeChannel.result` is then ``"stasis-failed"``.

Simulated callers follow a :class:`CallerBehaviour`: they listen to the prompts (and hear
the spoken digit in ``sound:digits/N``), press keys, speak their name (a quiet tone, or the
WAV given as :attr:`CallerBehaviour.says`) or hang up. A finished recording is kept as
Asterisk keeps it: ``GET /recordings/stored/{name}`` and ``.../file`` serve it, and with
``recordings_dir`` it is also written there as ``<name>.<format>`` (Asterisk's
``astspooldir/recording``). Time runs
``time_scale`` times real time. Tests and the demo drive it through :meth:`place_call`.
With ``autoplay=False`` prompts and recordings never end by themselves and callers do
nothing: a test script ends them (:meth:`finish_playback`, :meth:`finish_recording`) and
acts for the caller (:meth:`press`, :meth:`caller_hangs_up`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import io
import itertools
import json
import logging
import math
import re
import socket
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

_SocketQueue = asyncio.Queue[tuple[str, asyncio.Future[None]] | None]

MEDIA_SECONDS = {
    "sound:beep": 0.4,
    "sound:beeperr": 0.4,
    "sound:privacy-unident": 4.4,
    "sound:priv-callpending": 2.0,
    "sound:priv-recordintro": 3.0,
    "sound:vm-goodbye": 0.8,
    "sound:auth-thankyou": 1.0,
    "sound:pls-hold-while-try": 2.2,
}
DEFAULT_MEDIA_SECONDS = 0.6
ASTERISK_ID = "02:fc:00:00:00:01"
_CHANNEL_SEQUENCE = itertools.count(1)
"""One sequence for every fake in the process, as Asterisk keeps one for its life: two
fakes started in the same second never hand out the same channel id."""
_DIGIT_MEDIA = re.compile(r"digits[/:](\d)$")


@dataclass(frozen=True)
class CallerBehaviour:
    """What a simulated caller does.

    ``presses`` is consumed one entry per digit prompt: ``"correct"``, ``"wrong"`` or
    ``"none"`` (stay silent; the screener times out). ``press_during_prompt`` presses
    halfway through the prompt instead of after it. ``hang_up_at`` names a step to hang up
    in: ``"ringing"`` (right after StasisStart), ``"prompt"``, ``"waiting"`` (after the
    prompt, before pressing), ``"recording"``, ``"announcement"`` (any prompt without a
    digit in it) or ``None``.

    ``says`` is what the caller says when recorded: a WAV file's bytes, 8 kHz mono 16-bit
    as a telephone line carries it (:func:`telephone_audio` checks it). The caller speaks
    for as long as it lasts (instead of ``speak_seconds``), and the recording holds it,
    cut at ``maxDurationSeconds`` as Asterisk cuts it.
    """

    presses: tuple[str, ...] = ()
    press_during_prompt: bool = False
    press_delay: float = 0.5
    hang_up_at: str | None = None
    speak_seconds: float = 2.0
    hang_up_on_hold_after: float | None = None
    """Put on hold (music on hold), hang up after this many seconds (None: wait)."""
    says: bytes | None = None
    hangs_up_ringing: bool = False
    """After the hand-back, hang up while the phone rings (before anyone answers)."""

    @property
    def speaking_seconds(self) -> float:
        if self.says is None:
            return self.speak_seconds
        return len(telephone_audio(self.says)) / (2 * TELEPHONE_RATE)


@dataclass
class FakePlayback:
    id: str
    channel_id: str
    media: list[str]
    state: str = "queued"
    task: asyncio.Task[None] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "media_uri": ",".join(self.media),
            "target_uri": f"channel:{self.channel_id}",
            "language": "en",
            "state": self.state,
        }


@dataclass
class FakeRecording:
    name: str
    channel_id: str
    format: str
    state: str = "queued"
    duration: int | None = None
    task: asyncio.Task[None] | None = None
    max_seconds: int = 0
    """``maxDurationSeconds`` of the request (0: no limit)."""

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "state": self.state,
            "target_uri": f"channel:{self.channel_id}",
        }
        if self.duration is not None:
            data["duration"] = self.duration
        return data


@dataclass
class FakeChannel:
    id: str
    name: str
    caller_name: str
    caller_number: str
    presentation: str
    did: str
    headers: dict[str, str]
    behaviour: CallerBehaviour
    state: str = "Ring"
    in_app: bool = False
    app: str = ""
    """The Stasis application the call entered."""
    variables: dict[str, str] = field(default_factory=dict)
    heard: list[str] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    result: str | None = None  # continued | hung-up | caller-hung-up | stasis-failed
    continued_to: tuple[str, str, int] | None = None
    hangup_reason: str | None = None
    recording: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    playback: FakePlayback | None = None
    live_recording: FakeRecording | None = None
    prompts_heard: int = 0
    moh: str | None = None
    """The music-on-hold class playing to the caller (``POST /channels/{id}/moh``)."""
    caller_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    subscribed: set[str] = field(default_factory=set)
    """Applications subscribed to the channel (they get its events after ``StasisEnd``)."""
    answered_by: str | None = None
    """After the hand-back: the phone that answered (``PJSIP/100``)."""
    dialstatus: str | None = None
    destroyed: asyncio.Event = field(default_factory=asyncio.Event)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": {"name": self.caller_name, "number": self.caller_number},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": "from-trunk",
                "exten": self.did,
                "priority": 2,
                "app_name": "Stasis",
                "app_data": f"screener,{self.did}",
            },
            "creationtime": _now(),
            "language": "en",
        }


@dataclass(frozen=True)
class Destination:
    """What the fake's dialplan does with a call continued to a location.

    It rings ``dial`` (none: no ``Dial()``); the phone answers after ``answer_after``
    seconds (None: never), and the call lasts ``talk_seconds`` more; unanswered, the dial
    ends after ``ring_seconds`` with ``status`` (``NOANSWER``, ``BUSY`` at once,
    ``CHANUNAVAIL`` at once), then ``VoiceMail()`` if ``voicemail``.
    """

    dial: str | None = "PJSIP/100"
    answer_after: float | None = 1.0
    talk_seconds: float = 2.0
    ring_seconds: float = 20.0
    status: str = "NOANSWER"
    voicemail: bool = False


DEFAULT_DIALPLAN: dict[str, Destination] = {
    # The shipped asterisk-config/extensions.conf, and the transcripts' internal,100.
    "screened,s": Destination(),
    "screened,voicemail": Destination(dial=None, voicemail=True),
    "reception,s": Destination(),
    "internal,100": Destination(),
}
"""Locations (``context,extension``) the fake's dialplan has, by default."""


@dataclass(frozen=True)
class LoggedRequest:
    """One REST request the fake received (``path`` includes ``/ari``)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float
    body: Any = None
    """The JSON body, if the request had one."""


@dataclass
class _Injected:
    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    times: int


RequestHook = Callable[[Request, str], Awaitable[Response | None]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class FakeAsterisk:
    """See the module docstring. ``async with FakeAsterisk(...) as pbx:`` starts and stops it."""

    def __init__(
        self,
        username: str = "screener",
        password: str = "secret",  # noqa: S107 - a local simulator, not a credential
        *,
        app: str = "screener",
        time_scale: float = 1.0,
        port: int = 0,
        autoplay: bool = True,
        multi_variables: bool = True,
        recordings_dir: str | None = None,
        dialplan: dict[str, Destination] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.app = app
        self.time_scale = time_scale
        self.autoplay = autoplay
        self.multi_variables = multi_variables
        self.dialplan = dict(DEFAULT_DIALPLAN if dialplan is None else dialplan)
        self.event_filters: dict[str, set[str]] = {}
        """The event types each application asked for (``eventFilter``; absent: all)."""
        """What each location does with a call continued there (see :class:`Destination`)."""
        """Answer ``/channels/{id}/variables`` (Asterisk 20.20, 22.10 and later) or not."""
        self._port = port
        self.channels: dict[str, FakeChannel] = {}
        self.stored_recordings: dict[str, str] = {}
        self.recording_files: dict[str, bytes] = {}
        """The audio of each stored recording (``GET /recordings/stored/{name}/file``)."""
        self.recordings_dir = recordings_dir
        """Where finished recordings are also written, as Asterisk writes them (or None)."""
        self.requests: list[LoggedRequest] = []
        self.request_hook: RequestHook | None = None
        self.accepting_websockets = True
        self.websocket_connects = 0
        self._sockets: dict[WebSocket, tuple[str, _SocketQueue]] = {}
        self._known_apps: set[str] = set()
        self._base_id = int(time.time())
        self._injected: list[_Injected] = []
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._playbacks: dict[str, FakePlayback] = {}
        self._playback_count = 0
        self._background: set[asyncio.Task[Any]] = set()

    # Lifecycle ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return self._port

    async def __aenter__(self) -> FakeAsterisk:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it a response written in two parts
        # waits for the client's delayed ACK (40 ms) between them.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self._asgi(),
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            ws_ping_interval=None,
            ws_per_message_deflate=False,  # Asterisk's websocket server has no compression
            access_log=False,
            timeout_graceful_shutdown=1,
            backlog=2048,
        )
        self._server = _QuietServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serve_task.done():
                self._serve_task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving (like Asterisk going down); channels stay in memory."""
        await self.drop_websockets()
        if self._server is not None:
            self._server.should_exit = True
        if self._serve_task is not None:
            with contextlib.suppress(Exception):
                await self._serve_task
        self._server = None
        self._serve_task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        for task in list(self._background):
            task.cancel()

    async def restart(self, down_seconds: float = 0.5) -> None:
        """Stop, stay down for a while, start again on the same port."""
        await self.stop()
        await asyncio.sleep(down_seconds)
        await self.start()

    async def drop_websockets(self) -> None:
        """Close every event socket (as a network glitch would)."""
        for _app, queue in list(self._sockets.values()):
            queue.put_nowait(None)
        for _ in range(100):
            if not self._sockets:
                break
            await asyncio.sleep(0.01)

    @property
    def app_connected(self) -> bool:
        return bool(self._sockets)

    def connected(self, app: str) -> bool:
        """Whether a Screener holds an event socket for ``app``."""
        return any(name == app for name, _queue in self._sockets.values())

    def fail_next(self, method: str, path_regex: str, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``status`` (fault injection)."""
        message = "Internal Server Error" if status >= 500 else "Injected failure"
        self._injected.append(_Injected(method, re.compile(path_regex), status, message, times))

    # Calls ----------------------------------------------------------------------------------------

    def place_call(
        self,
        number: str,
        name: str = "",
        *,
        presentation: str = "allowed_not_screened",
        did: str = "441234",
        trunk: str = "trunk",
        headers: dict[str, str] | None = None,
        behaviour: CallerBehaviour | None = None,
        channel_id: str | None = None,
        announce: bool = True,
        pass_presentation: bool = True,
        apps: tuple[str, ...] | None = None,
    ) -> FakeChannel:
        """A new inbound call entering ``Stasis(screener,DID,pres=PRESENTATION)`` as the
        shipped dialplan hands it over (``pass_presentation=False``: an older dialplan's
        ``Stasis(screener,DID)``, so Screener must read ``CALLERID(pres)``).

        ``announce=False`` puts the channel in the application without a ``StasisStart``
        (an event lost in transit, or a call left over from a crashed screener). ``apps``
        are tried in order, as the shipped dialplan does with several Screener processes:
        the call enters the first one connected.
        """
        seq = next(_CHANNEL_SEQUENCE)
        channel = FakeChannel(
            id=channel_id or f"{self._base_id}.{seq}",
            name=f"PJSIP/{trunk}-{seq:08x}",
            caller_name=name,
            caller_number=number,
            presentation=presentation,
            did=did,
            headers=dict(headers or {}),
            behaviour=behaviour or CallerBehaviour(),
        )
        self.channels[channel.id] = channel
        candidates = apps or (self.app,)
        if not announce:
            channel.in_app, channel.app = True, candidates[0]
            return channel
        entered = next((app for app in candidates if self.connected(app)), None)
        if entered is None:
            channel.result = "stasis-failed"
            channel.done.set()
            return channel
        channel.in_app, channel.app = True, entered
        args = [did, f"pres={presentation}"] if pass_presentation else [did]
        self.emit({"type": "StasisStart", "args": args, "channel": channel.as_json()})
        if channel.behaviour.hang_up_at == "ringing":
            self._after(0.05, self.caller_hangs_up(channel))
        return channel

    async def caller_hangs_up(self, channel: FakeChannel) -> None:
        if not channel.in_app:
            return
        await self._hang_up(channel, caller=True)

    async def press(self, channel: FakeChannel, digit: str) -> None:
        if not channel.in_app:
            return
        channel.pressed.append(digit)
        self.emit(
            {
                "type": "ChannelDtmfReceived",
                "digit": digit,
                "duration_ms": 120,
                "channel": channel.as_json(),
            }
        )

    def finish_playback(self, channel: FakeChannel, state: str = "done") -> None:
        """End the channel's current prompt (scripted mode)."""
        if channel.playback is not None:
            self._finish_playback(channel, channel.playback, state)

    def finish_recording(self, channel: FakeChannel, duration: int = 2) -> None:
        """End the channel's recording as if the caller stopped speaking (scripted mode)."""
        if channel.live_recording is not None:
            self._finish_recording(channel, channel.live_recording, duration)

    def fail_recording(self, channel: FakeChannel, cause: str = "error") -> None:
        recording = channel.live_recording
        if recording is None or recording.state != "recording":
            return
        recording.state = "failed"
        channel.live_recording = None
        data = recording.as_json()
        data["cause"] = cause
        self.emit({"type": "RecordingFailed", "recording": data})

    def in_app_channels(self, app: str | None = None) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.in_app and app in (None, c.app)]

    # Events ---------------------------------------------------------------------------------------

    def _app_of(self, event: dict[str, Any]) -> str:
        """The application an event belongs to: that of the channel it is about."""
        channel_id = (event.get("channel") or {}).get("id")
        for key in ("playback", "recording"):
            target = (event.get(key) or {}).get("target_uri", "")
            if target.startswith("channel:"):
                channel_id = target.removeprefix("channel:")
        channel = self.channels.get(channel_id or "")
        return channel.app if channel is not None and channel.app else self.app

    def emit(self, event: dict[str, Any]) -> asyncio.Future[None]:
        """Send an event to its application's sockets (lost if none is connected)."""
        event.setdefault("timestamp", _now())
        event["asterisk_id"] = ASTERISK_ID
        app = event["application"] = self._app_of(event)
        loop = asyncio.get_running_loop()
        sent: asyncio.Future[None] = loop.create_future()
        allowed = self.event_filters.get(app)
        if allowed is not None and event["type"] not in allowed:
            sent.set_result(None)  # filtered out (PUT /applications/{app}/eventFilter)
            return sent
        text = json.dumps(event)
        queues = [queue for name, queue in self._sockets.values() if name == app]
        if not queues:
            sent.set_result(None)
        for queue in queues:
            queue.put_nowait((text, sent))
        return sent

    def _after(self, seconds: float, coro: Awaitable[Any]) -> None:
        async def later() -> None:
            await asyncio.sleep(seconds * self.time_scale)
            await coro

        task = asyncio.create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # HTTP side ----------------------------------------------------------------------------------

    def _asgi(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/ari/events", self._events_socket),
                Route(
                    "/ari/{path:path}",
                    self._rest,
                    methods=["GET", "POST", "PUT", "DELETE"],
                ),
            ]
        )

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.username}:{self.password}"
        return hmac.compare_digest(decoded.encode(), expected.encode())

    async def _events_socket(self, websocket: WebSocket) -> None:
        app = websocket.query_params.get("app", "")
        if (
            not self.accepting_websockets
            or not self._authorised(websocket.headers.get("authorization"))
            or not app
        ):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        self.websocket_connects += 1
        self._known_apps.add(app)  # Asterisk registers an application on first connect
        queue: _SocketQueue = asyncio.Queue()
        self._sockets[websocket] = (app, queue)
        receiver = asyncio.create_task(self._drain_incoming(websocket, queue))
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                text, sent = item
                await websocket.send_text(text)
                if not sent.done():
                    sent.set_result(None)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            self._sockets.pop(websocket, None)
            receiver.cancel()
            with contextlib.suppress(Exception):
                await websocket.close(code=1001)

    async def _drain_incoming(self, websocket: WebSocket, queue: _SocketQueue) -> None:
        try:
            while True:
                await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, OSError):
            queue.put_nowait(None)

    async def _rest(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        response = await self._answer(request, path)
        self.requests.append(
            LoggedRequest(
                request.method,
                "/ari" + path,
                dict(request.query_params),
                response.status_code,
                time.perf_counter(),
                await _json_body(request),
            )
        )
        return response

    async def _answer(self, request: Request, path: str) -> Response:
        if not self._authorised(request.headers.get("authorization")):
            return JSONResponse({"message": "Authentication required"}, 401)
        for injected in self._injected:
            if injected.method == request.method and injected.pattern.search(path):
                injected.times -= 1
                if injected.times <= 0:
                    self._injected.remove(injected)
                return JSONResponse({"message": injected.message}, injected.status)
        if self.request_hook is not None:
            hooked = await self.request_hook(request, path)
            if hooked is not None:
                return hooked
        return await self._route(request, path)

    async def _route(self, request: Request, path: str) -> Response:
        parts = path.strip("/").split("/")
        method = request.method
        query = request.query_params
        if parts[0] == "applications" and len(parts) == 2 and method == "GET":
            if parts[1] not in self._known_apps:
                return _message(404, "Application not found")
            return JSONResponse(
                {
                    "name": parts[1],
                    "channel_ids": [c.id for c in self.in_app_channels(parts[1])],
                    "bridge_ids": [],
                    "endpoint_ids": [],
                    "device_names": [],
                    "events_allowed": [],
                    "events_disallowed": [],
                }
            )
        if parts[0] == "applications" and parts[2:] == ["eventFilter"] and method == "PUT":
            return self._event_filter(parts[1], await _json_body(request))
        if parts[0] == "applications" and parts[2:] == ["subscription"] and method == "POST":
            return self._subscribe(parts[1], query.getlist("eventSource"))
        if parts[0] == "channels" and len(parts) == 1 and method == "GET":
            return JSONResponse([c.as_json() for c in self.in_app_channels()])
        if parts[0] == "playbacks" and len(parts) == 2:
            return await self._playback_request(method, parts[1])
        if parts[:2] == ["recordings", "live"] and parts[3:] == ["stop"] and method == "POST":
            return self._stop_recording(parts[2])
        if parts[:2] == ["recordings", "stored"] and parts[3:] == ["file"] and method == "GET":
            audio = self.recording_files.get(parts[2])
            if audio is None:
                return _message(404, "Recording not found")
            return Response(audio, media_type=RECORDING_TYPES.get(self.stored_recordings[parts[2]]))
        if parts[:2] == ["recordings", "stored"] and len(parts) == 3 and method == "GET":
            name = parts[2]
            if name not in self.stored_recordings:
                return _message(404, "Recording not found")
            return JSONResponse({"name": name, "format": self.stored_recordings[name]})
        if parts[0] == "channels" and len(parts) >= 2:
            channel = self.channels.get(parts[1])
            if channel is None or not channel.in_app:
                return _message(404, "Channel not found")
            action = parts[2] if len(parts) > 2 else ""
            return await self._channel_request(method, action, channel, query, request)
        return _message(404, "Resource not found")

    async def _channel_request(
        self,
        method: str,
        action: str,
        channel: FakeChannel,
        query: Any,
        request: Request | None = None,
    ) -> Response:
        if action == "" and method == "DELETE":
            reason = query.get("reason", "normal")
            if reason not in ("normal", "busy", "congestion", "no_answer", "rejected", "timeout"):
                return _message(400, "Invalid reason for hangup provided")
            channel.hangup_reason = reason
            self._after(0, self._hang_up(channel, caller=False))
            return Response(status_code=204)
        if action == "variable" and method == "GET":
            value = self._read_variable(channel, query.get("variable", ""))
            if isinstance(value, Response):
                return value
            return JSONResponse({"value": value})
        if action == "variable" and method == "POST":
            variable = query.get("variable")
            if not variable:
                return _message(400, "Variable name is required")
            self._set_variable(channel, variable, query.get("value", ""))
            return Response(status_code=204)
        if action == "variables" and method == "POST" and self.multi_variables:
            body = await _json_body(request) if request is not None else None
            values = body.get("variables") if isinstance(body, dict) else None
            if not isinstance(values, dict) or not values:
                return _message(400, "Missing variables parameter.")
            for variable, value in values.items():
                if isinstance(value, dict):
                    value = value.get("value", "")
                self._set_variable(channel, str(variable), str(value))
            return Response(status_code=204)
        if action == "answer" and method == "POST":
            if channel.state != "Up":
                channel.state = "Up"
                self.emit({"type": "ChannelStateChange", "channel": channel.as_json()})
            return Response(status_code=204)
        if action == "continue" and method == "POST":
            channel.continued_to = (
                query.get("context", ""),
                query.get("extension", ""),
                int(query.get("priority", "1") or 1),
            )
            self._leave(channel, "continued")
            self._background_task(self._run_dialplan(channel))
            return Response(status_code=204)
        if action == "play" and method == "POST":
            return await self._play(channel, query)
        if action == "moh" and method == "POST":
            # Asterisk queues the command and answers 204 (an unknown class plays nothing).
            channel.moh = query.get("mohClass") or "default"
            channel.heard.append(f"moh:{channel.moh}")
            hold = channel.behaviour.hang_up_on_hold_after
            if self.autoplay and hold is not None:
                self._after(hold, self._hang_up_if_on_hold(channel))
            return Response(status_code=204)
        if action == "moh" and method == "DELETE":
            channel.moh = None
            return Response(status_code=204)
        if action == "record" and method == "POST":
            return self._record(channel, query)
        return _message(404, "Resource not found")

    @staticmethod
    def _set_variable(channel: FakeChannel, variable: str, value: str) -> None:
        if variable == "CALLERID(name)":
            channel.caller_name = value
        channel.variables[variable] = value

    def _read_variable(self, channel: FakeChannel, variable: str) -> str | Response:
        if not variable:
            return _message(400, "Variable name is required")
        callerid = {
            "CALLERID(num)": channel.caller_number,
            "CALLERID(name)": channel.caller_name,
            "CALLERID(pres)": channel.presentation,
            "CALLERID(num-pres)": channel.presentation,
        }
        if variable in callerid:
            return callerid[variable]
        header = re.fullmatch(r"PJSIP_HEADER\(read,([^)]+)\)", variable)
        if header:
            value = channel.headers.get(header.group(1))
            if value is None:
                return _message(500, "Unable to read provided function")
            return value
        if "(" in variable:
            return _message(500, "Unable to read provided function")
        if variable not in channel.variables:
            return _message(404, "Provided variable was not found")
        return channel.variables[variable]

    # Playback and recording ---------------------------------------------------------------------

    async def _play(self, channel: FakeChannel, query: Any) -> Response:
        media = [m for m in query.get("media", "").split(",") if m]
        if not media:
            return _message(400, "media is required")
        self._playback_count += 1
        playback_id = query.get("playbackId") or f"pb-{self._playback_count}"
        playback = FakePlayback(playback_id, channel.id, media)
        self._playbacks[playback_id] = playback
        channel.playback = playback
        channel.heard.extend(media)
        early = self._playback_count % 2 == 0
        if early:  # the quirk: PlaybackStarted reaches the socket before the 201
            playback.state = "playing"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._playback_started(playback), 1.0)
            body = playback.as_json()
        else:
            body = playback.as_json()
            self._after(0.002, self._playback_started(playback))
        playback.task = asyncio.create_task(self._run_playback(channel, playback))
        self._background.add(playback.task)
        playback.task.add_done_callback(self._background.discard)
        return JSONResponse(body, 201)

    async def _playback_started(self, playback: FakePlayback) -> None:
        playback.state = "playing"
        await self.emit({"type": "PlaybackStarted", "playback": playback.as_json()})

    async def _run_playback(self, channel: FakeChannel, playback: FakePlayback) -> None:
        if not self.autoplay:
            return
        seconds = sum(MEDIA_SECONDS.get(m, DEFAULT_MEDIA_SECONDS) for m in playback.media)
        digit = _spoken_digit(playback.media)
        behaviour = channel.behaviour
        if digit is not None:
            channel.prompts_heard += 1
            press = self._next_press(channel)
            if behaviour.hang_up_at == "prompt":
                self._after(seconds / 2, self.caller_hangs_up(channel))
            elif press is not None and behaviour.press_during_prompt:
                self._after(seconds / 2, self.press(channel, _key(press, digit)))
            elif press is not None:
                self._after(
                    seconds + behaviour.press_delay, self._press_if_waiting(channel, press, digit)
                )
            elif behaviour.hang_up_at == "waiting":
                self._after(seconds + behaviour.press_delay, self.caller_hangs_up(channel))
        elif behaviour.hang_up_at == "announcement":
            self._after(seconds / 2, self.caller_hangs_up(channel))
        await asyncio.sleep(seconds * self.time_scale)
        if playback.state == "playing" or playback.state == "queued":
            self._finish_playback(channel, playback, "done")

    def _next_press(self, channel: FakeChannel) -> str | None:
        presses = channel.behaviour.presses
        index = channel.prompts_heard - 1
        press = presses[index] if index < len(presses) else "none"
        return None if press == "none" else press

    async def _press_if_waiting(self, channel: FakeChannel, press: str, digit: str) -> None:
        await self.press(channel, _key(press, digit))

    def _finish_playback(self, channel: FakeChannel, playback: FakePlayback, state: str) -> None:
        if playback.state in ("done", "failed"):
            return
        playback.state = state
        self._playbacks.pop(playback.id, None)
        if channel.playback is playback:
            channel.playback = None
        self.emit({"type": "PlaybackFinished", "playback": playback.as_json()})

    async def _playback_request(self, method: str, playback_id: str) -> Response:
        playback = self._playbacks.get(playback_id)
        if playback is None:
            return _message(404, "Playback not found")
        if method == "GET":
            return JSONResponse(playback.as_json())
        if method == "DELETE":
            channel = self.channels[playback.channel_id]
            if playback.task is not None:
                playback.task.cancel()
            self._finish_playback(channel, playback, "done")
            return Response(status_code=204)
        return _message(404, "Resource not found")

    def _record(self, channel: FakeChannel, query: Any) -> Response:
        name = query.get("name", "")
        fmt = query.get("format", "")
        if not name or not fmt:
            return _message(400, "Invalid parameters")
        if fmt not in ("wav", "gsm", "ulaw", "alaw", "sln"):
            return _message(422, "The format specified is unknown on this system")
        max_seconds = int(query.get("maxDurationSeconds", "0") or 0)
        recording = FakeRecording(name, channel.id, fmt)
        channel.live_recording = recording
        recording.task = asyncio.create_task(self._run_recording(channel, recording, max_seconds))
        self._background.add(recording.task)
        recording.task.add_done_callback(self._background.discard)
        return JSONResponse(recording.as_json(), 201)

    async def _run_recording(
        self, channel: FakeChannel, recording: FakeRecording, max_seconds: int
    ) -> None:
        await asyncio.sleep(0.005 * self.time_scale)
        recording.state = "recording"
        self.emit({"type": "RecordingStarted", "recording": recording.as_json()})
        if not self.autoplay:
            return
        if channel.behaviour.hang_up_at == "recording":
            self._after(0.5, self.caller_hangs_up(channel))
        speak = channel.behaviour.speaking_seconds
        seconds = min(speak, max_seconds) if max_seconds else speak
        recording.max_seconds = max_seconds
        await asyncio.sleep(seconds * self.time_scale)
        self._finish_recording(channel, recording, round(seconds))

    def _stop_recording(self, name: str) -> Response:
        """``POST /recordings/live/{name}/stop``: end a recording and keep it (it reports 1 s:
        the fake does not time what was said before the stop)."""
        for channel in self.channels.values():
            recording = channel.live_recording
            if recording is not None and recording.name == name and channel.in_app:
                if recording.task is not None:
                    recording.task.cancel()
                recording.state = "recording"  # (a stop before RecordingStarted still ends it)
                self._finish_recording(channel, recording, 1)
                return Response(status_code=204)
        return _message(404, "Recording not found")

    async def _hang_up_if_on_hold(self, channel: FakeChannel) -> None:
        if channel.moh is not None:
            await self.caller_hangs_up(channel)

    def _finish_recording(
        self, channel: FakeChannel, recording: FakeRecording, duration: int
    ) -> None:
        if recording.state != "recording":
            return
        recording.state = "done"
        recording.duration = max(duration, 0)
        said = channel.behaviour.says
        if said is not None and duration > 0:
            pcm = telephone_audio(said)
            if recording.max_seconds:
                pcm = pcm[: recording.max_seconds * TELEPHONE_RATE * 2]
            self.store_recording(recording.name, recording.format, pcm=pcm)
        else:
            self.store_recording(recording.name, recording.format, recording.duration)
        channel.recording = recording.name
        if channel.live_recording is recording:
            channel.live_recording = None
        self.emit({"type": "RecordingFinished", "recording": recording.as_json()})

    # Leaving the application --------------------------------------------------------------------

    def _leave(self, channel: FakeChannel, result: str) -> None:
        if not channel.in_app:
            return
        for task in channel.caller_tasks:
            task.cancel()
        if channel.playback is not None:
            if channel.playback.task is not None:
                channel.playback.task.cancel()
            self._playbacks.pop(channel.playback.id, None)
            channel.playback = None
        if channel.live_recording is not None and channel.live_recording.task is not None:
            channel.live_recording.task.cancel()
        channel.in_app = False
        channel.result = channel.result or result
        self.emit({"type": "StasisEnd", "channel": channel.as_json()})
        channel.done.set()

    async def _hang_up(self, channel: FakeChannel, *, caller: bool) -> None:
        if not channel.in_app:
            return
        snapshot = channel.as_json()
        for variable in ("RTPAUDIOQOS", "RTPAUDIOQOSJITTER", "RTPAUDIOQOSLOSS"):
            self.emit(
                {"type": "ChannelVarset", "variable": variable, "value": "", "channel": snapshot}
            )
        hangup: dict[str, Any] = {"type": "ChannelHangupRequest", "channel": snapshot}
        if caller:
            hangup["cause"] = 16
        else:
            hangup.update(cause=32, soft=True)
        self.emit(hangup)
        if channel.playback is not None:
            playback = channel.playback
            if playback.task is not None:
                playback.task.cancel()
            self._finish_playback(channel, playback, "failed")
        recording = channel.live_recording
        if recording is not None:
            if recording.task is not None:
                recording.task.cancel()
            self._finish_recording(channel, recording, 0)
        channel.result = "caller-hung-up" if caller else "hung-up"
        self._leave(channel, channel.result)
        channel.destroyed.set()

    def _event_filter(self, app: str, body: Any) -> Response:
        if app not in self._known_apps:
            return _message(404, "Application not found")
        allowed = body.get("allowed") if isinstance(body, dict) else None
        if not isinstance(allowed, list) or not all(
            isinstance(item, dict) and isinstance(item.get("type"), str) for item in allowed
        ):
            return _message(400, "Invalid format definition")
        self.event_filters[app] = {item["type"] for item in allowed}
        return JSONResponse(
            {
                "name": app,
                "channel_ids": [c.id for c in self.in_app_channels(app)],
                "events_allowed": allowed,
                "events_disallowed": [],
            }
        )

    def _subscribe(self, app: str, sources: list[str]) -> Response:
        if not sources:
            return _message(400, "Missing parameter eventSource")
        if app not in self._known_apps:
            return _message(404, "Application not found")
        channels = []
        for source in sources:
            kind, _, ident = source.partition(":")
            channel = self.channels.get(ident) if kind == "channel" else None
            if channel is None or channel.destroyed.is_set():
                return _message(422, "Event source does not exist")
            channels.append(channel)
        for channel in channels:
            channel.subscribed.add(app)
        return JSONResponse(
            {"name": app, "channel_ids": [c.id for c in channels], "bridge_ids": []}
        )

    def _emit_followed(self, channel: FakeChannel, event: dict[str, Any]) -> None:
        """An event of a channel that left Stasis: only its subscribers get it."""
        if channel.app in channel.subscribed:
            self.emit(event)

    async def _run_dialplan(self, channel: FakeChannel) -> None:
        """What the dialplan does with a call continued to it (see :class:`Destination`)."""
        context, exten, _priority = channel.continued_to or ("", "", 1)
        where = self.dialplan.get(f"{context},{exten}")
        scale = self.time_scale
        if where is None:  # "sent to invalid extension but no invalid handler"
            self._destroy(channel, 0, "Unknown")
            return
        snapshot = channel.as_json()
        if where.dial is not None:
            self._emit_followed(
                channel,
                {
                    "type": "ChannelDialplan",
                    "channel": snapshot,
                    "dialplan_app": "Dial",
                    "dialplan_app_data": f"{where.dial},30",
                },
            )
            seq = next(_CHANNEL_SEQUENCE)
            peer = {
                "id": f"{self._base_id}.{seq}",
                "name": f"{where.dial}-{seq:08x}",
                "state": "Down",
                "caller": {"name": channel.caller_name, "number": channel.caller_number},
                "connected": {"name": "", "number": ""},
                "dialplan": {"context": "default", "exten": "s", "priority": 1},
                "language": "en",
            }

            def dial(status: str) -> None:
                channel.dialstatus = status
                self._emit_followed(
                    channel,
                    {
                        "type": "Dial",
                        "caller": channel.as_json(),
                        "peer": peer,
                        "dialstring": where.dial.split("/", 1)[-1] if where.dial else "",
                        "dialstatus": status,
                    },
                )

            dial("")
            if where.status in ("BUSY", "CHANUNAVAIL"):
                await asyncio.sleep(0.02 * scale)
                dial(where.status)
                self._destroy(channel, 17 if where.status == "BUSY" else 20, where.status)
                return
            await asyncio.sleep(0.02 * scale)
            dial("RINGING")
            rings = where.ring_seconds if where.answer_after is None else where.answer_after
            if channel.behaviour.hangs_up_ringing:
                await asyncio.sleep(min(rings, 0.3) * scale)
                self._emit_followed(
                    channel, {"type": "ChannelHangupRequest", "cause": 16, "channel": snapshot}
                )
                dial("CANCEL")
                self._destroy(channel, 16, "Normal Clearing", hangup_request=False)
                return
            await asyncio.sleep(rings * scale)
            if where.answer_after is not None:
                channel.answered_by = where.dial
                dial("ANSWER")
                await asyncio.sleep(where.talk_seconds * scale)
                self._destroy(channel, 16, "Normal Clearing")
                return
            dial(where.status)
        if where.voicemail:
            self._emit_followed(
                channel,
                {
                    "type": "ChannelDialplan",
                    "channel": snapshot,
                    "dialplan_app": "VoiceMail",
                    "dialplan_app_data": "100@default,u",
                },
            )
            await asyncio.sleep(where.talk_seconds * scale)
        self._destroy(channel, 16 if where.voicemail else 19, "Normal Clearing")

    def _destroy(
        self, channel: FakeChannel, cause: int, cause_txt: str, *, hangup_request: bool = True
    ) -> None:
        snapshot = channel.as_json()
        if cause and hangup_request:
            self._emit_followed(
                channel, {"type": "ChannelHangupRequest", "cause": cause, "channel": snapshot}
            )
        self._emit_followed(
            channel,
            {
                "type": "ChannelDestroyed",
                "cause": cause,
                "cause_txt": cause_txt,
                "channel": snapshot,
            },
        )
        channel.destroyed.set()

    def _background_task(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def store_recording(
        self, name: str, fmt: str = "wav", seconds: float = 1.0, *, pcm: bytes | None = None
    ) -> bytes:
        """Keep a stored recording as Asterisk does when one finishes; returns its file.

        ``pcm`` is what the caller said (8 kHz 16-bit mono samples); without it, a quiet
        tone of ``seconds``. The file is in ``fmt`` as Asterisk writes it: ``wav`` a WAV
        file, ``sln`` the bare samples, ``ulaw``/``alaw`` G.711 bytes (``gsm`` is not
        encoded: silence of the right length)."""
        if pcm is None:
            pcm = tone_samples(max(seconds, 0.2))
        audio = encode_recording(pcm, fmt)
        self.stored_recordings[name] = fmt
        self.recording_files[name] = audio
        if self.recordings_dir is not None:
            directory = Path(self.recordings_dir)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{name}.{fmt}").write_bytes(audio)
        return audio


RECORDING_TYPES = {"wav": "audio/wav", "gsm": "audio/x-gsm", "ulaw": "audio/basic"}
TELEPHONE_RATE = 8000
"""Asterisk records a telephone call at 8 kHz, 16-bit signed linear, mono."""


def tone_samples(seconds: float, hertz: float = 440.0, rate: int = TELEPHONE_RATE) -> bytes:
    """16-bit mono samples of a quiet tone."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        sample = int(8000 * math.sin(2 * math.pi * hertz * i / rate))
        frames += sample.to_bytes(2, "little", signed=True)
    return bytes(frames)


def wav_file(pcm: bytes, rate: int = TELEPHONE_RATE) -> bytes:
    """A WAV file of 16-bit mono samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def wav_tone(seconds: float, hertz: float = 440.0, rate: int = TELEPHONE_RATE) -> bytes:
    """A valid 8 kHz 16-bit mono WAV file holding a quiet tone."""
    return wav_file(tone_samples(seconds, hertz, rate), rate)


def telephone_audio(wav: bytes) -> bytes:
    """The samples of a WAV file as a telephone line carries them (8 kHz, 16-bit, mono);
    ``ValueError`` for any other WAV (make it so with ``sox IN -r 8000 -c 1 -b 16 OUT``)."""
    try:
        with wave.open(io.BytesIO(wav), "rb") as clip:
            shape = (clip.getframerate(), clip.getnchannels(), clip.getsampwidth())
            frames = clip.readframes(clip.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"a caller says a WAV file: {exc}") from exc
    if shape != (TELEPHONE_RATE, 1, 2):
        raise ValueError(
            f"a caller says 8 kHz mono 16-bit audio, as a telephone line carries it; this "
            f"WAV is {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit"
        )
    return frames


def _g711(sample: int, alaw: bool) -> int:
    """One 16-bit sample as a G.711 byte (ITU-T G.711, as Asterisk's ulaw/alaw files)."""
    if alaw:
        sign = 0x00 if sample < 0 else 0x80
        magnitude = min(-sample if sample < 0 else sample, 32767) >> 3
        if magnitude < 32:
            code = magnitude >> 1
        else:
            exponent = magnitude.bit_length() - 5
            code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
        return (sign | code) ^ 0x55
    sign = 0x80 if sample < 0 else 0x00
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = magnitude.bit_length() - 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def encode_recording(pcm: bytes, fmt: str) -> bytes:
    """16-bit mono samples in the file format Asterisk records to (``wav``, ``sln``,
    ``ulaw``, ``alaw``; ``gsm``: silence of the same length, not encoded)."""
    if fmt == "wav":
        return wav_file(pcm)
    if fmt == "sln":
        return pcm
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    if fmt in ("ulaw", "alaw"):
        return bytes(_g711(sample, fmt == "alaw") for sample in samples)
    return bytes(len(samples))


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the application embedding it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _message(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status)


def _spoken_digit(media: list[str]) -> str | None:
    for item in reversed(media):
        found = _DIGIT_MEDIA.search(item)
        if found:
            return found.group(1)
    return None


def _key(press: str, digit: str) -> str:
    if press == "correct":
        return digit
    if press == "wrong":
        return str(int(digit) % 9 + 1)
    return press[:1]


async def _json_body(request: Request) -> Any:
    """The request's JSON body, or None (read once: Starlette caches it)."""
    if "json" not in request.headers.get("content-type", ""):
        return None
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None
