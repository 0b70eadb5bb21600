"""Live screening benchmark: the board, the click, and many callers waiting at once.

The service runs as its own process (``screener run``) against a fake Asterisk in this
process, on a real SQLite file; this process also holds the consoles: ``--boards``
signed-in browsers' live streams (``/board/events``), read as a browser reads them. Both
ends of every figure are timed here, on one clock:

1. **On the board**: ``--calls`` withheld callers (action ``screen``), one every
   ``--gap`` seconds; from the fake Asterisk emitting ``StasisStart`` to the call's card
   reaching each board stream (p50/p99 over every board; target p99 < 300 ms).
2. **Click to continue**: each of those calls, once on hold, is connected through the
   board's own form post (CSRF, ``HX-Request``); from sending the post to the fake
   Asterisk receiving ``POST /channels/{id}/continue`` (target p99 < 100 ms).
3. **Many waiting**: ``--waiting`` callers on hold at once with the boards open: the board
   page (``GET /``) and the waiting cards (``GET /board/waiting``) rendered ``--renders``
   times each (target p99 < 200 ms), then nobody decides: every caller must be let
   through by the default at ``--timeout`` seconds, not later (the wait each caller had on
   hold, from the database, against the timeout).

Bounded: at most 1,000 calls and 200 waiting; the run takes about
``calls * gap + timeout + 30`` seconds.

    python bench/screen_bench.py                      # 100 calls, 5 boards, 50 waiting
    python bench/screen_bench.py --calls 200 --gap 0.05 --waiting 50 --timeout 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screener.application.unit_of_work import UnitOfWork
from screener.db.lifecycle import open_database
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.model import Actor
from screener.settings import DatabaseSettings
from screener.users import service as users

ARI_PASSWORD = "bench&pass#word"
WEB_PASSWORD = "bench board password"
CARD = re.compile(r'id="wait-([0-9a-f]{32})"[^>]*data-state="([a-z-]+)"[^>]*data-caller="([^"]*)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)]


def summary(name: str, values: list[float], target: float | None = None) -> str:
    if not values:
        return f"{name}: no samples"
    p50, p99 = statistics.median(values), percentile(values, 0.99)
    verdict = "" if target is None else ("  (target met)" if p99 < target else "  (TARGET MISSED)")
    return (
        f"{name}: n={len(values)} p50={p50:.1f} ms p99={p99:.1f} ms max={max(values):.1f} ms"
        f"{verdict}"
    )


def config_file(work: Path, pbx: FakeAsterisk, port: int, timeout: float) -> Path:
    path = work / "screener.toml"
    path.write_text(
        f"""[database]
url = "sqlite+aiosqlite:///{work / "screen.db"}"
[ari]
url = "{pbx.url}"
password = "{ARI_PASSWORD}"
max_call_seconds = 600
recordings_dir = ""
[policy.actions]
withheld = "screen"
[screen]
decision_timeout_seconds = {timeout}
[web]
port = {port}
secret_key = "screen-bench-secret-{"s" * 40}"
secure_cookies = false
[speech]
enabled = false
[logging]
level = "WARNING"
"""
    )
    return path


async def sign_in(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    csrf = CSRF.search(page.text)
    assert csrf, "no login form"
    await client.post(
        "/login",
        data={"username": "bench", "password": WEB_PASSWORD, "csrf_token": csrf.group(1)},
    )
    board = await client.get("/")
    found = CSRF.search(board.text)
    assert board.status_code == 200 and found, "not signed in"
    return found.group(1)


class Board:
    """One browser's live stream: when each card arrived, and in which state."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.seen: dict[str, float] = {}  # caller name -> first card
        self.on_hold: dict[str, str] = {}  # caller name -> call id, once on hold
        self.open = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with self.client.stream("GET", "/board/events", timeout=None) as stream:
            data: list[str] = []
            async for line in stream.aiter_lines():
                if line.startswith("retry:"):
                    self.open.set()
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif not line and data:
                    text = " ".join(data)
                    data = []
                    found = CARD.search(text)
                    if found:
                        call_id, state, caller = found.groups()
                        name = caller.split(",")[0]
                        self.seen.setdefault(name, time.perf_counter())
                        if state == "on-hold":
                            self.on_hold[name] = call_id


async def wait_for(predicate: Any, seconds: float, what: str) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.01)


