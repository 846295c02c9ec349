"""Sign-in with a local account (scrypt hash, rate-limited, audited) and sign-out; the
sign-in page both ways of signing in share."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from automation.console import sessions
from automation.console.accounts import verify_password
from automation.console.web import CSRF_MISMATCH, Console, StoreUnavailableError, read_form, secure

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
        form = await read_form(request)
        token = request.cookies.get(LOGIN_CSRF, "")
        if not token or form.get("csrf") != token:
            return console.error(request, 403, CSRF_MISMATCH)
        name = form.get("name", "")
        key = f"{name}|{request.client.host if request.client else ''}"
        limiter = console.settings.limiter
        if limiter.blocked(key, console.settings.clock().timestamp()):
            return login_page(console, request, 429, BLOCKED)
        try:
            role = _check_password(console, name, form.get("password", ""))
        except StoreUnavailableError as exc:
            return console.error(request, 503, str(exc))
        if role is None:
            limiter.failed(key, console.settings.clock().timestamp())
            return login_page(console, request, 401, WRONG)
        limiter.succeeded(key)
        return console.sign_in(secure(RedirectResponse("/", status_code=303)), name, role)

    async def logout(request: Request, session: sessions.Session) -> Response:
        response = secure(RedirectResponse("/login", status_code=303))
        response.delete_cookie(sessions.COOKIE)
        return response

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", console.guarded("viewer", logout), methods=["POST"]),
    ]


def _check_password(console: Console, name: str, password: str) -> str | None:
    """The account's role when the password is right, else None; audited either way."""
    with console.open_store() as store:
        account = store.user(name)
        ok = account is not None and verify_password(password, account[0])
        outcome = "ok" if ok else "refused"
        store.audit(name or "-", "login", "console", outcome, console.settings.clock())
    return account[1] if ok and account is not None else None
