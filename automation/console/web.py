"""What every console page shares: its settings, the templates, the session of a request,
the state store, the role guard with its CSRF check, and the security headers."""

from __future__ import annotations

import hmac
import json
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from automation.console import revocation, sessions
from automation.console.accounts import allows
from automation.console.oidc import EntraSignIn
from automation.console.ratelimit import SignInLimits
from automation.console.text import audit_text
from automation.errors import ConfigError, TransientError
from automation.health import HealthSource
from automation.state import Store
from automation.state_db import url_host
from automation.timeutil import JST

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
SIGN_IN_FIRST = "サインインが必要です。/login でサインインしたセッションで要求してください。"
CSRF_MISMATCH = "フォームの確認トークンが一致しません。ページを開き直してください。"
Retry = Callable[[str], Awaitable[str]]
RunNow = Callable[[str], Awaitable[str]]
View = Callable[[Request, sessions.Session], Awaitable[Response]]


@dataclass
class ConsoleSettings:
    """What the console needs: the state file, the cookie key and what it may do."""

    state_path: Path | str  # the state database: its file, or state.url (PostgreSQL)
    secret: bytes
    clock: Callable[[], datetime]
    secure_cookies: bool = True
    retry: Retry | None = None  # None: read-only (no operator actions)
    health: HealthSource | None = None  # the daemon, when the console runs inside it
    limiter: SignInLimits = field(default_factory=SignInLimits)
    run_now: RunNow | None = None  # None: no 今すぐ実行 (a console outside the daemon)
    flows: Callable[[], Mapping[str, str]] = dict  # configured flow -> its schedule, as text
    artefacts: Path | None = None  # the local backend's folder of merged workbooks
    entra: EntraSignIn | None = None  # Entra ID sign-in, when console.entra is configured


class StoreUnavailableError(Exception):
    """The state database is missing or cannot be read."""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2)
    env.filters["when"] = when
    return env


def when(value: object) -> str:
    """A stored time as people read it, in Japan time: ``2026-09-01 09:05``; anything that
    is not a time is shown as it is (— for nothing)."""
    if value is None or value == "":
        return "—"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(JST)
    return f"{moment:%Y-%m-%d %H:%M}"


