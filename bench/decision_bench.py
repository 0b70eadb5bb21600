"""Call decision latency in-process: the whole ``ScreeningService.decide`` and its pure part.

Full decision: normalise the presented number, look it up on every list (a registry of
``--rows`` numbers from ``import_bench.py``), read the caller's recent history from the
calls table (``--history`` calls recorded first, some from the numbers being decided),
and run the policy; one call at a time, in one session (as ``screener check`` does) and
with a session per call (as the ARI call flow and FastAGI do).
Pure part: ``NumberAnalyser.analyse`` + ``policy.decide`` with no database.

    python bench/decision_bench.py                    # 1,000,000 list entries (quick)
    python bench/decision_bench.py --rows 20000000    # full size (reuses import_bench's DB)
    python bench/decision_bench.py --skip-postgres --decisions 20000

Prints median and p99 in microseconds. 2 shared cores: the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_bench import default_workdir, sqlite_db, tps_file
from lookup_bench import ensure_list, sample_numbers
from sqlalchemy import func, select

from screener.calls import store
from screener.calls.lookup import HistoryWindow, call_reader
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import open_database
from screener.db.models import Call
from screener.domain.events import CallDecided, CallStarted
from screener.domain.model import CallFacts
from screener.domain.numbers import NumberAnalyser
from screener.domain.policy import decide
from screener.domain.vocabulary import CallSource
from screener.policy.store import build_policy
from screener.settings import DatabaseSettings, Settings
from tests.support.pgcluster import PgCluster, throwaway_cluster

SHAPES = ("{national}", "{e164}", "tel:{e164}", "00{intl}", "{spaced}")


def presented(e164: str, rng: random.Random) -> str:
    """A caller number as a trunk might present it."""
    national = "0" + e164[3:]
    shape = rng.choice(SHAPES)
    return shape.format(
        national=national,
        e164=e164,
        intl=e164[1:],
        spaced=f"{national[:5]} {national[5:]}",
    )


def median_p99(samples: list[float]) -> str:
    ordered = sorted(samples)
    n = len(ordered)
    return (
        f"median {ordered[n // 2]:6.0f}  p99 {ordered[min(n - 1, int(n * 0.99))]:6.0f}  "
        f"max {ordered[-1]:7.0f} us  (n={n})"
    )


def facts_for(numbers: list[str], seed: int) -> list[CallFacts]:
    rng = random.Random(seed)
    facts: list[CallFacts] = []
    for number in numbers:
        if rng.random() < 0.05:
            facts.append(CallFacts("anonymous", presentation="prohib_passed_screen"))
        else:
            facts.append(CallFacts(presented(number, rng), caller_name="CALLER", did="01134960000"))
    return facts


def pure_part(settings: Settings, facts: list[CallFacts]) -> None:
    analyser = NumberAnalyser(settings.numbers.region)
    policy = build_policy(settings)
    for fact in facts[:500]:
        decide(policy, analyser.analyse(fact.caller_number, fact.presentation), ())
    samples: list[float] = []
    for fact in facts:
        started = time.perf_counter()
        number = analyser.analyse(fact.caller_number, fact.presentation)
        decide(policy, number, (), None, trunk=fact.trunk)
        samples.append((time.perf_counter() - started) * 1e6)
    print(f"  pure: analyse + policy.decide      {median_p99(samples)}")


async def record_history(settings: Settings, numbers: list[str], calls: int) -> None:
    """Recorded calls, a fifth of them from the numbers the benchmark decides."""
    rng = random.Random(3)
    analyser = NumberAnalyser(settings.numbers.region)
    policy = build_policy(settings)
    async with open_database(settings.database) as db:
        async with db.sessions() as session:
            have = int(await session.scalar(select(func.count()).select_from(Call)) or 0)
        if have >= calls:
            return
        async with db.sessions.begin() as session:
            now = datetime.now(UTC)
            for index in range(calls - have):
                if index % 5 == 0:
                    number = rng.choice(numbers)
                else:
                    number = f"+447{rng.randrange(10**9):09d}"
                facts = CallFacts(number, caller_name="CALLER")
                decision = decide(policy, analyser.analyse(number), ())
                call_id = store.new_call_id()
                started = CallStarted(
                    call_id, "main", CallSource.DEMO, None, facts, decision.number.e164, now
                )
                store.add_call(session, started, CallDecided(call_id, "main", decision, 0, now))


async def full_decision(settings: Settings, facts: list[CallFacts], warmup: int) -> None:
    async with open_database(settings.database) as db:
        async with db.sessions() as session:
            in_session = ScreeningService.in_session(settings, session)
            for fact in facts[:warmup]:
                await in_session.decide(fact)
            samples: list[float] = []
            for fact in facts:
                started = time.perf_counter()
                await in_session.decide(fact)
                samples.append((time.perf_counter() - started) * 1e6)
        print(f"  full, one session (CLI check)      {median_p99(samples)}")
        service = ScreeningService(settings, call_reader(db.url, db.sessions))
        for fact in facts[:warmup]:
            await service.decide(fact)
        samples = []
        for fact in facts:
            started = time.perf_counter()
            await service.decide(fact)
            samples.append((time.perf_counter() - started) * 1e6)
        print(f"  full, the service's reader (ARI, AGI) {median_p99(samples)}")
        # The reader's part alone: the lookup and the history (one round trip on PostgreSQL).
        analyser = NumberAnalyser(settings.numbers.region)
        numbers = [n.e164 for n in (analyser.analyse(f.caller_number) for f in facts) if n.e164]
        now = datetime.now(UTC)
        window = HistoryWindow.before(now, timedelta(minutes=10), timedelta(hours=24))
        samples = []
        for e164 in numbers:
            started = time.perf_counter()
            await service.reader.read(e164, now, window)
            samples.append((time.perf_counter() - started) * 1e6)
        await service.close()
        print(f"  of which the reader's reads       {median_p99(samples)}")


def run_backend(
    url: str, path: Path, args: argparse.Namespace, cluster: PgCluster | None = None
) -> None:
    settings = Settings(database=DatabaseSettings(url=url))
    asyncio.run(ensure_list(url, path, args.rows))
    present, absent = sample_numbers(args.rows, args.decisions // 2, seed=11)
    numbers = present + absent
    random.Random(5).shuffle(numbers)
    asyncio.run(record_history(settings, present, args.history))
    if cluster is not None:
        # Statistics for the calls just recorded, as autovacuum would make soon after.
        cluster.psql("VACUUM ANALYZE calls", "bench")
    facts = facts_for(numbers, seed=13)
    asyncio.run(full_decision(settings, facts, args.warmup))
    pure_part(settings, facts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="entries on the list")
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--history", type=int, default=10_000, help="calls recorded first")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    path = tps_file(args.workdir, args.rows)
    if not args.skip_sqlite:
        db = sqlite_db(args.workdir, args.rows)
        print(f"SQLite ({db}, {args.rows} list entries, {args.history} recorded calls):")
        run_backend(f"sqlite+aiosqlite:///{db}", path, args)
    if args.skip_postgres:
        return
    with throwaway_cluster() as cluster:
        if cluster is None:
            print("PostgreSQL: skipped (no server binaries)")
            return
        url = cluster.create_database("bench")
        print(f"PostgreSQL ({args.rows} list entries, {args.history} recorded calls):")
        run_backend(url, path, args, cluster)


if __name__ == "__main__":
    main()
