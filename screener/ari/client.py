"""ARI REST calls over a lean keep-alive HTTP client, with HTTP Basic authentication.

Every failure becomes :class:`AriError` carrying the HTTP status (0 when Asterisk did not
answer). Credentials travel only in the ``Authorization`` header, never in a URL or a log.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from screener.ari.errors import STATUS_UNREACHABLE, AriError
from screener.ari.http import HttpError, HttpResponse, KeepAliveClient
from screener.ari.models import Application

log = logging.getLogger(__name__)

Params = Mapping[str, str | int | bool]


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
    return f"{base}/events?{urlencode({'app': app, 'subscribeAll': 'false'})}"


def basic_auth_header(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic (any characters allowed in the password)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _query(params: Params | None) -> str:
    if not params:
        return ""
    values = {
        k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in params.items()
    }
    return "?" + urlencode(values, quote_via=quote)


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
        self._http = KeepAliveClient(
            self.base,
            {"Authorization": basic_auth_header(username, password)},
            timeout=timeout,
            max_connections=max_connections,
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

    async def send(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Any = None,
    ) -> HttpResponse:
        """One ARI request (``body``: JSON); the raw response, or AriError for 4xx/5xx."""
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            response = await self._http.request(
                method,
                path + _query(params),
                payload,
                "application/json" if body is not None else None,
            )
        except HttpError as exc:
            raise AriError(method, path, STATUS_UNREACHABLE, str(exc)[:100]) from exc
        if response.status >= 400:
            raise AriError(method, path, response.status, _error_message(response))
        return response

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Any = None,
    ) -> Any:
        """One ARI request; the decoded JSON body (``None`` when empty)."""
        response = await self.send(method, path, params, body)
        if not response.body:
            return None
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise AriError(method, path, response.status, "body is not JSON") from exc

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

    async def allow_only(self, app: str, event_types: Iterable[str]) -> None:
        """Have Asterisk send ``app`` only these types of event (``eventFilter``)."""
        body = {"allowed": [{"type": name} for name in sorted(event_types)]}
        await self.send("PUT", f"/applications/{app}/eventFilter", None, body)


def _error_message(response: HttpResponse) -> str:
    try:
        body = json.loads(response.body)
    except ValueError:
        return response.reason
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return response.reason
