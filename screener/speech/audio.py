"""Recordings as whisper wants them.

Whisper takes mono float32 samples at 16 kHz. Asterisk records the caller at 8 kHz
(``wav``: 16-bit PCM; also ``wav16``, ``sln``, ``ulaw``/``alaw`` in WAV). WAV files are read
here with numpy (the ``audioop`` module is gone from Python 3.13) and resampled with an FFT;
anything else (``gsm``, ``ogg``, ``mp3``) is decoded by PyAV, which faster-whisper brings.

numpy is imported inside the functions that decode: they run in a worker process, and this
module is imported by the service whether the speech extra is installed or not. Where a
recording's audio comes from (the recordings directory, or ARI) is
:mod:`screener.recordings`.
"""

from __future__ import annotations

import io
import logging
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Samples = NDArray[np.float32]

log = logging.getLogger(__name__)

WHISPER_RATE = 16_000
MAX_AUDIO_BYTES = 32 * 1024 * 1024
"""A recording larger than this is not read (60 s of 16 kHz stereo PCM is under 4 MB)."""
RAW_FORMATS = {"sln": 8_000, "sln16": 16_000, "sln48": 48_000}
"""Asterisk's headerless signed-linear formats and their sample rates."""

_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


class AudioError(ValueError):
    """The bytes are not audio this module can read."""


# Decoding ----------------------------------------------------------------------------------


def _wav_chunks(data: bytes) -> tuple[bytes, memoryview]:
    """The ``fmt `` chunk and the ``data`` samples of a RIFF/WAVE file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    view = memoryview(data)
    fmt: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = view[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = bytes(body)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("WAV data chunk before its fmt chunk")
            return fmt, body  # a truncated data chunk (recording cut short) is read as is
        offset += 8 + size + (size & 1)
    raise AudioError("WAV file without fmt and data chunks")


def decode_wav(data: bytes) -> tuple[Samples, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a WAV file.

    PCM 8/16/24/32-bit, float32, A-law and mu-law, any channel count (mixed down)."""
    import numpy as np

    fmt, body = _wav_chunks(data)
    if len(fmt) < 16:
        raise AudioError("WAV fmt chunk too short")
    tag, channels, rate, _, _block, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)
    if channels < 1 or channels > 8 or not 1_000 <= rate <= 192_000:
        raise AudioError(f"unsupported WAV: {channels} channels at {rate} Hz")
    width = max(1, bits // 8)
    usable = len(body) - len(body) % (width * channels)
    raw = body[:usable]
    samples: NDArray[np.float32]
    if tag == _PCM and width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif tag == _PCM and width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype(np.float32) / float(1 << 23)
    elif tag == _PCM and width == 4:
        samples = (np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    elif tag == _FLOAT and width == 4:
        samples = np.nan_to_num(np.frombuffer(raw, "<f4")).clip(-1.0, 1.0).astype(np.float32)
    elif tag in (_MULAW, _ALAW) and width == 1:
        table = _mulaw_table() if tag == _MULAW else _alaw_table()
        samples = table[np.frombuffer(raw, np.uint8)]
    else:
        raise AudioError(f"unsupported WAV encoding (format {tag}, {bits} bits)")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return samples, int(rate)


def _mulaw_table() -> Samples:
    import numpy as np

    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + 0x84) << exponent
    value = np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84)
    return (value / 32768.0).astype(np.float32)


def _alaw_table() -> Samples:
    import numpy as np

    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    value = np.where(sign != 0, magnitude, -magnitude)
    return (value / 32768.0).astype(np.float32)


def resample(samples: Samples, rate: int, target: int = WHISPER_RATE) -> Samples:
    """Band-limited resampling by FFT (exact for 8 kHz -> 16 kHz, the telephone case)."""
    import numpy as np

    if rate == target or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    count = max(1, round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    kept = np.zeros(count // 2 + 1, dtype=np.complex128)
    keep = min(len(spectrum), len(kept))
    kept[:keep] = spectrum[:keep]
    out = np.fft.irfft(kept, count) * (count / len(samples))
    return out.clip(-1.0, 1.0).astype(np.float32)


def decode_audio(data: bytes, audio_format: str | None = None) -> tuple[Samples, int]:
    """Mono float32 samples and their rate, from WAV, Asterisk's ``sln*`` or anything PyAV
    reads."""
    import numpy as np

    if len(data) > MAX_AUDIO_BYTES:
        raise AudioError(f"audio larger than {MAX_AUDIO_BYTES} bytes")
    if data[:4] == b"RIFF":
        return decode_wav(data)
    fmt = (audio_format or "").lower().lstrip(".")
    if fmt in RAW_FORMATS:
        usable = len(data) - len(data) % 2
        return np.frombuffer(data[:usable], "<i2").astype(np.float32) / 32768.0, RAW_FORMATS[fmt]
    try:
        from faster_whisper.audio import decode_audio as decode_with_av
    except ImportError as exc:  # pragma: no cover - faster-whisper brings PyAV
        raise AudioError("only WAV and sln audio can be read without PyAV") from exc
    try:
        samples = decode_with_av(io.BytesIO(data), sampling_rate=WHISPER_RATE)
    except Exception as exc:  # PyAV raises its own error types for bad input
        raise AudioError(f"cannot decode audio: {type(exc).__name__}") from exc
    return np.asarray(samples, dtype=np.float32), WHISPER_RATE


def whisper_samples(
    data: bytes, audio_format: str | None = None, max_seconds: float = 60.0
) -> Samples:
    """What whisper takes: mono float32 at 16 kHz, at most ``max_seconds`` long."""
    samples, rate = decode_audio(data, audio_format)
    samples = samples[: int(max_seconds * rate)]
    return resample(samples, rate, WHISPER_RATE)
