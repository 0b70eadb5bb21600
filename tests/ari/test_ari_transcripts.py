"""Replay each recorded Asterisk transcript and check Screener makes the same requests.

The fake server answers every request with the transcript's recorded status and body and
then pushes the websocket events that followed it. The comparison is exact apart from
these normalisations (the recorded screener was a probe, not Screener):

1. ``GET /channels/{id}/variable`` requests are not compared: the probe read seven caller-ID
   values, Screener reads only ``CALLERID(pres)`` (and any ``ari.extra_variables``). Each
   variable read is answered with what the transcript recorded for it (500 when absent).
2. Setting variables is not in the transcripts: Screener sets ``SCREENER_*`` before
   ``continue``, in one ``POST /channels/{id}/variables`` (Asterisk 22.10 and later, as
   recorded) or one ``POST .../variable`` each. They are answered 204, like Asterisk, and
   checked separately (they must come before the ``continue``).
3. Requests the probe made *after* ``StasisEnd`` that returned 404 (poking a dead channel)
   are dropped from the expectation: Screener does not touch a channel that has left.
4. ``GET /applications/screener`` (Screener's reconciliation on connect) and the event filter
   it sets first (``PUT /applications/screener/eventFilter``) are not compared.
5. ``playbackId`` and the recording ``name`` are Screener's own: any value is accepted and
   the recorded ids in later responses and events are rewritten to Screener's.
6. The probe did not follow calls after the hand-back: Screener's subscription to the
   channel (``POST /applications/screener/subscription``, ``ari.follow_calls``) is
   answered 200 as Asterisk 22.10 answers it, and checked to come before ``continue``.

Each transcript is replayed with the prompt settings its probe used (one prompt, digit 1,
one attempt, a 3-second recording without beep) and, for the "normal number" transcripts,
with the caller on a contacts list (the number is in Ofcom's drama range, which Screener
would otherwise challenge).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from screener.demo.fake_asterisk import FakeAsterisk
from screener.domain.vocabulary import ListKind
from tests.ari.harness import PASSWORD, add_list, fast_settings, running_service

TRANSCRIPTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "asterisk-ari" / "transcripts"

PROBE_CHALLENGE = {
    "attempts": 1,
    "intro_prompts": [],
    "digit_prompt_before": [],
    "digit_prompt_template": "sound:beep",
    "goodbye_prompts": ["sound:beeperr"],
    "record_prompts": [],
    "record_beep": False,
    "record_max_seconds": 3,
    "record_max_silence_seconds": 0,
    "passed_prompts": [],
    "digit_timeout_seconds": 30,
}

CASES: dict[str, dict[str, Any]] = {
    "withheld-challenge-pass": {
        "challenge": PROBE_CHALLENGE,
        "end": {"outcome": "connected", "verdict": "challenge-passed", "recorded": True},
    },
    "local-withheld-challenge-pass": {
        "challenge": PROBE_CHALLENGE,
        "end": {"outcome": "connected", "verdict": "challenge-passed", "recorded": True},
    },
    "normal-number-continue": {
        "contacts": ["+442079460000"],
        "end": {"outcome": "connected", "verdict": "allow"},
    },
    "local-normal-number-continue": {
        "contacts": ["+442079460000"],
        "end": {"outcome": "connected", "verdict": "allow"},
    },
    "caller-hangs-up-during-prompt": {
        "challenge": {**PROBE_CHALLENGE, "digit_prompt_template": "sound:privacy-unident"},
        "end": {"outcome": "abandoned", "step": "prompt"},
    },
    "dtmf-wrong-digit": {
        "challenge": PROBE_CHALLENGE,
        "end": {"outcome": "challenge-failed", "challenge_result": "failed"},
    },
}


@dataclass
class Expected:
    line: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Transcript:
    name: str
    lines: list[dict[str, Any]]

    @property
    def leading_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines:
            if line["kind"] == "rest":
                break
            if line["kind"] == "ws_event":
                out.append(line["event"])
        return out

    def expected_requests(self) -> list[Expected]:
        expected: list[Expected] = []
        ended = False
        for line in self.lines:
            kind = line["kind"]
            if kind == "ws_event":
                if line["event"]["type"] == "StasisEnd":
                    ended = True
                if expected:
                    expected[-1].events.append(line["event"])
            elif kind == "rest":
                if line["path"].endswith("/variable"):
                    continue  # normalisation 1
                if ended and line["status"] == 404:
                    continue  # normalisation 3
                expected.append(Expected(line))
        return expected

    def variable_answers(self) -> dict[str, tuple[int, Any]]:
        return {
            line["query"]["variable"]: (line["status"], line["response"])
            for line in self.lines
            if line["kind"] == "rest" and line["path"].endswith("/variable")
        }


def load(name: str) -> Transcript:
    path = TRANSCRIPTS / f"{name}.jsonl"
    lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
    return Transcript(name, lines[1:])


class Replayer:
    """The request hook that plays one transcript through the fake server."""

    def __init__(self, pbx: FakeAsterisk, transcript: Transcript) -> None:
        self.pbx = pbx
        self.transcript = transcript
        self.expected = transcript.expected_requests()
        self.variables = transcript.variable_answers()
        self.cursor = 0
        self.mismatches: list[str] = []
        self.set_variables: list[tuple[str, str]] = []
        self.order: list[str] = []
        self.renames: dict[str, str] = {}
        self.channel_id = transcript.leading_events[0]["channel"]["id"]
        self.in_app = False
        self.finished = asyncio.Event()

    def start(self) -> None:
        self.in_app = True
        self._push(self.transcript.leading_events)

    def _rewrite(self, value: Any) -> Any:
        text = json.dumps(value)
        for recorded, ours in self.renames.items():
            text = text.replace(recorded, ours)
        return json.loads(text)

    def _push(self, events: list[dict[str, Any]]) -> None:
        async def push() -> None:
            await asyncio.sleep(0.005)
            for event in events:
                if event["type"] == "StasisEnd":
                    self.in_app = False
                await self.pbx.emit(self._rewrite(dict(event)))
            if self.cursor >= len(self.expected):
                self.finished.set()

        asyncio.get_running_loop().create_task(push())

    async def __call__(self, request: Request, path: str) -> Response | None:
        query = dict(request.query_params)
        method = request.method
        if path == "/applications/screener":
            return JSONResponse(
                {"name": "screener", "channel_ids": [self.channel_id] if self.in_app else []}
            )
        if path == "/applications/screener/eventFilter" and method == "PUT":  # 4
            allowed = json.loads(await request.body())["allowed"]
            return JSONResponse({"name": "screener", "events_allowed": allowed})
        if path == "/applications/screener/subscription" and method == "POST":  # 6
            assert query == {"eventSource": f"channel:{self.channel_id}"}, query
            self.order.append("follow")
            return JSONResponse({"name": "screener", "channel_ids": [self.channel_id]})
        if path.endswith("/variable") and method == "GET":
            status, body = self.variables.get(
                query["variable"], (500, {"message": "Unable to read provided function"})
            )
            return JSONResponse(body, status)
        if path.endswith("/variable") and method == "POST":
            self.set_variables.append((query["variable"], query.get("value", "")))
            self.order.append(f"set {query['variable']}")
            return Response(status_code=204)
        if path.endswith("/variables") and method == "POST":
            for variable, value in json.loads(await request.body())["variables"].items():
                self.set_variables.append((variable, value))
                self.order.append(f"set {variable}")
            return Response(status_code=204)
        self.order.append(f"{method} {path}")
        if self.cursor >= len(self.expected):
            self.mismatches.append(f"unexpected {method} {path} {query}")
            return JSONResponse({"message": "Channel not found"}, 404)
        want = self.expected[self.cursor]
        line = want.line
        recorded_query = {k: str(v) for k, v in line["query"].items()}
        ours = dict(query)
        for key in ("playbackId", "name"):  # normalisation 5
            if key in recorded_query and key in ours:
                self.renames[recorded_query[key]] = ours[key]
                ours[key] = recorded_query[key]
        recorded_path = line["path"].removeprefix("/ari")
        for recorded, mine in self.renames.items():
            recorded_path = recorded_path.replace(recorded, mine)
        if (method, path, ours) != (line["method"], recorded_path, recorded_query):
            self.mismatches.append(
                f"request {self.cursor + 1}: want {line['method']} {recorded_path} "
                f"{recorded_query}, got {method} {path} {query}"
            )
        self.cursor += 1
        self._push(want.events)
        if line["response"] is None:
            return Response(status_code=line["status"])
        return JSONResponse(self._rewrite(line["response"]), line["status"])


@pytest.mark.parametrize("name", sorted(CASES))
async def test_replay_transcript(name: str, sqlite_url: str) -> None:
    if not TRANSCRIPTS.is_dir():
        pytest.skip(f"ARI transcripts not found at {TRANSCRIPTS} (shared reference material)")
    case = CASES[name]
    transcript = load(name)
    pbx = FakeAsterisk(password=PASSWORD, autoplay=False)
    replayer = Replayer(pbx, transcript)
    pbx.request_hook = replayer
    await pbx.start()

    async def seed(session: Any) -> None:
        if case.get("contacts"):
            await add_list(session, "contacts", ListKind.CONTACTS, *case["contacts"])

    overrides = {"challenge": case["challenge"]} if "challenge" in case else {}
    try:
        async with running_service(
            lambda url: fast_settings(sqlite_url, url, **overrides),
            pbx=pbx,
            digits="1",
            seed=seed,
        ) as run:
            replayer.start()
            async with asyncio.timeout(10):
                await replayer.finished.wait()
            await run.wait_idle()
            call = await run.call_record(replayer.channel_id)
    finally:
        await pbx.stop()

    assert replayer.mismatches == []
    assert replayer.cursor == len(replayer.expected), "Screener stopped short of the transcript"
    if any(step.startswith("POST") and step.endswith("/continue") for step in replayer.order):
        continue_at = next(i for i, s in enumerate(replayer.order) if s.endswith("/continue"))
        verdict_at = replayer.order.index("set SCREENER_VERDICT")
        assert replayer.order.index("follow") < verdict_at < continue_at
        assert dict(replayer.set_variables)["SCREENER_VERDICT"] == case["end"]["verdict"]
    row = {
        "outcome": call.outcome,
        "verdict": call.verdict,
        "step": call.outcome_step,
        "challenge_result": call.challenge_result,
    }
    for key, value in case["end"].items():
        if key == "recorded":
            assert bool(call.recording) is value
        else:
            assert row[key] == value, (key, row)
    assert call.caller_number_raw == transcript.leading_events[0]["channel"]["caller"]["number"]
