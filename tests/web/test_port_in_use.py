"""``screener run`` with the web port already taken: one line naming web.port, exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.web.live_server import free_port


def test_run_exits_with_one_line_when_the_web_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {
            **os.environ,
            "SCREENER_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'screener.db'}",
            "SCREENER_AGI__ENABLED": "true",
            "SCREENER_AGI__PORT": str(free_port()),
            "SCREENER_WEB__HOST": "127.0.0.1",
            "SCREENER_WEB__PORT": str(port),
            "SCREENER_ARI__URL": "",
        }
        env.pop("SCREENER_CONFIG", None)
        result = subprocess.run(
            [sys.executable, "-m", "screener", "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "web.port" in line]
    assert len(lines) == 1, output
    assert f"127.0.0.1:{port}" in lines[0]
    assert lines[0].startswith("error: web.port:"), lines[0]  # not blamed on the database
