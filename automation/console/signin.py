"""Sign-in with a local account (scrypt hash, rate-limited, audited) and sign-out."""

from __future__ import annotations

from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from automation.console import sessions
from automation.console.accounts import verify_password
from automation.console.oidc import PENDING_SECONDS, EntraSignInError
from automation.console.web import CSRF_MISMATCH, Console, StoreUnavailableError, read_form, secure

LOGIN_CSRF = "console_login_csrf"
ENTRA_STATE = "console_entra_state"
NO_ENTRA = "Entra ID でのサインインは設定されていません（設定の console.entra）。"
UNREACHABLE = (
    "Entra ID に接続できませんでした。ネットワークと設定の console.entra を確認してください"
)
WRONG = "ユーザー名またはパスワードが違います。"
BLOCKED = "サインインの失敗が続いたため、しばらく待ってからお試しください。"


def routes(console: Console) -> list[Route]:
    """/login (form and POST) and /logout."""

    def form_page(request: Request, status: int = 200, error: str = "") -> Response:
        token = request.cookies.get(LOGIN_CSRF) or sessions.new_session("", "", now()).csrf
        response = console.page(
            request,
            "login.html.j2",
            status,
            csrf=token,
            error=error,
            entra=console.settings.entra is not None,
        )
        response.set_cookie(
            LOGIN_CSRF,
            token,
            httponly=True,
            secure=console.settings.secure_cookies,
            samesite="lax",
        )
        return response

    def now() -> datetime:
        return console.settings.clock()

    def now_ts() -> float:
        return now().timestamp()

    async def login_form(request: Request) -> Response:
        return form_page(request)

    async def login(request: Request) -> Response:
        form = await read_form(request)
        token = request.cookies.get(LOGIN_CSRF, "")
        if not token or form.get("csrf") != token:
            return console.error(request, 403, CSRF_MISMATCH)
        name = form.get("name", "")
        key = f"{name}|{request.client.host if request.client else ''}"
        limiter = console.settings.limiter
        if limiter.blocked(key, now_ts()):
            return form_page(request, 429, BLOCKED)
        try:
            role = _check_password(console, name, form.get("password", ""))
        except StoreUnavailableError as exc:
            return console.error(request, 503, str(exc))
        if role is None:
            limiter.failed(key, now_ts())
            return form_page(request, 401, WRONG)
        limiter.succeeded(key)
        return console.sign_in(secure(RedirectResponse("/", status_code=303)), name, role)

    async def logout(request: Request, session: sessions.Session) -> Response:
        response = secure(RedirectResponse("/login", status_code=303))
        response.delete_cookie(sessions.COOKIE)
        return response

    async def entra_begin(request: Request) -> Response:
        entra = console.settings.entra
        if entra is None:
            return console.error(request, 404, NO_ENTRA)
        try:
            address, state = await run_in_threadpool(entra.begin)
        except Exception as exc:  # msal: the tenant's metadata could not be read
            return console.error(request, 502, f"{UNREACHABLE}（{type(exc).__name__}）")
        response = secure(RedirectResponse(address, status_code=303))
        response.set_cookie(
            ENTRA_STATE,
            state,
            max_age=PENDING_SECONDS,
            httponly=True,
            secure=console.settings.secure_cookies,
            samesite="lax",  # sent on Entra ID's top-level redirect back to the console
        )
        return response

    async def entra_callback(request: Request) -> Response:
        entra = console.settings.entra
        if entra is None:
            return console.error(request, 404, NO_ENTRA)
        answer = dict(request.query_params)
        try:
            identity = await run_in_threadpool(
                entra.finish, answer, request.cookies.get(ENTRA_STATE, "")
            )
        except EntraSignInError as exc:
            console.audit("-", "login", "entra", f"refused: {exc.detail}")
            return form_page(request, exc.status, exc.message)
        console.audit(identity.user, "login", "entra", f"ok ({identity.role})")
        response = secure(RedirectResponse("/", status_code=303))
        response.delete_cookie(ENTRA_STATE)
        return console.sign_in(response, identity.user, identity.role)

    return [
        Route("/auth/entra", entra_begin, methods=["GET"]),
        Route("/auth/callback", entra_callback, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", console.guarded("viewer", logout), methods=["POST"]),
    ]


def _check_password(console: Console, name: str, password: str) -> str | None:
    """The account's role when the password is right, else None; audited either way."""
    with console.open_store() as store:
        account = store.user(name)
        ok = account is not None and verify_password(password, account[0])
        store.audit(
            name or "-", "login", "console", "ok" if ok else "refused", console.settings.clock()
        )
    return account[1] if ok and account is not None else None
