"""Signed session cookies and CSRF tokens (HMAC-SHA256 over the payload).

A cookie names its account (``local:NAME`` or ``entra:OBJECT-ID``) and the account's session
generation when it was issued; automation.console.revocation keeps the current generations
in the state database, so a cookie stops working once its account's sessions are revoked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

COOKIE = "console_session"
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """Who is signed in (shown name and account), with what role, until when, their CSRF
    token and the account's session generation at sign-in."""

    user: str
    role: str
    expires: int
    csrf: str
    account: str = ""
    generation: str = ""

    @property
    def who(self) -> str:
        """The user as the audit log records them (see ``who``)."""
        return who(self.user, self.account)


def who(user: str, account: str) -> str:
    """A local name, or an Entra ID user's shown name (cut to 80 characters) with the
    object id that identifies them."""
    kind, _, key = account.partition(":")
    return f"{user[:80]} ({key})" if kind == "entra" else user


def sign(secret: bytes, session: Session) -> str:
    """The cookie value: base64 JSON payload, a dot, and its HMAC."""
    payload = json.dumps(
        {
            "u": session.user,
            "r": session.role,
            "e": session.expires,
            "c": session.csrf,
            "a": session.account,
            "g": session.generation,
        },
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    body = base64.urlsafe_b64encode(payload).decode()
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def verify(secret: bytes, value: str, now: datetime) -> Session | None:
    """The session in a cookie, or None when it is tampered with, malformed or expired."""
    body, _, mac = value.partition(".")
    expected = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    if not mac or not hmac.compare_digest(mac, expected):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
        session = Session(
            str(data["u"]),
            str(data["r"]),
            int(data["e"]),
            str(data["c"]),
            str(data["a"]),
            str(data["g"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if not session.account or session.expires <= now.timestamp():
        return None
    return session


def new_session(
    user: str, role: str, now: datetime, account: str = "", generation: str = ""
) -> Session:
    """A fresh session with its own CSRF token."""
    expires = int(now.timestamp()) + LIFETIME_SECONDS
    return Session(user, role, expires, secrets.token_urlsafe(24), account, generation)


def csrf_ok(session: Session, submitted: str) -> bool:
    """True when the form's token is the session's."""
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted)
