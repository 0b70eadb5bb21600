"""Scale-out: one Screener process against several, on one PostgreSQL, at the same offered load.

For each ``--workers`` count, N real ``screener run`` processes start (ARI applications
``screener-1``... ``screener-N``, as ``screener run --workers N`` starts them) against a
fake Asterisk in a child process, which places allowed calls at ``--rate`` calls/s for
``--seconds`` and spreads them over the applications as the shipped dialplan does (a
random first choice, falling through to the next one connected). A throwaway PostgreSQL
cluster holds the records.

Printed per run: calls placed and decided (not shed), the rate carried (decided calls
over the placing time), the time from ``StasisStart`` to the call leaving Stasis
(p50/p99), each process's CPU seconds, and the records in the database. A process
saturates at about one core; a second one carries the calls the first cannot.

    python bench/scale_bench.py --rate 300 --seconds 10
    python bench/scale_bench.py --workers 1 2 --rate 400 --seconds 8

Bounded: at most 20,000 calls a run. The fake Asterisk, PostgreSQL and the processes share
this machine's cores: compare the runs of one invocation, not figures from elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from callers import allowed_number  # noqa: E402

from screener.demo.fake_asterisk import Destination, FakeAsterisk  # noqa: E402

PASSWORD = "bench-scale"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def serve_fake(apps: list[str], rate: float, seconds: float) -> None:
    """The child: the fake Asterisk and the calls; prints its URL, then its report."""
    dialplan = {"screened,s": Destination(answer_after=0.05, talk_seconds=0.2)}
    async with FakeAsterisk(password=PASSWORD, dialplan=dialplan) as pbx:
        print(json.dumps({"url": pbx.url}), flush=True)
        async with asyncio.timeout(60):
            while not all(pbx.connected(app) for app in apps):
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        rng = random.Random(5)
        total = int(rate * seconds)
        channels = []
        in_stasis: list[float] = []
        watchers = []

        async def watch(channel: Any, placed_at: float) -> None:
            await channel.done.wait()
            in_stasis.append(time.perf_counter() - placed_at)

        started = time.perf_counter()
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            first = rng.randrange(len(apps))
            order = tuple(apps[(first + i) % len(apps)] for i in range(len(apps)))
            channel = pbx.place_call(allowed_number(rng), "CALLER", apps=order)
            watchers.append(asyncio.create_task(watch(channel, time.perf_counter())))
            channels.append(channel)
        placing = time.perf_counter() - started
        async with asyncio.timeout(120):
            await asyncio.gather(*watchers)
        in_stasis.sort()
        results: dict[str, int] = {}
        for channel in channels:
            results[channel.result or "?"] = results.get(channel.result or "?", 0) + 1
        print(
            json.dumps(
                {
                    "placed": total,
                    "placing_seconds": placing,
                    "results": results,
                    "in_stasis_p50_ms": 1000 * in_stasis[len(in_stasis) // 2],
                    "in_stasis_p99_ms": 1000 * in_stasis[int(len(in_stasis) * 0.99) - 1],
                }
            ),
            flush=True,
        )


def pg_records(cluster: Any, database: str) -> dict[str, int]:
    out = cluster.psql(
        "SELECT coalesce(outcome_step, '-'), count(*) FROM calls GROUP BY 1", database
    )
    counts: dict[str, int] = {}
    for line in str(out).splitlines():
        if "|" in line:
            step, count = (part.strip() for part in line.split("|", 1))
            if count.isdigit():
                counts[step] = int(count)
    return counts


def run(workers: int, args: argparse.Namespace, cluster: Any) -> dict[str, Any]:
    database = f"scale{workers}"
    url = cluster.create_database(database)
    apps = [f"screener-{i}" for i in range(1, workers + 1)]
    load = ["--rate", str(args.rate), "--seconds", str(args.seconds)]
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake", *apps, *load],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ari_url = json.loads(child.stdout.readline())["url"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "none.toml").write_text("")
        processes = []
        for app in apps:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "SCREENER_CONFIG": str(Path(tmp) / "none.toml"),
                "SCREENER_DATABASE__URL": url,
                "SCREENER_ARI__URL": ari_url,
                "SCREENER_ARI__PASSWORD": PASSWORD,
                "SCREENER_ARI__APP": app,
                "SCREENER_WEB__ENABLED": "false",
                "SCREENER_LOGGING__LEVEL": "WARNING",
            }
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "screener", "run"],
                    env=env,
                    cwd=tmp,
                    stdout=subprocess.DEVNULL,
                )
            )
        try:
            # The child waits for every application, then places the calls.
            before = [cpu_seconds(p.pid) for p in processes]
            report = json.loads(child.stdout.readline())
            time.sleep(1.0)  # the last batch of records
            cpu = [cpu_seconds(p.pid) - b for p, b in zip(processes, before, strict=True)]
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(60)
            child.wait(30)
    records = pg_records(cluster, database)
    decided = report["placed"] - records.get("overload", 0)
    return {
        "workers": workers,
        "placed": report["placed"],
        "decided": decided,
        "carried_per_second": decided / report["placing_seconds"],
        "in_stasis_p50_ms": report["in_stasis_p50_ms"],
        "in_stasis_p99_ms": report["in_stasis_p99_ms"],
        "results": report["results"],
        "cpu_seconds": [round(c, 1) for c in cpu],
        "records": sum(records.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve-fake", nargs="+", metavar="APP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate * args.seconds > 20_000:
        parser.error("at most 20,000 calls per run")
    if args.serve_fake:
        asyncio.run(serve_fake(args.serve_fake, args.rate, args.seconds))
        return
    from tests.support.pgcluster import throwaway_cluster

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with throwaway_cluster() as cluster:
        if cluster is None:
            print("PostgreSQL server binaries not found: nothing to measure")
            return
        for workers in args.workers:
            result = run(workers, args, cluster)
            print(json.dumps(result))
            print(
                f"{workers} process(es): {result['decided']} of {result['placed']} calls "
                f"decided, {result['carried_per_second']:.0f} calls/s carried; in Stasis "
                f"p50/p99 {result['in_stasis_p50_ms']:.0f}/{result['in_stasis_p99_ms']:.0f} ms;"
                f" CPU s per process {result['cpu_seconds']}; {result['records']} records",
                flush=True,
            )


if __name__ == "__main__":
    main()
