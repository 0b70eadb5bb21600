"""Users: create, change role and rights, disable, reset password, API tokens (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from screener import auth
from screener.auth_audit import record
from screener.db.models import User
from screener.web.context import web_context
from screener.web.deps import Admin
from screener.web.rendering import flash, render

router = APIRouter()


async def _require(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user


async def _other_active_admins(session: AsyncSession, user_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(User)
                .where(User.role == "admin", User.active.is_(True), User.id != user_id)
            )
        ).scalar_one()
    )


@router.get("/admin/users")
async def users_page(request: Request, user: Admin) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        users = await auth.all_users(session)
    return render(request, "users.html", {"users": users, "roles": auth.ROLES})


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
    async with ctx.database.sessions.begin() as session:
        try:
            created = await auth.create_user(
                session,
                username,
                password,
                role,
                display_name=display_name,
                can_edit_lists=can_edit_lists,
            )
        except auth.UserError as exc:
            raise HTTPException(400, str(exc)) from exc
        await record(
            session,
            user.username,
            "user.create",
            created.username,
            {"role": role, "can_edit_lists": can_edit_lists},
        )
        user_id = created.id
    flash(request, f"Created user {username.strip()}.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.get("/admin/users/{user_id}")
async def user_page(request: Request, user: Admin, user_id: int) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        target = await _require(session, user_id)
        tokens = await auth.user_tokens(session, target)
    new_token = request.session.pop("new_token", None)
    return render(
        request,
        "user.html",
        {"target": target, "tokens": tokens, "roles": auth.ROLES, "new_token": new_token},
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
    ctx = web_context(request)
    async with ctx.database.sessions.begin() as session:
        target = await _require(session, user_id)
        try:
            auth.check_role(role)
        except auth.UserError as exc:
            raise HTTPException(400, str(exc)) from exc
        losing_admin = target.role == "admin" and target.active and (role != "admin" or not active)
        if losing_admin and await _other_active_admins(session, target.id) == 0:
            raise HTTPException(400, "keep at least one active admin")
        before = {
            "role": target.role,
            "can_edit_lists": target.can_edit_lists,
            "active": target.active,
        }
        target.role = role
        target.display_name = display_name.strip()[:200]
        target.can_edit_lists = can_edit_lists
        target.active = active
        after = {"role": role, "can_edit_lists": can_edit_lists, "active": active}
        await record(
            session,
            user.username,
            "user.update",
            target.username,
            {"before": before, "after": after},
        )
    flash(request, "User saved.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/password")
async def reset_password(
    request: Request,
    user: Admin,
    user_id: int,
    password: str = Form(..., max_length=1024),
) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions.begin() as session:
        target = await _require(session, user_id)
        try:
            await auth.set_password(session, target, password)
        except auth.UserError as exc:
            raise HTTPException(400, str(exc)) from exc
        await record(session, user.username, "user.password", target.username)
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
    ctx = web_context(request)
    async with ctx.database.sessions.begin() as session:
        target = await _require(session, user_id)
        new = await auth.create_token(session, target, name)
        await record(
            session, user.username, "token.create", target.username, {"name": new.token.name}
        )
    request.session["new_token"] = new.secret
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/tokens/{token_id}/revoke")
async def revoke_token(request: Request, user: Admin, user_id: int, token_id: int) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions.begin() as session:
        target = await _require(session, user_id)
        try:
            token = await auth.revoke_token(session, target, token_id)
        except auth.UserError as exc:
            raise HTTPException(404, str(exc)) from exc
        await record(session, user.username, "token.revoke", target.username, {"name": token.name})
    flash(request, "Token revoked.")
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)
