"""The session secret: generated once beside the database when not configured, never logged."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from screener.settings import DatabaseSettings, Settings, WebSettings
from screener.web.secret import SECRET_FILE_NAME, load_or_create_secret


def test_generated_beside_the_database_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/s.db"))
    first = load_or_create_secret(settings)
    path = tmp_path / SECRET_FILE_NAME
    assert path.read_text().strip() == first and len(first) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(settings) == first
    assert first not in caplog.text


def test_configured_secret_wins(tmp_path: Path) -> None:
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/s.db"),
        web=WebSettings(secret_key=SecretStr("configured-" + "z" * 40)),
    )
    assert load_or_create_secret(settings) == "configured-" + "z" * 40
    assert not (tmp_path / SECRET_FILE_NAME).exists()
