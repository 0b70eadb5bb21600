"""Web console benchmark: page times with 1,000,000 calls and 20,000,000 list entries.

Seeds a SQLite database (bulk inserts through ``sqlite3`` directly), starts the console
with ``serve_web`` in a child process on 127.0.0.1, signs in with httpx and requests
each main page a fixed number of times, one request at a time (bounded load: the
machine has 2 shared cores). Prints the median and 95th percentile per page, measured
by the client (loopback HTTP included). Figures only: nothing here asserts a time.

    python bench/web_bench.py                    # 1M calls, 20M entries (reuses/copies)
    python bench/web_bench.py --calls 100000 --entries 1000000 --requests 20

List entries: when the import benchmark's 20M database is present
(``$TMPDIR/screener-bench/tps-20000000.db``), a copy of it is used; otherwise the
entries are generated here. Everything stays in ``--workdir`` (default
``$TMPDIR/screener-web-bench``) and is reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 1_000_000
PASSWORD = "bench password 1"
IMPORT_BENCH_DB = Path(tempfile.gettempdir()) / "screener-bench" / "tps-20000000.db"

# (verdict, reason code, reason action, share of calls)
MIX = [
    ("allow", "no_match", "allow", 0.55),
    ("allow", "allow_list", "allow", 0.10),
    ("challenge", "withheld", "challenge", 0.10),
    ("challenge", "invalid_cli", "challenge", 0.03),
    ("challenge", "premium_rate_cli", "challenge", 0.02),
    ("challenge", "repeat_caller", "challenge", 0.03),
    ("challenge", "international_uk_mobile", "challenge", 0.02),
    ("challenge", "trusted_brand", "challenge", 0.01),
    ("challenge", "own_number", "challenge", 0.001),
    ("block", "block_list", "block", 0.089),
    ("block", "recent_challenge_failed", "block", 0.015),
    ("block", "do_not_originate", "block", 0.005),
]
NAMES = ["", "ACME LTD", "Unknown", "MOBILE", "J SMITH", "HMRC", "BANK", "<b>x</b>", "O'Brien"]


def default_workdir() -> Path:
    return Path(tempfile.gettempdir()) / "screener-web-bench"


def sqlite_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def migrate(db: Path) -> None:
    from screener.db import migrate as db_migrate

    db_migrate.upgrade(f"sqlite+aiosqlite:///{db}")


def seed_entries(db: Path, entries: int) -> None:
    con = sqlite3.connect(db)
    if con.execute("SELECT count(*) FROM lists").fetchone()[0]:
        con.close()
        return
    now = sqlite_ts(datetime.now(UTC))
    con.execute(
        "INSERT INTO lists (name, action, kind, description, created_at, updated_at) "
        "VALUES ('tps', 'challenge', 'registry', '', ?, ?)",
        (now, now),
    )
    rng = random.Random(SEED)
    batch: list[tuple[str]] = []
    started = time.perf_counter()
    for _ in range(entries):
        batch.append((f"+44{rng.choice('127')}{rng.randrange(10**9):09d}",))
        if len(batch) == 100_000:
            con.executemany(
                "INSERT OR IGNORE INTO list_entries (list_id, value, is_prefix) VALUES (1, ?, 0)",
                batch,
            )
            batch.clear()
    con.executemany(
        "INSERT OR IGNORE INTO list_entries (list_id, value, is_prefix) VALUES (1, ?, 0)", batch
    )
    con.commit()
    con.close()
    print(f"generated {entries} list entries in {time.perf_counter() - started:.0f} s")


def seed_calls(db: Path, calls: int) -> None:
    con = sqlite3.connect(db)
    have = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    if have >= calls:
        con.close()
        return
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    pool = [f"+447{rng.randrange(10**9):09d}" for _ in range(150_000)]
    pool += [f"+442{rng.randrange(10**9):09d}" for _ in range(50_000)]
    weights = [share for *_, share in MIX]
    started = time.perf_counter()
    rows: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    reason_rows: list[tuple[object, ...]] = []
    span = 365 * 86400
    for i in range(have, calls):
        verdict, code, action, _ = rng.choices(MIX, weights)[0]
        at = now - timedelta(seconds=span * (1 - i / calls) + rng.random())
        withheld = code == "withheld"
        number = None if withheld else rng.choice(pool)
        reasons = json.dumps([{"code": code, "action": action, "explanation": "bench"}])
        challenge = None
        outcome = "connected" if verdict == "allow" else "blocked"
        result = verdict
        if verdict == "challenge":
            challenge = "passed" if rng.random() < 0.6 else "failed"
            outcome = "connected" if challenge == "passed" else "challenge-failed"
            result = f"challenge-{challenge}"
        call_id = uuid.UUID(int=rng.getrandbits(128)).hex
        ts = sqlite_ts(at)
        rows.append(
            (
                call_id,
                "main",
                "ari",
                ts,
                ts,
                ts,
                number or "anonymous",
                rng.choice(NAMES),
                number,
                "mobile",
                withheld,
                "+442071230000",
                "sip-in",
                "{}",
                verdict,
                result,
                reasons,
                verdict != "allow",
                1.0,
                0,
                challenge,
                outcome,
                "unreviewed",
            )
        )
        events.append((call_id, ts, "decided", json.dumps({"action": verdict})))
        events.append((call_id, ts, "outcome", json.dumps({"outcome": outcome})))
        reason_rows.append((call_id, code, ts, verdict != "allow"))
        if len(rows) == 50_000:
            _insert_calls(con, rows, events, reason_rows)
    _insert_calls(con, rows, events, reason_rows)
    con.execute("ANALYZE")
    con.close()
    print(f"inserted {calls - have} calls in {time.perf_counter() - started:.0f} s")


def _insert_calls(
    con: sqlite3.Connection,
    rows: list[tuple[object, ...]],
    events: list[tuple[object, ...]],
    reasons: list[tuple[object, ...]],
) -> None:
    con.executemany(
        "INSERT INTO calls (id, site, source, started_at, decided_at, ended_at, "
        "caller_number_raw, caller_name, caller_number, number_type, withheld, did, trunk, "
        "facts, action, verdict, reasons, flagged, decision_ms, challenge_attempts, "
        "challenge_result, outcome, review_state) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    con.executemany("INSERT INTO call_events (call_id, at, kind, detail) VALUES (?,?,?,?)", events)
    con.executemany(
        "INSERT INTO call_reasons (call_id, code, started_at, flagged) VALUES (?,?,?,?)", reasons
    )
    con.commit()
    rows.clear()
    events.clear()
    reasons.clear()


def prepare(workdir: Path, calls: int, entries: int) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"web-{calls}-{entries}.db"
    if not db.exists():
        source_ok = (
            entries == 20_000_000
            and IMPORT_BENCH_DB.exists()
            and not Path(f"{IMPORT_BENCH_DB}-journal").exists()
            and not Path(f"{IMPORT_BENCH_DB}-wal").exists()
        )
        if source_ok:
            print(f"copying the import benchmark's database {IMPORT_BENCH_DB}")
            shutil.copyfile(IMPORT_BENCH_DB, f"{db}.partial")
            Path(f"{db}.partial").rename(db)
    migrate(db)
    seed_entries(db, entries)
    seed_calls(db, calls)
    asyncio.run(_ensure_admin(db))
    return db


async def _ensure_admin(db: Path) -> None:
    from screener.application.unit_of_work import UnitOfWork
    from screener.db.lifecycle import open_database
    from screener.domain.model import Actor
    from screener.settings import DatabaseSettings
    from screener.users import accounts, service

    url = f"sqlite+aiosqlite:///{db}"
    async with open_database(DatabaseSettings(url=url)) as database:
        async with database.sessions() as session:
            exists = await accounts.get_user(session, "bench") is not None
        if not exists:
            uow = UnitOfWork(database, Actor.system("bench"))
            await service.create_user(uow, "bench", PASSWORD, "admin")


def serve(db: Path, port: int) -> None:
    """The child process: the console alone, as the service runs it."""
    from pydantic import SecretStr

    from screener import composition
    from screener.settings import DatabaseSettings, Settings, WebSettings

    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db}", auto_upgrade=False),
        web=WebSettings(
            host="127.0.0.1", port=port, secure_cookies=False, secret_key=SecretStr("b" * 48)
        ),
    )

    async def main() -> None:
        from screener.db.lifecycle import open_database

        async with open_database(settings.database) as database:
            service = composition.build(settings, database)
            await composition.start(service)
            try:
                await asyncio.Event().wait()
            finally:
                await composition.stop(service)

    asyncio.run(main())


def measure(base: str, requests: int, db: Path) -> list[tuple[str, float, float, float]]:
    import httpx

    con = sqlite3.connect(db)
    call_id = con.execute(
        "SELECT id FROM calls WHERE flagged ORDER BY started_at DESC LIMIT 1 OFFSET 500"
    ).fetchone()[0]
    number = con.execute(
        "SELECT caller_number FROM calls WHERE caller_number IS NOT NULL "
        "ORDER BY started_at DESC LIMIT 1 OFFSET 100"
    ).fetchone()[0]
    list_id = con.execute("SELECT id FROM lists ORDER BY id LIMIT 1").fetchone()[0]
    con.close()
    today = datetime.now(UTC).date()
    pages = [
        ("board", "/"),
        ("queue", "/queue"),
        ("queue action=block", "/queue?action=block"),
        ("queue reason=withheld", "/queue?reason=withheld"),
        ("queue reason=own_number (rare)", "/queue?reason=own_number"),
        ("queue number", f"/queue?number={number}"),
        (
            "queue date range (1 week, 60 days ago)",
            f"/queue?since={today - timedelta(days=67)}&until={today - timedelta(days=60)}",
        ),
        ("queue page 20 (keyset)", None),
        ("call page", f"/calls/{call_id}"),
        ("list page", f"/lists/{list_id}"),
        ("list search number prefix", f"/lists/{list_id}?search=0207"),
        ("list search label", f"/lists/{list_id}?search=acme"),
        ("stats (cached)", "/admin/stats"),
    ]
    results = []
    with httpx.Client(base_url=base, timeout=120) as client:
        login = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        signed = client.post(
            "/login",
            data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert signed.status_code == 303, signed.text
        started = time.perf_counter()
        assert client.get("/admin/stats?days=90").status_code == 200
        print(f"stats, first (uncached) view over 90 days: {time.perf_counter() - started:.3f} s")
        for name, path in pages:
            if path is None:
                url = "/queue"
                for _ in range(19):
                    page = client.get(url)
                    after = re.search(r'href="(/queue\?[^"]*after=[^"]+)"', page.text)
                    assert after
                    url = after.group(1).replace("&amp;", "&")
                path = url
            times = []
            for i in range(requests + 3):
                t = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - t
                assert response.status_code == 200, (path, response.status_code)
                if i >= 3:
                    times.append(elapsed * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            results.append((name, statistics.median(times), p95, max(times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=20_000_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--workdir", type=Path, default=default_workdir())
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    db = prepare(args.workdir, args.calls, args.entries)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SCREENER_LOGGING__LEVEL": "WARNING"}
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(db), "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the console did not start") from None
                time.sleep(0.1)
        results = measure(base, args.requests, db)
    finally:
        child.terminate()
        child.wait(30)
    print(
        f"\n{args.calls:,} calls, {args.entries:,} list entries (SQLite), "
        f"{args.requests} sequential requests per page after 3 warm-up requests"
    )
    print(f"{'page':<42} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, median, p95, worst in results:
        print(f"{name:<42} {median:>10.1f} {p95:>8.1f} {worst:>8.1f}")


if __name__ == "__main__":
    main()
