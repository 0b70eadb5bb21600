"""Bulk import benchmark: a TPS-style file into SQLite and PostgreSQL through the real CLI.

Generates a plain-text file of UK numbers (11 digits starting 01, 02 or 07, about 1% of
lines repeating an earlier number, fixed seed), then runs ``screener lists import`` as a
child process and prints its wall time and peak RSS (``RUSAGE_CHILDREN``, measured on a
child that only runs the import). PostgreSQL runs on a throwaway cluster
(``tests/support/pgcluster.py``). Figures only: nothing here asserts a time.

On SQLite the same run also prints:

- the baseline: the same numbers inserted into the same schema with the stdlib
  ``sqlite3`` module's ``executemany`` in one transaction, and the import's time as a
  multiple of it;
- how long call records wait while an import applies: the file is imported again into a
  fresh database while this process runs the service's call recorder on it, handing it
  one call record every 100 ms (as a busy switchboard would); the wait of each record
  is the time from handing it over to its commit. Skip with ``--no-writer``.

    python bench/import_bench.py                       # 1,000,000 lines (quick)
    python bench/import_bench.py --rows 20000000       # the full size (a few minutes)
    python bench/import_bench.py --rows 20000000 --skip-postgres --reimport
    python bench/import_bench.py --rows 20000000 --skip-sqlite

The generated file and the SQLite database stay in ``--workdir`` (default
``$TMPDIR/screener-bench``) so ``lookup_bench.py`` and ``decision_bench.py`` can reuse them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from screener.calls.recorder import CallRecorder  # noqa: E402
from screener.calls.store import new_call_id  # noqa: E402
from screener.db import migrate  # noqa: E402
from screener.db.lifecycle import open_database  # noqa: E402
from screener.domain.events import CallDecided, CallStarted  # noqa: E402
from screener.domain.model import CallFacts  # noqa: E402
from screener.domain.numbers import NumberAnalyser  # noqa: E402
from screener.domain.policy import Policy, decide  # noqa: E402
from screener.domain.vocabulary import CallSource  # noqa: E402
from screener.events import EventBus  # noqa: E402
from screener.settings import DatabaseSettings  # noqa: E402
from tests.support.pgcluster import throwaway_cluster  # noqa: E402

SEED = 20_000_000
UK_STARTS = ("01", "02", "07")
REPEAT_SHARE = 0.01
CALL_EVERY_SECONDS = 0.1
"""The writer hands the recorder one call record this often during the import."""


def default_workdir() -> Path:
    return Path(tempfile.gettempdir()) / "screener-bench"


def tps_numbers(rows: int, seed: int = SEED) -> Iterator[str]:
    """National-format UK numbers, deterministic for a seed; about 1% repeat earlier ones."""
    rng = random.Random(seed)
    recent: list[str] = []
    for _ in range(rows):
        if recent and rng.random() < REPEAT_SHARE:
            yield rng.choice(recent)
            continue
        number = rng.choice(UK_STARTS) + f"{rng.randrange(10**9):09d}"
        if len(recent) < 1000:
            recent.append(number)
        else:
            recent[rng.randrange(1000)] = number
        yield number


def tps_file(workdir: Path, rows: int) -> Path:
    """The generated file for ``rows`` lines (made once, then reused)."""
    path = workdir / f"tps-{rows}.txt"
    if path.exists():
        return path
    workdir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    with partial.open("w", encoding="ascii") as out:
        chunk: list[str] = []
        for number in tps_numbers(rows):
            chunk.append(number)
            if len(chunk) == 100_000:
                out.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            out.write("\n".join(chunk) + "\n")
    partial.rename(path)
    print(f"generated {path} ({rows} lines) in {time.perf_counter() - started:.1f} s")
    return path


def sqlite_db(workdir: Path, rows: int) -> Path:
    return workdir / f"tps-{rows}.db"


def screener(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screener", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )


def own_seconds(out: str) -> float | None:
    """The import's own time from its summary line (``... rejected in 12.3 s``)."""
    found = re.search(r" in ([0-9.]+) s$", out.strip().splitlines()[-1] if out.strip() else "")
    return float(found.group(1)) if found else None


