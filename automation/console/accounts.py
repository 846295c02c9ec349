"""Local console accounts: passwords hashed with scrypt (hashlib), roles ordered by power."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

ROLES = ("viewer", "operator", "admin")
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``scrypt$N$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash; a malformed hash never matches."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def unknown_account_hash() -> str:
    """A hash no password matches, with the same cost as a real account's: a name that does
    not exist is checked against it, so the answer takes as long as for one that does."""
    return hash_password(secrets.token_urlsafe(32))


def check_account(password: str, stored: str | None) -> bool:
    """True when ``password`` matches the account's hash; with no account (``None``) one
    scrypt derivation is still done, against unknown_account_hash, and False returned."""
    matches = verify_password(password, stored if stored is not None else unknown_account_hash())
    return matches and stored is not None


def allows(role: str, needed: str) -> bool:
    """True when ``role`` is at least ``needed`` (viewer < operator < admin)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)
