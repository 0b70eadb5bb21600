"""The transcription service: a pool of worker processes, never in a call's way.

- Workers are ``spawn``-ed processes (``speech.workers``, default 1), each loading the model
  once, at a lower CPU priority (``speech.worker_nice``) so call handling comes first.
- :meth:`Transcriber.transcribe` awaits a worker without blocking the event loop. At most
  ``speech.queue_size`` clips are in flight (running or waiting for a worker); one more
  returns ``None`` at once and is counted ``skipped``: the call goes on without a transcript.
- A clip still running after ``speech.clip_timeout_seconds`` is counted ``timed_out`` and
  its pool replaced (the stuck worker is killed). A worker that dies (``BrokenProcessPool``)
  is counted ``failed`` and the pool replaced; the next clip gets a fresh worker.
- Without faster-whisper or the model, :meth:`Transcriber.start` reports the feature off
  (one log line) and :meth:`Transcriber.transcribe` returns ``None``.

:meth:`Transcriber.transcribe_clip` says what became of a clip (``TranscriptStatus``: done,
skipped, failed, timed out, with why), for the call records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from screener.domain.vocabulary import TranscriptStatus
from screener.speech.audio import MAX_AUDIO_BYTES, AudioError, whisper_samples
from screener.speech.claims import MAX_TEXT_CHARS
from screener.speech.model import SpeechAvailability, availability, load_model

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from screener.settings import SpeechSettings

log = logging.getLogger(__name__)

_PARENT_CHECK_SECONDS = 1.0
_EXIT_GRACE_SECONDS = 5.0
"""How long idle workers get to exit on :meth:`Transcriber.aclose` before being killed."""


@dataclass(frozen=True)
class Transcript:
    text: str
    """What the caller said, at most ``claims.MAX_TEXT_CHARS`` characters."""
    language: str
    audio_seconds: float
    """Length of the audio transcribed (after ``speech.max_clip_seconds``)."""
    cpu_seconds: float
    """CPU time the worker process spent on this clip (all its threads)."""
    worker_seconds: float
    """Wall time in the worker: decoding, resampling, transcribing."""
    wait_seconds: float
    """Time spent waiting for a free worker."""
    total_seconds: float
    """From :meth:`Transcriber.transcribe` being called to its answer."""


@dataclass(frozen=True)
class ClipResult:
    """What became of one clip: its transcript (``done``), or why there is none."""

    status: TranscriptStatus
    transcript: Transcript | None = None
    detail: str = ""


@dataclass
class TranscriberStats:
    submitted: int = 0
    """Clips accepted (not skipped)."""
    completed: int = 0
    skipped: int = 0
    """Clips turned away because ``queue_size`` clips were already in flight."""
    failed: int = 0
    """Clips whose worker died, or whose audio or model failed."""
    timed_out: int = 0
    restarts: int = 0
    """Worker pools replaced after a crash or a timeout."""
    in_flight: int = 0
    audio_seconds: float = 0.0
    cpu_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class ModelNotLoaded(RuntimeError):
    """The worker could not load the model (the message says why)."""


# The worker process ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    audio: bytes | str
    """The audio, or the path of a file to read in the worker."""
    audio_format: str | None


@dataclass(frozen=True)
class _Result:
    text: str
    language: str
    audio_seconds: float
    cpu_seconds: float
    worker_seconds: float


@dataclass
class _WorkerState:
    settings: SpeechSettings | None = None
    model: WhisperModel | None = None
    error: str | None = None


_worker = _WorkerState()


def _exit_with_parent(parent: int) -> None:
    """A worker whose service died (even by SIGKILL) exits instead of lingering."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(0)


def _init_worker(settings: SpeechSettings) -> None:
    """Runs once in each new worker process: lower priority, load the model."""
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()
    with contextlib.suppress(OSError):  # niceness is best effort
        os.nice(settings.worker_nice)
    _worker.settings = settings
    try:
        _worker.model = load_model(settings)
    except Exception as exc:  # any failure is reported to the service, not raised here
        _worker.error = f"{type(exc).__name__}: {exc}"[:300]


def _ping() -> tuple[int, str | None]:
    return os.getpid(), _worker.error


def _read(audio: bytes | str) -> bytes:
    if isinstance(audio, bytes):
        return audio
    with open(audio, "rb") as file:
        data = file.read(MAX_AUDIO_BYTES + 1)
    if len(data) > MAX_AUDIO_BYTES:
        raise AudioError(f"audio larger than {MAX_AUDIO_BYTES} bytes")
    return data


