"""Pydantic models of the ARI objects and events Screener uses.

Unknown fields are ignored everywhere, and unknown event types parse to ``None``, so a
newer Asterisk that adds fields or events does not break the screener.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

log = logging.getLogger(__name__)


class _AriModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CallerId(_AriModel):
    name: str = ""
    number: str = ""


class DialplanCep(_AriModel):
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""


class Channel(_AriModel):
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = Field(default_factory=CallerId)
    connected: CallerId = Field(default_factory=CallerId)
    dialplan: DialplanCep | None = None
    language: str = ""


class Playback(_AriModel):
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


class LiveRecording(_AriModel):
    name: str
    format: str = ""
    target_uri: str = ""
    state: str = ""
    duration: int | None = None
    cause: str | None = None


class Application(_AriModel):
    name: str
    channel_ids: list[str] = Field(default_factory=list)


class _Event(_AriModel):
    application: str = ""
    timestamp: str = ""


class StasisStart(_Event):
    type: Literal["StasisStart"]
    args: list[str] = Field(default_factory=list)
    channel: Channel


class StasisEnd(_Event):
    type: Literal["StasisEnd"]
    channel: Channel


class ChannelDtmfReceived(_Event):
    type: Literal["ChannelDtmfReceived"]
    digit: str
    duration_ms: int = 0
    channel: Channel


class ChannelHangupRequest(_Event):
    type: Literal["ChannelHangupRequest"]
    cause: int | None = None
    soft: bool | None = None
    channel: Channel


class ChannelDestroyed(_Event):
    type: Literal["ChannelDestroyed"]
    cause: int = 0
    cause_txt: str = ""
    channel: Channel


class ChannelStateChange(_Event):
    type: Literal["ChannelStateChange"]
    channel: Channel


class ChannelDialplan(_Event):
    """The channel moved on in the dialplan (after it left Stasis: only to a subscriber)."""

    type: Literal["ChannelDialplan"]
    channel: Channel
    dialplan_app: str = ""
    dialplan_app_data: str = ""


class Dial(_Event):
    """A ``Dial()`` from the channel (``caller``) to ``peer``; ``dialstatus`` is empty when the
    dial starts, then ``RINGING``, ``ANSWER``, ``BUSY``, ``NOANSWER``, ``CANCEL``..."""

    type: Literal["Dial"]
    peer: Channel
    caller: Channel | None = None
    dialstring: str = ""
    dialstatus: str = ""


class PlaybackStarted(_Event):
    type: Literal["PlaybackStarted"]
    playback: Playback


class PlaybackFinished(_Event):
    type: Literal["PlaybackFinished"]
    playback: Playback


class RecordingStarted(_Event):
    type: Literal["RecordingStarted"]
    recording: LiveRecording


class RecordingFinished(_Event):
    type: Literal["RecordingFinished"]
    recording: LiveRecording


class RecordingFailed(_Event):
    type: Literal["RecordingFailed"]
    recording: LiveRecording


AriEvent = Annotated[
    StasisStart
    | StasisEnd
    | ChannelDtmfReceived
    | ChannelHangupRequest
    | ChannelDestroyed
    | ChannelStateChange
    | ChannelDialplan
    | Dial
    | PlaybackStarted
    | PlaybackFinished
    | RecordingStarted
    | RecordingFinished
    | RecordingFailed,
    Field(discriminator="type"),
]

KNOWN_EVENTS = frozenset(
    {
        "StasisStart",
        "StasisEnd",
        "ChannelDtmfReceived",
        "ChannelHangupRequest",
        "ChannelDestroyed",
        "ChannelStateChange",
        "ChannelDialplan",
        "Dial",
        "PlaybackStarted",
        "PlaybackFinished",
        "RecordingStarted",
        "RecordingFinished",
        "RecordingFailed",
    }
)

_EVENT_ADAPTER: TypeAdapter[AriEvent] = TypeAdapter(AriEvent)


def parse_event(message: Any) -> AriEvent | None:
    """The typed event for a decoded websocket message, or ``None`` for events we do not use."""
    if not isinstance(message, dict) or message.get("type") not in KNOWN_EVENTS:
        return None
    try:
        return _EVENT_ADAPTER.validate_python(message)
    except ValidationError as exc:
        log.warning("ignoring malformed %s event: %s", message.get("type"), exc.error_count())
        return None


def channel_id_of_target(target_uri: str) -> str | None:
    """``channel:1795351318.5633`` -> ``1795351318.5633`` (playbacks and recordings)."""
    kind, _, ident = target_uri.partition(":")
    return ident if kind == "channel" and ident else None
