"""``screener run --workers N``: N Screener processes on one host, sharing one PostgreSQL.

One Screener process uses about one core at its busiest. To use more, run several: each is
a whole service with its own ARI application (``screener-1``, ``screener-2``...), its own
web console and ``/metrics`` (``web.port``, ``web.port + 1``...) and its own FastAGI port.
The shipped dialplan (``asterisk-config/extensions.conf``, ``SCREENER_WORKERS``) spreads
new calls over the applications and falls through to the next when one is not connected;
every console shows the calls of all of them (:mod:`screener.calls.feed`).

This supervisor only starts the workers, passes SIGTERM/SIGINT on, and starts a worker
again if it dies (with a growing pause), so a crash costs that worker's calls in progress
a trip back to the dialplan, not the service.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from screener.settings import Settings

log = logging.getLogger(__name__)

RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
STOP_SECONDS = 30.0


class WorkersError(ValueError):
    """Several workers cannot run with these settings; the message says why."""


def app_name(settings: Settings, index: int, count: int) -> str:
    """``screener`` for one process; ``screener-1``, ``screener-2``... for several."""
    return settings.ari.app if count == 1 else f"{settings.ari.app}-{index}"


def worker_environment(settings: Settings, index: int, count: int) -> dict[str, str]:
    """What worker ``index`` (1-based) of ``count`` is told on top of the settings."""
    return {
        "SCREENER_ARI__APP": app_name(settings, index, count),
        "SCREENER_WEB__PORT": str(settings.web.port + index - 1),
        "SCREENER_AGI__PORT": str(settings.agi.port + index - 1),
    }


def check(settings: Settings, count: int) -> None:
    if count < 1 or count > 32:
        raise WorkersError("--workers: give 1 to 32")
    if count > 1 and not settings.database.url.startswith("postgresql"):
        raise WorkersError(
            "several workers share one PostgreSQL: set database.url to a postgresql+asyncpg:// "
            "URL (SQLite is for one process)"
        )
    if count > 1 and not settings.ari.url:
        raise WorkersError("several workers need ari.url (each is its own ARI application)")


@dataclass
class _Worker:
    index: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    pause: float = RESTART_FIRST_SECONDS


@dataclass
class Supervisor:
    command: Sequence[str]
    workers: list[_Worker] = field(default_factory=list)
    stopping: bool = False
    stopped_at: float = 0.0

    def start(self, worker: _Worker) -> None:
        env = {**os.environ, **worker.env}
        worker.process = subprocess.Popen(list(self.command), env=env)  # noqa: S603
        log.info(
            "worker %d started (pid %d, ARI application %s)",
            worker.index,
            worker.process.pid,
            worker.env["SCREENER_ARI__APP"],
        )

    def stop_all(self, signum: int = signal.SIGTERM) -> None:
        self.stopping = True
        self.stopped_at = time.monotonic()
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signum)

    def run(self) -> int:
        for worker in self.workers:
            self.start(worker)
        while True:
            alive = 0
            for worker in self.workers:
                process = worker.process
                if process is None:
                    if not self.stopping and time.monotonic() >= worker.next_start:
                        self.start(worker)
                    alive += not self.stopping
                    continue
                code = process.poll()
                if code is None:
                    alive += 1
                    continue
                worker.process = None
                if self.stopping:
                    continue
                worker.restarts += 1
                worker.next_start = time.monotonic() + worker.pause
                log.error(
                    "worker %d stopped (exit %s); starting it again in %.0f s",
                    worker.index,
                    code,
                    worker.pause,
                )
                worker.pause = min(worker.pause * 2, RESTART_MAX_SECONDS)
                alive += 1
            if not alive:
                return 0
            if self.stopping and time.monotonic() - self.stopped_at > STOP_SECONDS:
                for worker in self.workers:
                    if worker.process is not None and worker.process.poll() is None:
                        log.error("worker %d did not stop: killed", worker.index)
                        worker.process.kill()
            time.sleep(0.2)


def run_workers(settings: Settings, count: int, config_args: Sequence[str]) -> int:
    """Start ``count`` workers and supervise them until SIGTERM/SIGINT; returns the exit code."""
    check(settings, count)
    command = [sys.executable, "-m", "screener", *config_args, "run"]
    supervisor = Supervisor(command)
    for index in range(1, count + 1):
        supervisor.workers.append(_Worker(index, worker_environment(settings, index, count)))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping %d workers", count)
        supervisor.stop_all(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return supervisor.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
