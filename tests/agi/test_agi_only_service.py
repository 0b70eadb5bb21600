"""``screener run`` for a PBX that keeps control in its own dialplan (FastAGI, no ARI)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.agi.conftest import agi_call
from tests.support.pgcluster import free_port


def wait_for_port(port: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(
                f"screener run exited early:\n{process.stderr.read() if process.stderr else ''}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("screener run did not open its FastAGI port")


def test_run_with_fastagi_only_screens_and_places_no_demo_calls(tmp_path: Path) -> None:
    agi_port, web_port = free_port(), free_port()
    db = tmp_path / "screener.db"
    env = {
        **os.environ,
        "SCREENER_DATABASE__URL": f"sqlite+aiosqlite:///{db}",
        "SCREENER_AGI__ENABLED": "true",
        "SCREENER_AGI__PORT": str(agi_port),
        "SCREENER_WEB__PORT": str(web_port),
        "SCREENER_ARI__URL": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "screener", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(agi_port, process)
        transcript = asyncio.run(agi_call(agi_port, callerid="anonymous", callingpres="32"))
        assert transcript.variables["SCREENER_VERDICT"] == "challenge"
        assert transcript.variables["SCREENER_REASONS"] == "withheld"
        assert transcript.variables["SCREENER_DIGIT"] in "123456789"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "simulator" not in stderr
    listing = subprocess.run(
        [sys.executable, "-m", "screener", "calls", "list", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    calls = [line for line in listing.stdout.splitlines() if line.startswith("{")]
    # Exactly the one FastAGI call: the PBX simulator did not run against this database.
    assert len(calls) == 1 and '"action": "challenge"' in calls[0]
    assert '"verdict": null' in calls[0]  # no outcome reported yet: no result
