"""Bulk import benchmark: a TPS-style file into SQLite and PostgreSQL through the real CLI.

Generates a plain-text file of UK numbers (11 digits starting 01, 02 or 07, about 1% of
lines repeating an earlier number, fixed seed), then runs ``screener lists import`` as a
child process and prints its wall time and peak RSS (``RUSAGE_CHILDREN``, measured on a
child that only runs the import). PostgreSQL runs on a throwaway cluster
(``tests/support/pgcluster.py``). Figures only: nothing here asserts a time.

    python bench/import_bench.py                       # 1,000,000 lines (quick)
    python bench/import_bench.py --rows 20000000       # the full size (a few minutes)
    python bench/import_bench.py --rows 20000000 --skip-postgres --reimport
    python bench/import_bench.py --rows 20000000 --skip-sqlite

The generated file and the SQLite database stay in ``--workdir`` (default
``$TMPDIR/screener-bench``) so ``lookup_bench.py`` and ``decision_bench.py`` can reuse them.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.pgcluster import throwaway_cluster  # noqa: E402

SEED = 20_000_000
UK_STARTS = ("01", "02", "07")
REPEAT_SHARE = 0.01


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


def bench_backend(name: str, url: str, path: Path, rows: int, reimport: bool) -> None:
    env = {**os.environ, "SCREENER_DATABASE__URL": url, "SCREENER_LOGGING__LEVEL": "WARNING"}
    created = screener(env, "lists", "create", "tps", "--kind", "registry")
    if created.returncode != 0:
        raise SystemExit(created.stderr)
    wall, rss, out = measured_import(env, path, "tps")
    print(f"{name}: import of {rows} lines: {wall:.1f} s wall, peak RSS {rss:.0f} MiB")
    print(f"  {out}")
    if reimport:
        wall, rss, out = measured_import(env, path, "tps")
        print(f"{name}: re-import of the same file: {wall:.1f} s wall, peak RSS {rss:.0f} MiB")
        print(f"  {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="lines in the file")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--reimport", action="store_true", help="also time a second import")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    path = tps_file(args.workdir, args.rows)
    if not args.skip_sqlite:
        db = sqlite_db(args.workdir, args.rows)
        for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
            leftover.unlink(missing_ok=True)
        bench_backend("SQLite", f"sqlite+aiosqlite:///{db}", path, args.rows, args.reimport)
        size = db.stat().st_size / 2**20
        print(f"  database kept at {db} ({size:.0f} MiB) for lookup_bench.py")

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
