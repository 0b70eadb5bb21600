"""The screening call flow as a pure state machine.

``step(state, event) -> (state, effects)``: no I/O, no clock, no randomness. The adapter
(:mod:`screener.calls.ari_flow`) turns ARI events into the events below, runs the
effects against Asterisk and the database, and feeds failures back as :class:`EffectFailed`.

Phases of a call::

    deciding -> (allow)      leaving                      (variables set, continue sent)
             -> (block)      leaving | announcing -> leaving
             -> (challenge)  prompting <-> waiting_digit -> record_prompt -> recording
                             -> passed_prompt -> leaving   (or goodbye -> leaving)
             -> (screen)     [the challenge, if screen_challenge_first] -> screen_prompt
                             -> screen_recording -> hold_prompt -> waiting (music on hold)
                             -> ScreenDecided -> leaving | declining -> leaving
                                (timer or nobody watching: claiming -> ScreenDecided)
    leaving  -> StasisEnd -> done

Live screening (action ``screen``): the call goes on reception's board
(:class:`OfferCall`), the caller says who they are and why they call, is put on hold
(:class:`PutOnHold`, music on hold) and waits for a :class:`ScreenDecided`. The timer or
the last board closing makes the machine ask for the default (:class:`ClaimDefault`):
the answer is whichever decision the database kept, so a receptionist clicking at the
same moment and the default never both apply. No board open when screening would start:
the default at once, without holding the caller (:class:`NoteDefault`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from screener.domain.model import CallEnding
from screener.domain.vocabulary import (
    Action,
    ChallengeResult,
    Outcome,
    ScreenDecision,
    ScreenDefault,
    Step,
    TimelineKind,
    Verdict,
)

# Configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """What the flow needs from the ``[ari]``, ``[challenge]`` and ``[block]`` settings."""

    continue_context: str = "screened"
    continue_extension: str = "s"
    continue_priority: int = 1
    caller_name_prefix: bool = False
    fail_open: bool = True
    max_call_seconds: float = 120.0
    attempts: int = 3
    digit_timeout_seconds: float = 6.0
    intro_prompts: tuple[str, ...] = ("sound:privacy-unident",)
    digit_prompt_before: tuple[str, ...] = ("sound:priv-callpending",)
    digit_prompt_template: str = "sound:digits/{digit}"
    retry_prompts: tuple[str, ...] = ("sound:beeperr",)
    goodbye_prompts: tuple[str, ...] = ("sound:vm-goodbye",)
    record_name: bool = True
    record_prompts: tuple[str, ...] = ("sound:priv-recordintro",)
    record_max_seconds: int = 5
    record_max_silence_seconds: int = 2
    record_beep: bool = True
    record_format: str = "wav"
    passed_prompts: tuple[str, ...] = ("sound:auth-thankyou",)
    block_mode: str = "hangup"
    block_hangup_reason: str = "busy"
    announcement_prompts: tuple[str, ...] = ("sound:vm-goodbye",)
    failed_hangup_reason: str = "normal"
    screen_challenge_first: bool = False
    screen_prompts: tuple[str, ...] = ("sound:priv-recordintro",)
    screen_record_max_seconds: int = 10
    screen_record_max_silence_seconds: int = 3
    screen_record_beep: bool = True
    hold_prompts: tuple[str, ...] = ("sound:pls-hold-while-try",)
    moh_class: str = "default"
    decision_timeout_seconds: float = 45.0
    screen_default: ScreenDefault = ScreenDefault.RECEPTION
    voicemail_context: str = "screened"
    voicemail_extension: str = "voicemail"
    voicemail_priority: int = 1
    decline_prompts: tuple[str, ...] = ("sound:vm-goodbye",)
    decline_hangup_reason: str = "normal"
    screen_name_prefix: str = "[screened]"
    follow_calls: bool = False
    """Keep following a call put through to the dialplan, to learn who answered."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.block_mode not in ("hangup", "announce"):
            raise ValueError("block_mode must be 'hangup' or 'announce'")


# Phases, events, effects --------------------------------------------------------------------


