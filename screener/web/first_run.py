"""The first admin, created in the browser through a one-time link printed in the log.

When the service starts with no user in the database, :meth:`FirstRunSetup.offer` makes a
random token and logs ``http://HOST:PORT/setup?token=...`` once (like Jupyter's login
link). The token lives only in this process: it works until it is used or the service
restarts, and ``/setup`` answers 404 as soon as any user exists. It is never written
anywhere else (not in ``/healthz``, not in a page, not in the session cookie: the
session keeps only its SHA-256 digest).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets

from screener.db.lifecycle import Database
from screener.users import accounts

log = logging.getLogger(__name__)

SETUP_PATH = "/setup"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_host(host: str) -> str:
    """The host to print in a link: a wildcard address is not one a browser can open."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class FirstRunSetup:
    """The one-time setup token of this process (none once a user exists)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._token: str | None = None
        self.lock = asyncio.Lock()

    async def users_exist(self) -> bool:
        async with self.database.sessions() as session:
            return await accounts.count_users(session) > 0

    async def offer(self, host: str, port: int) -> str | None:
        """Make the token and log the setup link if no user exists; returns the link."""
        try:
            if await self.users_exist():
                return None
        except Exception as exc:  # the database is checked (and reported) elsewhere
            log.warning("cannot tell whether any user exists yet: %s", type(exc).__name__)
            return None
        self._token = secrets.token_urlsafe(32)
        link = f"http://{link_host(host)}:{port}{SETUP_PATH}?token={self._token}"
        log.warning(
            "no user can sign in yet: open %s to create the first admin (the link works "
            "once, until this service restarts), or run `screener users add NAME --role admin`",
            link,
        )
        return link

    def digest_if_valid(self, token: str) -> str | None:
        """The digest to keep in the session when ``token`` is this process's token."""
        current = self._token
        if current is None or not token:
            return None
        if not secrets.compare_digest(token.encode(), current.encode()):
            return None
        return _digest(current)

    def session_is_valid(self, digest: object) -> bool:
        """The session's digest still names the live token."""
        current = self._token
        if current is None or not isinstance(digest, str):
            return False
        return secrets.compare_digest(digest.encode(), _digest(current).encode())

    def take(self) -> str | None:
        """Use the token up (it works once); returns it so a failed setup can put it back."""
        token, self._token = self._token, None
        return token

    def put_back(self, token: str | None) -> None:
        if token is not None and self._token is None:
            self._token = token
