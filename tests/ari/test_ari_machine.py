"""The pure call-flow state machine: the edges the YAML scenarios do not walk."""

from __future__ import annotations

from screener.calls import machine as m
from screener.domain.vocabulary import Action, Outcome

CONFIG = m.FlowConfig(attempts=2, record_name=False, passed_prompts=())


def started(config: m.FlowConfig = CONFIG) -> m.CallState:
    state, effects = m.start(config, "abc")
    assert effects == [m.StartTimer(m.TIMER_MAX_CALL, config.max_call_seconds)]
    return state


def kinds(effects: list[m.Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def challenged() -> tuple[m.CallState, str]:
    state, effects = m.step(started(), m.Decided(Action.CHALLENGE, ("withheld",), ("4", "6")))
    play = next(e for e in effects if isinstance(e, m.Play))
    assert play.media[-1] == "sound:digits/4"
    return state, play.playback_id


def test_failed_variable_write_still_sends_the_call_on_without_a_verdict() -> None:
    state, effects = m.step(started(), m.Decided(Action.ALLOW, ("allow_list",)))
    assert kinds(effects) == ["SetVariables", "Continue", "RecordOutcome"]
    # The adapter stops the batch at the failed request and reports it.
    state, effects = m.step(state, m.EffectFailed("set_variables", 500))
    assert kinds(effects) == ["AddTimeline", "Continue", "RecordOutcome"]
    outcome = effects[-1]
    assert isinstance(outcome, m.RecordOutcome) and outcome.ending.outcome is Outcome.FAIL_OPEN
    # A second failure does not loop: the outcome is recorded, nothing more is sent.
    state, effects = m.step(state, m.EffectFailed("continue", 500))
    assert kinds(effects) == ["RecordOutcome"]
    state, effects = m.step(state, m.StasisEnded())
    assert state.finished and effects == [m.CancelTimer(m.TIMER_MAX_CALL)]


def test_continue_on_a_gone_channel_is_abandoned() -> None:
    state, _ = m.step(started(), m.Decided(Action.ALLOW))
    state, effects = m.step(state, m.EffectFailed("continue", 404))
    assert (
        isinstance(effects[0], m.RecordOutcome) and effects[0].ending.outcome is Outcome.ABANDONED
    )


def test_stale_playback_events_and_keys_in_other_steps_are_ignored() -> None:
    state, playback = challenged()
    state, effects = m.step(state, m.PlaybackFinished("someone-else"))
    assert effects == [] and state.phase is m.Phase.PROMPTING
    state, effects = m.step(state, m.PlaybackStarted(playback))
    assert effects == []
    state, effects = m.step(state, m.DigitPressed("9"))  # wrong, during the prompt
    assert kinds(effects) == ["StopPlayback", "AddTimeline", "Play", "AddTimeline"]
    retry = effects[2]
    assert isinstance(retry, m.Play) and retry.media[-1] == "sound:digits/6"  # new digit
    # The stopped prompt's PlaybackFinished arrives late: it is not the retry prompt's.
    state, effects = m.step(state, m.PlaybackFinished(playback))
    assert effects == [] and state.phase is m.Phase.PROMPTING


def test_timer_of_a_finished_wait_does_nothing() -> None:
    state, playback = challenged()
    state, effects = m.step(state, m.PlaybackFinished(playback))
    assert m.StartTimer(m.TIMER_DIGIT, CONFIG.digit_timeout_seconds) in effects
    state, effects = m.step(state, m.DigitPressed("4"))
    assert m.CancelTimer(m.TIMER_DIGIT) in effects
    assert state.phase is m.Phase.LEAVING
    state, effects = m.step(state, m.TimerFired(m.TIMER_DIGIT))
    assert effects == []


def test_shutdown_sends_a_challenged_call_back_and_stops_its_prompt() -> None:
    state, playback = challenged()
    state, effects = m.step(state, m.ShutdownRequested())
    assert effects[0] == m.StopPlayback(playback)
    assert kinds(effects)[-2:] == ["Continue", "RecordOutcome"]
    outcome = effects[-1]
    assert isinstance(outcome, m.RecordOutcome)
    assert (outcome.ending.outcome, outcome.ending.step, outcome.ending.detail) == (
        Outcome.FAIL_OPEN,
        "prompt",
        "service shutting down",
    )


def test_fail_closed_hangs_up_instead() -> None:
    config = m.FlowConfig(fail_open=False)
    _state, effects = m.step(started(config), m.DecisionFailed("database down"))
    assert m.Hangup("congestion") in effects and not any(isinstance(e, m.Continue) for e in effects)


def test_max_call_timer_after_leaving_ends_the_wait_for_stasis_end() -> None:
    state, _ = m.step(started(), m.Decided(Action.BLOCK))
    assert state.phase is m.Phase.LEAVING
    state, effects = m.step(state, m.TimerFired(m.TIMER_MAX_CALL))
    assert state.finished and effects == []


def test_hangup_before_the_decision_is_abandoned_while_deciding() -> None:
    state, effects = m.step(started(), m.CallerHungUp())
    assert isinstance(effects[-1], m.RecordOutcome) and effects[-1].ending.step == "deciding"
    state, effects = m.step(state, m.Decided(Action.ALLOW))
    assert effects == []  # nothing is sent to a caller who has gone
