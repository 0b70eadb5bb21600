"""Console users and API tokens in the database (the use cases are in ``service``)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import ApiToken, User
from screener.users.passwords import MAX_PASSWORD, MIN_PASSWORD

TOKEN_PREFIX = "scr_"  # noqa: S105 - a marker, not a secret
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")


class Role(StrEnum):
    RECEPTION = "reception"
    ADMIN = "admin"


class UserError(ValueError):
    """A user operation that cannot be done; the message says why."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"a password must be at most {MAX_PASSWORD} characters")


def check_username(username: str) -> str:
    username = username.strip()
    if not _USERNAME.match(username):
        raise UserError("a username is 1-100 letters, digits or . _ @ -")
    return username


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}") from None


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def require_user(session: AsyncSession, ref: str | int) -> User:
    user = await session.get(User, ref) if isinstance(ref, int) else await get_user(session, ref)
    if user is None:
        raise UserError(f"no user {ref!r}" if isinstance(ref, int) else f"no user named {ref!r}")
    return user


async def all_users(session: AsyncSession) -> Sequence[User]:
    return (await session.execute(select(User).order_by(User.username))).scalars().all()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def other_active_admins(session: AsyncSession, user_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(User)
                .where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user_id)
            )
        ).scalar_one()
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str
    """The token itself: shown once, never stored."""


def new_token(user: User, name: str) -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100] or "token",
        token_hash=token_hash(secret),
        created_at=utcnow(),
        revoked=False,
    )
    return NewToken(token, secret)


async def user_tokens(session: AsyncSession, user: User) -> Sequence[ApiToken]:
    return (
        (
            await session.execute(
                select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
            )
        )
        .scalars()
        .all()
    )


async def user_for_token(session: AsyncSession, secret: str) -> User | None:
    """The active user owning this unrevoked token (and mark the token used)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == token_hash(secret))
        )
    ).first()
    if row is None:
        return None
    token, user = row[0], row[1]
    if token.revoked or not user.active:
        return None
    token.last_used_at = utcnow()
    await session.flush()
    return user
