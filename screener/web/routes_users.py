"""Users: create, change role and rights, disable, reset password, API tokens (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from screener.db.models import User
from screener.users import accounts
from screener.users import service as users
from screener.users.accounts import Role, UserError
from screener.web.context import web_context
from screener.web.deps import Admin, actor
from screener.web.rendering import flash, render

router = APIRouter()

ROLES = tuple(r.value for r in Role)


async def _require(request: Request, user_id: int) -> User:
    async with web_context(request).database.sessions() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user


@router.get("/admin/users")
async def users_page(request: Request, user: Admin) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        found = await accounts.all_users(session)
    return render(request, "users.html", {"users": found, "roles": ROLES})


@router.post("/admin/users")
async def create_user(
    request: Request,
    user: Admin,
    username: str = Form(..., max_length=100),
    password: str = Form(..., max_length=1024),
    role: str = Form(..., max_length=16),
    display_name: str = Form("", max_length=200),
    can_edit_lists: bool = Form(False),
) -> Response:
    ctx = web_context(request)
    try:
        created = await users.create_user(
            ctx.uow(actor(request, user)),
            username,
            password,
            role,
            display_name=display_name,
            can_edit_lists=can_edit_lists,
        )
    except UserError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, f"Created user {created.username}.")
    return RedirectResponse(f"/admin/users/{created.id}", status_code=303)


@router.get("/admin/users/{user_id}")
async def user_page(request: Request, user: Admin, user_id: int) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        target = await session.get(User, user_id)
        if target is None:
            raise HTTPException(404, "no such user")
        tokens = await accounts.user_tokens(session, target)
    new_token = request.session.pop("new_token", None)
    return render(
        request,
        "user.html",
        {"target": target, "tokens": tokens, "roles": ROLES, "new_token": new_token},
    )


@router.post("/admin/users/{user_id}")
async def update_user(
    request: Request,
    user: Admin,
    user_id: int,
    role: str = Form(..., max_length=16),
    display_name: str = Form("", max_length=200),
    can_edit_lists: bool = Form(False),
    active: bool = Form(False),
) -> Response:
    await _require(request, user_id)
    try:
        await users.update_user(
            web_context(request).uow(actor(request, user)),
            user_id,
            role=role,
            display_name=display_name,
            can_edit_lists=can_edit_lists,
            active=active,
        )
    except UserError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, "User saved.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/password")
async def reset_password(
    request: Request,
    user: Admin,
    user_id: int,
    password: str = Form(..., max_length=1024),
) -> Response:
    await _require(request, user_id)
    try:
        await users.set_password(web_context(request).uow(actor(request, user)), user_id, password)
    except UserError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, "Password changed; the user's other sessions are signed out.")
    if user_id == user.id:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/tokens")
async def create_token(
    request: Request,
    user: Admin,
    user_id: int,
    name: str = Form("", max_length=100),
) -> Response:
    await _require(request, user_id)
    new = await users.create_token(web_context(request).uow(actor(request, user)), user_id, name)
    request.session["new_token"] = new.secret
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/tokens/{token_id}/revoke")
async def revoke_token(request: Request, user: Admin, user_id: int, token_id: int) -> Response:
    await _require(request, user_id)
    try:
        await users.revoke_token(web_context(request).uow(actor(request, user)), user_id, token_id)
    except UserError as exc:
        raise HTTPException(404, str(exc)) from exc
    flash(request, "Token revoked.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)
