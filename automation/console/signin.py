"""Sign-in with a local account (scrypt hash, rate-limited, audited) and sign-out; the
sign-in page both ways of signing in share.

An unknown name costs the same scrypt derivation as a known one, and every refusal (wrong
password, unknown name, blocked) reads the same, so neither the answer nor its time tells
which names exist. Sign-out ends the account's sessions server-side (see revocation)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from automation.console import revocation, sessions
from automation.console.accounts import check_account
from automation.console.ratelimit import WINDOW_SECONDS
from automation.console.text import MAX_NAME, MAX_PASSWORD
from automation.console.web import (
    CSRF_MISMATCH,
    Console,
    FormError,
    StoreUnavailableError,
    check_length,
    read_form,
    secure,
)

LOGIN_CSRF = "console_login_csrf"
WRONG = "ユーザー名またはパスワードが違います。"
BLOCKED = "サインインの失敗が続いたため、しばらく待ってからお試しください。"


def login_page(console: Console, request: Request, status: int = 200, error: str = "") -> Response:
    """The sign-in page with its own CSRF token (kept in a cookie until the form comes back)."""
    now = console.settings.clock()
    token = request.cookies.get(LOGIN_CSRF) or sessions.new_session("", "", now).csrf
    response = console.page(
        request,
        "login.html.j2",
        status,
        csrf=token,
        error=error,
        entra=console.settings.entra is not None,
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, secure=console.settings.secure_cookies, samesite="lax"
    )
    return response


def routes(console: Console) -> list[Route]:
    """/login (form and POST) and /logout."""

    async def login_form(request: Request) -> Response:
        return login_page(console, request)

    async def login(request: Request) -> Response:
        try:
            form = await read_form(request)
            name, password = form.get("name", ""), form.get("password", "")
            check_length("name", name, MAX_NAME)
            check_length("password", password, MAX_PASSWORD)
        except FormError as exc:
            return console.error(request, exc.status, exc.message)
        token = request.cookies.get(LOGIN_CSRF, "")
        if not token or form.get("csrf") != token:
            return console.error(request, 403, CSRF_MISMATCH)
        address = request.client.host if request.client else ""
        limits = console.settings.limiter
        if limits.blocked(name, address, console.settings.clock().timestamp()):
            response = login_page(console, request, 429, BLOCKED)
            response.headers["Retry-After"] = str(int(WINDOW_SECONDS))
            return response
        try:
            role = await run_in_threadpool(_check_password, console, name, password)
            if role is None:
                limits.failed(name, address, console.settings.clock().timestamp())
                return login_page(console, request, 401, WRONG)
            limits.succeeded(name, address)
            home = secure(RedirectResponse("/", status_code=303))
            return console.sign_in(home, name, role, revocation.local_account(name))
        except StoreUnavailableError as exc:
            return console.error(request, 503, str(exc))

    async def logout(request: Request, session: sessions.Session) -> Response:
        with console.open_store() as store:
            revocation.revoke(store, session.account, console.settings.clock())
        console.audit(session.who, "logout", "console", "ok")
        response = secure(RedirectResponse("/login", status_code=303))
        response.delete_cookie(sessions.COOKIE)
        return response

    async def login_address(request: Request) -> Response:
        return await (login(request) if request.method == "POST" else login_form(request))

    return [
        Route("/login", login_address, methods=["GET", "POST"]),
        Route("/logout", console.guarded("viewer", logout), methods=["POST"]),
    ]


def _check_password(console: Console, name: str, password: str) -> str | None:
    """The account's role when the password is right, else None; audited either way (the
    name as typed, escaped and cut to 128 characters)."""
    with console.open_store() as store:
        account = store.user(name)
    ok = check_account(password, account[0] if account is not None else None)
    console.audit(name or "-", "login", "console", "ok" if ok else "refused")
    return account[1] if ok and account is not None else None
