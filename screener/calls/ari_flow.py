"""Runs the call flow against Asterisk: ARI events in, state-machine effects out.

One :class:`CallHandler` task per call. :class:`ScreeningApp` routes the events of the
``screener`` application to the handlers, stops taking calls on shutdown, and after a
reconnect sends channels it lost track of back to the dialplan (fail-open).

Nothing here decides or records anything: facts go to the :class:`CallDesk` (shared with
FastAGI), events go to :func:`screener.calls.machine.step`. Any failure (our bug, the
database, a 5xx from Asterisk) becomes an event the machine answers with "continue in the
dialplan".

Live screening: :meth:`ScreeningApp.follow` hears reception's decisions on the bus (taken
on this process, or on another one sharing the database: then read from it), whether
anybody is watching the board (:class:`~screener.calls.presence.BoardPresence`), and the
loss of the ARI socket, and hands each to the calls it concerns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from screener.ari.client import AriClient
from screener.ari.errors import AriError
from screener.ari.models import (
    KNOWN_EVENTS,
    AriEvent,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
    channel_id_of_target,
)
from screener.calls import machine as m
from screener.calls.ari_requests import BEST_EFFORT, ari_request, one_by_one
from screener.calls.delivery import DeliveryTracker
from screener.calls.desk import CallDesk
from screener.calls.facts import facts_from_ari, stasis_arguments
from screener.calls.presence import BoardPresence
from screener.calls.store import new_call_id
from screener.domain.events import AriDisconnected, CallChangedElsewhere
from screener.domain.model import CallEnding
from screener.domain.screen_events import CallScreened
from screener.domain.vocabulary import Action, CallSource, Outcome, ScreenDecision, Step
from screener.events import EventBus
from screener.logging_setup import current_call_id
from screener.settings import Settings

log = logging.getLogger(__name__)

RECONCILE_GRACE_SECONDS = 1.0
"""How long a channel must stay unknown after a reconnect before we send it back."""

SHUTDOWN_WAIT_SECONDS = 5.0
MAX_REMEMBERED_CALLS = 10_000
SHED_LOG_SECONDS = 10.0
"""While overloaded, say so in the log at most this often."""
CLAIM_WAIT_SECONDS = 3.0
"""How long a caller on hold waits for the default to be recorded before it applies anyway."""
WATCH_CHECK_SECONDS = 0.5
"""How often whether anybody is watching the board is looked at."""

DecisionReader = Callable[[str], Awaitable[ScreenDecision | None]]
"""The decision recorded for a call (a decision taken on another Screener process)."""


def flow_config(settings: Settings) -> m.FlowConfig:
    ari, ch, block, screen = settings.ari, settings.challenge, settings.block, settings.screen
    return m.FlowConfig(
        continue_context=ari.continue_context,
        continue_extension=ari.continue_extension,
        continue_priority=ari.continue_priority,
        caller_name_prefix=ari.caller_name_prefix,
        fail_open=ari.fail_open,
        follow_calls=ari.follow_calls,
        max_call_seconds=ari.max_call_seconds,
        attempts=ch.attempts,
        digit_timeout_seconds=ch.digit_timeout_seconds,
        intro_prompts=tuple(ch.intro_prompts),
        digit_prompt_before=tuple(ch.digit_prompt_before),
        digit_prompt_template=ch.digit_prompt_template,
        retry_prompts=tuple(ch.retry_prompts),
        goodbye_prompts=tuple(ch.goodbye_prompts),
        record_name=ch.record_name,
        record_prompts=tuple(ch.record_prompts),
        record_max_seconds=ch.record_max_seconds,
        record_max_silence_seconds=ch.record_max_silence_seconds,
        record_beep=ch.record_beep,
        record_format=ch.record_format,
        passed_prompts=tuple(ch.passed_prompts),
        block_mode=block.mode,
        block_hangup_reason=block.hangup_reason,
        announcement_prompts=tuple(block.announcement_prompts),
        screen_challenge_first=screen.challenge_first,
        screen_prompts=tuple(screen.prompts),
        screen_record_max_seconds=screen.record_max_seconds,
        screen_record_max_silence_seconds=screen.record_max_silence_seconds,
        screen_record_beep=screen.record_beep,
        hold_prompts=tuple(screen.hold_prompts),
        moh_class=screen.moh_class,
        decision_timeout_seconds=screen.decision_timeout_seconds,
        screen_default=screen.default,
        voicemail_context=screen.voicemail_context,
        voicemail_extension=screen.voicemail_extension,
        voicemail_priority=screen.voicemail_priority,
        decline_prompts=tuple(screen.decline_prompts),
        decline_hangup_reason=screen.decline_hangup_reason,
        screen_name_prefix=screen.name_prefix,
    )


@dataclass
class AppStats:
    """Counters for health checks, ``/metrics`` and the benchmark."""

    calls_started: int = 0
    calls_failed_open: int = 0
    calls_shed: int = 0
    """Calls sent straight back undecided because Screener was overloaded."""
    handler_errors: int = 0
    reconciled: int = 0
    first_request_ms: list[float] = field(default_factory=list)
    first_action_ms: list[float] = field(default_factory=list)
    keep_latencies: bool = False


class CallHandler:
    """Drives one call from ``StasisStart`` to ``StasisEnd``."""

    def __init__(self, app: ScreeningApp, event: StasisStart, received_at: float) -> None:
        self.app = app
        self.channel: Channel = event.channel
        self.args = list(event.args)
        self.received_at = received_at
        self.started_at = utcnow()
        self.call_id = new_call_id()
        self.events: asyncio.Queue[m.Event] = asyncio.Queue()
        self.state: m.CallState | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._claim: asyncio.Task[None] | None = None
        self.watched_told: bool | None = None
        """What :meth:`ScreeningApp.follow` last told this call about the board."""
        self._sent_first = False
        self._sent_action = False
        self._following = False  # subscribed to the channel: follow it after the continue

    @property
    def channel_id(self) -> str:
        return self.channel.id

    def deliver(self, event: m.Event) -> None:
        self.events.put_nowait(event)

    async def run(self) -> None:
        current_call_id.set(self.call_id)
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.app.stats.handler_errors += 1
            log.exception("call handler failed; sending the call back to the dialplan")
            await self._last_resort()
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            if self._claim is not None:
                self._claim.cancel()

    async def _run(self) -> None:
        config = self.app.config
        self.state, effects = m.start(config, self.call_id, self.channel.caller.name)
        await self._execute(effects)
        decision: m.Event
        try:
            async with asyncio.timeout(config.max_call_seconds):
                decision = await self._decide()
        except TimeoutError:
            decision = m.DecisionFailed("no decision within ari.max_call_seconds")
        except AriError as exc:
            decision = m.DecisionFailed(f"reading channel facts: {exc}")
        except Exception as exc:  # database down, bug in a list lookup...
            log.error("decision failed: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)
            decision = m.DecisionFailed(type(exc).__name__)
        # Whatever happened meanwhile (the caller hanging up) comes first; a shutdown comes
        # after the decision, so a call the policy allows or blocks is still put through or
        # blocked, and only a challenge goes back to the dialplan unfinished.
        shutting_down = not self.app.accepting
        while not self.events.empty():
            event = self.events.get_nowait()
            if isinstance(event, m.ShutdownRequested):
                shutting_down = True
            else:
                await self._feed(event)
        shutting_down = shutting_down or not self.app.accepting
        if shutting_down and not (
            isinstance(decision, m.Decided) and decision.action in (Action.ALLOW, Action.BLOCK)
        ):
            # No challenge or screening is started while stopping: back to the dialplan.
            await self._feed(m.ShutdownRequested())
        await self._feed(decision)
        if shutting_down:
            await self._feed(m.ShutdownRequested())
        while not self.state.finished:
            await self._feed(await self.events.get())

    async def _decide(self) -> m.Decided:
        client = self.app.client
        _did, named = stasis_arguments(self.args)
        # The dialplan passes the presentation (pres=${CALLERID(pres)}): no request needed.
        names = [] if named.get("pres") else ["CALLERID(pres)"]
        names += self.app.settings.ari.extra_variables
        if len(names) == 1:
            values = [await self._read(client, names[0])]
        else:
            values = list(await asyncio.gather(*(self._read(client, name) for name in names)))
        read = dict(zip(names, values, strict=True))
        presentation = read.pop("CALLERID(pres)", None)
        taken = await self.app.desk.take(
            facts_from_ari(self.channel, self.args, presentation, read),
            source=self.app.source,
            channel_id=self.channel_id,
            call_id=self.call_id,
            started_at=self.started_at,
        )
        decision = taken.screening.decision
        return m.Decided(
            action=decision.action,
            reasons=decision.reason_codes,
            digits=taken.digits,
            watched=self.app.presence.watched(),
        )

    async def _read(self, client: AriClient, variable: str) -> str | None:
        """A channel variable for the facts; absent if the caller already hung up."""
        self._note_request()
        try:
            return await client.get_variable(self.channel_id, variable)
        except AriError as exc:
            if exc.channel_gone:
                return None
            raise

    async def _feed(self, event: m.Event) -> None:
        assert self.state is not None
        self.state, effects = m.step(self.state, event)
        await self._execute(effects)

    async def _execute(self, effects: list[m.Effect]) -> None:
        desk = self.app.desk
        for index, effect in enumerate(effects):
            if isinstance(effect, m.StartTimer):
                self._start_timer(effect.name, effect.seconds)
            elif isinstance(effect, m.CancelTimer):
                handle = self._timers.pop(effect.name, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(effect, m.AddTimeline):
                desk.step(self.call_id, effect.kind, dict(effect.detail))
            elif isinstance(effect, m.RecordOutcome):
                self._record_outcome(effect.ending)
            elif isinstance(effect, m.OfferCall):
                desk.offer(self.call_id)
            elif isinstance(effect, m.PutOnHold):
                desk.hold(self.call_id, effect.timeout_seconds, effect.recording)
            elif isinstance(effect, m.NoteDefault):
                desk.claim_default(self.call_id, effect.decision)
            elif isinstance(effect, m.ClaimDefault):
                self._claim = asyncio.create_task(self._claim_default(effect.decision))
            elif isinstance(effect, m.RecordingReady):
                desk.recorded(self.call_id, effect.name, effect.format)
            else:
                failure = await self._send(effect)
                if failure is not None:
                    # Drop the rest of the batch (requests and its outcome); keep the timeline.
                    for rest in effects[index + 1 :]:
                        if isinstance(rest, m.AddTimeline):
                            desk.step(self.call_id, rest.kind, dict(rest.detail))
                    await self._feed(failure)
                    return

    async def _send(self, effect: m.Effect) -> m.EffectFailed | None:
        request = ari_request(effect, self.channel_id, self.app.settings.ari.app)
        if request is None:
            return None
        if isinstance(effect, m.Continue) and self._following:
            # Before the request: the channel's next events may come before its answer.
            location = f"{effect.context},{effect.extension},{effect.priority}"
            self.app.delivery.follow(self.channel_id, self.call_id, location)
        self._note_request(action=request.method != "GET")
        requests = [request] if self.app.multi_variables else one_by_one(request)
        for part in requests:
            try:
                await self.app.client.send(part.method, part.path, part.params, part.body)
            except AriError as exc:
                if part.name == "set_variables" and _not_supported(exc):
                    # Asterisk before 20.20/22.10: one request per variable from now on.
                    log.info("ARI has no multi-variable set; setting variables one by one")
                    self.app.multi_variables = False
                    return await self._send(effect)
                if part.name in BEST_EFFORT:
                    log.debug("%s failed (ignored): %s", part.name, exc)
                    continue
                if not exc.channel_gone:
                    log.warning("%s failed: %s", part.name, exc)
                return m.EffectFailed(part.name, exc.status, exc.message[:100])
        if isinstance(effect, m.Follow):
            self._following = True
        return None

    def _note_request(self, action: bool = False) -> None:
        stats = self.app.stats
        if not self._sent_first:
            self._sent_first = True
            if stats.keep_latencies:
                stats.first_request_ms.append((time.perf_counter() - self.received_at) * 1000)
        if action and not self._sent_action:
            self._sent_action = True
            if stats.keep_latencies:
                stats.first_action_ms.append((time.perf_counter() - self.received_at) * 1000)

    def _record_outcome(self, ending: CallEnding) -> None:
        if ending.outcome is Outcome.FAIL_OPEN:
            self.app.stats.calls_failed_open += 1
        self.app.desk.finish(self.call_id, ending)
        if self._following:
            self.app.delivery.outcome_recorded(self.channel_id)

    async def _claim_default(self, decision: ScreenDecision) -> None:
        """Record the default and apply the decision the call ends up with; if that cannot
        be recorded in time, the default applies anyway: nobody holds a caller for the
        database."""
        applied = decision
        try:
            async with asyncio.timeout(CLAIM_WAIT_SECONDS):
                applied = await self.app.desk.claim_default(self.call_id, decision)
        except Exception as exc:
            log.warning("default %s not recorded (%s); applying it", decision.value, exc)
        self.deliver(m.ScreenDecided(applied))

    def _start_timer(self, name: str, seconds: float) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(seconds, self.deliver, m.TimerFired(name))

    async def _last_resort(self) -> None:
        """Our own code failed: continue the channel and record it, ignoring further errors."""
        cfg = self.app.config
        try:
            await self.app.client.continue_in_dialplan(
                self.channel_id, cfg.continue_context, cfg.continue_extension, cfg.continue_priority
            )
        except AriError as exc:
            log.warning("fail-open continue failed: %s", exc)
        if self.state is None or not self.state.outcome_recorded:
            ending = CallEnding(
                Outcome.FAIL_OPEN,
                Step.ERROR,
                verdict=self.state.verdict if self.state else None,
                detail="internal error",
            )
            self.app.desk.finish(self.call_id, ending)
        self.app.stats.calls_failed_open += 1


class ScreeningApp:
    """The ``screener`` Stasis application: routes ARI events to one handler per call."""

    def __init__(
        self,
        settings: Settings,
        client: AriClient,
        desk: CallDesk,
        *,
        source: CallSource = CallSource.ARI,
        bus: EventBus | None = None,
        presence: BoardPresence | None = None,
        decisions: DecisionReader | None = None,
    ) -> None:
        self.settings = settings
        self.config = flow_config(settings)
        self.client = client
        self.desk = desk
        self.source = source
        self.bus = bus
        self.presence = presence or BoardPresence(
            settings.screen.watch_grace_seconds, settings.screen.api_watch_seconds
        )
        self.decisions = decisions
        self.handlers: dict[str, CallHandler] = {}
        self.call_ids: dict[str, str] = {}  # channel id -> call id, for the last calls seen
        self.tasks: set[asyncio.Task[None]] = set()
        self.accepting = True
        self.multi_variables = True
        """Whether Asterisk sets several variables in one request (20.20, 22.10 and later)."""
        self.stats = AppStats()
        self._shed_logged_at = -SHED_LOG_SECONDS
        self.delivery = DeliveryTracker(desk)
        """What became of the calls put through (``ari.follow_calls``)."""
        self._reconciled: dict[str, None] = {}  # channels sent back after a reconnect

    @property
    def active_calls(self) -> int:
        return len(self.handlers)

    def handler_of_call(self, call_id: str) -> CallHandler | None:
        for handler in self.handlers.values():
            if handler.call_id == call_id:
                return handler
        return None

    # Live screening ---------------------------------------------------------------------------

    async def follow(self) -> None:
        """Until cancelled: hand reception's decisions, the board being watched or not, and
        the loss of the ARI socket to the calls they concern."""
        if self.bus is None:
            return
        kinds = (CallScreened, CallChangedElsewhere, AriDisconnected)
        watched = self.presence.watched()
        with self.bus.subscribe(maxsize=10_000, kinds=kinds) as events:
            while True:
                try:
                    async with asyncio.timeout(WATCH_CHECK_SECONDS):
                        event = await events.get()
                except TimeoutError:
                    event = None
                now_watched = self.presence.watched()
                if now_watched != watched:
                    watched = now_watched
                    log.info("the board is %s", "watched" if watched else "not watched")
                # Each call hears it once: a board open for less than a check is still seen.
                for handler in list(self.handlers.values()):
                    state = handler.state
                    told = handler.watched_told
                    if state is not None and state.watched != watched and told != watched:
                        handler.watched_told = watched
                        handler.deliver(m.BoardWatched(watched))
                if event is not None:
                    await self._follow_event(event)

    async def _follow_event(self, event: object) -> None:
        if isinstance(event, AriDisconnected):
            for handler in list(self.handlers.values()):
                handler.deliver(m.ConnectionLost())
            return
        if isinstance(event, CallScreened):
            holding = self.handler_of_call(event.call_id)
            if holding is not None:
                holding.deliver(m.ScreenDecided(event.decision, event.decided_by))
            return
        if (
            isinstance(event, CallChangedElsewhere)
            and event.change == CallScreened.kind
            and self.decisions is not None
        ):
            elsewhere = self.handler_of_call(event.call_id)
            if elsewhere is None:
                return
            try:
                decision = await self.decisions(event.call_id)
            except Exception as exc:
                log.warning("cannot read the decision taken elsewhere: %s", exc)
                return
            if decision is not None:
                elsewhere.deliver(m.ScreenDecided(decision))

    # Events from the socket -------------------------------------------------------------------

    def on_event(self, event: AriEvent) -> None:
        """Called by the connection for every event, in order; never blocks."""
        if isinstance(event, StasisStart):
            self._stasis_start(event)
            return
        if self.delivery.followed:
            self.delivery.on_event(event)
        channel_id, translated = _translate(event)
        if channel_id is None or translated is None:
            return
        handler = self.handlers.get(channel_id)
        if handler is not None:
            handler.deliver(translated)

    def _stasis_start(self, event: StasisStart) -> None:
        received = time.perf_counter()
        channel_id = event.channel.id
        if channel_id in self.handlers:
            return
        overload = self._overload()
        if overload is not None:
            self._spawn(self._shed(event, overload))
            return
        handler = CallHandler(self, event, received)
        self.handlers[channel_id] = handler
        self.call_ids[channel_id] = handler.call_id
        if len(self.call_ids) > MAX_REMEMBERED_CALLS:
            del self.call_ids[next(iter(self.call_ids))]
        self.stats.calls_started += 1
        task = self._spawn(handler.run())
        task.add_done_callback(functools.partial(self._handler_done, channel_id))

    def _handler_done(self, channel_id: str, _task: asyncio.Task[None]) -> None:
        self.handlers.pop(channel_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _overload(self) -> str | None:
        """Why a new call cannot be taken now, or None."""
        ari = self.settings.ari
        if len(self.handlers) >= ari.max_calls_in_progress:
            return f"{len(self.handlers)} calls in progress (ari.max_calls_in_progress)"
        behind = self.desk.records_behind
        if behind > ari.max_records_behind:
            return f"{behind} call records waiting to be written (ari.max_records_behind)"
        return None

    async def _shed(self, event: StasisStart, why: str) -> None:
        """Screener is overloaded: the call goes straight back to the dialplan (as if Screener
        were not there), recorded with its facts and the time it came."""
        started_at = utcnow()
        self.stats.calls_shed += 1
        now = time.monotonic()
        if now - self._shed_logged_at > SHED_LOG_SECONDS:
            self._shed_logged_at = now
            log.warning("overloaded (%s): new calls go straight back to the dialplan", why)
        _did, named = stasis_arguments(list(event.args))
        facts = facts_from_ari(event.channel, list(event.args), named.get("pres"), {})
        await self._send_back(event.channel.id, "overloaded")
        self.desk.shed(
            facts,
            source=self.source,
            channel_id=event.channel.id,
            started_at=started_at,
            detail=f"Screener was overloaded ({why}): sent straight back to the dialplan",
        )

    async def _send_back(self, channel_id: str, why: str) -> None:
        cfg = self.config
        try:
            await self.client.continue_in_dialplan(
                channel_id, cfg.continue_context, cfg.continue_extension, cfg.continue_priority
            )
            log.info("sent channel %s back to the dialplan (%s)", channel_id, why)
        except AriError as exc:
            if not exc.channel_gone:
                log.warning("could not send channel %s back to the dialplan: %s", channel_id, exc)

    # Reconnection -----------------------------------------------------------------------------

    async def reconcile(self, connects: int) -> None:
        """After (re)connecting: continue channels still in our app that no handler owns."""
        app_name = self.settings.ari.app
        try:
            # Only the events Screener reads: Asterisk sends many more (ChannelVarset for
            # every variable set, bridges while a followed call talks...), each costing
            # both sides. An Asterisk without eventFilter sends everything (ignored here).
            await self.client.allow_only(app_name, KNOWN_EVENTS)
        except AriError as exc:
            log.info("ARI has no event filter (%s): every event comes and is ignored", exc)
        try:
            application = await self.client.get_application(app_name)
        except AriError as exc:
            log.warning("reconcile: cannot read application %s: %s", app_name, exc)
            return
        in_app = set(application.channel_ids)
        for channel_id, handler in list(self.handlers.items()):
            if channel_id not in in_app and connects > 1:
                # It left while we were disconnected; its StasisEnd was lost.
                handler.deliver(m.StasisEnded())
        # A channel another pass (after a quick second reconnect) is sending back, or has
        # sent back already, is not sent back and counted again.
        unknown = in_app - set(self.handlers) - set(self._reconciled)
        if not unknown:
            return
        for channel_id in unknown:
            self._reconciled[channel_id] = None
        while len(self._reconciled) > MAX_REMEMBERED_CALLS:
            del self._reconciled[next(iter(self._reconciled))]
        await asyncio.sleep(RECONCILE_GRACE_SECONDS)
        for channel_id in sorted(unknown - set(self.handlers)):
            detail = "lost track of this call (ARI reconnect); sent back to the dialplan"
            await self._send_back(channel_id, "lost track after reconnect")
            self.desk.lost_channel(channel_id, detail)
            self.stats.reconciled += 1

    # Shutdown ---------------------------------------------------------------------------------

    async def shutdown(self, wait_seconds: float = SHUTDOWN_WAIT_SECONDS) -> None:
        """Give every call in progress back to the dialplan, and record each.

        A call that arrives meanwhile (the socket is still open for the events of the calls
        in progress) is decided and recorded like any other; its challenge, if it gets one,
        is skipped the same way.
        """
        self.accepting = False
        for handler in list(self.handlers.values()):
            handler.deliver(m.ShutdownRequested())
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while pending := [t for t in self.tasks if not t.done()]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            await asyncio.wait(pending, timeout=left)


def _not_supported(exc: AriError) -> bool:
    """The request is unknown to this Asterisk (not: the channel is gone)."""
    if exc.status in (405, 501):
        return True
    return exc.status == 404 and "channel" not in exc.message.lower()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _translate(event: AriEvent) -> tuple[str | None, m.Event | None]:
    """The channel an ARI event concerns and the state-machine event for it."""
    if isinstance(event, StasisEnd):
        return event.channel.id, m.StasisEnded()
    if isinstance(event, ChannelHangupRequest | ChannelDestroyed):
        return event.channel.id, m.CallerHungUp()
    if isinstance(event, ChannelDtmfReceived):
        return event.channel.id, m.DigitPressed(event.digit[:1])
    if isinstance(event, PlaybackStarted):
        return channel_id_of_target(event.playback.target_uri), m.PlaybackStarted(event.playback.id)
    if isinstance(event, PlaybackFinished):
        failed = event.playback.state == "failed"
        return channel_id_of_target(event.playback.target_uri), m.PlaybackFinished(
            event.playback.id, failed
        )
    if isinstance(event, RecordingFinished):
        rec = event.recording
        return channel_id_of_target(rec.target_uri), m.RecordingFinished(rec.name, rec.duration)
    if isinstance(event, RecordingFailed):
        rec = event.recording
        return channel_id_of_target(rec.target_uri), m.RecordingFailed(rec.name, rec.cause or "")
    return None, None
