"""Password hashes (argon2), built on first use: importing this module does no work."""

from __future__ import annotations

import hashlib
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing does not tell."""
    return _hasher().hash("screener-dummy-password")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; with no hash, spend the same time and say no."""
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False
    try:
        return _hasher().verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, not a crash
        return False


def fingerprint(password_hash: str) -> str:
    """Changes when the password does: a session made before a reset stops working."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]
