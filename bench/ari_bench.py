"""Live-call benchmark: the real service against the fake Asterisk over real sockets.

The fake Asterisk runs in a child process (its CPU is not counted) and places calls at
``--rate`` calls/s for ``--seconds`` in one flow:

* ``allow``: normal UK numbers on no list: allowed and continued to the dialplan;
* ``block``: numbers on a nuisance list: hung up;
* ``challenge``: withheld callers who press the right digit ``--hold`` seconds after the
  prompt starts (about ``rate * hold`` calls in the challenge at once).

The service (this process) records every call in a real SQLite file (or ``--db-url``).
Printed, per flow: Screener's CPU per call (user + system, from the first call to the last
record written), ARI requests per call (counted by the fake Asterisk), calls recorded,
decision latency (``StasisStart`` -> first ARI request, and -> first action), how late
records are written (row written vs the call's own ``decided_at``), the recorder's queue
peak, and peak RSS.

Bounded: at most 20,000 calls a run. ``--url`` measures against a real Asterisk instead
(place the calls with SIPp; the bench runs the service for ``--seconds`` + ``--hold`` and
reports what it handled).

    python bench/ari_bench.py --flow allow --rate 200 --seconds 10
    python bench/ari_bench.py --flow all        # allow, block and challenge, one after another
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import callers

from screener import composition
from screener.composition import Screener
from screener.demo.fake_asterisk import CallerBehaviour, Destination, FakeAsterisk
from screener.settings import Settings

PASSWORD = "bench&pass#word"
FLOWS = ("allow", "block", "challenge")
NUISANCE = [f"+4479111{n:05d}" for n in range(2000)]
NUISANCE_SET = frozenset(NUISANCE)


def allowed_number(rng: random.Random) -> str:
    return callers.allowed_number(rng, NUISANCE_SET)  # a normal mobile, on no list


# The child: fake Asterisk plus call generator -------------------------------------------------


async def serve_fake(flow: str, rate: float, seconds: float, hold: float, follow: bool) -> None:
    # Calls put through ring extension 100, answered at once and ended 0.5 s later.
    dialplan = {"screened,s": Destination(answer_after=0.05, talk_seconds=0.5)}
    pbx = FakeAsterisk(password=PASSWORD, time_scale=1.0, dialplan=dialplan)
    await pbx.start()
    print(json.dumps({"url": pbx.url}), flush=True)
    async with asyncio.timeout(30):
        while not pbx.app_connected:
            await asyncio.sleep(0.05)
    # The service says when its start-up is over (a line on stdin), so the CPU it spends on
    # start-up (imports, migrations, the reconcile request) is not counted against calls.
    await asyncio.to_thread(sys.stdin.readline)
    pbx.requests.clear()
    # prompt = priv-callpending (2.0 s) + digit (0.6 s); press after the prompt.
    behaviour = CallerBehaviour(presses=("correct",), press_delay=max(0.0, hold - 2.6))
    rng = random.Random(7)
    total = int(rate * seconds)
    started = time.perf_counter()
    channels = []
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if flow == "challenge":
            channels.append(pbx.place_call("anonymous", "Anonymous", behaviour=behaviour))
        elif flow == "block":
            channels.append(pbx.place_call(rng.choice(NUISANCE), "PEST"))
        else:
            channels.append(pbx.place_call(allowed_number(rng), "CALLER"))
    placing = time.perf_counter() - started
    async with asyncio.timeout(hold + 120):
        for channel in channels:
            await channel.done.wait()
            if follow and channel.result == "continued":
                await channel.destroyed.wait()  # followed after the hand-back
    results: dict[str, int] = {}
    for channel in channels:
        results[channel.result or "?"] = results.get(channel.result or "?", 0) + 1
    # Not counted: the service's reconcile (GET /applications/screener) on connecting.
    requests = [r for r in pbx.requests if not (r.method == "GET" and "/applications/" in r.path)]
    report = {
        "placed": total,
        "placing_seconds": round(placing, 2),
        "results": results,
        "ari_requests": len(requests),
    }
    print(json.dumps(report), flush=True)
    await pbx.stop()


# The parent: the service under test ---------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def seed_nuisance(settings: Settings) -> None:
    from screener.application.unit_of_work import UnitOfWork
    from screener.db.lifecycle import open_database
    from screener.domain.model import Actor
    from screener.domain.numbers import NumberAnalyser
    from screener.domain.vocabulary import ListKind
    from screener.lists import service
    from screener.lists.repo import EntryInput

    async with open_database(settings.database) as database:
        actor = Actor.system("bench")
        await service.create_list(UnitOfWork(database, actor), "nuisance", ListKind.NUISANCE)
        await service.add_entries(
            UnitOfWork(database, actor),
            NumberAnalyser("GB"),
            "nuisance",
            [EntryInput(n) for n in NUISANCE],
        )


async def run_flow(args: argparse.Namespace, flow: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ari-bench-"))
    db_url = args.db_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    child = None
    if args.url:
        url, password = args.url, os.environ.get("SCREENER_ARI__PASSWORD", "")
    else:
        command = [sys.executable, __file__, "--serve-fake", "--flow", flow]
        command += ["--rate", str(args.rate), "--seconds", str(args.seconds)]
        command += ["--hold", str(args.hold)]
        if args.no_follow:
            command.append("--no-follow")
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        url = json.loads(child.stdout.readline())["url"]
        password = PASSWORD
    settings = Settings(
        database={"url": db_url},
        ari={
            "url": url,
            "password": password,
            "max_call_seconds": 120,
            "follow_calls": not args.no_follow,
        },
        challenge={
            "intro_prompts": [],
            "record_name": False,
            "passed_prompts": [],
            "digit_timeout_seconds": 30,
        },
        logging={"level": "WARNING"},
        web={"enabled": False},
        speech={"enabled": False},  # measured on its own: bench/speech_board_bench.py
    )
    await seed_nuisance(settings)
    stop = asyncio.Event()
    box: list[Screener] = []

    def started(service: Screener) -> None:
        assert service.calls is not None
        service.calls.stats.keep_latencies = True
        box.append(service)

    service_task = asyncio.create_task(
        composition.run(settings, stop_event=stop, started=started, install_signal_handlers=False)
    )
    peak_active = peak_queue = 0
    cpu_start: float | None = None
    cpu_end = 0.0
    deadline = time.monotonic() + args.seconds + args.hold + 150
    child_report: dict[str, Any] = {}
    go_sent = False
    report_line: asyncio.Task[str] | None = None
    if child is not None and child.stdout is not None:
        # The fake prints its report once every call it placed has ended.
        report_line = asyncio.create_task(asyncio.to_thread(child.stdout.readline))
    profiler = cProfile.Profile() if args.profile else None
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if not box or box[0].calls is None:
            continue
        service = box[0]
        assert service.calls is not None
        if not go_sent:
            go_sent = True
            await asyncio.sleep(0.5)  # the reconcile request after connecting
            if child is not None and child.stdin is not None:
                child.stdin.write("go\n")
                child.stdin.flush()
            cpu_start = cpu_seconds()
            if profiler is not None:
                profiler.enable()
        peak_active = max(peak_active, service.calls.active_calls)
        peak_queue = max(peak_queue, service.recorder.pending)
        done = report_line is not None and report_line.done()
        if args.url and time.monotonic() > deadline - 150:
            done = True
        if done and not service.calls.active_calls and not service.recorder.pending:
            await asyncio.sleep(0.2)  # the batch the writer holds
            cpu_end = cpu_seconds()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            break
    stop.set()
    await service_task
    if child is not None and report_line is not None:
        line = await report_line
        child_report = json.loads(line) if line else {}
        child.wait(30)
    service = box[0]
    assert service.calls is not None
    stats = service.calls.stats
    calls = max(stats.calls_started, 1)
    recorded: list[Any] = []
    lateness: list[float] = []
    deliveries = 0
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.split("///", 1)[1]) as db:
            recorded = db.execute("SELECT started_at, decided_at, ended_at FROM calls").fetchall()
            delivered = db.execute("SELECT count(*) FROM calls WHERE delivery IS NOT NULL")
            deliveries = int(delivered.fetchone()[0])
            steps = db.execute(
                "SELECT e.at, c.decided_at FROM call_events e JOIN calls c ON c.id = e.call_id "
                "WHERE e.kind = 'decided'"
            ).fetchall()
            lateness = [
                (datetime.fromisoformat(at) - datetime.fromisoformat(decided)).total_seconds()
                for at, decided in steps
            ]
    return {
        "flow": flow,
        "calls": stats.calls_started,
        "calls_recorded": len(recorded),
        "deliveries_recorded": deliveries,
        "cpu_ms_per_call": round((cpu_end - (cpu_start or cpu_end)) / calls * 1000, 3),
        "ari_requests_per_call": round(child_report.get("ari_requests", 0) / calls, 2),
        "fail_open": stats.calls_failed_open,
        "records_failed": service.recorder.stats.failed,
        "first_request_p50_ms": round(percentile(stats.first_request_ms, 50), 2),
        "first_request_p99_ms": round(percentile(stats.first_request_ms, 99), 2),
        "first_action_p50_ms": round(percentile(stats.first_action_ms, 50), 2),
        "first_action_p99_ms": round(percentile(stats.first_action_ms, 99), 2),
        "decided_step_vs_decided_at_max_s": round(max(lateness, default=0.0), 3),
        "recorder_queue_peak": peak_queue,
        "peak_calls_in_progress": peak_active,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "pbx": child_report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flow", default="allow", choices=(*FLOWS, "all"))
    parser.add_argument("--rate", type=float, default=100.0, help="new calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to place calls")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each call is challenged")
    parser.add_argument("--url", default="", help="a real Asterisk's ARI URL instead of the fake")
    parser.add_argument("--db-url", default="", help="a database URL (default: a new SQLite)")
    parser.add_argument(
        "--no-follow",
        action="store_true",
        help="ari.follow_calls = false: do not follow calls after the hand-back",
    )
    parser.add_argument(
        "--profile",
        default="",
        metavar="FILE",
        help="write a cProfile of the service while calls run (python -m pstats FILE)",
    )
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate * args.seconds > 20_000:
        parser.error("at most 20,000 calls per run")
    if args.serve_fake:
        asyncio.run(serve_fake(args.flow, args.rate, args.seconds, args.hold, not args.no_follow))
        return
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for flow in FLOWS if args.flow == "all" else (args.flow,):
        result = asyncio.run(run_flow(args, flow))
        print(json.dumps(result))
        print(
            f"{flow}: {result['calls']} calls at {args.rate:g}/s, {result['calls_recorded']} "
            f"recorded; CPU {result['cpu_ms_per_call']:.2f} ms a call; "
            f"{result['ari_requests_per_call']:.1f} ARI requests a call; first action p50/p99 "
            f"{result['first_action_p50_ms']:.2f}/{result['first_action_p99_ms']:.2f} ms; "
            f"peak RSS {result['peak_rss_mb']} MB"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
