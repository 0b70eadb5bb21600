"""Speech to text in the running service, end to end: a caller on the fake Asterisk says a
clip (espeak-ng, 8 kHz telephone audio), the real worker transcribes it with the real
tiny.en model, and the transcript and any claim of authority reach the call's record, the
API, the live board, MQTT (real Mosquitto), /metrics and /healthz. A full queue and a
dying worker never touch the calls."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from screener.application.unit_of_work import UnitOfWork
from screener.calls.queries import get_call
from screener.cli.calls_cmd import describe
from screener.db.models import Call, CallReason, Transcript
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.model import Actor
from screener.settings import Settings
from screener.speech.model import faster_whisper_installed
from screener.users import service as users
from tests.ari.harness import PASSWORD as ARI_PASSWORD
from tests.ari.harness import Running, fast_settings, running_service
from tests.mqtt.conftest import mosquitto, mosquitto_binary, subscriber  # noqa: F401
from tests.speech.conftest import MakeClip
from tests.support.mosquitto import Mosquitto
from tests.support.pgcluster import free_port
from tests.web.conftest import PASSWORD, csrf_of

DETECTIVE = "this is detective Mark Dixon from the Metropolitan Police"
PLUMBER = "hello it's Sarah from Acme Plumbing about your boiler service"


def metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {sample}")


def caller(clip: Path) -> CallerBehaviour:
    """A caller who passes the challenge, then says ``clip`` when asked for their name."""
    return CallerBehaviour(presses=("correct",), says=clip.read_bytes())


@asynccontextmanager
async def speech_service(
    db_url: str,
    model_dir: Path,
    *,
    pbx: FakeAsterisk | None = None,
    recordings_dir: str = "",
    mqtt_port: int | None = None,
    policy: dict[str, Any] | None = None,
    **speech: Any,
) -> AsyncIterator[tuple[Running, int]]:
    """The service with speech to text on (the model loaded), its console on a free port."""
    web_port = free_port()

    def settings(url: str) -> Settings:
        return fast_settings(
            db_url,
            url,
            speech={"enabled": True, "model": str(model_dir), **speech},
            ari={"recordings_dir": recordings_dir},
            challenge={"record_max_seconds": 20},
            web={"enabled": True, "host": "127.0.0.1", "port": web_port, "secure_cookies": False},
            mqtt={"enabled": mqtt_port is not None, "port": mqtt_port or 1883, "host": "127.0.0.1"},
            policy=policy or {},
        )

    async with running_service(settings, pbx=pbx) as run:
        async with asyncio.timeout(120):
            while not run.ctx.transcripts.available:
                assert run.ctx.transcripts.transcriber.availability.reason != "stopped"
                await asyncio.sleep(0.05)
        yield run, web_port


async def transcribed(run: Running, channel: FakeChannel, timeout: float = 90) -> Call:
    """The call's record once its transcript (or why there is none) is written."""
    await run.finished(channel)
    first = await run.call_record(channel)
    async with asyncio.timeout(timeout):
        while True:
            async with run.ctx.database.sessions() as session:
                call = await get_call(session, first.id)
            if call is not None and call.transcripts:
                break
            await asyncio.sleep(0.05)
    # Read again: SQLite reads outside a write are one snapshot per statement, so the call's
    # row may have been read just before the transcript's transaction committed.
    async with run.ctx.database.sessions() as session:
        call = await get_call(session, first.id)
    assert call is not None
    return call


