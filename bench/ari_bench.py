"""Live-call benchmark: the real service against the fake Asterisk over real sockets.

The fake Asterisk runs in a child process (so its CPU is not counted) and places
withheld calls at ``--rate`` calls/s for ``--seconds``; every call is challenged, the caller
presses the right digit ``--hold`` seconds after the prompt starts, so about
``rate * hold`` calls sit in the challenge at once. The service (this process) writes every
call and its timeline to a real SQLite file.

Figures printed:
* decision latency: ``StasisStart`` handed to the call flow -> first ARI request sent
  (the ``CALLERID(pres)`` read), and -> first *action* sent (answer/continue/hangup, i.e.
  after the list lookups and policy), p50 and p99;
* CPU seconds of the service per 1,000 calls; peak RSS of the service process;
* the peak number of calls in the challenge at once.

Bounded: at most ``rate * seconds`` calls (default 100/s x 20 s = 2,000) and a hard time
limit. ``--url`` measures against a real Asterisk instead (place the load with SIPp).

    python bench/ari_bench.py                 # 100 calls/s for 20 s, ~500 in the challenge
    python bench/ari_bench.py --rate 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screener import composition
from screener.composition import Screener
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk
from screener.settings import Settings

PASSWORD = "bench&pass#word"


# The child: fake Asterisk plus call generator -------------------------------------------------


async def serve_fake(rate: float, seconds: float, hold: float) -> None:
    pbx = FakeAsterisk(password=PASSWORD, time_scale=1.0)
    await pbx.start()
    print(json.dumps({"url": pbx.url}), flush=True)
    async with asyncio.timeout(30):
        while not pbx.app_connected:
            await asyncio.sleep(0.05)
    # prompt = priv-callpending (2.0 s) + digit (0.6 s); press after the prompt.
    behaviour = CallerBehaviour(presses=("correct",), press_delay=max(0.0, hold - 2.6))
    total = int(rate * seconds)
    started = time.perf_counter()
    channels = []
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        channels.append(pbx.place_call("anonymous", "Anonymous", behaviour=behaviour))
    placing = time.perf_counter() - started
    async with asyncio.timeout(hold + 60):
        for channel in channels:
            await channel.done.wait()
    results: dict[str, int] = {}
    for channel in channels:
        results[channel.result or "?"] = results.get(channel.result or "?", 0) + 1
    print(json.dumps({"placed": total, "placing_seconds": placing, "results": results}), flush=True)
    await pbx.stop()


# The parent: the service under test ---------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ari-bench-"))
    child = None
    if args.url:
        url, password = args.url, os.environ.get("SCREENER_ARI__PASSWORD", "")
    else:
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-fake",
                "--rate",
                str(args.rate),
                "--seconds",
                str(args.seconds),
                "--hold",
                str(args.hold),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        url = json.loads(child.stdout.readline())["url"]
        password = PASSWORD
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{workdir / 'bench.db'}"},
        ari={"url": url, "password": password, "max_call_seconds": 120},
        challenge={
            "intro_prompts": [],
            "record_name": False,
            "passed_prompts": [],
            "digit_timeout_seconds": 30,
        },
        logging={"level": "WARNING"},
        web={"enabled": False},
    )
    stop = asyncio.Event()
    box: list[Screener] = []

    cpu_at_start: list[resource.struct_rusage] = []

    def started(ctx: Screener) -> None:
        assert ctx.calls is not None
        ctx.calls.stats.keep_latencies = True
        box.append(ctx)
        cpu_at_start.append(resource.getrusage(resource.RUSAGE_SELF))

    service = asyncio.create_task(
        composition.run(settings, stop_event=stop, started=started, install_signal_handlers=False)
    )
    peak_active = 0
    child_report: dict[str, Any] = {}
    deadline = time.monotonic() + args.seconds + args.hold + 90
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if box and box[0].calls is not None:
            peak_active = max(peak_active, box[0].calls.active_calls)
        if child is not None and child.poll() is not None:
            break
        if child is None and time.monotonic() > deadline - 90 + 1:
            break
    if child is not None and child.stdout is not None:
        line = child.stdout.readline()
        child_report = json.loads(line) if line else {}
        child.wait(10)
        child_report["cpu_seconds"] = round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime,
            1,
        )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)  # before shutdown, after start-up
    stop.set()
    await service
    cpu_before = cpu_at_start[0]
    ctx = box[0]
    assert ctx.calls is not None
    stats = ctx.calls.stats
    calls = max(stats.calls_started, 1)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    import sqlite3

    with sqlite3.connect(workdir / "bench.db") as db:
        decision_ms = [row[0] for row in db.execute("SELECT decision_ms FROM calls")]
        outcomes = dict(db.execute("SELECT outcome, count(*) FROM calls GROUP BY outcome"))
    return {
        "calls": stats.calls_started,
        "calls_recorded": len(decision_ms),
        "outcomes": outcomes,
        "policy_lookup_p50_ms": percentile(decision_ms, 50),
        "policy_lookup_p99_ms": percentile(decision_ms, 99),
        "fail_open": stats.calls_failed_open,
        "records_failed": ctx.recorder.stats.failed,
        "first_request_p50_ms": percentile(stats.first_request_ms, 50),
        "first_request_p99_ms": percentile(stats.first_request_ms, 99),
        "first_action_p50_ms": percentile(stats.first_action_ms, 50),
        "first_action_p99_ms": percentile(stats.first_action_ms, 99),
        "first_action_median_ms": statistics.median(stats.first_action_ms or [float("nan")]),
        "cpu_seconds_per_1000_calls": cpu / calls * 1000,
        "peak_rss_mb": cpu_after.ru_maxrss / 1024,
        "peak_calls_in_progress": peak_active,
        "pbx": child_report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="new calls per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to place calls")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds each call is challenged")
    parser.add_argument("--url", default="", help="a real Asterisk's ARI URL instead of the fake")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate * args.seconds > 20_000:
        parser.error("at most 20,000 calls per run")
    if args.serve_fake:
        asyncio.run(serve_fake(args.rate, args.seconds, args.hold))
        return
    result = asyncio.run(run_bench(args))
    print(json.dumps(result, indent=2))
    print(
        f"\n{result['calls']} calls at {args.rate:g}/s, peak {result['peak_calls_in_progress']} "
        f"in progress; decision latency p50/p99: first request "
        f"{result['first_request_p50_ms']:.2f}/{result['first_request_p99_ms']:.2f} ms, "
        f"first action {result['first_action_p50_ms']:.2f}/{result['first_action_p99_ms']:.2f} ms; "
        f"CPU {result['cpu_seconds_per_1000_calls']:.2f} s per 1,000 calls; "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