class Phase(StrEnum):
    DECIDING = "deciding"
    PROMPTING = "prompt"
    WAITING_DIGIT = "waiting_digit"
    RECORD_PROMPT = "record_prompt"
    RECORDING = "recording"
    PASSED_PROMPT = "passed_prompt"
    GOODBYE = "goodbye"
    ANNOUNCING = "announcement"
    SCREEN_PROMPT = "screen_prompt"
    SCREEN_RECORDING = "screen_recording"
    HOLD_PROMPT = "hold_prompt"
    WAITING = "waiting"
    CLAIMING = "claiming"
    DECLINING = "declining"
    LEAVING = "leaving"
    DONE = "done"


TIMER_DIGIT = "digit"
TIMER_MAX_CALL = "max_call"
TIMER_SCREEN = "screen"
"""Reception's time to decide a call on hold (``screen.decision_timeout_seconds``)."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The screening decision (the adapter gathered facts and asked the screening service)."""

    action: Action
    reasons: tuple[str, ...] = ()
    digits: tuple[str, ...] = ("1",)  # the digit to ask for on each attempt
    watched: bool = True
    """Whether a signed-in console has the board open (matters for ``screen`` only)."""


@dataclass(frozen=True, slots=True)
class DecisionFailed:
    detail: str


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    playback_id: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    playback_id: str
    failed: bool = False


