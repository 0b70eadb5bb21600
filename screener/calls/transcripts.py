"""What callers said: each finished recording transcribed in the background, its claims of
authority found, and both added to the call's record.

The call desk hands a recording over as soon as Asterisk has stored it
(:meth:`CallTranscripts.recording_ready`, which never waits). Then, in a task of its own:

1. its audio is read: the file in ``ari.recordings_dir``, or Asterisk's copy over ARI
   (:mod:`screener.recordings`, the same place the console's player reads);
2. a worker process transcribes it (:mod:`screener.speech.transcriber`: never on the
   event loop, a timeout per clip, a dead worker replaced);
3. the claim matcher reads the transcript; claims give the ``claims_authority`` reason,
   with the rule's action in force and advice that takes the call's facts into account;
4. the transcript (or why there is none) is written in a transaction of its own, and
   :class:`~screener.domain.events.CallTranscribed` is published once it has committed.

At most ``speech.queue_size`` recordings are in flight; one more is recorded ``skipped``
at once. The call goes on whatever happens here: the transcript comes after its decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screener.calls.transcript_store import CallNotWritten, TranscriptRecord, add_transcript
from screener.domain.events import CallTranscribed
from screener.domain.policy import Policy
from screener.domain.vocabulary import ReasonCode, TranscriptStatus
from screener.events import EventBus
from screener.recordings import RecordingUnavailable, read_recording
from screener.recordings import prepare as prepare_recordings
from screener.settings import Settings
from screener.speech.audio import MAX_AUDIO_BYTES
from screener.speech.claims import find_claims
from screener.speech.transcriber import ClipResult, Transcriber

log = logging.getLogger(__name__)

WRITE_RETRY_SECONDS = 15.0
"""How long a transcript waits for its call's record (written by the recorder, which may
be behind) or for a busy database, before it is given up."""
WRITE_RETRY_PAUSE = 0.25
DRAIN_SECONDS = 5.0
"""On shutdown, recordings in flight get this long to finish; the rest are abandoned."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TranscriptionStats:
    """For ``/healthz`` and ``/metrics``: what became of the recordings handed over."""

    statuses: Counter[TranscriptStatus] = field(default_factory=Counter)
    write_failures: int = 0
    """Transcripts that could not be written to their call's record."""


@dataclass(frozen=True, slots=True)
class _Recording:
    call_id: str
    name: str
    audio_format: str
    recorded_at: datetime
    handed_over: float
    """``time.perf_counter()`` when the recording was handed over."""


