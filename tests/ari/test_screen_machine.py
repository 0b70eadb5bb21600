"""Live screening on the pure state machine: the edges the YAML scenarios do not walk."""

from __future__ import annotations

from screener.calls import machine as m
from screener.domain.vocabulary import Action, Outcome, ScreenDecision, ScreenDefault, Step

CONFIG = m.FlowConfig(hold_prompts=(), decision_timeout_seconds=30.0)


def kinds(effects: list[m.Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def ending(effects: list[m.Effect]) -> m.RecordOutcome:
    found = [e for e in effects if isinstance(e, m.RecordOutcome)]
    assert len(found) == 1, effects
    return found[0]


def on_hold(config: m.FlowConfig = CONFIG, watched: bool = True) -> m.CallState:
    """A screened call whose caller has spoken and waits (music on hold)."""
    state, _ = m.start(config, "c1", "Anonymous")
    state, effects = m.step(state, m.Decided(Action.SCREEN, ("withheld",), (), watched=watched))
    assert kinds(effects)[:3] == ["Answer", "AddTimeline", "OfferCall"]
    play = next(e for e in effects if isinstance(e, m.Play))
    state, effects = m.step(state, m.PlaybackFinished(play.playback_id))
    record = next(e for e in effects if isinstance(e, m.Record))
    state, effects = m.step(state, m.RecordingFinished(record.name, 3))
    hold = next(e for e in effects if isinstance(e, m.PutOnHold))
    assert hold.timeout_seconds == 30.0 and hold.recording == record.name
    assert m.StartMoh("default") in effects
    assert m.StartTimer(m.TIMER_SCREEN, 30.0) in effects
    assert state.phase is m.Phase.WAITING
    return state


def test_the_whole_call_limit_leaves_reception_its_time_to_decide() -> None:
    state, _ = m.start(CONFIG, "c1")
    state, effects = m.step(state, m.Decided(Action.SCREEN))
    state, effects = m.step(
        state, m.PlaybackFinished(next(e for e in effects if isinstance(e, m.Play)).playback_id)
    )
    record = next(e for e in effects if isinstance(e, m.Record))
    _, effects = m.step(state, m.RecordingFinished(record.name, 2))
    limit = [e for e in effects if isinstance(e, m.StartTimer) and e.name == m.TIMER_MAX_CALL]
    assert limit == [m.StartTimer(m.TIMER_MAX_CALL, 30.0 + CONFIG.max_call_seconds)]


def test_the_board_closing_while_waiting_asks_for_the_default_and_applies_the_answer() -> None:
    state = on_hold()
    state, effects = m.step(state, m.BoardWatched(False))
    assert effects == [m.CancelTimer(m.TIMER_SCREEN), m.ClaimDefault(ScreenDecision.UNWATCHED)]
    assert state.phase is m.Phase.CLAIMING
    # The caller keeps hearing music on hold meanwhile; the timer firing late changes nothing.
    state, effects = m.step(state, m.TimerFired(m.TIMER_SCREEN))
    assert effects == []
    # A receptionist was quicker: the database kept their decision, which applies.
    state, effects = m.step(state, m.ScreenDecided(ScreenDecision.DECLINE, "alice"))
    assert kinds(effects) == ["StopMoh", "Play"]
    assert state.phase is m.Phase.DECLINING and state.screened is ScreenDecision.DECLINE


def test_a_second_decision_is_ignored() -> None:
    state = on_hold()
    state, effects = m.step(state, m.ScreenDecided(ScreenDecision.CONNECT, "alice"))
    assert ending(effects).ending.outcome is Outcome.CONNECTED
    state, again = m.step(state, m.ScreenDecided(ScreenDecision.VOICEMAIL, "bob"))
    assert again == []
    assert state.screened is ScreenDecision.CONNECT


def test_the_timeout_default_can_be_voicemail_and_then_has_no_name_prefix() -> None:
    config = m.FlowConfig(
        hold_prompts=(), decision_timeout_seconds=30.0, screen_default=ScreenDefault.VOICEMAIL
    )
    state = on_hold(config)
    state, effects = m.step(state, m.TimerFired(m.TIMER_SCREEN))
    assert effects == [m.ClaimDefault(ScreenDecision.TIMEOUT)]
    state, effects = m.step(state, m.ScreenDecided(ScreenDecision.TIMEOUT))
    variables = next(e for e in effects if isinstance(e, m.SetVariables))
    assert ("SCREENER_VERDICT", "screened-timeout") in variables.values
    assert not any(name == "CALLERID(name)" for name, _ in variables.values)
    assert m.Continue("screened", "voicemail", 1) in effects
    assert ending(effects).ending.outcome is Outcome.VOICEMAIL


def test_shutdown_while_waiting_stops_the_music_and_fails_open() -> None:
    state = on_hold()
    state, effects = m.step(state, m.ShutdownRequested())
    assert kinds(effects) == ["CancelTimer", "StopMoh", "AddTimeline", "Continue", "RecordOutcome"]
    result = ending(effects).ending
    assert (result.outcome, result.step, result.detail) == (
        Outcome.FAIL_OPEN,
        Step.WAITING,
        "service shutting down",
    )


def test_losing_the_socket_before_screening_starts_changes_nothing() -> None:
    state, _ = m.start(CONFIG, "c1")
    state, effects = m.step(state, m.Decided(Action.CHALLENGE, ("withheld",), ("3",)))
    state, effects = m.step(state, m.ConnectionLost())
    assert effects == [] and state.phase is m.Phase.PROMPTING


def test_nobody_watching_after_the_check_applies_the_default_without_holding() -> None:
    config = m.FlowConfig(screen_challenge_first=True, record_name=True)
    state, _ = m.start(config, "c1", "Anonymous")
    state, effects = m.step(state, m.Decided(Action.SCREEN, ("withheld",), ("5",)))
    play = next(e for e in effects if isinstance(e, m.Play))
    assert play.media[-1] == "sound:digits/5"  # the check comes first
    state, _ = m.step(state, m.BoardWatched(False))  # the last board closes meanwhile
    state, effects = m.step(state, m.DigitPressed("5"))
    assert m.NoteDefault(ScreenDecision.UNWATCHED) in effects
    assert not any(isinstance(e, m.Record | m.StartMoh | m.OfferCall) for e in effects)
    result = ending(effects).ending
    assert result.verdict is not None and result.verdict.value == "screened-unwatched"
    assert result.step is Step.CHALLENGE
    assert result.challenge_result is not None and result.challenge_result.value == "passed"


def test_a_decision_during_the_hold_prompt_stops_it() -> None:
    config = m.FlowConfig(hold_prompts=("sound:pls-hold-while-try",))
    state, _ = m.start(config, "c1")
    state, effects = m.step(state, m.Decided(Action.SCREEN))
    state, effects = m.step(
        state, m.PlaybackFinished(next(e for e in effects if isinstance(e, m.Play)).playback_id)
    )
    record = next(e for e in effects if isinstance(e, m.Record))
    state, effects = m.step(state, m.RecordingFinished(record.name, 2))
    hold = next(e for e in effects if isinstance(e, m.Play))
    assert state.phase is m.Phase.HOLD_PROMPT
    state, effects = m.step(state, m.ScreenDecided(ScreenDecision.CONNECT, "alice"))
    assert effects[1] == m.StopPlayback(hold.playback_id)
    assert not any(isinstance(e, m.StopMoh) for e in effects)  # the music never started
    assert ending(effects).ending.step is Step.WAITING
