"""ARI REST calls over one shared ``httpx.AsyncClient`` with HTTP Basic authentication.

Every failure becomes :class:`AriError` carrying the HTTP status (0 when Asterisk did not
answer). Credentials travel only in the ``Authorization`` header, never in a URL or a log.
"""

from __future__ import annotations

import base64
import logging
from types import TracebackType
from typing import Any

import httpx

from screener.ari.errors import STATUS_UNREACHABLE, AriError
from screener.ari.models import Application
from screener.ari.transport import LeanTransport

log = logging.getLogger(__name__)


def rest_base(url: str) -> str:
    """``http://pbx:8088`` or ``http://pbx:8088/ari/`` -> ``http://pbx:8088/ari``."""
    base = url.rstrip("/")
    return base if base.endswith("/ari") else f"{base}/ari"


def events_url(url: str, app: str) -> str:
    """The websocket URL for ``app`` (``ws://`` for ``http://``, ``wss://`` for ``https://``)."""
    base = rest_base(url)
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return f"{base}/events?{httpx.QueryParams({'app': app, 'subscribeAll': 'false'})}"


def basic_auth_header(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic (any characters allowed in the password)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class AriClient:
    """REST side of ARI. Use as an async context manager, or call :meth:`aclose`."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = 5.0,
        max_connections: int = 16,
    ) -> None:
        self.base = rest_base(url)
        self._http = httpx.AsyncClient(
            base_url=self.base,
            headers={"Authorization": basic_auth_header(username, password)},
            timeout=timeout,
            transport=LeanTransport(max_connections),
        )

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """One ARI request; the decoded JSON body (``None`` when empty)."""
        try:
            response = await self._http.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise AriError(method, path, STATUS_UNREACHABLE, type(exc).__name__) from exc
        if response.status_code >= 400:
            raise AriError(method, path, response.status_code, _error_message(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise AriError(method, path, response.status_code, "body is not JSON") from exc

    # Channels -----------------------------------------------------------------------------

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{channel_id}/continue",
            {"context": context, "extension": extension, "priority": priority},
        )

    async def get_variable(self, channel_id: str, variable: str) -> str | None:
        """A channel variable or dialplan function; ``None`` when absent.

        Asterisk answers 500 for a function it cannot read (``PJSIP_HEADER(read,Privacy)``
        without that header) and 404 for an unset variable: both mean "absent" here.
        """
        try:
            body = await self.request(
                "GET", f"/channels/{channel_id}/variable", {"variable": variable}
            )
        except AriError as exc:
            if exc.status == 500 or (exc.status == 404 and "variable" in exc.message.lower()):
                return None
            raise
        value = body.get("value") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None

    # Applications -------------------------------------------------------------------------

    async def get_application(self, app: str) -> Application:
        return Application.model_validate(await self.request("GET", f"/applications/{app}"))


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return response.reason_phrase
