"""The user use cases: create and change users, passwords and tokens, and sign in.

Each is one function on a :class:`~screener.application.unit_of_work.UnitOfWork`: one
transaction and one audit record (who, from where). The web console, the API and
``screener users`` all call these, so the same rules hold everywhere: a username is
unique, a password is long enough, and the last active admin cannot be disabled or
demoted.
"""

from __future__ import annotations

from dataclasses import dataclass

from screener.application.unit_of_work import UnitOfWork
from screener.db.models import ApiToken, User
from screener.domain.vocabulary import AuditAction
from screener.users import accounts
from screener.users.accounts import NewToken, Role, UserError
from screener.users.passwords import fingerprint, hash_password, verify_password

MAX_USERNAME_SHOWN = 100


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: int
    username: str
    password_fingerprint: str


async def create_user(
    uow: UnitOfWork,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str = "",
    can_edit_lists: bool = False,
) -> User:
    username = accounts.check_username(username)
    checked_role = accounts.check_role(role)
    accounts.check_password(password)
    async with uow:
        if await accounts.get_user(uow.session, username) is not None:
            raise UserError(f"a user named {username!r} already exists")
        user = User(
            username=username,
            display_name=display_name.strip()[:200],
            password_hash=hash_password(password),
            role=checked_role.value,
            can_edit_lists=can_edit_lists,
            active=True,
            created_at=accounts.utcnow(),
        )
        uow.session.add(user)
        await uow.session.flush()
        uow.audit(
            AuditAction.USER_CREATE,
            user.username,
            {"role": checked_role.value, "can_edit_lists": can_edit_lists},
        )
    return user


async def update_user(
    uow: UnitOfWork,
    ref: str | int,
    *,
    role: str | None = None,
    display_name: str | None = None,
    can_edit_lists: bool | None = None,
    active: bool | None = None,
) -> User:
    """Change what is given; refuses to leave the office without an active admin."""
    checked_role = accounts.check_role(role) if role is not None else None
    async with uow:
        user = await accounts.require_user(uow.session, ref)
        before = {"role": user.role, "can_edit_lists": user.can_edit_lists, "active": user.active}
        new_role = checked_role.value if checked_role else user.role
        new_active = user.active if active is None else active
        losing_admin = (
            user.role == Role.ADMIN.value
            and user.active
            and (new_role != Role.ADMIN.value or not new_active)
        )
        if losing_admin and await accounts.other_active_admins(uow.session, user.id) == 0:
            raise UserError(
                f"{user.username!r} is the only active admin: make another user an admin first"
            )
        user.role = new_role
        user.active = new_active
        if display_name is not None:
            user.display_name = display_name.strip()[:200]
        if can_edit_lists is not None:
            user.can_edit_lists = can_edit_lists
        after = {"role": user.role, "can_edit_lists": user.can_edit_lists, "active": user.active}
        uow.audit(AuditAction.USER_UPDATE, user.username, {"before": before, "after": after})
    return user


async def set_password(uow: UnitOfWork, ref: str | int, password: str) -> User:
    """A new password (the user's existing sessions stop working)."""
    accounts.check_password(password)
    async with uow:
        user = await accounts.require_user(uow.session, ref)
        user.password_hash = hash_password(password)
        uow.audit(AuditAction.USER_PASSWORD, user.username)
    return user


async def create_token(uow: UnitOfWork, ref: str | int, name: str) -> NewToken:
    async with uow:
        user = await accounts.require_user(uow.session, ref)
        new = accounts.new_token(user, name)
        uow.session.add(new.token)
        await uow.session.flush()
        uow.audit(AuditAction.TOKEN_CREATE, user.username, {"name": new.token.name})
    return new


async def revoke_token(uow: UnitOfWork, ref: str | int, token_id: int) -> ApiToken:
    async with uow:
        user = await accounts.require_user(uow.session, ref)
        token = await uow.session.get(ApiToken, token_id)
        if token is None or token.user_id != user.id:
            raise UserError(f"no token {token_id} for {user.username!r}")
        token.revoked = True
        uow.audit(AuditAction.TOKEN_REVOKE, user.username, {"name": token.name})
    return token


async def sign_in(uow: UnitOfWork, username: str, password: str) -> SignedIn | None:
    """The active user with this name and password, or None; both are audited.

    ``uow.actor`` is who is trying (the name as typed, and the client's address); a
    failed attempt is recorded under that name, never with the password.
    """
    async with uow:
        name = username.strip()[:MAX_USERNAME_SHOWN]
        user = await accounts.get_user(uow.session, name)
        reason: str | None = None
        if user is None:
            verify_password(password, None)
            reason = "unknown user"
        elif not verify_password(password, user.password_hash):
            reason = "wrong password"
        elif not user.active:
            reason = "disabled"
        if user is None or reason is not None:
            uow.audit(AuditAction.USER_LOGIN_FAILED, name, {"reason": reason})
            return None
        user.last_login_at = accounts.utcnow()
        uow.audit(AuditAction.USER_LOGIN, user.username)
        return SignedIn(user.id, user.username, fingerprint(user.password_hash))


async def sign_out(uow: UnitOfWork) -> None:
    async with uow:
        uow.audit(AuditAction.USER_LOGOUT, uow.actor.name)