class CallTranscripts:
    """One per process, built by the composition root; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        transcriber: Transcriber,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        policy: Callable[[], Policy],
    ) -> None:
        self.settings = settings
        self.transcriber = transcriber
        self._sessions = sessions
        self._bus = bus
        self._policy = policy
        self.stats = TranscriptionStats()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._writes: set[asyncio.Task[None]] = set()
        self._started = False

    @property
    def in_flight(self) -> int:
        """Recordings being read, waiting for a worker or transcribed."""
        return len(self._in_flight)

    @property
    def available(self) -> bool:
        return self.transcriber.available

    def status(self) -> dict[str, Any]:
        """On or off and why, and the counters (``/healthz``, the console)."""
        availability = self.transcriber.availability
        reason = availability.reason
        if not self._started and self.settings.speech.enabled:
            reason = "starting: loading the model"
        return {
            "enabled": self.settings.speech.enabled,
            "available": availability.available,
            "reason": reason,
            "model": availability.model,
            "workers": self.settings.speech.workers,
            "queue_size": self.settings.speech.queue_size,
            "in_flight": self.in_flight,
            "transcripts": {s.value: self.stats.statuses.get(s, 0) for s in TranscriptStatus},
            "write_failures": self.stats.write_failures,
            "worker_restarts": self.transcriber.stats.restarts,
        }

    async def start(self) -> None:
        """Start the workers and load the model (logs one line: on, or off and why)."""
        try:
            if self.settings.speech.enabled:
                await asyncio.to_thread(prepare_recordings)
            await self.transcriber.start()
        finally:
            self._started = True

    # What the call path hands over ------------------------------------------------------

    def recording_ready(
        self, call_id: str, name: str, audio_format: str, recorded_at: datetime
    ) -> None:
        """A caller's recording is stored: transcribe it in the background. Never waits."""
        if not self.transcriber.available:
            return  # off, or the model is still loading: the call has no transcript
        recording = _Recording(call_id, name, audio_format, recorded_at, time.perf_counter())
        if len(self._in_flight) >= self.settings.speech.queue_size:
            log.info("speech: %d recordings in flight, %s skipped", len(self._in_flight), name)
            record = self._record(
                recording,
                TranscriptStatus.SKIPPED,
                detail=f"{self.settings.speech.queue_size} recordings were already in flight",
            )
            self._spawn(self._writes, self._write(record))
            return
        self._spawn(self._in_flight, self._transcribe(recording))

    def _spawn(self, tasks: set[asyncio.Task[None]], coro: Any) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # In the background ------------------------------------------------------------------

    async def _transcribe(self, recording: _Recording) -> None:
        try:
            record = await self._make_transcript(recording)
        except Exception:  # a bug here must not go unnoticed, nor reach the call
            log.exception("speech: transcribing %s failed", recording.name)
            record = self._record(recording, TranscriptStatus.FAILED, detail="internal error")
        await self._write(record)

    async def _make_transcript(self, recording: _Recording) -> TranscriptRecord:
        fetch_started = time.perf_counter()
        try:
            audio: Path | bytes = await read_recording(
                self.settings, recording.name, max_bytes=MAX_AUDIO_BYTES
            )
        except RecordingUnavailable as exc:
            log.warning("speech: cannot read recording %s: %s", recording.name, exc)
            return self._record(recording, TranscriptStatus.FAILED, detail=str(exc)[:300])
        fetched = time.perf_counter() - fetch_started
        clip: ClipResult = await self.transcriber.transcribe_clip(
            audio, audio_format=recording.audio_format
        )
        transcript = clip.transcript
        if transcript is None:
            return self._record(
                recording, clip.status, detail=clip.detail or None, fetch_seconds=fetched
            )
        speech = self.settings.speech
        claims = find_claims(transcript.text, speech.extra_claim_terms, speech.extra_lookalikes)
        return self._record(
            recording,
            TranscriptStatus.DONE,
            text=transcript.text,
            claims=claims,
            language=transcript.language,
            audio_seconds=round(transcript.audio_seconds, 3),
            fetch_seconds=fetched,
            wait_seconds=transcript.wait_seconds,
            worker_seconds=transcript.worker_seconds,
            cpu_seconds=transcript.cpu_seconds,
        )

    def _record(
        self, recording: _Recording, status: TranscriptStatus, **values: Any
    ) -> TranscriptRecord:
        """The record of ``recording`` as of now (``total_seconds`` since it was handed over)."""
        for key in ("fetch_seconds", "wait_seconds", "worker_seconds", "cpu_seconds"):
            if values.get(key) is not None:
                values[key] = round(values[key], 4)
        return TranscriptRecord(
            call_id=recording.call_id,
            recording=recording.name,
            status=status,
            model=self.transcriber.availability.model,
            recorded_at=recording.recorded_at,
            at=utcnow(),
            total_seconds=round(time.perf_counter() - recording.handed_over, 4),
            **values,
        )

    async def _write(self, record: TranscriptRecord) -> None:
        """Write ``record`` (trying again while its call's record is not there yet or the
        database is busy), count it, then publish it."""
        self.stats.statuses[record.status] += 1
        action = self._policy().action_for(ReasonCode.CLAIMS_AUTHORITY)
        deadline = time.monotonic() + WRITE_RETRY_SECONDS
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    written = await add_transcript(session, record, action)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the call's record is behind, or the database is busy
                if time.monotonic() + WRITE_RETRY_PAUSE > deadline:
                    self.stats.write_failures += 1
                    why = "no such call" if isinstance(exc, CallNotWritten) else _first_line(exc)
                    log.error("speech: cannot write the transcript of %s: %s", record.call_id, why)
                    return
                await asyncio.sleep(WRITE_RETRY_PAUSE)
        if written is None:
            return  # this recording was transcribed before
        self._bus.publish(
            CallTranscribed(
                call_id=record.call_id,
                site=written.site,
                recording=record.recording,
                status=record.status,
                text=record.text,
                claims=record.claims,
                reason=written.reason,
                flagged=written.flagged,
                model=record.model,
                at=record.at,
                recorded_at=record.recorded_at,
            )
        )
        if written.reason is not None:
            log.info(
                "call %s: the caller claims authority (%s)",
                record.call_id,
                ", ".join(dict.fromkeys(c.category.value for c in record.claims)),
            )

    # Shutdown ---------------------------------------------------------------------------

    async def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Let recordings in flight finish for up to ``drain_seconds`` (the rest are
        abandoned, without a record), write what is done, then stop the workers."""
        pending = [*self._in_flight, *self._writes]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=drain_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if late:
                log.warning("speech: abandoned %d recordings at shutdown", len(late))
        await self.transcriber.aclose()


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
