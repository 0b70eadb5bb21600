"""Who is asking, and may they: sessions, API tokens, CSRF and one dependency per role.

Every route depends on exactly one of :func:`require_reception`,
:func:`require_list_editor` or :func:`require_admin` (the public ones are the
login page and static files). Each checks, in order: an authenticated, active
user (session cookie for pages, ``Authorization: Bearer`` for ``/api``), the
CSRF token on state-changing page requests, then the role.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from screener.db.models import User
from screener.domain.model import Actor
from screener.domain.vocabulary import Via
from screener.users.accounts import Role, user_for_token
from screener.users.passwords import fingerprint
from screener.web.context import WebContext, web_context

API_PREFIX = "/api/"
API_DOCS_PATH = "/api/v1/docs"
"""The API's documentation page: a page for signed-in users (session), not an API call."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


NO_CREDENTIALS = "authentication required"
BAD_TOKEN = "invalid or revoked token"  # noqa: S105 - a message, not a secret


class NotAuthenticated(Exception):
    """No valid session or token: pages redirect to the login page, the API answers 401."""

    def __init__(self, detail: str = NO_CREDENTIALS) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    role: str
    can_edit_lists: bool
    display_name: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @property
    def may_edit_lists(self) -> bool:
        return self.is_admin or self.can_edit_lists

    @classmethod
    def of(cls, user: User) -> CurrentUser:
        return cls(user.id, user.username, user.role, user.can_edit_lists, user.display_name)


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith(API_PREFIX) and path != API_DOCS_PATH


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Header ``X-CSRF-Token`` (htmx, fetch) or form field ``csrf_token`` must match."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if (
        not isinstance(expected, str)
        or not given
        or not secrets.compare_digest(given.encode(), expected.encode())
    ):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


async def _session_user(request: Request, ctx: WebContext) -> CurrentUser | None:
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    async with ctx.database.sessions() as session:
        user = await session.get(User, uid)
        if (
            user is None
            or not user.active
            or request.session.get("pw") != fingerprint(user.password_hash)
        ):
            request.session.pop("uid", None)
            return None
        return CurrentUser.of(user)


def bearer_secret(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header (None: no token given)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def _token_user(request: Request, ctx: WebContext) -> CurrentUser:
    secret = bearer_secret(request)
    if secret is None:
        raise NotAuthenticated(NO_CREDENTIALS)
    async with ctx.database.sessions.begin() as session:
        user = await user_for_token(session, secret)
        if user is None:
            raise NotAuthenticated(BAD_TOKEN)
        return CurrentUser.of(user)


async def current_user(request: Request) -> CurrentUser:
    ctx = web_context(request)
    user = await _token_user(request, ctx) if is_api(request) else await _session_user(request, ctx)
    if user is None:
        raise NotAuthenticated()
    if not is_api(request) and request.method not in SAFE_METHODS:
        await check_csrf(request)
    request.state.user = user
    return user


def client_address(request: Request) -> str | None:
    """The address of the person asking (behind a trusted proxy, the one it names)."""
    return web_context(request).client_address(request)


def actor(request: Request, user: CurrentUser) -> Actor:
    """Who is changing something, and from where: the web console or the API."""
    via = Via.API if is_api(request) else Via.WEB
    return Actor(user.username, via, client_address(request))


def _forbidden(what: str) -> HTTPException:
    return HTTPException(403, f"you need {what} for this")


async def require_reception(
    user: Annotated[CurrentUser, Depends(current_user)],
) -> CurrentUser:
    """Any signed-in user (reception or admin)."""
    if user.role not in {r.value for r in Role}:
        raise _forbidden("a reception or admin account")
    return user


async def require_list_editor(
    user: Annotated[CurrentUser, Depends(current_user)],
) -> CurrentUser:
    """Admins, and reception users with the ``can_edit_lists`` right."""
    if not user.may_edit_lists:
        raise _forbidden("the right to edit lists")
    return user


async def require_admin(
    user: Annotated[CurrentUser, Depends(current_user)],
) -> CurrentUser:
    if not user.is_admin:
        raise _forbidden("an admin account")
    return user


Reception = Annotated[CurrentUser, Depends(require_reception)]
ListEditor = Annotated[CurrentUser, Depends(require_list_editor)]
Admin = Annotated[CurrentUser, Depends(require_admin)]
Ctx = Annotated[WebContext, Depends(web_context)]
