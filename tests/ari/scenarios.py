"""Call-flow scenarios as data (``tests/scenarios/*.yaml``), run two ways.

A scenario is testsuite-style YAML: the caller, the lists, the decision, then ``script``,
an ordered list of steps. ``expect`` steps list the ARI requests Screener must make next
(partial matching: ``path`` is a regex matched at the end of the path with the channel id
shown as ``{channel}``; each ``query`` value is a regex that must match the whole value;
extra query keys are ignored). Other steps are what the PBX or the caller does:

``playback_finished``  the current prompt ends          ``press: "4"``  the caller presses 4
``recording_finished: {duration: 2}`` / ``recording_failed: {cause: x}``
``caller_hangs_up``    the caller hangs up              ``timeout: digit|max_call|screen``

Live screening (action ``screen``): ``decide: connect|voicemail|decline|block`` is reception
deciding the waiting call (on the fake server through the decision use case, as the board
and the API do); ``race: [connect, connect]`` is two receptionists deciding at the same
moment (exactly one may win, the other is told who did); ``asterisk_lost: {}`` drops the
ARI event socket. A scenario's ``watched: false`` means no board is open.

``end`` holds partial expectations on the call's outcome row (and, on the fake server,
``listed: NAME``: the caller's number is on that list).

* :func:`run_on_machine` feeds the pure state machine and turns its effects into requests
  with the same mapping the adapter uses (Asterisk's automatic events, such as ``StasisEnd``
  after ``continue``, are synthesised the way the fake server sends them).
* :func:`run_on_fake_server` runs the real service against the fake Asterisk in scripted
  mode; fact-gathering ``GET .../variable`` requests, ``GET /applications`` and the event
  filter set on connecting are left out of the comparison (scenarios describe the flow
  after the decision), and a multi-variable set is compared as the per-variable requests
  it stands for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from screener.application.unit_of_work import UnitOfWork
from screener.calls import machine as m
from screener.calls import screen_decisions
from screener.calls.ari_flow import flow_config
from screener.calls.ari_requests import AriRequest, ari_request, one_by_one
from screener.db.models import Call, ListEntry, NumberList
from screener.demo.fake_asterisk import FakeAsterisk, FakeChannel
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import Action, ListKind, ScreenDecision, Via
from screener.lists import repo as lists_repo
from tests.ari.harness import PASSWORD, add_list, fast_settings, running_service

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
CHANNEL = "1795351318.5633"


@dataclass
class Scenario:
    name: str
    path: Path
    data: dict[str, Any]

    @property
    def script(self) -> list[dict[str, Any]]:
        return list(self.data["script"])

    @property
    def digits(self) -> str:
        return str(self.data.get("digit", "4"))


def load_scenarios() -> list[Scenario]:
    found = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        found.append(Scenario(data.get("name", path.stem), path, data))
    return found


@dataclass(frozen=True)
class Req:
    method: str
    path: str  # below /ari, channel id replaced by {channel}
    query: dict[str, str]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.query}"


def normalise(method: str, path: str, query: dict[str, Any], channel_id: str) -> Req:
    if path.startswith("/ari/"):
        path = path[4:]
    path = path.replace(channel_id, "{channel}")
    return Req(method, path, {k: str(v) for k, v in query.items()})


def matches(expected: dict[str, Any], actual: Req) -> bool:
    if expected.get("method", actual.method) != actual.method:
        return False
    pattern = expected["path"].replace("{channel}", re.escape("{channel}"))
    if not re.search(pattern + "$", actual.path):
        return False
    for key, pattern in (expected.get("query") or {}).items():
        if key not in actual.query or not re.fullmatch(str(pattern), actual.query[key]):
            return False
    return True


def check_outcome(expected: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    """``actual`` may hold vocabulary enums (the machine) or their stored values (a row)."""
    for key, value in expected.items():
        if key == "recorded":
            assert bool(actual.get("recording")) is bool(value), f"{where}: recording {actual}"
            continue
        if key == "listed":  # the fake server's own check (lists are in the database)
            continue
        assert actual.get(key) == value, f"{where}: {key} is {actual.get(key)!r}, want {value!r}"


def settings_for(scenario: Scenario, db_url: str, url: str = "") -> Any:
    return fast_settings(db_url, url, **(scenario.data.get("settings") or {}))


# The pure state machine ---------------------------------------------------------------------


@dataclass
class MachineRun:
    state: m.CallState
    requests: list[Req] = field(default_factory=list)
    outcomes: list[m.RecordOutcome] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    playback: str | None = None
    recording: str | None = None

    def feed(self, event: m.Event) -> None:
        self.state, effects = m.step(self.state, event)
        automatic: list[m.Event] = []
        for effect in effects:
            if isinstance(effect, m.RecordOutcome):
                self.outcomes.append(effect)
            elif isinstance(effect, m.AddTimeline):
                self.timeline.append(effect.kind)
            elif isinstance(effect, m.ClaimDefault):
                # Nobody else decided: the adapter answers with the default itself.
                automatic.append(m.ScreenDecided(effect.decision))
            request = ari_request(effect, CHANNEL)
            if request is None:
                continue
            for part in one_by_one(request):
                self.requests.append(normalise(part.method, part.path, part.params, CHANNEL))
            if isinstance(effect, m.Play):
                self.playback = effect.playback_id
            elif isinstance(effect, m.Record):
                self.recording = effect.name
            elif isinstance(effect, m.StopPlayback):
                automatic.append(m.PlaybackFinished(effect.playback_id))
                self.playback = None
            elif isinstance(effect, m.Continue | m.Hangup):
                automatic.append(m.StasisEnded())
        for event_ in automatic:
            self.feed(event_)


def run_on_machine(scenario: Scenario, db_url: str = "sqlite+aiosqlite:///unused.db") -> None:
    config = flow_config(settings_for(scenario, db_url))
    decision = scenario.data["decision"]
    state, _ = m.start(config, "c0ffee", scenario.data.get("caller", {}).get("name", ""))
    run = MachineRun(state)
    run.feed(
        m.Decided(
            Action(decision["action"]),
            tuple(decision.get("reasons", ())),
            tuple(scenario.digits for _ in range(config.attempts)),
            watched=scenario.data.get("watched", True),
        )
    )
    cursor = 0
    for index, step_ in enumerate(scenario.script):
        where = f"{scenario.path.name} step {index + 1}"
        if "expect" in step_:
            for expected in step_["expect"]:
                assert cursor < len(run.requests), f"{where}: no request for {expected}"
                actual = run.requests[cursor]
                assert matches(expected, actual), f"{where}: want {expected}, got {actual}"
                cursor += 1
        elif "playback_finished" in step_:
            assert run.playback, f"{where}: no prompt playing"
            pid, run.playback = run.playback, None
            run.feed(m.PlaybackFinished(pid))
        elif "press" in step_:
            run.feed(m.DigitPressed(str(step_["press"])))
        elif "recording_finished" in step_:
            assert run.recording
            duration = (step_["recording_finished"] or {}).get("duration", 2)
            run.feed(m.RecordingFinished(run.recording, duration))
        elif "recording_failed" in step_:
            assert run.recording
            run.feed(m.RecordingFailed(run.recording, step_["recording_failed"]["cause"]))
        elif "caller_hangs_up" in step_:
            run.feed(m.CallerHungUp())
            if run.playback:
                pid, run.playback = run.playback, None
                run.feed(m.PlaybackFinished(pid, failed=True))
            run.feed(m.StasisEnded())
        elif "timeout" in step_:
            run.feed(m.TimerFired(step_["timeout"]))
        elif "decide" in step_:
            run.feed(m.ScreenDecided(ScreenDecision(step_["decide"]), "alice"))
        elif "race" in step_:
            for who, decision in zip(("alice", "bob"), step_["race"], strict=False):
                run.feed(m.ScreenDecided(ScreenDecision(decision), who))
        elif "asterisk_lost" in step_:
            run.feed(m.ConnectionLost())
        elif "end" in step_:
            assert cursor == len(run.requests), (
                f"{where}: unexpected requests {[str(r) for r in run.requests[cursor:]]}"
            )
            assert len(run.outcomes) == 1, f"{where}: outcomes {run.outcomes}"
            check_outcome(step_["end"], dataclasses.asdict(run.outcomes[0].ending), where)
            assert run.state.phase in (m.Phase.LEAVING, m.Phase.DONE)
        else:
            raise AssertionError(f"{where}: unknown step {step_}")


# The real service against the fake Asterisk --------------------------------------------------


async def _seed(scenario: Scenario, session: Any) -> None:
    for number_list in scenario.data.get("lists", []):
        if "action" in number_list:  # a list whose action is not its kind's default
            created = await lists_repo.create_list(
                session,
                number_list["name"],
                ListKind(number_list["kind"]),
                Action(number_list["action"]),
            )
            for number in number_list["numbers"]:
                entry = lists_repo.EntryInput(number)
                await lists_repo.add_entry(session, ANALYSER, created, entry, "test")
            continue
        await add_list(
            session,
            number_list["name"],
            ListKind(number_list["kind"]),
            *number_list["numbers"],
        )


def _flow_requests(pbx: FakeAsterisk, channel: FakeChannel) -> list[Req]:
    out = []
    for logged in pbx.requests:
        if logged.method == "GET" and (
            logged.path.endswith("/variable") or "/applications/" in logged.path
        ):
            continue
        if logged.path.endswith("/eventFilter"):  # on connecting, not part of a call
            continue
        if logged.path.endswith("/variables") and isinstance(logged.body, dict):
            # One multi-variable set stands for the per-variable requests of the scenario.
            sent = AriRequest("POST", logged.path, {}, "set_variables", logged.body)
            for part in one_by_one(sent):
                out.append(normalise(part.method, part.path, part.params, channel.id))
            continue
        out.append(normalise(logged.method, logged.path, logged.query, channel.id))
    return out


async def _next_request(pbx: FakeAsterisk, channel: FakeChannel, cursor: int) -> Req:
    async with asyncio.timeout(10):
        while True:
            requests = _flow_requests(pbx, channel)
            if len(requests) > cursor:
                return requests[cursor]
            await asyncio.sleep(0.005)


async def run_on_fake_server(scenario: Scenario, db_url: str) -> None:
    pbx = FakeAsterisk(password=PASSWORD, autoplay=False)
    await pbx.start()
    try:
        async with running_service(
            lambda url: settings_for(scenario, db_url, url),
            pbx=pbx,
            digits=scenario.digits,
            seed=lambda session: _seed(scenario, session),
        ) as run:
            caller = scenario.data.get("caller", {})
            with contextlib.ExitStack() as board:
                if scenario.data.get("watched", True):
                    board.enter_context(run.ctx.presence.watching())  # as an open board does
                channel = pbx.place_call(
                    caller.get("number", ""),
                    caller.get("name", ""),
                    presentation=caller.get("presentation", "allowed_not_screened"),
                )
                await _drive(scenario, run, pbx, channel)
    finally:
        await pbx.stop()


async def _drive(scenario: Scenario, run: Any, pbx: FakeAsterisk, channel: FakeChannel) -> None:
    cursor = 0
    for index, step_ in enumerate(scenario.script):
        where = f"{scenario.path.name} step {index + 1} (fake server)"
        if "expect" in step_:
            for expected in step_["expect"]:
                actual = await _next_request(pbx, channel, cursor)
                assert matches(expected, actual), f"{where}: want {expected}, got {actual}"
                cursor += 1
        elif "playback_finished" in step_:
            assert channel.playback is not None, f"{where}: no prompt playing"
            pbx.finish_playback(channel)
        elif "press" in step_:
            await pbx.press(channel, str(step_["press"]))
        elif "recording_finished" in step_ or "recording_failed" in step_:
            async with asyncio.timeout(5):
                while channel.live_recording is None or channel.live_recording.state != "recording":
                    await asyncio.sleep(0.005)
            if "recording_finished" in step_:
                duration = (step_["recording_finished"] or {}).get("duration", 2)
                pbx.finish_recording(channel, duration)
            else:
                pbx.fail_recording(channel, step_["recording_failed"]["cause"])
        elif "caller_hangs_up" in step_:
            await pbx.caller_hangs_up(channel)
        elif "timeout" in step_:
            pass  # the real timer fires (short timeouts in the scenario's settings)
        elif "decide" in step_:
            await _decide(run, channel, [("alice", step_["decide"])])
        elif "race" in step_:
            await _decide(run, channel, list(zip(("alice", "bob"), step_["race"], strict=False)))
        elif "asterisk_lost" in step_:
            await pbx.drop_websockets()
        elif "end" in step_:
            call = await run.call_record(channel)
            await run.wait_idle()
            extra = _flow_requests(pbx, channel)[cursor:]
            assert not extra, f"{where}: unexpected requests {[str(r) for r in extra]}"
            decision = scenario.data["decision"]
            assert call.action == decision["action"], f"{where}: decided {call.action}"
            codes = [r["code"] for r in call.reasons]
            for reason in decision.get("reasons", ()):
                assert reason in codes, f"{where}: reasons {codes}"
            row = {
                "outcome": call.outcome,
                "verdict": call.verdict,
                "step": call.outcome_step,
                "challenge_result": call.challenge_result,
                "recording": call.recording,
                "challenge_attempts": call.challenge_attempts,
                "detail": call.outcome_detail,
            }
            check_outcome(step_["end"], row, where)
            if "listed" in step_["end"]:
                await _check_listed(run, call, step_["end"]["listed"], where)
            # What the dialplan did after the hand-back may follow (ari.follow_calls).
            kinds = [e.kind for e in call.events if e.kind not in ("ringing", "delivery")]
            assert kinds[0] == "decided" and kinds[-1] == "outcome", kinds
        else:
            raise AssertionError(f"{where}: unknown step {step_}")


ANALYSER = NumberAnalyser("GB")


async def _call_id(run: Any, channel: FakeChannel) -> str:
    async with asyncio.timeout(10):
        while True:
            async with run.ctx.database.sessions() as session:
                found = await session.scalar(select(Call.id).where(Call.channel_id == channel.id))
            if found is not None:
                return str(found)
            await asyncio.sleep(0.01)


async def _decide(run: Any, channel: FakeChannel, decisions: list[tuple[str, str]]) -> None:
    """Receptionists decide the waiting call at once, through the use case the board and the
    API call; exactly one of them wins and the others are told who did."""
    call_id = await _call_id(run, channel)

    async def one(who: str, decision: str) -> Any:
        uow = UnitOfWork(run.ctx.database, Actor(who, Via.WEB, "127.0.0.1"), run.ctx.bus)
        return await screen_decisions.decide_waiting_call(uow, ANALYSER, call_id, decision)

    results = await asyncio.gather(*(one(w, d) for w, d in decisions), return_exceptions=True)
    won = [r for r in results if isinstance(r, screen_decisions.WaitingCallDecided)]
    assert len(won) == 1, results
    for result in results:
        if result is won[0]:
            continue
        assert isinstance(result, screen_decisions.AlreadyDecided), result
        assert result.decided.decided_by == won[0].decided.decided_by
        assert result.decided.decision is won[0].decided.decision


async def _check_listed(run: Any, call: Call, list_name: str, where: str) -> None:
    async with run.ctx.database.sessions() as session:
        found = await session.scalar(
            select(ListEntry.id)
            .join(NumberList, NumberList.id == ListEntry.list_id)
            .where(NumberList.name == list_name, ListEntry.value == call.caller_number)
        )
    assert found is not None, f"{where}: {call.caller_number} is not on {list_name!r}"