@dataclass
class Console:
    """The shared machinery every route module is given."""

    settings: ConsoleSettings
    env: Environment = field(default_factory=_environment)

    def session(self, request: Request) -> sessions.Session | None:
        """The signed-in session of a request, or None: no cookie, tampered, expired, or
        revoked (its account's session generation moved on; StoreUnavailableError when the
        state database cannot say)."""
        known = getattr(request.state, "session", None)
        if isinstance(known, sessions.Session):
            return known
        value = request.cookies.get(sessions.COOKIE, "")
        session = (
            sessions.verify(self.settings.secret, value, self.settings.clock()) if value else None
        )
        if session is None:
            return None
        with self.open_store() as store:
            current = revocation.generation(store, session.account)
        if not hmac.compare_digest(current, session.generation):
            return None
        request.state.session = session
        return session

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        """A rendered template with the security headers."""
        try:
            session = self.session(request)
        except StoreUnavailableError:
            session = None
        body = self.env.get_template(name).render(session=session, path=request.url.path, **context)
        return secure(HTMLResponse(body, status_code=status))

    def error(self, request: Request, status: int, message: str) -> Response:
        """The Japanese error page with ``message``; under ``/api/`` the same message as
        JSON (``{"error": message}``), which is what an API client reads."""
        if request.url.path.startswith("/api/"):
            return secure(JSONResponse({"error": message}, status_code=status))
        return self.page(request, "error.html.j2", status, message=message)

    def open_store(self) -> Store:
        """The state database, or StoreUnavailableError saying what is wrong and the fix."""
        path = self.settings.state_path
        if not isinstance(path, Path):
            return _open_url(path)
        if not path.is_file():
            raise StoreUnavailableError(
                f"状態データベース {path.name} が見つかりません。"
                "設定の state.path を確認し、フローを一度実行してください。"
            )
        try:
            return Store(path)
        except (sqlite3.DatabaseError, ConfigError) as exc:
            raise StoreUnavailableError(
                f"状態データベース {path.name} を読めません（{exc}）。"
                "バックアップから戻すか、state.path を確認してください。"
            ) from exc

    def guarded(self, needed: str, view: View) -> Callable[[Request], Awaitable[Response]]:
        """``view`` for a session of at least role ``needed``; a POST must carry its CSRF."""

        async def endpoint(request: Request) -> Response:
            try:
                session = self.session(request)
            except StoreUnavailableError as exc:
                return self.error(request, 503, str(exc))
            if session is None:
                return self.signed_out(request)
            if not allows(session.role, needed):
                return self.error(request, 403, "この操作の権限がありません。")
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except FormError as exc:
                    return self.error(request, exc.status, exc.message)
                if not sessions.csrf_ok(session, form.get("csrf", "")):
                    return self.error(request, 403, CSRF_MISMATCH)
                request.state.form = form
            try:
                return await view(request, session)
            except StoreUnavailableError as exc:
                return self.error(request, 503, str(exc))

        return endpoint

    def signed_out(self, request: Request) -> Response:
        """No valid session: a page goes to sign-in, the API answers 401; a cookie that
        did not verify (tampered, expired, revoked) is dropped."""
        response: Response = (
            JSONResponse({"error": SIGN_IN_FIRST}, status_code=401)
            if request.url.path.startswith("/api/")
            else RedirectResponse("/login", status_code=303)
        )
        if request.cookies.get(sessions.COOKIE):
            response.delete_cookie(sessions.COOKIE)
        return secure(response)

    def sign_in(self, response: Response, user: str, role: str, account: str) -> Response:
        """Set the session cookie of a fresh session for ``user`` (of ``account``, at its
        current session generation) on ``response``."""
        with self.open_store() as store:
            current = revocation.generation(store, account)
        session = sessions.new_session(user, role, self.settings.clock(), account, current)
        response.set_cookie(
            sessions.COOKIE,
            sessions.sign(self.settings.secret, session),
            max_age=sessions.LIFETIME_SECONDS,
            httponly=True,
            secure=self.settings.secure_cookies,
            samesite="lax",
        )
        return response

    def audit(self, who: str, action: str, target: str, outcome: str) -> None:
        """One line in the audit log (who, what, which, how it ended); what came from the
        request (``who``, ``target``) is kept escaped and at most 128 characters long."""
        with self.open_store() as store:
            store.audit(audit_text(who), action, audit_text(target), outcome, self.settings.clock())


MAX_FORM_BYTES = 16 * 1024  # the console's forms carry a token and a field or two
MAX_FIELD_CHARS = 1024  # any one field (sign-in names have their own, lower limit)
FORM_TYPE = "application/x-www-form-urlencoded"


class FormError(Exception):
    """A form the console will not read: too large, a field too long, or not a form."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body as a flat dict (the first value of each field); FormError
    (413) for a body over MAX_FORM_BYTES, read no further than that, (400) for a field
    over MAX_FIELD_CHARS and (415) for a body that is not a urlencoded form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormError(413, too_large(int(declared)))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(413, too_large(None))
    if body and kind != FORM_TYPE:
        raise FormError(
            415,
            f"フォームの形式（{kind[:80] or 'なし'}）を読めません。{FORM_TYPE} で送ってください。",
        )
    text = bytes(body).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    for key, value in form.items():
        check_length(key, value, MAX_FIELD_CHARS)
    return form


def too_large(size: int | None) -> str:
    """The 413 message: what came, what is accepted, what to do."""
    came = f"（{size} バイト）" if size is not None else ""
    return (
        f"送信された内容が大きすぎます{came}。上限は {MAX_FORM_BYTES} バイトです。"
        "ページを開き直し、フォームから送ってください。"
    )


def check_length(field_name: str, value: str, limit: int) -> None:
    """FormError (400) when a field holds more than ``limit`` characters."""
    if len(value) > limit:
        raise FormError(
            400,
            f"「{audit_text(field_name, 40)}」が長すぎます（{len(value)} 文字、上限 {limit} 文字）。"
            "短くして送り直してください。",
        )


def secure(response: Response) -> Response:
    """The security headers every response carries."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def _open_url(url: str) -> Store:
    """The PostgreSQL state of a pair, or StoreUnavailableError naming the server (never the
    password) and the fix."""
    try:
        return Store(url)
    except (ConfigError, TransientError) as exc:
        raise StoreUnavailableError(
            f"状態データベース（{url_host(url)}）に接続できません: {exc.message}"
        ) from exc
