"""Start-up of the command line: ``screener check NUMBER`` run as a new process, as scripts do.

Each round runs, one after another: a bare ``python -c pass`` (the interpreter's own
start-up on this machine), ``screener check`` from this tree, and, with ``--baseline DIR``,
``screener check`` from another checkout (put first on ``PYTHONPATH``), so the figures
compare in one run on a noisy machine. The database is a SQLite file with the schema
(made first with ``screener db upgrade``).

    python bench/cli_bench.py                      # 15 rounds
    python bench/cli_bench.py --baseline /path/to/older/checkout --rounds 9

Prints the median and the best wall time and CPU time (user + system) of each command.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--number", default="020 7946 0000")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SCREENER_CONFIG": str(Path(tmp) / "none.toml")}
        (Path(tmp) / "none.toml").write_text("")

        def tree(name: str, path: Path) -> dict[str, str]:
            """The environment of a run from the checkout at ``path``, with its own database
            made with that checkout's ``screener db upgrade``."""
            run_env = {
                **env,
                "PYTHONPATH": str(path.resolve()),
                "SCREENER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/{name}.db",
            }
            subprocess.run(
                [sys.executable, "-m", "screener", "db", "upgrade"],
                env=run_env,
                cwd=tmp,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return run_env

        check = [sys.executable, "-m", "screener", "check", args.number]
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "screener check (this tree)": (check, tree("this", ROOT)),
        }
        if args.baseline is not None:
            runs["screener check (baseline)"] = (check, tree("baseline", args.baseline))
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for command, run_env in runs.values():
            timed(command, run_env, tmp)  # warm the page cache
        for _ in range(args.rounds):
            for name, (command, run_env) in runs.items():
                # Run from the empty directory: ``python -m`` puts the working directory
                # first on the path, ahead of PYTHONPATH.
                samples[name].append(timed(command, run_env, tmp))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for name, values in samples.items():
        walls = [w * 1000 for w, _ in values]
        cpus = [c * 1000 for _, c in values]
        print(
            f"  {name:28s} wall median {statistics.median(walls):5.0f} ms (best {min(walls):4.0f})"
            f"   CPU median {statistics.median(cpus):5.0f} ms (best {min(cpus):4.0f})"
            f"   n={len(values)}"
        )


if __name__ == "__main__":
    main()