@asynccontextmanager
async def signed_in(run: Running, web_port: int) -> AsyncIterator[httpx.AsyncClient]:
    """A receptionist's browser session on the service's console."""
    await users.create_user(
        UnitOfWork(run.ctx.database, Actor.system("test")), "desk", PASSWORD, "reception"
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as client:
        login = await client.get("/login")
        signed = await client.post(
            "/login",
            data={"username": "desk", "password": PASSWORD, "csrf_token": csrf_of(login.text)},
        )
        assert signed.status_code == 303
        yield client


async def board_rows(client: httpx.AsyncClient, found: Callable[[str], bool]) -> str:
    """The first row the live board's event stream sends that ``found`` accepts."""
    async with client.stream("GET", "/board/events") as stream:
        assert stream.status_code == 200
        data: list[str] = []
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                data.append(line.removeprefix("data: "))
            elif not line and data:
                row = "\n".join(data)
                if found(row):
                    return row
                data = []
    raise AssertionError("the board stream ended")


@pytest.mark.mqtt
async def test_a_withheld_caller_claiming_to_be_the_police(
    db_url: str,
    model_dir: Path,
    make_clip: MakeClip,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    """Withheld, passes the challenge, says "this is detective Mark Dixon from the
    Metropolitan Police" (fetched from Asterisk over ARI): the transcript and a
    claims_authority reason with the withheld-police advice reach the record, the API, the
    queue, the board, MQTT, /metrics and /healthz; the call itself goes on as decided."""
    clip = make_clip(DETECTIVE)
    async with (
        speech_service(db_url, model_dir, mqtt_port=mosquitto.port) as (run, web_port),
        subscriber(mosquitto.port, "screener/+/calls/+/transcript") as mqtt,
    ):
        async with signed_in(run, web_port) as client:
            board = asyncio.create_task(board_rows(client, lambda row: "claims-badge" in row))
            await asyncio.sleep(0.3)  # the stream is open before the call
            channel = run.pbx.place_call("anonymous", behaviour=caller(clip))
            call = await transcribed(run, channel)
            row = await asyncio.wait_for(board, 30)
            token = await users.create_token(
                UnitOfWork(run.ctx.database, Actor.system("test")), "desk", "speech test"
            )
            api = {"Authorization": f"Bearer {token.secret}"}
            detail = (await client.get(f"/api/v1/calls/{call.id}", headers=api)).json()
            found = (await client.get("/api/v1/calls?said=metropolitan", headers=api)).json()
            queue = (await client.get("/queue", params={"said": "Metropolitan"})).text
            page = (await client.get(f"/calls/{call.id}")).text
            metrics = (await client.get("/metrics")).text
            health = (await client.get("/healthz")).json()
            await mqtt.wait_for(lambda: len(mqtt.messages) >= 1)
        fetched = [r.path for r in run.pbx.requests if r.path.endswith("/file")]
        async with run.ctx.database.sessions() as session:
            reason_rows = (
                await session.execute(select(CallReason).where(CallReason.call_id == call.id))
            ).scalars()
            reasons_indexed = {(r.code, r.flagged) for r in reason_rows}

    # The call went on as the policy decided: challenged, passed, put through.
    assert channel.result == "continued"
    assert (call.action, call.verdict, call.outcome) == (
        "challenge",
        "challenge-passed",
        "connected",
    )
    assert fetched == [f"/ari/recordings/stored/{call.recording}/file"]
    transcript = call.transcripts[0]
    assert transcript.status == "done"
    assert "metropolitan police" in transcript.text.lower(), transcript.text
    assert "police" in {claim["category"] for claim in transcript.claims}
    assert transcript.model == str(model_dir)
    assert transcript.audio_seconds and 3.0 < transcript.audio_seconds < 6.0
    assert transcript.total_seconds and transcript.total_seconds > 0
    # The claim is a reason on the call, with advice from its facts (withheld).
    claims = [r for r in call.reasons if r["code"] == "claims_authority"]
    assert len(claims) == 1
    assert claims[0]["action"] == "allow"
    assert "do not call from withheld numbers" in claims[0]["advice"]
    assert "call 101 from another line" in claims[0]["advice"]
    assert call.reasons[0]["code"] == "withheld"  # the decision's reasons stay
    assert call.flagged
    assert ("claims_authority", True) in reasons_indexed
    assert any(e.kind == "transcribed" and e.detail["claims"] == "police" for e in call.events)
    # The API, the queue's search and the call page.
    assert detail["transcript"]["status"] == "done"
    assert "police" in {c["category"] for c in detail["transcript"]["claims"]}
    assert "claims_authority" in [r["code"] for r in detail["reasons"]]
    assert [c["id"] for c in found["calls"]] == [call.id]
    assert f'id="call-{call.id}"' in queue
    assert 'id="claims-warning"' in page and "call 101 from another line" in page
    assert 'id="transcript"' in page
    said = [line for line in describe(call) if line.startswith("  said")]
    assert len(said) == 1 and "Transcribed (done): " in said[0] and "Metropolitan" in said[0]
    # The live board's row for it, as the stream sent it.
    assert f'id="call-{call.id}"' in row and "Claims authority" in row
    assert re.search(r"<q>[^<]*Metropolitan Police", row, re.IGNORECASE), row
    # MQTT: calls/<id>/transcript.
    topic, payload, retained = mqtt.messages[0]
    assert topic == f"screener/main/calls/{call.id}/transcript" and not retained
    body = json.loads(payload)
    assert (body["version"], body["event"], body["status"]) == (1, "call.transcript", "done")
    assert body["reason"]["code"] == "claims_authority" and body["flagged"] is True
    assert "police" in {c["category"] for c in body["claims"]}
    # Counted, and on in the health check.
    assert metric(metrics, 'screener_speech_transcriptions_total{status="done"}') == 1
    assert metric(metrics, 'screener_speech_transcriptions_total{status="skipped"}') == 0
    assert metric(metrics, "screener_speech_available") == 1
    assert health["speech"]["available"] is True
    assert health["speech"]["transcripts"]["done"] == 1


async def test_a_caller_waiting_for_reception_shows_what_they_said(
    sqlite_url: str, model_dir: Path, make_clip: MakeClip
) -> None:
    """Live screening: a withheld caller (withheld -> screen) says the police clip and waits
    on hold while a receptionist watches the board; their waiting card gets the transcript
    and the claims_authority reason while they still wait."""
    async with (
        speech_service(sqlite_url, model_dir, policy={"actions": {"withheld": "screen"}}) as (
            run,
            web_port,
        ),
        signed_in(run, web_port) as client,
    ):
        card = asyncio.create_task(board_rows(client, lambda row: 'id="wait-said-' in row))
        await asyncio.sleep(0.3)  # the board is watched before the call comes
        says = CallerBehaviour(says=make_clip(DETECTIVE).read_bytes())
        channel = run.pbx.place_call("anonymous", behaviour=says)
        html = await asyncio.wait_for(card, 60)
        waiting = channel.result is None  # still on hold when the card showed it
        async with run.ctx.database.sessions() as session:
            call = (
                await session.execute(select(Call).where(Call.channel_id == channel.id))
            ).scalar_one()
    assert waiting
    assert call.action == "screen"
    assert re.search(r'id="wait-said-[0-9a-f]+">[^<]*Metropolitan Police', html, re.I), html
    assert "Claims to be an authority" in html
    assert 'data-state="on-hold"' in html


async def test_an_ordinary_caller_has_no_claim(
    sqlite_url: str, model_dir: Path, make_clip: MakeClip, tmp_path: Path
) -> None:
    """A caller who says who they are and why: transcribed (read from the recordings
    directory Asterisk writes to, not over ARI), no claim, the call's reasons untouched."""
    recordings = tmp_path / "recordings"
    pbx = FakeAsterisk(password=ARI_PASSWORD, time_scale=0.02, recordings_dir=str(recordings))
    await pbx.start()
    try:
        async with speech_service(
            sqlite_url, model_dir, pbx=pbx, recordings_dir=str(recordings)
        ) as (run, _port):
            channel = pbx.place_call("anonymous", behaviour=caller(make_clip(PLUMBER)))
            call = await transcribed(run, channel)
    finally:
        await pbx.stop()
    transcript = call.transcripts[0]
    assert transcript.status == "done"
    text = transcript.text.lower()
    assert "sarah" in text and "boiler" in text, text
    assert transcript.claims == []
    assert [r["code"] for r in call.reasons] == ["withheld"]
    assert not [r for r in pbx.requests if r.path.endswith("/file")]
    assert (recordings / f"{call.recording}.wav").is_file()
    assert call.outcome == "connected"


async def test_a_full_queue_skips_and_counts_and_calls_go_on(
    sqlite_url: str, model_dir: Path, make_clip: MakeClip
) -> None:
    """queue_size 1 and three callers finishing their recordings at once: one is
    transcribed, the others are recorded skipped at once; every call is put through."""
    clip = make_clip(DETECTIVE, repeat=2)
    async with speech_service(sqlite_url, model_dir, queue_size=1) as (run, web_port):
        channels = [run.pbx.place_call("anonymous", behaviour=caller(clip)) for _ in range(3)]
        calls = [await transcribed(run, channel) for channel in channels]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as client:
            metrics = (await client.get("/metrics")).text
        stats = run.ctx.transcripts.stats.statuses
    assert [c.result for c in channels] == ["continued"] * 3
    assert [c.verdict for c in calls] == ["challenge-passed"] * 3
    statuses = sorted(call.transcripts[0].status for call in calls)
    assert statuses.count("skipped") >= 1 and statuses.count("done") >= 1
    assert len(statuses) == 3 and set(statuses) <= {"done", "skipped"}
    skipped = [call.transcripts[0] for call in calls if call.transcripts[0].status == "skipped"]
    assert all("already in flight" in (t.detail or "") and t.text == "" for t in skipped)
    assert metric(metrics, 'screener_speech_transcriptions_total{status="skipped"}') == len(skipped)
    assert stats["skipped"] == len(skipped) and stats["done"] == 3 - len(skipped)


async def test_a_dying_worker_fails_one_clip_and_calls_go_on(
    sqlite_url: str, model_dir: Path, make_clip: MakeClip
) -> None:
    """The worker is killed while it transcribes: that recording is recorded failed, the
    worker is replaced and counted, the call was put through, and the next caller's
    recording is transcribed by the new worker."""
    long_clip = make_clip(DETECTIVE, repeat=4)
    async with speech_service(sqlite_url, model_dir) as (run, web_port):
        transcriber = run.ctx.transcripts.transcriber
        (worker,) = transcriber.worker_pids()
        channel = run.pbx.place_call("anonymous", behaviour=caller(long_clip))
        async with asyncio.timeout(30):
            while transcriber.stats.in_flight == 0:
                await asyncio.sleep(0.005)
        os.kill(worker, signal.SIGKILL)
        crashed = await transcribed(run, channel)
        after = run.pbx.place_call("anonymous", behaviour=caller(make_clip(DETECTIVE)))
        recovered = await transcribed(run, after)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as client:
            metrics = (await client.get("/metrics")).text
            health = (await client.get("/healthz")).json()
        pids = transcriber.worker_pids()
    assert channel.result == after.result == "continued"
    assert crashed.outcome == recovered.outcome == "connected"
    assert crashed.transcripts[0].status == "failed"
    assert crashed.transcripts[0].detail == "the worker process died"
    assert not [r for r in crashed.reasons if r["code"] == "claims_authority"]
    assert recovered.transcripts[0].status == "done"
    assert "claims_authority" in [r["code"] for r in recovered.reasons]
    assert pids and worker not in pids
    assert metric(metrics, 'screener_speech_transcriptions_total{status="failed"}') == 1
    assert metric(metrics, 'screener_speech_transcriptions_total{status="done"}') == 1
    assert metric(metrics, "screener_speech_worker_restarts_total") == 1
    assert health["speech"]["worker_restarts"] == 1 and health["status"] == "ok"


async def test_off_without_the_model_and_everything_else_works(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No model where speech.model points: one log line, /healthz and the console say it is
    off and why, calls are screened as before, no transcripts."""
    caplog.set_level(logging.INFO, logger="screener.speech.transcriber")
    web_port = free_port()

    def settings(url: str) -> Settings:
        return fast_settings(
            sqlite_url,
            url,
            speech={"enabled": True, "model": str(tmp_path / "no-model")},
            web={"enabled": True, "host": "127.0.0.1", "port": web_port, "secure_cookies": False},
        )

    async with running_service(settings) as run:
        channel = run.pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=("correct",)))
        await run.finished(channel)
        call = await run.call_record(channel)
        async with signed_in(run, web_port) as client:
            health = (await client.get("/healthz")).json()
            board = (await client.get("/")).text
            page = (await client.get(f"/calls/{call.id}")).text
            metrics = (await client.get("/metrics")).text
        async with run.ctx.database.sessions() as session:
            transcripts = (await session.execute(select(Transcript))).scalars().all()
    assert call.outcome == "connected" and call.verdict == "challenge-passed"
    said = [r.getMessage() for r in caplog.records if r.name == "screener.speech.transcriber"]
    # Why: the model directory is missing (or, without the extra, faster-whisper is).
    why = "model directory" if faster_whisper_installed() else "faster-whisper is not installed"
    assert len(said) == 1 and said[0].startswith(f"speech to text off: {why}"), said
    assert health["status"] == "ok"
    assert health["speech"]["available"] is False
    assert health["speech"]["reason"].startswith(why)
    assert f"Speech to text is off: {why}" in board
    assert 'id="speech-off"' in page
    assert metric(metrics, "screener_speech_available") == 0
    assert transcripts == []
