"""Signed session cookies and CSRF tokens (HMAC-SHA256 over the payload)."""

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
    """Who is signed in, with what role, until when, and their CSRF token."""

    user: str
    role: str
    expires: int
    csrf: str


def sign(secret: bytes, session: Session) -> str:
    """The cookie value: base64 JSON payload, a dot, and its HMAC."""
    payload = json.dumps(
        {"u": session.user, "r": session.role, "e": session.expires, "c": session.csrf},
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
        session = Session(str(data["u"]), str(data["r"]), int(data["e"]), str(data["c"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > now.timestamp() else None


def new_session(user: str, role: str, now: datetime) -> Session:
    """A fresh session with its own CSRF token."""
    return Session(user, role, int(now.timestamp()) + LIFETIME_SECONDS, secrets.token_urlsafe(24))


def csrf_ok(session: Session, submitted: str) -> bool:
    """True when the form's token is the session's."""
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted)
