"""Sign in and sign out."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from screener.db.lifecycle import safe_url
from screener.domain.model import Actor
from screener.domain.vocabulary import Via
from screener.users import service as users
from screener.web.context import WebContext, web_context
from screener.web.deps import Reception, actor, check_csrf
from screener.web.rendering import render

log = logging.getLogger(__name__)

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def first_run(ctx: WebContext) -> str | None:
    """With no user in the database, the database the CLI must write the first admin to."""
    assert ctx.setup is not None
    try:
        if await ctx.setup.users_exist():
            return None
    except Exception:  # the sign-in itself will say what is wrong
        return None
    return safe_url(ctx.settings.database.url)


async def _login_page(
    request: Request, next: str, error: str | None, status_code: int = 200
) -> Response:
    context = {
        "next": safe_next(next),
        "error": error,
        "first_run_database": await first_run(web_context(request)),
    }
    return render(request, "login.html", context, status_code=status_code)


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    return await _login_page(request, next, None)


@router.post("/login")
async def login(
    request: Request,
    username: str = Form("", max_length=200),
    password: str = Form("", max_length=1024),
    next: str = Form("/", max_length=2000),
) -> Response:
    await check_csrf(request)
    ctx = web_context(request)
    address = ctx.client_address(request) or "unknown"
    user_key, address_key = "user:" + username.strip().lower()[:100], "addr:" + address
    locked = max(
        ctx.user_throttle.locked_for(user_key), ctx.address_throttle.locked_for(address_key)
    )
    if locked:
        log.warning("login refused while locked out")
        return await _login_page(
            request,
            next,
            f"Too many failed attempts. Try again in {int(locked) + 1} seconds.",
            status_code=429,
        )
    trying = Actor(username.strip()[:100] or "(empty)", Via.WEB, address)
    signed_in = await users.sign_in(ctx.uow(trying), username, password)
    if signed_in is None:
        ctx.user_throttle.failed(user_key)
        ctx.address_throttle.failed(address_key)
        return await _login_page(request, next, "Wrong username or password.", status_code=401)
    ctx.user_throttle.succeeded(user_key)
    request.session.clear()
    request.session.update(
        {
            "uid": signed_in.user_id,
            "pw": signed_in.password_fingerprint,
            "csrf": secrets.token_urlsafe(32),
        }
    )
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request, user: Reception) -> Response:
    await users.sign_out(web_context(request).uow(actor(request, user)))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