def continued_at(pbx: FakeAsterisk, channel: FakeChannel) -> float | None:
    path = f"/ari/channels/{channel.id}/continue"
    return next((r.at for r in pbx.requests if r.path == path), None)


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="screen-bench-"))
    pbx = FakeAsterisk(password=ARI_PASSWORD, time_scale=args.time_scale)
    await pbx.start()
    port = args.port
    config = config_file(work, pbx, port, args.timeout)
    async with open_database(
        DatabaseSettings(url=f"sqlite+aiosqlite:///{work / 'screen.db'}"), upgrade=True
    ) as db:
        await users.create_user(
            UnitOfWork(db, Actor.system("bench")), "bench", WEB_PASSWORD, "reception"
        )
    log_file = (work / "service.log").open("w")
    service = subprocess.Popen(
        [sys.executable, "-m", "screener", "--config", str(config), "run"],
        cwd=work,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    print(f"load average {os.getloadavg()[0]:.1f}; service log {work / 'service.log'}")
    boards: list[Board] = []
    clients: list[httpx.AsyncClient] = []
    try:
        await wait_for(lambda: pbx.app_connected, 60, "the service")
        base = f"http://127.0.0.1:{port}"
        tokens = []
        for _ in range(args.boards):
            client = httpx.AsyncClient(base_url=base, timeout=30)
            clients.append(client)
            tokens.append(await sign_in(client))
            boards.append(Board(client))
        csrf = tokens[0]
        for board in boards:
            await wait_for(board.open.is_set, 10, "the board streams")
        await asyncio.sleep(1.0)  # the service hears of the boards (its board check)

        # 1. StasisStart -> the card on every board --------------------------------------
        placed: dict[str, tuple[float, FakeChannel]] = {}
        behaviour = CallerBehaviour(speak_seconds=2)
        for n in range(args.calls):
            name = f"Bench {n:05d}"
            started = time.perf_counter()
            placed[name] = (started, pbx.place_call("anonymous", name, behaviour=behaviour))
            await asyncio.sleep(args.gap)
        await wait_for(
            lambda: all(len(b.on_hold) >= args.calls for b in boards), 120, "calls on hold"
        )
        board_ms = [
            (board.seen[name] - started) * 1000
            for board in boards
            for name, (started, _channel) in placed.items()
        ]
        print(summary("StasisStart -> card on the board", board_ms, 300))

        # 2. The click -> continue at Asterisk -------------------------------------------
        click_ms: list[float] = []
        poster = clients[0]
        for name, (_started, channel) in placed.items():
            call_id = boards[0].on_hold[name]
            sent = time.perf_counter()
            response = await poster.post(
                f"/board/calls/{call_id}/decision",
                data={"decision": "connect", "csrf_token": csrf},
                headers={"HX-Request": "true"},
            )
            assert response.status_code == 200, response.text[:200]
            await wait_for(lambda channel=channel: continued_at(pbx, channel), 10, "continue")
            at = continued_at(pbx, channel)
            assert at is not None
            click_ms.append((at - sent) * 1000)
        print(summary("decision POST -> continue at Asterisk", click_ms, 100))

        # 3. Many waiting at once, the boards open ---------------------------------------
        waiting: dict[str, FakeChannel] = {}
        hold_started = time.perf_counter()
        for n in range(args.waiting):
            name = f"Waiting {n:05d}"
            waiting[name] = pbx.place_call("anonymous", name, behaviour=behaviour)
            await asyncio.sleep(0.01)
        await wait_for(
            lambda: all(
                sum(1 for k in b.on_hold if k.startswith("Waiting")) >= args.waiting for b in boards
            ),
            60,
            "callers on hold",
        )
        page_ms: list[float] = []
        cards_ms: list[float] = []
        for _ in range(args.renders):
            for url, into in (("/", page_ms), ("/board/waiting", cards_ms)):
                sent = time.perf_counter()
                response = await poster.get(url)
                into.append((time.perf_counter() - sent) * 1000)
                assert response.status_code == 200
        cards = (await poster.get("/board/waiting")).text.count('class="waiting-card')
        print(f"{args.waiting} callers on hold, {args.boards} boards open, {cards} cards shown")
        print(summary("board page GET /", page_ms, 200))
        print(summary("waiting cards GET /board/waiting", cards_ms, 200))
        await wait_for(
            lambda: all(c.continued_to is not None for c in waiting.values()),
            args.timeout + 60,
            "the default",
        )
        print(
            f"all {args.waiting} let through by the default "
            f"{time.perf_counter() - hold_started:.1f} s after the first was placed"
        )
    finally:
        for board in boards:
            board.task.cancel()
        for client in clients:
            await client.aclose()
        service.terminate()
        service.wait(30)
        log_file.close()
        await pbx.stop()
    con = sqlite3.connect(work / "screen.db")
    rows = con.execute(
        "SELECT s.waited_ms, s.decision FROM screenings s JOIN calls c ON c.id = s.call_id "
        "WHERE c.caller_name LIKE 'Waiting %'"
    ).fetchall()
    con.close()
    waits = [ms / 1000 for ms, _d in rows if ms is not None]
    decisions = {d for _ms, d in rows}
    late = [w for w in waits if w > args.timeout + 1.0]
    print(
        f"on hold until the default: n={len(waits)} decisions={sorted(decisions)} "
        f"min={min(waits):.2f} s median={statistics.median(waits):.2f} s "
        f"max={max(waits):.2f} s (timeout {args.timeout:g} s); "
        f"{len(late)} waited more than a second longer"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between calls")
    parser.add_argument("--boards", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=50)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--time-scale", type=float, default=0.05, help="prompt time scale")
    parser.add_argument("--port", type=int, default=18099)
    args = parser.parse_args()
    args.calls = max(1, min(args.calls, 1000))
    args.waiting = max(1, min(args.waiting, 200))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
