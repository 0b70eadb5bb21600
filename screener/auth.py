"""Console users, password hashes and API tokens (shared by the web console and the CLI)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import ApiToken, User

ROLES = ("reception", "admin")
TOKEN_PREFIX = "scr_"  # noqa: S105 - a marker, not a secret
MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")

_hasher = PasswordHash((Argon2Hasher(),))
# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("screener-dummy-password")


class UserError(ValueError):
    """A user operation that cannot be done; the message says why."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, not a crash
        return False


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password must be at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise UserError("a password must be at most 1024 characters")


def check_username(username: str) -> str:
    username = username.strip()
    if not _USERNAME.match(username):
        raise UserError("a username is 1-100 letters, digits or . _ @ -")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    return role


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def require_user(session: AsyncSession, username: str) -> User:
    user = await get_user(session, username)
    if user is None:
        raise UserError(f"no user named {username!r}")
    return user


async def all_users(session: AsyncSession) -> Sequence[User]:
    return (await session.execute(select(User).order_by(User.username))).scalars().all()


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str = "",
    can_edit_lists: bool = False,
) -> User:
    username = check_username(username)
    check_role(role)
    check_password(password)
    if await get_user(session, username) is not None:
        raise UserError(f"a user named {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name.strip()[:200],
        password_hash=hash_password(password),
        role=role,
        can_edit_lists=can_edit_lists,
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    check_password(password)
    user.password_hash = hash_password(password)
    await session.flush()


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (constant-ish time)."""
    user = await get_user(session, username.strip()[:100])
    if user is None:
        verify_password(password, None)
        return None
    if not verify_password(password, user.password_hash) or not user.active:
        return None
    user.last_login_at = utcnow()
    await session.flush()
    return user


def password_fingerprint(user: User) -> str:
    """Changes when the password does: a session made before a reset stops working."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str
    """The token itself: shown once, never stored."""


async def create_token(session: AsyncSession, user: User, name: str) -> NewToken:
    name = name.strip()[:100] or "token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(secret),
        created_at=utcnow(),
        revoked=False,
    )
    session.add(token)
    await session.flush()
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


async def revoke_token(session: AsyncSession, user: User, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise UserError(f"no token {token_id} for {user.username!r}")
    token.revoked = True
    await session.flush()
    return token


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
