"""FastAGI benchmark: real AGI sessions over loopback TCP against the real server and database.

Each session sends the environment Asterisk 22 sends for ``AGI(agi://.../screen,DID)``,
answers every ``SET VARIABLE`` with ``200 result=1`` and ends when the server closes. The
callers are a mix: valid mobiles (allow), withheld (challenge), drama-range (challenge).

Figures printed: sessions per second, session latency (connect -> server closed) p50 and
p99, server-side decision time p50 (``decision_ms`` of ``call.verdict`` events), CPU
seconds of this process per 1,000 sessions (client and server share the process, so this
is an upper bound for the server).

Bounded: ``--calls`` sessions (default 2,000) with at most ``--concurrency`` open at once
(default 20), and a hard time limit. The machine has 2 shared cores: keep concurrency low.

    python bench/agi_bench.py                       # SQLite file in a temp directory
    python bench/agi_bench.py --db-url postgresql+asyncpg://user@127.0.0.1/screener
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screener import composition
from screener.db.lifecycle import open_database
from screener.domain.events import CallDecided
from screener.settings import AgiSettings, DatabaseSettings, Settings, WebSettings
from tests.support.pgcluster import free_port

TIME_LIMIT_SECONDS = 300
CALLERS = ("+4479111{n:05d}", "anonymous", "+44113496{n:04d}")


def environment(port: int, n: int) -> bytes:
    caller = CALLERS[n % len(CALLERS)].format(n=n % 10_000)
    lines = [
        "agi_network: yes",
        "agi_network_script: screen",
        f"agi_request: agi://127.0.0.1:{port}/screen",
        f"agi_channel: PJSIP/carrier-{n:08x}",
        f"agi_uniqueid: 1763800000.{n}",
        f"agi_callerid: {caller}",
        "agi_calleridname: unknown",
        "agi_callingpres: 0",
        "agi_dnid: 01614960000",
        "agi_extension: 01614960000",
        "agi_context: from-trunk-screener",
        "agi_arg_1: 01614960000",
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def one_session(port: int, n: int) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(environment(port, n))
    await writer.drain()
    while line := await reader.readline():
        if line.startswith(b"SET VARIABLE"):
            writer.write(b"200 result=1\n")
            await writer.drain()
    writer.close()
    await writer.wait_closed()
    return (time.perf_counter() - started) * 1000


async def run(calls: int, concurrency: int, db_url: str) -> None:
    port = free_port()
    settings = Settings(
        database=DatabaseSettings(url=db_url),
        agi=AgiSettings(enabled=True, host="127.0.0.1", port=port),
        web=WebSettings(enabled=False),
    )
    async with open_database(settings.database, upgrade=True) as database:
        service = composition.build(settings, database)
        verdicts = service.bus.subscribe(maxsize=calls + 10, kinds={CallDecided})
        await composition.start(service)
        gate = asyncio.Semaphore(concurrency)

        async def bounded(n: int) -> float:
            async with gate:
                return await one_session(port, n)

        cpu_before = time.process_time()
        wall = time.perf_counter()
        async with asyncio.timeout(TIME_LIMIT_SECONDS):
            latencies = await asyncio.gather(*(bounded(n) for n in range(calls)))
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu_before
        await composition.stop(service)
        decisions = []
        while not verdicts.queue.empty():
            event = verdicts.queue.get_nowait()
            assert isinstance(event, CallDecided)
            decisions.append(event.decision_ms)

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"backend: {db_url.split(':', 1)[0]}")
    print(f"sessions: {calls}, concurrency {concurrency}, wall {wall:.2f} s")
    print(f"throughput: {calls / wall:.0f} sessions/s")
    print(f"session latency ms: p50 {statistics.median(latencies):.2f}  p99 {p99:.2f}")
    print(f"decision ms (server): p50 {statistics.median(decisions):.2f}  n={len(decisions)}")
    print(f"CPU s per 1,000 sessions (client + server): {cpu / calls * 1000:.2f}")
    print(f"peak RSS MiB: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    calls = max(1, min(args.calls, 20_000))
    concurrency = max(1, min(args.concurrency, 200))
    with tempfile.TemporaryDirectory(prefix="screener-agi-bench-") as tmp:
        url = args.db_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(run(calls, concurrency, url))


if __name__ == "__main__":
    main()
