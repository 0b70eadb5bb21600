"""A caller's recording, read whole (for speech to text): from ``ari.recordings_dir`` or over
ARI from the fake Asterisk, which keeps what the caller said as Asterisk does."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import httpx
import pytest

from screener.demo.fake_asterisk import (
    CallerBehaviour,
    FakeAsterisk,
    encode_recording,
    telephone_audio,
    wav_file,
)
from screener.recordings import RecordingUnavailable, read_recording
from screener.settings import Settings

PASSWORD = "p@ss:word"
LIMIT = 1_000_000


def _speech(seconds: float, hertz: int = 300) -> bytes:
    """An 8 kHz mono 16-bit WAV with a sawtooth standing in for a voice."""
    samples = bytearray()
    for i in range(int(seconds * 8000)):
        samples += int(((i * hertz) % 8000) - 4000).to_bytes(2, "little", signed=True)
    return wav_file(bytes(samples))


def _remote(url: str, password: str = PASSWORD) -> Settings:
    return Settings(
        ari={"url": url, "username": "screener", "password": password, "recordings_dir": ""}
    )


async def test_read_over_ari_from_the_fake_asterisk() -> None:
    async with FakeAsterisk(password=PASSWORD) as pbx:
        stored = pbx.store_recording("screener-abc", "wav", 1.5)
        got = await read_recording(_remote(pbx.url), "screener-abc", max_bytes=LIMIT)
        assert got == stored and got[:4] == b"RIFF"
        assert pbx.requests[-1].path == "/ari/recordings/stored/screener-abc/file"
        with pytest.raises(RecordingUnavailable, match="has no stored recording"):
            await read_recording(_remote(pbx.url), "screener-gone", max_bytes=LIMIT)
        with pytest.raises(RecordingUnavailable, match="refused the ARI user") as refused:
            await read_recording(_remote(pbx.url, "wrong"), "screener-abc", max_bytes=LIMIT)
        assert "wrong" not in str(refused.value)
        with pytest.raises(RecordingUnavailable, match="larger than 100 bytes"):
            await read_recording(_remote(pbx.url), "screener-abc", max_bytes=100)
        with pytest.raises(RecordingUnavailable, match="not a safe file name"):
            await read_recording(_remote(pbx.url), "../etc/passwd", max_bytes=LIMIT)
        url = pbx.url
    with pytest.raises(RecordingUnavailable, match="could not be reached"):
        await read_recording(_remote(url), "screener-abc", max_bytes=LIMIT)
    nowhere = Settings(ari={"url": "", "recordings_dir": ""})
    with pytest.raises(RecordingUnavailable, match="nowhere to fetch"):
        await read_recording(nowhere, "screener-abc", max_bytes=LIMIT)


async def test_read_from_the_recordings_directory(tmp_path: Path) -> None:
    (tmp_path / "screener-abc.wav").write_bytes(b"RIFF on disk")
    (tmp_path.parent / "secret.wav").write_bytes(b"x")
    local = Settings(ari={"recordings_dir": str(tmp_path)})
    assert await read_recording(local, "screener-abc", max_bytes=LIMIT) == (
        tmp_path / "screener-abc.wav"
    )
    with pytest.raises(RecordingUnavailable, match=r"not under ari\.recordings_dir"):
        await read_recording(local, "screener-gone", max_bytes=LIMIT)
    with pytest.raises(RecordingUnavailable, match="not a safe file name"):
        await read_recording(local, "../secret", max_bytes=LIMIT)


async def test_the_caller_says_a_wav_and_asterisk_keeps_it(tmp_path: Path) -> None:
    """A caller who says a clip: the stored recording is that clip, cut at
    maxDurationSeconds, served over ARI and written to the recordings directory."""
    clip = _speech(3.0)
    fake = FakeAsterisk(password=PASSWORD, time_scale=0.05, recordings_dir=str(tmp_path))
    async with fake as pbx, httpx.AsyncClient(auth=("screener", PASSWORD)) as ari:
        # A channel in the application (its StasisStart went to nobody), recorded over ARI
        # as Screener records it.
        channel = pbx.place_call("anonymous", behaviour=CallerBehaviour(says=clip), announce=False)
        started = await ari.post(
            f"{pbx.url}/ari/channels/{channel.id}/record",
            params={"name": "screener-x", "format": "wav", "maxDurationSeconds": 2},
        )
        assert started.status_code == 201
        async with asyncio.timeout(5):
            while channel.recording is None:
                await asyncio.sleep(0.01)
        stored = pbx.recording_files["screener-x"]
        served = await ari.get(f"{pbx.url}/ari/recordings/stored/screener-x/file")
        assert served.content == stored
        assert served.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(stored)) as out:
        assert (out.getframerate(), out.getnchannels(), out.getsampwidth()) == (8000, 1, 2)
        frames = out.readframes(out.getnframes())
    assert frames == telephone_audio(clip)[: 2 * 8000 * 2]  # cut at 2 s
    assert (tmp_path / "screener-x.wav").read_bytes() == stored
    assert channel.recording == "screener-x"


def test_recording_formats_and_telephone_audio_only() -> None:
    pcm = telephone_audio(_speech(0.5))
    assert encode_recording(pcm, "sln") == pcm
    assert len(encode_recording(pcm, "ulaw")) == len(pcm) // 2
    assert encode_recording(b"\x00\x00", "ulaw") == b"\xff"  # G.711 mu-law silence
    assert encode_recording(b"\x00\x00", "alaw") == b"\xd5"  # G.711 A-law silence
    assert encode_recording(pcm, "gsm") == bytes(len(pcm) // 2)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wide:
        wide.setnchannels(1)
        wide.setsampwidth(2)
        wide.setframerate(16000)
        wide.writeframes(b"\x00\x00" * 100)
    with pytest.raises(ValueError, match="8 kHz mono 16-bit"):
        telephone_audio(buffer.getvalue())
    with pytest.raises(ValueError, match="a caller says a WAV file"):
        CallerBehaviour(says=b"not a wav").speaking_seconds  # noqa: B018
    assert CallerBehaviour(says=_speech(1.5)).speaking_seconds == 1.5
