"""The session-signing secret: from the settings, or generated once and kept beside the DB."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from screener.db.sqlite_files import is_sqlite, sqlite_path
from screener.settings import Settings

log = logging.getLogger(__name__)

SECRET_FILE_NAME = "screener-web-secret.key"  # noqa: S105 - a file name


def secret_file(settings: Settings) -> Path:
    """Beside the SQLite file; in the working directory for PostgreSQL."""
    url = settings.database.url
    if is_sqlite(url):
        path = sqlite_path(url)
        if path and path != ":memory:":
            return Path(path).resolve().parent / SECRET_FILE_NAME
    return Path(SECRET_FILE_NAME).resolve()


def load_or_create_secret(settings: Settings) -> str:
    configured = settings.web.secret_key.get_secret_value()
    if configured:
        return configured
    path = secret_file(settings)
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if len(existing) >= 32:
        return existing
    value = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    log.info("generated a new web session secret in %s", path)
    return value
