"""The ARI request each call-flow effect stands for (pure: used by the adapter and the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screener.calls import machine as m


@dataclass(frozen=True, slots=True)
class AriRequest:
    method: str
    path: str  # below /ari
    params: dict[str, Any]
    name: str  # short name used in EffectFailed and logs
    body: dict[str, Any] | None = None  # JSON


def one_by_one(request: AriRequest) -> list[AriRequest]:
    """A multi-variable set as one request per variable (Asterisk before 20.20/22.10)."""
    if request.name != "set_variables" or request.body is None:
        return [request]
    path = request.path.removesuffix("s")
    return [
        AriRequest("POST", path, {"variable": name, "value": value}, "set_variable")
        for name, value in request.body["variables"].items()
    ]


def ari_request(effect: m.Effect, channel_id: str, app: str = "screener") -> AriRequest | None:
    """The request for an ARI effect, ``None`` for timers and database effects."""
    chan = f"/channels/{channel_id}"
    params: dict[str, Any]
    if isinstance(effect, m.Follow):
        params = {"eventSource": f"channel:{channel_id}"}
        return AriRequest("POST", f"/applications/{app}/subscription", params, "follow")
    if isinstance(effect, m.SetVariables):
        body = {"variables": dict(effect.values)}
        return AriRequest("POST", f"{chan}/variables", {}, "set_variables", body)
    if isinstance(effect, m.Answer):
        return AriRequest("POST", f"{chan}/answer", {}, "answer")
    if isinstance(effect, m.Play):
        params = {"media": ",".join(effect.media), "playbackId": effect.playback_id}
        return AriRequest("POST", f"{chan}/play", params, "play")
    if isinstance(effect, m.StopPlayback):
        return AriRequest("DELETE", f"/playbacks/{effect.playback_id}", {}, "stop_playback")
    if isinstance(effect, m.Record):
        params = {
            "name": effect.name,
            "format": effect.format,
            "maxDurationSeconds": effect.max_duration_seconds,
            "ifExists": "overwrite",
            "beep": "true" if effect.beep else "false",
            "terminateOn": effect.terminate_on,
        }
        if effect.max_silence_seconds:
            params["maxSilenceSeconds"] = effect.max_silence_seconds
        return AriRequest("POST", f"{chan}/record", params, "record")
    if isinstance(effect, m.CheckRecording):
        return AriRequest("GET", f"/recordings/stored/{effect.name}", {}, "check_recording")
    if isinstance(effect, m.Continue):
        params = {
            "context": effect.context,
            "extension": effect.extension,
            "priority": effect.priority,
        }
        return AriRequest("POST", f"{chan}/continue", params, "continue")
    if isinstance(effect, m.Hangup):
        return AriRequest("DELETE", chan, {"reason": effect.reason}, "hangup")
    if isinstance(effect, m.StartMoh):
        return AriRequest("POST", f"{chan}/moh", {"mohClass": effect.moh_class}, "start_moh")
    if isinstance(effect, m.StopMoh):
        return AriRequest("DELETE", f"{chan}/moh", {}, "stop_moh")
    if isinstance(effect, m.StopRecording):
        return AriRequest("POST", f"/recordings/live/{effect.name}/stop", {}, "stop_recording")
    return None


BEST_EFFORT = frozenset(
    {"stop_playback", "check_recording", "stop_moh", "stop_recording", "follow"}
)
"""Requests whose failure does not change the call (a playback that already ended, say)."""
