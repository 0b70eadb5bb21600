"""Every finished recording of a caller is handed on for speech to text, once: the
challenge's name recording and the live-screening recording alike (the pure machine)."""

from __future__ import annotations

from screener.calls import machine as m
from screener.domain.vocabulary import Action


def _recorded(config: m.FlowConfig, action: Action) -> tuple[m.Record, list[m.Effect]]:
    """The caller's recording and the effects of its ``RecordingFinished``."""
    state, _ = m.start(config, "c1", "Anonymous")
    state, effects = m.step(state, m.Decided(action, ("withheld",), ("4", "4", "4")))
    record: m.Record | None = None
    for _ in range(5):  # prompts until the recording starts (and the digit, if challenged)
        record = next((e for e in effects if isinstance(e, m.Record)), None)
        if record is not None:
            break
        play = next(e for e in effects if isinstance(e, m.Play))
        state, effects = m.step(state, m.PlaybackFinished(play.playback_id))
        if state.phase is m.Phase.WAITING_DIGIT:
            state, effects = m.step(state, m.DigitPressed("4"))
    assert record is not None
    _, effects = m.step(state, m.RecordingFinished(record.name, 3))
    return record, effects


def test_the_challenge_name_recording_is_handed_on_before_it_is_checked() -> None:
    record, effects = _recorded(m.FlowConfig(record_format="sln"), Action.CHALLENGE)
    ready = [e for e in effects if isinstance(e, m.RecordingReady)]
    assert ready == [m.RecordingReady(record.name, "sln", 3)]
    names = [type(e).__name__ for e in effects]
    assert names.index("RecordingReady") < names.index("CheckRecording")


def test_the_live_screening_recording_is_handed_on_too() -> None:
    config = m.FlowConfig(hold_prompts=(), decision_timeout_seconds=30.0)
    record, effects = _recorded(config, Action.SCREEN)
    ready = [e for e in effects if isinstance(e, m.RecordingReady)]
    assert ready == [m.RecordingReady(record.name, "wav", 3)]