@dataclass(frozen=True, slots=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    name: str
    duration: int | None = None


@dataclass(frozen=True, slots=True)
class RecordingFailed:
    name: str
    cause: str = ""


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """``ChannelHangupRequest`` or ``ChannelDestroyed`` while the call is ours."""


@dataclass(frozen=True, slots=True)
class StasisEnded:
    """The channel left the application (after our continue/hangup, or the caller's)."""


@dataclass(frozen=True, slots=True)
class EffectFailed:
    """An ARI request failed: ``status`` 404 means the channel is gone, 0 no answer."""

    effect: str
    status: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    """The service is stopping: send the call back to the dialplan."""


@dataclass(frozen=True, slots=True)
class ScreenDecided:
    """The decision on a screened call: reception's, or the default the database kept."""

    decision: ScreenDecision
    by: str = ""


@dataclass(frozen=True, slots=True)
class BoardWatched:
    """Whether any signed-in console has the board open changed."""

    watched: bool


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The ARI event socket is lost: nothing more will be heard about the caller."""


Event = (
    Decided
    | DecisionFailed
    | PlaybackStarted
    | PlaybackFinished
    | DigitPressed
    | RecordingFinished
    | RecordingFailed
    | TimerFired
    | CallerHungUp
    | StasisEnded
    | EffectFailed
    | ShutdownRequested
    | ScreenDecided
    | BoardWatched
    | ConnectionLost
)


@dataclass(frozen=True, slots=True)
class SetVariables:
    """Channel variables for the dialplan, set in one request (in this order)."""

    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Answer:
    pass


@dataclass(frozen=True, slots=True)
class Play:
    playback_id: str
    media: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    format: str
    max_duration_seconds: int
    max_silence_seconds: int
    beep: bool
    terminate_on: str = "#"


@dataclass(frozen=True, slots=True)
class CheckRecording:
    """Confirm the stored recording exists (``GET /recordings/stored/{name}``)."""

    name: str


@dataclass(frozen=True, slots=True)
class RecordingReady:
    """The caller's recording is stored: hand it on to what reads it (speech to text).

    No request to Asterisk; the adapter passes it to the call desk at once."""

    name: str
    format: str
    duration_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Follow:
    """Keep the channel's events coming after it leaves Stasis (sent before ``Continue``)."""


@dataclass(frozen=True, slots=True)
class Continue:
    context: str
    extension: str
    priority: int


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str


@dataclass(frozen=True, slots=True)
class StopRecording:
    """End a recording early and keep what was said (``POST /recordings/live/{name}/stop``)."""

    name: str


@dataclass(frozen=True, slots=True)
class StartMoh:
    moh_class: str


@dataclass(frozen=True, slots=True)
class StopMoh:
    pass


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Screening starts: the call goes on reception's board."""


@dataclass(frozen=True, slots=True)
class PutOnHold:
    """The caller has spoken and waits: reception has ``timeout_seconds`` to decide."""

    timeout_seconds: float
    recording: str | None


@dataclass(frozen=True, slots=True)
class ClaimDefault:
    """Ask for ``decision`` to be the call's decision; the adapter answers with a
    :class:`ScreenDecided` holding the one the database kept (a receptionist's, if one
    was quicker)."""

    decision: ScreenDecision


@dataclass(frozen=True, slots=True)
class NoteDefault:
    """The default applied before the call was on the board: record it (no answer)."""

    decision: ScreenDecision


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class AddTimeline:
    """One step on the call's timeline."""

    kind: TimelineKind
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """How the call left Screener's hands (recorded once, published as ``call.outcome``)."""

    ending: CallEnding


Effect = (
    SetVariables
    | Answer
    | Play
    | StopPlayback
    | Record
    | CheckRecording
    | RecordingReady
    | Follow
    | Continue
    | Hangup
    | StopRecording
    | StartMoh
    | StopMoh
    | OfferCall
    | PutOnHold
    | ClaimDefault
    | NoteDefault
    | StartTimer
    | CancelTimer
    | AddTimeline
    | RecordOutcome
)


# State ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallState:
    config: FlowConfig
    call_id: str
    caller_name: str = ""
    phase: Phase = Phase.DECIDING
    action: Action | None = None
    reasons: tuple[str, ...] = ()
    digits: tuple[str, ...] = ()
    attempt: int = 0  # 0-based index of the current challenge attempt
    playback_id: str | None = None  # the playback we are waiting on
    playbacks: int = 0  # counter for unique playback ids
    recording: str | None = None
    recorded: bool = False
    challenge_result: ChallengeResult | None = None
    watched: bool = True
    offered: bool = False  # on reception's board (screen)
    on_hold: bool = False
    moh: bool = False
    screened: ScreenDecision | None = None
    outcome_recorded: bool = False
    fail_open_sent: bool = False
    stasis_ended: bool = False
    timers: frozenset[str] = field(default_factory=frozenset)

    @property
    def digit(self) -> str | None:
        if not self.digits:
            return None
        return self.digits[min(self.attempt, len(self.digits) - 1)]

    @property
    def finished(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def verdict(self) -> Verdict | None:
        """What the screening has concluded so far (None before the decision)."""
        if self.action is None:
            return None
        return Verdict.of(self.action, self.challenge_result, self.screened)


Transition = tuple[CallState, list[Effect]]
"""The next state and the effects to run."""


def start(config: FlowConfig, call_id: str, caller_name: str = "") -> Transition:
    """A new call, before the decision: arm the whole-call timer."""
    state = CallState(config=config, call_id=call_id, caller_name=caller_name)
    return _with_timer(state, [], TIMER_MAX_CALL, config.max_call_seconds)


def step(state: CallState, event: Event) -> Transition:
    """The next state and the effects to run, for one event."""
    if state.phase is Phase.DONE:
        return state, []
    if isinstance(event, BoardWatched):
        state = replace(state, watched=event.watched)
    if isinstance(event, StasisEnded):
        return _stasis_ended(state)
    if state.phase is Phase.LEAVING:
        return _leaving(state, event)
    if isinstance(event, CallerHungUp):
        return _abandoned(state, [])
    if isinstance(event, EffectFailed):
        return _effect_failed(state, event)
    if isinstance(event, ShutdownRequested):
        return _fail_open(state, [], "service shutting down")
    if isinstance(event, ConnectionLost):
        if state.offered:
            return _fail_open(state, [], "ARI connection lost while waiting for reception")
        return state, []
    if isinstance(event, TimerFired) and event.name == TIMER_MAX_CALL:
        return _fail_open(state, [], "call exceeded ari.max_call_seconds")
    handler = _HANDLERS.get(state.phase)
    if handler is None:
        return state, []
    return handler(state, event)


# Handlers per phase ---------------------------------------------------------------------------


def _deciding(state: CallState, event: Event) -> Transition:
    if isinstance(event, DecisionFailed):
        return _fail_open(state, [], f"decision failed: {event.detail}")
    if not isinstance(event, Decided):
        return state, []
    state = replace(
        state,
        action=event.action,
        reasons=event.reasons,
        digits=event.digits,
        watched=event.watched,
    )
    cfg = state.config
    if event.action is Action.SCREEN and not cfg.screen_challenge_first:
        if not state.watched:
            return _default_at_once(state, [], Step.DECISION)
        return _offer(state, [Answer(), AddTimeline(TimelineKind.ANSWERED)])
    if event.action is Action.ALLOW:
        return _continue(state, [], Step.DECISION)
    if event.action is Action.BLOCK:
        if cfg.block_mode == "announce" and cfg.announcement_prompts:
            effects: list[Effect] = [Answer(), AddTimeline(TimelineKind.ANSWERED)]
            return _play(state, effects, cfg.announcement_prompts, Phase.ANNOUNCING)
        return _hang_up(state, [], cfg.block_hangup_reason, Outcome.BLOCKED, Step.DECISION)
    effects = [Answer(), AddTimeline(TimelineKind.ANSWERED)]
    media = (*cfg.intro_prompts, *_digit_prompt(state))
    return _play(state, effects, media, Phase.PROMPTING, TimelineKind.CHALLENGE_PROMPT)


def _prompting(state: CallState, event: Event) -> Transition:
    if isinstance(event, DigitPressed):
        effects: list[Effect] = []
        if state.playback_id is not None:
            effects.append(StopPlayback(state.playback_id))
        return _judge_digit(replace(state, playback_id=None), effects, event.digit)
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        state = replace(state, phase=Phase.WAITING_DIGIT, playback_id=None)
        return _with_timer(state, [], TIMER_DIGIT, state.config.digit_timeout_seconds)
    return state, []


def _waiting_digit(state: CallState, event: Event) -> Transition:
    if isinstance(event, DigitPressed):
        state, effects = _without_timer(state, [], TIMER_DIGIT)
        return _judge_digit(state, effects, event.digit)
    if isinstance(event, TimerFired) and event.name == TIMER_DIGIT:
        state = replace(state, timers=state.timers - {TIMER_DIGIT})
        return _attempt_failed(state, [AddTimeline(TimelineKind.DIGIT_TIMEOUT, _attempt(state))])
    return state, []


def _record_prompt(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return _start_recording(replace(state, playback_id=None), [])
    return state, []


def _recording(state: CallState, event: Event) -> Transition:
    if isinstance(event, RecordingFinished) and event.name == state.recording:
        detail = (("name", event.name), ("duration", str(event.duration or 0)))
        effects: list[Effect] = [
            AddTimeline(TimelineKind.NAME_RECORDED, detail),
            RecordingReady(event.name, state.config.record_format, event.duration),
            CheckRecording(event.name),
        ]
        return _after_pass(replace(state, recorded=True), effects)
    if isinstance(event, RecordingFailed) and event.name == state.recording:
        effects = [AddTimeline(TimelineKind.RECORDING_FAILED, (("cause", event.cause[:100]),))]
        return _after_pass(replace(state, recording=None), effects)
    return state, []


def _passed_prompt(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return _continue(replace(state, playback_id=None), [], Step.CHALLENGE)
    return state, []


def _goodbye(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return _hang_up(
            replace(state, playback_id=None),
            [],
            state.config.failed_hangup_reason,
            Outcome.CHALLENGE_FAILED,
            Step.CHALLENGE,
        )
    return state, []


def _announcing(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return _hang_up(
            replace(state, playback_id=None), [], "normal", Outcome.BLOCKED, Step.ANNOUNCEMENT
        )
    return state, []


def _screen_prompt(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return _start_screen_recording(replace(state, playback_id=None), [])
    if isinstance(event, ScreenDecided):
        return _decided(state, [], event.decision, _step_name(state))
    return state, []


def _screen_recording(state: CallState, event: Event) -> Transition:
    if isinstance(event, RecordingFinished) and event.name == state.recording:
        detail = (("name", event.name), ("duration", str(event.duration or 0)))
        effects: list[Effect] = [
            AddTimeline(TimelineKind.NAME_RECORDED, detail),
            RecordingReady(event.name, state.config.record_format, event.duration),
            CheckRecording(event.name),
        ]
        return _put_on_hold(replace(state, recorded=True), effects)
    if isinstance(event, RecordingFailed) and event.name == state.recording:
        effects = [AddTimeline(TimelineKind.RECORDING_FAILED, (("cause", event.cause[:100]),))]
        return _put_on_hold(replace(state, recording=None), effects)
    if isinstance(event, ScreenDecided):
        # Reception decided while the caller was still speaking: keep what was said.
        effects = [StopRecording(state.recording)] if state.recording else []
        state = replace(state, recorded=state.recording is not None)
        return _decided(state, effects, event.decision, Step.RECORDING)
    return state, []


def _hold_prompt(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        cfg = state.config
        state = replace(state, phase=Phase.WAITING, playback_id=None, moh=True)
        return state, [StartMoh(cfg.moh_class)]
    return _waiting(state, event)


def _waiting(state: CallState, event: Event) -> Transition:
    if isinstance(event, ScreenDecided):
        return _decided(state, [], event.decision, Step.WAITING)
    if isinstance(event, TimerFired) and event.name == TIMER_SCREEN:
        state = replace(state, timers=state.timers - {TIMER_SCREEN})
        return _claim(state, [], ScreenDecision.TIMEOUT)
    if isinstance(event, BoardWatched) and not event.watched:
        return _claim(state, [], ScreenDecision.UNWATCHED)
    return state, []


def _claiming(state: CallState, event: Event) -> Transition:
    if isinstance(event, ScreenDecided):
        return _decided(state, [], event.decision, Step.WAITING)
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return replace(state, playback_id=None), []  # the hold prompt ended meanwhile
    return state, []


def _declining(state: CallState, event: Event) -> Transition:
    if isinstance(event, PlaybackFinished) and event.playback_id == state.playback_id:
        return _hang_up(
            replace(state, playback_id=None),
            [],
            state.config.decline_hangup_reason,
            _declined_outcome(state),
            Step.ANNOUNCEMENT,
        )
    return state, []


_HANDLERS = {
    Phase.DECIDING: _deciding,
    Phase.PROMPTING: _prompting,
    Phase.WAITING_DIGIT: _waiting_digit,
    Phase.RECORD_PROMPT: _record_prompt,
    Phase.RECORDING: _recording,
    Phase.PASSED_PROMPT: _passed_prompt,
    Phase.GOODBYE: _goodbye,
    Phase.ANNOUNCING: _announcing,
    Phase.SCREEN_PROMPT: _screen_prompt,
    Phase.SCREEN_RECORDING: _screen_recording,
    Phase.HOLD_PROMPT: _hold_prompt,
    Phase.WAITING: _waiting,
    Phase.CLAIMING: _claiming,
    Phase.DECLINING: _declining,
}

_PHASE_STEPS = {
    Phase.SCREEN_PROMPT: Step.PROMPT,
    Phase.SCREEN_RECORDING: Step.RECORDING,
    Phase.HOLD_PROMPT: Step.WAITING,
    Phase.WAITING: Step.WAITING,
    Phase.CLAIMING: Step.WAITING,
    Phase.DECLINING: Step.ANNOUNCEMENT,
}
"""The step recorded for a screening phase (the others are steps of the same name)."""


def _leaving(state: CallState, event: Event) -> Transition:
    """We sent continue or hangup (or the caller hung up): wait for ``StasisEnd``."""
    if isinstance(event, TimerFired) and event.name == TIMER_MAX_CALL:
        # StasisEnd never came (socket lost while leaving): stop waiting.
        return replace(state, phase=Phase.DONE, timers=frozenset()), []
    if isinstance(event, EffectFailed):
        # The adapter drops the rest of a batch after a failed request, so the outcome of
        # the batch that brought us here was not recorded.
        state = replace(state, outcome_recorded=False)
        if event.status != 404 and not state.fail_open_sent:
            return _fail_open(state, [], _failure(event))
        if event.status == 404:
            return _finish(state, [], Outcome.ABANDONED, Step.LEAVING)
        return _finish(state, [], Outcome.FAIL_OPEN, Step.LEAVING, _failure(event))
    return state, []


def _failure(event: EffectFailed) -> str:
    return f"{event.effect} failed: {event.status or 'no answer'} {event.detail}".strip()[:200]


def _stasis_ended(state: CallState) -> Transition:
    effects: list[Effect] = [CancelTimer(name) for name in sorted(state.timers)]
    state = replace(state, stasis_ended=True, timers=frozenset())
    if not state.outcome_recorded:
        state, effects = _finish(state, effects, Outcome.ABANDONED, _step_name(state))
    return replace(state, phase=Phase.DONE), effects


# Building blocks ------------------------------------------------------------------------------


def _digit_prompt(state: CallState) -> tuple[str, ...]:
    cfg = state.config
    spoken = cfg.digit_prompt_template.format(digit=state.digit or "")
    return (*cfg.digit_prompt_before, spoken) if spoken else cfg.digit_prompt_before


def _attempt(state: CallState) -> tuple[tuple[str, str], ...]:
    return (("attempt", str(state.attempt + 1)),)


def _judge_digit(state: CallState, effects: list[Effect], digit: str) -> Transition:
    if digit == state.digit:
        effects.append(AddTimeline(TimelineKind.DIGIT_CORRECT, _attempt(state)))
        return _challenge_passed(state, effects)
    detail = (*_attempt(state), ("pressed", digit[:1]))
    effects.append(AddTimeline(TimelineKind.DIGIT_WRONG, detail))
    return _attempt_failed(state, effects)


def _attempt_failed(state: CallState, effects: list[Effect]) -> Transition:
    cfg = state.config
    if state.attempt + 1 < cfg.attempts:
        state = replace(state, attempt=state.attempt + 1)
        media = (*cfg.retry_prompts, *_digit_prompt(state))
        return _play(state, effects, media, Phase.PROMPTING, TimelineKind.CHALLENGE_PROMPT)
    state = replace(state, challenge_result=ChallengeResult.FAILED)
    if cfg.goodbye_prompts:
        return _play(state, effects, cfg.goodbye_prompts, Phase.GOODBYE)
    return _hang_up(
        state, effects, cfg.failed_hangup_reason, Outcome.CHALLENGE_FAILED, Step.CHALLENGE
    )


def _challenge_passed(state: CallState, effects: list[Effect]) -> Transition:
    state = replace(state, challenge_result=ChallengeResult.PASSED)
    cfg = state.config
    if state.action is Action.SCREEN:  # the check came first: now screening
        if not state.watched:
            return _default_at_once(state, effects, Step.CHALLENGE)
        return _offer(state, effects)
    if not cfg.record_name:
        return _after_pass(state, effects)
    if cfg.record_prompts:
        return _play(state, effects, cfg.record_prompts, Phase.RECORD_PROMPT)
    return _start_recording(state, effects)


def _start_recording(state: CallState, effects: list[Effect]) -> Transition:
    cfg = state.config
    name = f"screener-{state.call_id}"
    effects.append(
        Record(
            name=name,
            format=cfg.record_format,
            max_duration_seconds=cfg.record_max_seconds,
            max_silence_seconds=cfg.record_max_silence_seconds,
            beep=cfg.record_beep,
        )
    )
    effects.append(AddTimeline(TimelineKind.RECORDING_NAME))
    return replace(state, phase=Phase.RECORDING, recording=name), effects


# Live screening --------------------------------------------------------------------------------


def _offer(state: CallState, effects: list[Effect]) -> Transition:
    """Put the call on the board and ask who is calling and why."""
    effects.append(OfferCall())
    state = replace(state, offered=True)
    return _play(state, effects, state.config.screen_prompts, Phase.SCREEN_PROMPT)


def _start_screen_recording(state: CallState, effects: list[Effect]) -> Transition:
    cfg = state.config
    name = f"screener-{state.call_id}"
    effects.append(
        Record(
            name=name,
            format=cfg.record_format,
            max_duration_seconds=cfg.screen_record_max_seconds,
            max_silence_seconds=cfg.screen_record_max_silence_seconds,
            beep=cfg.screen_record_beep,
        )
    )
    effects.append(AddTimeline(TimelineKind.RECORDING_NAME))
    return replace(state, phase=Phase.SCREEN_RECORDING, recording=name), effects


def _put_on_hold(state: CallState, effects: list[Effect]) -> Transition:
    """The caller has spoken: hold them for reception (unless nobody is watching)."""
    if not state.watched:
        return _claim(state, effects, ScreenDecision.UNWATCHED)
    cfg = state.config
    timeout = cfg.decision_timeout_seconds
    effects.append(PutOnHold(timeout, state.recording if state.recorded else None))
    effects.append(AddTimeline(TimelineKind.WAITING, (("timeout_seconds", f"{timeout:g}"),)))
    state, effects = _with_timer(state, effects, TIMER_SCREEN, timeout)
    # The whole-call limit must not cut reception's time short.
    state, effects = _with_timer(state, effects, TIMER_MAX_CALL, timeout + cfg.max_call_seconds)
    state = replace(state, on_hold=True)
    if cfg.hold_prompts:
        return _play(state, effects, cfg.hold_prompts, Phase.HOLD_PROMPT)
    effects.append(StartMoh(cfg.moh_class))
    return replace(state, phase=Phase.WAITING, moh=True), effects


def _claim(state: CallState, effects: list[Effect], decision: ScreenDecision) -> Transition:
    """Ask for the default; the caller stays on hold until the answer comes."""
    state, effects = _without_timer(state, effects, TIMER_SCREEN)
    effects.append(ClaimDefault(decision))
    return replace(state, phase=Phase.CLAIMING), effects


def _default_at_once(state: CallState, effects: list[Effect], step: Step) -> Transition:
    """Nobody is watching the board: the default, without holding the caller."""
    effects.append(NoteDefault(ScreenDecision.UNWATCHED))
    return _decided(state, effects, ScreenDecision.UNWATCHED, step)


def _to_voicemail(state: CallState, decision: ScreenDecision) -> bool:
    if decision is ScreenDecision.VOICEMAIL:
        return True
    defaults = (ScreenDecision.TIMEOUT, ScreenDecision.UNWATCHED)
    return decision in defaults and state.config.screen_default is ScreenDefault.VOICEMAIL


def _declined_outcome(state: CallState) -> Outcome:
    return Outcome.BLOCKED if state.screened is ScreenDecision.BLOCK else Outcome.DECLINED


def _decided(
    state: CallState, effects: list[Effect], decision: ScreenDecision, step: Step
) -> Transition:
    """Apply the decision on a screened call."""
    cfg = state.config
    state, effects = _without_timer(state, effects, TIMER_SCREEN)
    if state.playback_id is not None:
        effects.append(StopPlayback(state.playback_id))
    if state.moh:
        effects.append(StopMoh())
    state = replace(state, screened=decision, playback_id=None, moh=False)
    if decision in (ScreenDecision.DECLINE, ScreenDecision.BLOCK):
        if cfg.decline_prompts:
            return _play(state, effects, cfg.decline_prompts, Phase.DECLINING)
        reason = cfg.decline_hangup_reason
        return _hang_up(state, effects, reason, _declined_outcome(state), step)
    if _to_voicemail(state, decision):
        where = Continue(cfg.voicemail_context, cfg.voicemail_extension, cfg.voicemail_priority)
        return _continue(state, effects, step, where, Outcome.VOICEMAIL)
    return _continue(state, effects, step)


def _after_pass(state: CallState, effects: list[Effect]) -> Transition:
    if state.config.passed_prompts:
        return _play(state, effects, state.config.passed_prompts, Phase.PASSED_PROMPT)
    return _continue(state, effects, Step.CHALLENGE)


def _play(
    state: CallState,
    effects: list[Effect],
    media: tuple[str, ...],
    phase: Phase,
    timeline: TimelineKind | None = None,
) -> Transition:
    if not media:  # nothing to play: behave as if it finished at once
        state = replace(state, phase=phase, playback_id=None)
        handler = _HANDLERS[phase]
        pid = f"{state.call_id}-empty"
        state = replace(state, playback_id=pid)
        next_state, more = handler(state, PlaybackFinished(pid))
        return next_state, effects + more
    number = state.playbacks + 1
    playback_id = f"{state.call_id}-{number}"
    effects.append(Play(playback_id, media))
    if timeline:
        effects.append(AddTimeline(timeline, _attempt(state)))
    return replace(state, phase=phase, playback_id=playback_id, playbacks=number), effects


def _screening_variables(state: CallState) -> SetVariables:
    verdict = state.verdict or Verdict.ALLOW
    values = [
        ("SCREENER_CALL_ID", state.call_id),
        ("SCREENER_VERDICT", verdict.value),
        ("SCREENER_REASONS", ",".join(state.reasons)),
    ]
    tag = ""
    if state.screened is not None:  # the prefix shows on reception's handset only
        tag = "" if _to_voicemail(state, state.screened) else state.config.screen_name_prefix
    elif state.config.caller_name_prefix and verdict is not Verdict.ALLOW:
        tag = "[checked]" if verdict is Verdict.CHALLENGE_PASSED else "[screened]"
    if tag:
        values.append(("CALLERID(name)", f"{tag} {state.caller_name}".strip()[:80]))
    return SetVariables(tuple(values))


def _continue(
    state: CallState,
    effects: list[Effect],
    step: Step,
    where: Continue | None = None,
    outcome: Outcome = Outcome.CONNECTED,
) -> Transition:
    cfg = state.config
    if cfg.follow_calls and outcome is Outcome.CONNECTED:
        effects.append(Follow())
    effects.append(_screening_variables(state))
    effects.append(
        where or Continue(cfg.continue_context, cfg.continue_extension, cfg.continue_priority)
    )
    state, effects = _without_flow_timers(state, effects)
    state = replace(state, phase=Phase.LEAVING)
    return _finish(state, effects, outcome, step, result=True)


def _hang_up(
    state: CallState, effects: list[Effect], reason: str, outcome: Outcome, step: Step
) -> Transition:
    effects.append(Hangup(reason))
    state, effects = _without_flow_timers(state, effects)
    state = replace(state, phase=Phase.LEAVING)
    return _finish(state, effects, outcome, step, result=True)


def _fail_open(state: CallState, effects: list[Effect], detail: str) -> Transition:
    """Something went wrong: give the call back to the dialplan (or hang up if fail-closed)."""
    if state.fail_open_sent:
        return replace(state, phase=Phase.LEAVING), effects
    step_name = _step_name(state)
    state, effects = _without_flow_timers(state, effects)
    if state.playback_id is not None:
        effects.append(StopPlayback(state.playback_id))
    if state.moh:
        effects.append(StopMoh())
    effects.append(AddTimeline(TimelineKind.FAIL_OPEN, (("detail", detail[:200]),)))
    if state.config.fail_open:
        effects.append(
            Continue(
                state.config.continue_context,
                state.config.continue_extension,
                state.config.continue_priority,
            )
        )
    else:
        effects.append(Hangup("congestion"))
    state = replace(state, phase=Phase.LEAVING, fail_open_sent=True, playback_id=None, moh=False)
    return _finish(state, effects, Outcome.FAIL_OPEN, step_name, detail)


def _effect_failed(state: CallState, event: EffectFailed) -> Transition:
    if event.status == 404:
        return _abandoned(state, [])
    return _fail_open(state, [], _failure(event))


def _abandoned(state: CallState, effects: list[Effect]) -> Transition:
    step_name = _step_name(state)
    state, effects = _without_flow_timers(state, effects)
    state = replace(state, phase=Phase.LEAVING, playback_id=None, moh=False)
    return _finish(state, effects, Outcome.ABANDONED, step_name)


def _finish(
    state: CallState,
    effects: list[Effect],
    outcome: Outcome,
    step: Step,
    detail: str | None = None,
    result: bool = False,
) -> Transition:
    """Record the outcome; ``result``: the challenge (if any) ended, so its result counts."""
    if state.outcome_recorded:
        return state, effects
    challenged = state.action is Action.CHALLENGE or (
        state.action is Action.SCREEN and state.config.screen_challenge_first
    )
    result = result or state.offered  # a challenge before screening is over by then
    effects.append(
        RecordOutcome(
            CallEnding(
                outcome=outcome,
                step=step,
                verdict=state.verdict,
                detail=detail,
                challenge_result=state.challenge_result if result else None,
                challenge_attempts=(state.attempt + 1) if challenged else None,
                challenge_digit=state.digit if challenged else None,
                recording=state.recording if state.recorded else None,
            )
        )
    )
    return replace(state, outcome_recorded=True), effects


def _step_name(state: CallState) -> Step:
    return _PHASE_STEPS.get(state.phase) or Step(state.phase.value)


def _with_timer(state: CallState, effects: list[Effect], name: str, seconds: float) -> Transition:
    effects.append(StartTimer(name, seconds))
    return replace(state, timers=state.timers | {name}), effects


def _without_timer(state: CallState, effects: list[Effect], name: str) -> Transition:
    if name in state.timers:
        effects.append(CancelTimer(name))
        state = replace(state, timers=state.timers - {name})
    return state, effects


def _without_flow_timers(state: CallState, effects: list[Effect]) -> Transition:
    """The call leaves the flow: its digit and decision timers stop (not the whole-call
    limit, which ends the wait for ``StasisEnd``)."""
    state, effects = _without_timer(state, effects, TIMER_DIGIT)
    return _without_timer(state, effects, TIMER_SCREEN)