def measured_import(env: dict[str, str], path: Path, list_name: str) -> tuple[float, float, str]:
    """Run ``screener lists import`` in a child that does nothing else: (seconds, MiB, out)."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stdout.write(f'{wall} {rss} {p.returncode}\\n' + p.stdout + p.stderr)\n"
    )
    command = [sys.executable, "-m", "screener", "lists", "import", list_name, str(path)]
    result = subprocess.run(
        [sys.executable, "-c", code, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    first, _, rest = result.stdout.partition("\n")
    wall, rss, returncode = first.split()
    if returncode != "0":
        raise SystemExit(f"import failed ({returncode}):\n{rest}")
    return float(wall), float(rss), rest.strip()


def bench_env(url: str) -> dict[str, str]:
    return {**os.environ, "SCREENER_DATABASE__URL": url, "SCREENER_LOGGING__LEVEL": "WARNING"}


def create_list(env: dict[str, str]) -> None:
    created = screener(env, "lists", "create", "tps", "--kind", "registry")
    if created.returncode != 0:
        raise SystemExit(created.stderr)


def bench_backend(
    name: str, url: str, path: Path, rows: int, reimport: bool
) -> tuple[float, float | None]:
    """Import (and re-import) ``path``; the first import's wall time and its own time."""
    env = bench_env(url)
    create_list(env)
    wall, rss, out = measured_import(env, path, "tps")
    first = wall, own_seconds(out)
    print(f"{name}: import of {rows} lines: {wall:.1f} s wall, peak RSS {rss:.0f} MiB")
    print(f"  {out}")
    if reimport:
        wall, rss, out = measured_import(env, path, "tps")
        print(f"{name}: re-import of the same file: {wall:.1f} s wall, peak RSS {rss:.0f} MiB")
        print(f"  {out}")
    return first


def fresh_sqlite(db: Path) -> None:
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
        leftover.unlink(missing_ok=True)


def executemany_baseline(path: Path, db: Path) -> tuple[float, int]:
    """The same numbers into the same schema with plain ``sqlite3.executemany``, one
    transaction, the pragmas the import uses: (seconds, rows added). The national prefix
    is replaced by +44 in Python, the least any import has to do."""
    fresh_sqlite(db)
    migrate.upgrade(f"sqlite+aiosqlite:///{db}")
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-32768")
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        con.execute(
            "INSERT INTO lists (id, name, action, kind, description, created_at, updated_at) "
            "VALUES (1, 'tps', 'challenge', 'registry', '', ?, ?)",
            (now, now),
        )
        started = time.perf_counter()
        con.execute("BEGIN")
        with path.open(encoding="ascii") as lines:
            cursor = con.executemany(
                "INSERT INTO list_entries (list_id, value, is_prefix, added_by, created_at) "
                "VALUES (1, ?, 0, 'cli', ?) ON CONFLICT (value, is_prefix, list_id) DO NOTHING",
                (("+44" + line[1:].rstrip("\n"), now) for line in lines),
            )
        con.execute("COMMIT")
        seconds = time.perf_counter() - started
        return seconds, cursor.rowcount
    finally:
        con.close()


