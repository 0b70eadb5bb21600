"""First run: the one-time setup link creates the first admin (no route needs a role here).

``GET /setup?token=...`` (the link from the service's log) keeps the token's digest in the
session and redirects to ``/setup``, so the token leaves the address bar and never appears
in a page. ``POST /setup`` (CSRF-protected) creates the admin through
:func:`screener.users.service.create_user`, audited as the new admin from the web and the
client's address. Once any user exists, both answer 404.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from screener.domain.model import Actor
from screener.domain.vocabulary import Via
from screener.users import service as users
from screener.users.accounts import Role, UserError
from screener.users.passwords import MAX_PASSWORD, MIN_PASSWORD
from screener.web.context import WebContext, web_context
from screener.web.deps import check_csrf
from screener.web.first_run import SETUP_PATH, FirstRunSetup
from screener.web.rendering import flash, render

log = logging.getLogger(__name__)

router = APIRouter()

SESSION_KEY = "setup"
NOT_AVAILABLE = (
    "there is no setup to do here: the link works once, until the service restarts, and "
    "only while no user exists (ask an admin, or run `screener users add NAME --role admin`)"
)


def _setup(ctx: WebContext) -> FirstRunSetup:
    assert ctx.setup is not None
    return ctx.setup


async def _available(request: Request) -> FirstRunSetup:
    setup = _setup(web_context(request))
    if await setup.users_exist():
        request.session.pop(SESSION_KEY, None)
        raise HTTPException(404, NOT_AVAILABLE)
    return setup


def _form(
    request: Request, error: str | None = None, username: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "setup.html",
        {
            "error": error,
            "username": username,
            "min_password": MIN_PASSWORD,
            "max_password": MAX_PASSWORD,
        },
        status_code=status,
    )


@router.get(SETUP_PATH)
async def setup_page(request: Request, token: str = "") -> Response:
    setup = await _available(request)
    if token:
        digest = setup.digest_if_valid(token[:200])
        if digest is None:
            raise HTTPException(404, NOT_AVAILABLE)
        request.session[SESSION_KEY] = digest
        return RedirectResponse(SETUP_PATH, status_code=303)
    if not setup.session_is_valid(request.session.get(SESSION_KEY)):
        raise HTTPException(404, NOT_AVAILABLE)
    return _form(request)


@router.post(SETUP_PATH)
async def create_first_admin(
    request: Request,
    username: str = Form("", max_length=100),
    display_name: str = Form("", max_length=200),
    password: str = Form("", max_length=1024),
    password_again: str = Form("", max_length=1024),
) -> Response:
    await check_csrf(request)
    setup = await _available(request)
    if not setup.session_is_valid(request.session.get(SESSION_KEY)):
        raise HTTPException(404, NOT_AVAILABLE)
    if password != password_again:
        return _form(request, "The two passwords are not the same.", username, 400)
    ctx = web_context(request)
    async with setup.lock:
        if await setup.users_exist():
            raise HTTPException(404, NOT_AVAILABLE)
        token = setup.take()
        trying = Actor(username.strip()[:100] or "(empty)", Via.WEB, ctx.client_address(request))
        try:
            created = await users.create_user(
                ctx.uow(trying),
                username,
                password,
                Role.ADMIN.value,
                display_name=display_name,
            )
        except UserError as exc:
            setup.put_back(token)
            return _form(request, f"{exc}.", username, 400)
        except BaseException:
            setup.put_back(token)
            raise
    request.session.pop(SESSION_KEY, None)
    log.info("first admin %r created from the setup link", created.username)
    flash(request, f"Admin {created.username} created. Sign in with the new password.")
    return RedirectResponse("/login", status_code=303)