def _transcribe_in_worker(job: _Job) -> _Result:
    settings, model = _worker.settings, _worker.model
    if settings is None or model is None:
        raise ModelNotLoaded(_worker.error or "the worker has no model")
    cpu, wall = time.process_time(), time.perf_counter()
    samples = whisper_samples(_read(job.audio), job.audio_format, settings.max_clip_seconds)
    segments, info = model.transcribe(
        samples,
        language=settings.language,
        beam_size=settings.beam_size,
        vad_filter=settings.vad_filter,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    text = " ".join(segment.text.strip() for segment in segments).strip()
    return _Result(
        text=text[:MAX_TEXT_CHARS],
        language=info.language,
        audio_seconds=len(samples) / 16_000,
        cpu_seconds=time.process_time() - cpu,
        worker_seconds=time.perf_counter() - wall,
    )


# The service -------------------------------------------------------------------------------


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: kill its processes (a running clip cannot be cancelled otherwise);
    its futures fail with ``BrokenProcessPool`` or are cancelled."""
    processes = dict(getattr(pool, "_processes", None) or {})
    for process in processes.values():
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    # Joining the pool's manager thread frees its queues; it ends as soon as it sees the
    # killed processes, but never make the event loop wait for that.
    threading.Thread(target=pool.shutdown, name="speech-pool-reaper", daemon=True).start()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """``callback`` on ``loop`` from any thread; nothing if the loop has closed meanwhile."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)


@dataclass
class _Pool:
    executor: ProcessPoolExecutor
    generation: int


class Transcriber:
    """Speech to text for the service. ``await start()`` once, then ``transcribe`` clips."""

    def __init__(self, settings: SpeechSettings) -> None:
        self.settings = settings
        self.stats = TranscriberStats()
        self._availability = SpeechAvailability(False, "not started", settings.model)
        self._pool: _Pool | None = None
        self._generation = 0
        self._slots: asyncio.Semaphore | None = None
        self._cwd = os.getcwd()
        """Relative paths given to :meth:`transcribe` are relative to this."""

    async def __aenter__(self) -> Transcriber:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def availability(self) -> SpeechAvailability:
        return self._availability

    @property
    def available(self) -> bool:
        return self._availability.available

    def status(self) -> dict[str, Any]:
        """For health checks and the console: on or off and why, and the counters."""
        return {
            "available": self.available,
            "reason": self._availability.reason,
            "model": self._availability.model,
            "workers": self.settings.workers,
            "queue_size": self.settings.queue_size,
            **self.stats.as_dict(),
        }

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (those started so far)."""
        if self._pool is None:
            return []
        processes = getattr(self._pool.executor, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    async def start(self) -> SpeechAvailability:
        """Start the workers and load the model in each; logs one line saying on or off."""
        static = availability(self.settings)
        if not static.available:
            return self._off(static.reason)
        self._slots = asyncio.Semaphore(self.settings.workers)
        pool = self._new_pool()
        loop = asyncio.get_running_loop()
        pings = [loop.run_in_executor(pool.executor, _ping) for _ in range(self.settings.workers)]
        try:
            async with asyncio.timeout(self.settings.start_timeout_seconds):
                answers = await asyncio.gather(*pings)
        except (TimeoutError, BrokenProcessPool, OSError) as exc:
            _kill(pool.executor)
            return self._off(f"the worker did not start ({type(exc).__name__})")
        except asyncio.CancelledError:  # the service stopped while the model was loading
            _kill(pool.executor)
            raise
        errors = [error for _, error in answers if error]
        if errors:
            _kill(pool.executor)
            return self._off(f"the model did not load: {errors[0]}")
        self._pool = pool
        self._availability = SpeechAvailability(True, static.reason, static.model)
        log.info(
            "speech to text on: %s, %d worker(s), queue %d",
            static.reason,
            self.settings.workers,
            self.settings.queue_size,
        )
        return self._availability

    def _off(self, reason: str) -> SpeechAvailability:
        reason = " ".join(reason.split())[:300]  # one line, for the log, /healthz and the console
        self._availability = SpeechAvailability(False, reason, self.settings.model)
        log.info("speech to text off: %s", reason)
        return self._availability

    def _new_pool(self) -> _Pool:
        self._generation += 1
        executor = ProcessPoolExecutor(
            max_workers=self.settings.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings,),
        )
        return _Pool(executor, self._generation)

    def _replace_pool(self, broken: _Pool, why: str) -> None:
        """Replace ``broken`` (once, however many clips noticed) and warm the new workers."""
        if self._pool is not broken:
            return
        _kill(broken.executor)
        self.stats.restarts += 1
        log.warning("speech worker restarted: %s", why)
        self._pool = self._new_pool()
        for _ in range(self.settings.workers):
            self._pool.executor.submit(_ping)

    async def transcribe(
        self,
        audio: bytes | Path,
        *,
        audio_format: str | None = None,
        timeout_seconds: float | None = None,
    ) -> Transcript | None:
        """The transcript of ``audio`` (bytes of a recording, or a file), or ``None`` when
        the feature is off, the queue is full, the clip timed out or failed (each counted).

        ``audio_format`` names a headerless format (``sln``, ``sln16``); WAV and the formats
        PyAV reads are recognised by their content.
        """
        clip = await self.transcribe_clip(
            audio, audio_format=audio_format, timeout_seconds=timeout_seconds
        )
        return clip.transcript

    async def transcribe_clip(
        self,
        audio: bytes | Path,
        *,
        audio_format: str | None = None,
        timeout_seconds: float | None = None,
    ) -> ClipResult:
        """Like :meth:`transcribe`, saying what became of the clip and why."""
        if not self.available or self._slots is None:
            return ClipResult(
                TranscriptStatus.SKIPPED,
                detail=f"speech to text is off: {self.availability.reason}",
            )
        if self.stats.in_flight >= self.settings.queue_size:
            self.stats.skipped += 1
            log.debug("speech queue full (%d): clip skipped", self.stats.in_flight)
            return ClipResult(
                TranscriptStatus.SKIPPED,
                detail=f"{self.settings.queue_size} recordings were already waiting",
            )
        self.stats.in_flight += 1
        self.stats.submitted += 1
        started = time.perf_counter()
        path_or_bytes = audio if isinstance(audio, bytes) else os.path.join(self._cwd, audio)
        job = _Job(path_or_bytes, audio_format)
        try:
            await self._slots.acquire()
            waited = time.perf_counter() - started
            result = await self._run(job, timeout_seconds or self.settings.clip_timeout_seconds)
        finally:
            self.stats.in_flight -= 1
        if isinstance(result, ClipResult):
            return result
        self.stats.completed += 1
        self.stats.audio_seconds += result.audio_seconds
        self.stats.cpu_seconds += result.cpu_seconds
        transcript = Transcript(
            text=result.text,
            language=result.language,
            audio_seconds=result.audio_seconds,
            cpu_seconds=result.cpu_seconds,
            worker_seconds=result.worker_seconds,
            wait_seconds=waited,
            total_seconds=time.perf_counter() - started,
        )
        return ClipResult(TranscriptStatus.DONE, transcript)

    async def _run(self, job: _Job, timeout_seconds: float) -> _Result | ClipResult:
        """One clip on the current pool; the slot taken by the caller is given back when the
        worker is really done with it (not when an impatient caller gives up)."""
        assert self._slots is not None
        failed = TranscriptStatus.FAILED
        pool = self._pool
        if pool is None:
            self._slots.release()
            return ClipResult(TranscriptStatus.SKIPPED, detail="speech to text stopped")
        loop = asyncio.get_running_loop()
        slots = self._slots
        try:
            future: Future[_Result] = pool.executor.submit(_transcribe_in_worker, job)
        except (BrokenProcessPool, RuntimeError) as exc:
            slots.release()
            self.stats.failed += 1
            self._replace_pool(pool, f"could not submit: {type(exc).__name__}")
            return ClipResult(failed, detail=f"the worker could not take it ({type(exc).__name__})")
        future.add_done_callback(lambda _: _call_soon(loop, slots.release))
        try:
            async with asyncio.timeout(timeout_seconds):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            self.stats.timed_out += 1
            self._replace_pool(pool, f"a clip ran longer than {timeout_seconds:g} s")
            return ClipResult(
                TranscriptStatus.TIMED_OUT, detail=f"still running after {timeout_seconds:g} s"
            )
        except BrokenProcessPool:
            self.stats.failed += 1
            self._replace_pool(pool, "a worker process died")
            return ClipResult(failed, detail="the worker process died")
        except (AudioError, ModelNotLoaded, OSError) as exc:
            self.stats.failed += 1
            log.warning("speech clip failed: %s", exc)
            return ClipResult(failed, detail=str(exc)[:200])
        except Exception as exc:  # the model raised: count it, the call goes on
            self.stats.failed += 1
            log.warning("speech clip failed: %s: %s", type(exc).__name__, str(exc)[:200])
            return ClipResult(failed, detail=f"{type(exc).__name__}: {str(exc)[:200]}")

    async def aclose(self) -> None:
        """Stop the workers: idle ones are asked to exit, a clip in progress is abandoned."""
        pool, self._pool = self._pool, None
        if pool is not None:
            executor = pool.executor
            if self.stats.in_flight == 0:
                executor.shutdown(wait=False, cancel_futures=True)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_EXIT_GRACE_SECONDS):
                        await asyncio.to_thread(executor.shutdown, True)
            _kill(executor)
        if self._availability.available:
            self._availability = SpeechAvailability(False, "stopped", self.settings.model)