def call_record(
    analyser: NumberAnalyser, policy: Policy, n: int
) -> tuple[CallStarted, CallDecided]:
    number = f"07911 {n % 1_000_000:06d}"
    now = datetime.now(UTC)
    decision = decide(policy, analyser.analyse(number))
    call_id = new_call_id()
    facts = CallFacts(caller_number=number)
    started = CallStarted(call_id, "main", CallSource.DEMO, None, facts, decision.number.e164, now)
    return started, CallDecided(call_id, "main", decision, 0.1, now)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def import_with_writer(url: str, path: Path) -> tuple[float, list[float], int, str]:
    """Import ``path`` with the CLI while the call recorder writes one call every 100 ms:
    (import seconds, wait of each record in seconds, records given up, import output)."""
    env = bench_env(url)
    analyser, policy = NumberAnalyser("GB"), Policy()
    async with open_database(DatabaseSettings(url=url), upgrade=True) as database:
        create_list(env)
        bus = EventBus()
        committed = bus.subscribe(maxsize=1_000_000, kinds=[CallStarted])
        recorder = CallRecorder(database.sessions, bus)
        writer = asyncio.create_task(recorder.run())
        handed: dict[str, float] = {}
        waits: list[float] = []

        async def collect() -> None:
            async for event in committed:
                assert isinstance(event, CallStarted)
                waits.append(time.perf_counter() - handed[event.call_id])

        collector = asyncio.create_task(collect())
        # The service is writing before the import starts (its connections hold the
        # database in WAL mode), as on a live switchboard.
        record = call_record(analyser, policy, 0)
        handed[record[0].call_id] = time.perf_counter()
        recorder.call_taken(*record)
        while not waits:
            await asyncio.sleep(0.01)
        waits.clear()
        started = time.perf_counter()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "screener",
            "lists",
            "import",
            "tps",
            str(path),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = asyncio.create_task(child.communicate())
        n = 1
        while not output.done():
            record = call_record(analyser, policy, n)
            handed[record[0].call_id] = time.perf_counter()
            recorder.call_taken(*record)
            n += 1
            await asyncio.wait({output}, timeout=CALL_EVERY_SECONDS)
        seconds = time.perf_counter() - started
        out, _ = output.result()
        if child.returncode != 0:
            raise SystemExit(f"import failed ({child.returncode}):\n{out.decode()}")
        await recorder.close()
        await writer
        while len(waits) < n - 1 - recorder.stats.failed:
            await asyncio.sleep(0.01)
        collector.cancel()
        committed.close()
        return seconds, waits, recorder.stats.failed, out.decode().strip()


def bench_writer(workdir: Path, path: Path, rows: int) -> None:
    db = workdir / f"tps-{rows}-writer.db"
    fresh_sqlite(db)
    seconds, waits, failed, out = asyncio.run(import_with_writer(f"sqlite+aiosqlite:///{db}", path))
    print(
        f"SQLite: import of {rows} lines while the recorder writes a call every "
        f"{CALL_EVERY_SECONDS * 1000:.0f} ms: {seconds:.1f} s wall"
    )
    print(f"  {out}")
    if waits:
        long = sum(1 for w in waits if w > 5.0)
        print(
            f"  call record wait (hand-over to commit), {len(waits)} records: "
            f"median {percentile(waits, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(waits, 0.99) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms; "
            f"{long} waited longer than the 5 s busy timeout; {failed} given up"
        )
    fresh_sqlite(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="lines in the file")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--reimport", action="store_true", help="also time a second import")
    parser.add_argument(
        "--no-writer", action="store_true", help="skip the import with call records written"
    )
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    path = tps_file(args.workdir, args.rows)
    if not args.skip_sqlite:
        db = sqlite_db(args.workdir, args.rows)
        fresh_sqlite(db)
        url = f"sqlite+aiosqlite:///{db}"
        wall, own = bench_backend("SQLite", url, path, args.rows, args.reimport)
        size = db.stat().st_size / 2**20
        print(f"  database kept at {db} ({size:.0f} MiB) for lookup_bench.py")
        baseline_db = args.workdir / f"tps-{args.rows}-executemany.db"
        seconds, added = executemany_baseline(path, baseline_db)
        fresh_sqlite(baseline_db)
        print(
            f"SQLite baseline, plain sqlite3 executemany into the same schema: {seconds:.1f} s "
            f"({added} rows added)"
        )
        ratio = f"the import's own {own:.1f} s is {own / seconds:.2f}x that, " if own else ""
        print(f"  {ratio}its {wall:.1f} s wall (with the CLI's start) {wall / seconds:.2f}x")
        if not args.no_writer:
            bench_writer(args.workdir, path, args.rows)

    if args.skip_postgres:
        return
    with throwaway_cluster() as cluster:
        if cluster is None:
            print("PostgreSQL: skipped (no server binaries)")
            return
        url = cluster.create_database("bench")
        bench_backend("PostgreSQL", url, path, args.rows, args.reimport)


if __name__ == "__main__":
    main()
