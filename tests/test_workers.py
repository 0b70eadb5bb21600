"""Several Screener processes on one PostgreSQL: calls spread over them, a process stopped
mid-run loses no call and no record, and ``screener run --workers`` supervises them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from screener.db.lifecycle import open_database
from screener.db.models import Call
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk
from screener.settings import DatabaseSettings, Settings
from screener.workers import WorkersError, check, worker_environment
from tests.ari.harness import PASSWORD
from tests.support.pgcluster import free_port

pytestmark = pytest.mark.postgres

APPS = ("screener-1", "screener-2")


def service_env(pg_url: str, pbx: FakeAsterisk, tmp_path: Path, app: str) -> dict[str, str]:
    (tmp_path / "none.toml").write_text("")
    return {
        **os.environ,
        "SCREENER_CONFIG": str(tmp_path / "none.toml"),
        "SCREENER_DATABASE__URL": pg_url,
        "SCREENER_ARI__URL": pbx.url,
        "SCREENER_ARI__PASSWORD": PASSWORD,
        "SCREENER_ARI__APP": app,
        "SCREENER_CHALLENGE__DIGIT_TIMEOUT_SECONDS": "30",
        "SCREENER_CHALLENGE__RECORD_NAME": "false",
        "SCREENER_WEB__ENABLED": "false",
    }


def start(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "screener", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def until(predicate: object, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_stopping_one_process_mid_run_loses_no_call_and_no_record(
    pg_url: str, tmp_path: Path
) -> None:
    async with FakeAsterisk(password=PASSWORD, time_scale=0.05) as pbx:
        processes = [start(service_env(pg_url, pbx, tmp_path, app), tmp_path) for app in APPS]
        try:
            await until(lambda: all(pbx.connected(app) for app in APPS))
            slow = CallerBehaviour(presses=("correct",), press_delay=8.0)  # 0.4 s scaled
            placed = []
            for n in range(40):
                # The dialplan spreads calls and falls through to the next application.
                order = APPS if n % 2 == 0 else APPS[::-1]
                number = "anonymous" if n % 4 < 2 else f"+4479111{n:05d}"
                placed.append(pbx.place_call(number, behaviour=slow, apps=order))
                if n == 20:
                    processes[0].send_signal(signal.SIGTERM)  # mid-run
                await asyncio.sleep(0.02)
            for channel in placed:
                await until(channel.done.is_set)
            await asyncio.to_thread(processes[0].wait, 30)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            outputs = [p.communicate(timeout=30)[0] for p in processes]
            for app, output in zip(APPS, outputs, strict=True):
                print(f"--- {app}\n{output}")  # shown when the test fails
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert all(c.result == "continued" for c in placed), [c.result for c in placed]
    assert {c.app for c in placed} == set(APPS)
    # Calls after the stop went to the other process: nobody fell back to plain dialplan.
    assert not any(c.result == "stasis-failed" for c in placed)
    async with (
        open_database(DatabaseSettings(url=pg_url)) as database,
        database.sessions() as session,
    ):
        recorded = (await session.execute(select(func.count()).select_from(Call))).scalar()
        unfinished = (
            await session.execute(
                select(func.count()).select_from(Call).where(Call.outcome.is_(None))
            )
        ).scalar()
    assert recorded == len(placed) and unfinished == 0


def test_workers_need_postgresql_and_get_their_own_application_and_ports() -> None:
    settings = Settings(ari={"url": "http://pbx:8088"}, web={"port": 8080}, agi={"port": 4573})
    with pytest.raises(WorkersError, match="PostgreSQL"):
        check(settings, 2)
    check(settings, 1)
    assert worker_environment(settings, 2, 3) == {
        "SCREENER_ARI__APP": "screener-2",
        "SCREENER_WEB__PORT": "8081",
        "SCREENER_AGI__PORT": "4574",
    }
    assert worker_environment(settings, 1, 1)["SCREENER_ARI__APP"] == "screener"


async def test_run_with_workers_starts_each_and_stops_them_together(
    pg_url: str, tmp_path: Path
) -> None:
    async with FakeAsterisk(password=PASSWORD, time_scale=0.05) as pbx:
        env = service_env(pg_url, pbx, tmp_path, "screener")
        env.pop("SCREENER_ARI__APP")
        env["SCREENER_WEB__ENABLED"] = "true"
        env["SCREENER_WEB__PORT"] = str(free_port())
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "screener", "run", "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            await until(lambda: all(pbx.connected(app) for app in APPS))
            channel = pbx.place_call("+447911000001", apps=("screener-2",))
            await until(channel.done.is_set)
        finally:
            supervisor.send_signal(signal.SIGTERM)
            output = supervisor.communicate(timeout=60)[0]
    assert supervisor.returncode == 0, output
    assert channel.result == "continued" and channel.app == "screener-2"
