"""``screener speech``: try speech to text and the claim matcher on a recording."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from screener.cli.common import fail, settings_of
from screener.settings import SpeechSettings
from screener.speech.claims import Claim, claim_advice, find_claims
from screener.speech.model import availability
from screener.speech.transcriber import Transcriber, Transcript

speech_app = typer.Typer(no_args_is_help=True, help="Speech to text and claims of authority.")


def _speech_settings(ctx: typer.Context, model: str | None) -> SpeechSettings:
    speech = getattr(settings_of(ctx), "speech", None)
    settings = speech if isinstance(speech, SpeechSettings) else SpeechSettings()
    update: dict[str, Any] = {"enabled": True, "workers": 1}
    if model:
        update["model"] = model
    return SpeechSettings.model_validate({**settings.model_dump(), **update})


@dataclass(frozen=True)
class _Analysis:
    transcript: Transcript
    claims: tuple[Claim, ...]
    advice: str
    start_seconds: float


async def _analyse(settings: SpeechSettings, path: Path, withheld: bool) -> _Analysis:
    started = time.perf_counter()
    async with Transcriber(settings) as transcriber:
        if not transcriber.available:
            fail(f"speech to text is off: {transcriber.availability.reason}")
        start_seconds = time.perf_counter() - started
        fmt = path.suffix.lstrip(".") or None
        transcript = await transcriber.transcribe(path, audio_format=fmt)
    if transcript is None:
        fail(f"{path}: could not transcribe (see the log for why)")
    claims = find_claims(transcript.text, settings.extra_claim_terms, settings.extra_lookalikes)
    return _Analysis(transcript, claims, claim_advice(claims, withheld), start_seconds)


def _as_dict(path: Path, model: str, result: _Analysis) -> dict[str, Any]:
    t = result.transcript
    return {
        "file": str(path),
        "model": model,
        "transcript": t.text,
        "claims": [
            {
                "category": c.category.value,
                "phrase": c.phrase,
                "start": c.start,
                "end": c.end,
                "term": c.term,
            }
            for c in result.claims
        ],
        "advice": result.advice,
        "timing": {
            "audio_seconds": round(t.audio_seconds, 3),
            "model_start_seconds": round(result.start_seconds, 3),
            "transcribe_seconds": round(t.total_seconds, 3),
            "worker_seconds": round(t.worker_seconds, 3),
            "cpu_seconds": round(t.cpu_seconds, 3),
            "cpu_per_audio_second": round(t.cpu_seconds / t.audio_seconds, 3)
            if t.audio_seconds
            else None,
        },
    }


def _as_text(out: dict[str, Any]) -> str:
    timing = out["timing"]
    lines = [
        f"file:       {out['file']}",
        f"model:      {out['model']}",
        f"transcript: {out['transcript'] or '(nothing said)'}",
    ]
    if out["claims"]:
        lines.append("claims:")
        lines += [
            f"  {c['category']:<16} {c['phrase']!r} "
            f"(term {c['term']!r}, characters {c['start']}-{c['end']})"
            for c in out["claims"]
        ]
        lines.append(f"advice:     {out['advice']}")
    else:
        lines.append("claims:     none")
    per_second = timing["cpu_per_audio_second"]
    lines.append(
        f"timing:     {timing['audio_seconds']:.2f} s of audio transcribed in "
        f"{timing['transcribe_seconds']:.2f} s ({timing['cpu_seconds']:.2f} CPU s"
        + (f", {per_second:.2f} CPU s per audio s" if per_second is not None else "")
        + f"); starting the worker and loading the model took {timing['model_start_seconds']:.2f} s"
    )
    return "\n".join(lines)


@speech_app.command("analyse")
def analyse(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A recording: WAV (8 kHz telephone audio is fine)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    withheld: bool = typer.Option(
        False, "--withheld", help="Give the advice as for a caller whose number is withheld."
    ),
    model: str | None = typer.Option(
        None, "--model", help="A model name or directory instead of speech.model."
    ),
) -> None:
    """Transcribe FILE with the configured model and show the claims found, the advice
    reception would see, and how long it took."""
    if not file.is_file():
        fail(f"{file}: no such file", 2)
    settings = _speech_settings(ctx, model)
    result = asyncio.run(_analyse(settings, file, withheld))
    out = _as_dict(file, settings.model, result)
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_as_text(out) + "\n")


@speech_app.command("status")
def status(ctx: typer.Context) -> None:
    """Whether speech to text can run here, and if not, why (nothing is loaded)."""
    settings = _speech_settings(ctx, None)
    speech = getattr(settings_of(ctx), "speech", None)
    enabled = speech.enabled if isinstance(speech, SpeechSettings) else True
    state = availability(settings.model_copy(update={"enabled": enabled}))
    word = "available" if state.available else "off"
    typer.echo(f"speech to text: {word}: {state.reason}")
    if not state.available:
        raise typer.Exit(1)
