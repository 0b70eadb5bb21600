"""List lookup latency with a registry of millions of numbers, on SQLite and PostgreSQL.

Times ``screener.lists.matching.list_matches`` on an ``AsyncSession`` (the CLI's way)
for random numbers that are on the list and random numbers of the same shape (nearly all
not on it), and prints
p50/p90/p99/max in microseconds. The list is the TPS-style file of ``import_bench.py``
(same generator and seed), imported once through the real import code; the SQLite
database is reused from ``--workdir`` when ``import_bench.py`` already made it.

    python bench/lookup_bench.py                     # 1,000,000 entries (quick)
    python bench/lookup_bench.py --rows 20000000     # full size (reuses import_bench's DB)
    python bench/lookup_bench.py --rows 20000000 --skip-postgres --lookups 20000

One lookup at a time in one process; the machine has 2 shared cores, so p99 and max
move with whatever else runs (the load average is printed). "cpu" is the CPU time of
this thread per lookup (on SQLite the query runs on it; on PostgreSQL the server's
share is not included): a wall time far above it is time spent waiting for a core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_bench import default_workdir, sqlite_db, tps_file, tps_numbers

from screener.db.lifecycle import open_database
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import ListKind
from screener.lists import repo as lists_repo
from screener.lists.import_reader import EntryReader, RejectionLog
from screener.lists.importer import import_entries
from screener.lists.matching import list_matches
from screener.settings import DatabaseSettings
from tests.support.pgcluster import throwaway_cluster

GB = NumberAnalyser("GB")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    n = len(ordered)

    def at(share: float) -> float:
        return ordered[min(n - 1, int(share * n))]

    return (
        f"p50 {at(0.50):7.0f}  p90 {at(0.90):7.0f}  p99 {at(0.99):7.0f}  "
        f"max {ordered[-1]:7.0f} us  (n={n})"
    )


def sample_numbers(rows: int, count: int, seed: int) -> tuple[list[str], list[str]]:
    """``count`` numbers on the list (from the generated file) and ``count`` random ones."""
    rng = random.Random(seed)
    wanted = sorted(rng.sample(range(rows), min(count, rows)))
    present: list[str] = []
    position = 0
    for index, number in enumerate(tps_numbers(rows)):
        if index == wanted[position]:
            present.append("+44" + number[1:])
            position += 1
            if position == len(wanted):
                break
    rng.shuffle(present)
    # Random numbers of the same shape: all but about rows / 3e9 of them are not listed.
    absent = [f"+44{rng.choice('127')}{rng.randrange(10**9):09d}" for _ in range(count)]
    return present, absent


async def ensure_list(url: str, path: Path, rows: int) -> None:
    """Create and fill the ``tps`` list unless it is already there."""
    settings = DatabaseSettings(url=url)
    async with open_database(settings, upgrade=True) as db, db.sessions.begin() as session:
        found = await lists_repo.get_list(session, "tps")
        if found is None:
            await lists_repo.create_list(session, "tps", ListKind.REGISTRY)
        elif (await lists_repo.all_lists(session))[0][1] > 0:
            return
    started = time.perf_counter()
    with path.open("rb") as stream:
        reader = EntryReader(stream, GB, RejectionLog())
        async with open_database(settings, upgrade=False) as db:
            stats = (await import_entries(db, Actor.cli("bench"), "tps", reader)).stats
    print(f"  imported {stats.added} entries in {time.perf_counter() - started:.1f} s")


async def measure(url: str, present: list[str], absent: list[str], warmup: int) -> None:
    settings = DatabaseSettings(url=url)
    async with open_database(settings, upgrade=False) as db, db.sessions() as session:
        for number in present[:warmup] + absent[:warmup]:
            await list_matches(session, number)
        for name, numbers in (("present", present), ("random", absent)):
            samples: list[float] = []
            cpu: list[float] = []
            found = 0
            for number in numbers:
                started, started_cpu = time.perf_counter(), time.thread_time()
                matches = await list_matches(session, number)
                cpu.append((time.thread_time() - started_cpu) * 1e6)
                samples.append((time.perf_counter() - started) * 1e6)
                found += bool(matches)
            print(f"  {name:<8} wall {percentiles(samples)}  on the list: {found}")
            print(f"  {'':<8} cpu  {percentiles(cpu)}")
        if found * 50 > len(absent):
            raise SystemExit("random numbers were found on the list far too often")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="entries on the list")
    parser.add_argument("--lookups", type=int, default=5000, help="of each kind")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    path = tps_file(args.workdir, args.rows)
    present, absent = sample_numbers(args.rows, args.lookups, seed=7)
    if not args.skip_sqlite:
        db = sqlite_db(args.workdir, args.rows)
        print(f"SQLite ({db}, {args.rows} lines):")
        try:
            asyncio.run(ensure_list(f"sqlite+aiosqlite:///{db}", path, args.rows))
        except sqlite3.DatabaseError as exc:
            raise SystemExit(f"{db}: {exc}; delete it and run again") from exc
        asyncio.run(measure(f"sqlite+aiosqlite:///{db}", present, absent, args.warmup))
    if args.skip_postgres:
        return
    with throwaway_cluster() as cluster:
        if cluster is None:
            print("PostgreSQL: skipped (no server binaries)")
            return
        url = cluster.create_database("bench")
        print(f"PostgreSQL ({args.rows} lines, throwaway cluster):")
        asyncio.run(ensure_list(url, path, args.rows))
        cluster.psql("VACUUM ANALYZE list_entries", "bench")
        asyncio.run(measure(url, present, absent, args.warmup))


if __name__ == "__main__":
    main()
