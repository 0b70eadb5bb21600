"""``[speech]``: transcribing the caller's recorded name and reason, and the claim lists."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from screener.speech.claims import ClaimCategory, check_term

ComputeType = Literal["int8", "int8_float32", "int16", "float32", "default"]


class SpeechSettings(BaseModel):
    """Speech to text runs only when ``enabled`` and faster-whisper and the model are there;
    otherwise the feature reports itself off and everything else works as before."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    model: str = "tiny.en"
    """A model name faster-whisper fetches into its cache on first use (``tiny.en``,
    ``base.en``, ``Systran/faster-whisper-tiny.en``), or a directory holding a converted
    model (``model.bin``, ``config.json``, ``tokenizer.json``, ``vocabulary.*``)."""
    download_root: str = ""
    """Where a model given by name is cached ("" = the Hugging Face cache)."""
    compute_type: ComputeType = "int8"
    workers: int = Field(default=1, ge=1, le=16)
    """Worker processes; each holds one copy of the model."""
    cpu_threads: int = Field(default=2, ge=0, le=64)
    """Threads per worker for the model (0 = let CTranslate2 choose)."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """Workers run at this lower CPU priority so call handling always comes first."""
    queue_size: int = Field(default=8, ge=1, le=1000)
    """Clips in flight (running or waiting for a worker); one more is skipped and counted."""
    clip_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """A clip still running after this is abandoned (counted ``timed_out``), its worker
    restarted."""
    start_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    """Starting the workers and loading the model must finish within this."""
    max_clip_seconds: float = Field(default=60.0, gt=0, le=600)
    """Audio after this point of a clip is not transcribed."""
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    beam_size: int = Field(default=5, ge=1, le=10)
    """5 finds more claims than 1 on telephone audio for about the same CPU time."""
    vad_filter: bool = True
    """Skip silence with the voice-activity detector that ships with faster-whisper."""
    extra_claim_terms: dict[ClaimCategory, list[str]] = Field(default_factory=dict)
    """More phrases per claim category, e.g. ``police = ["Kent Police Fraud Unit"]``."""
    extra_lookalikes: list[str] = Field(default_factory=list)
    """More phrases that contain a claim term but must not count as a claim."""

    @field_validator("model")
    @classmethod
    def _model_given(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be a model name (tiny.en) or a model directory")
        return value

    @field_validator("extra_claim_terms")
    @classmethod
    def _terms_usable(cls, value: dict[ClaimCategory, list[str]]) -> dict[ClaimCategory, list[str]]:
        for phrases in value.values():
            for phrase in phrases:
                check_term(phrase)
        return value

    @field_validator("extra_lookalikes")
    @classmethod
    def _lookalikes_usable(cls, value: list[str]) -> list[str]:
        for phrase in value:
            check_term(phrase)
        return value
