"""The console's Entra ID sign-in routes: /auth/entra sends the browser to Entra ID,
/auth/callback takes it back (see automation.console.oidc for what is checked)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from automation.console import revocation, sessions
from automation.console.oidc import PENDING_SECONDS, EntraSignInError
from automation.console.signin import login_page
from automation.console.web import Console, StoreUnavailableError, secure

ENTRA_STATE = "console_entra_state"
NO_ENTRA = "Entra ID でのサインインは設定されていません（設定の console.entra）。"
UNREACHABLE = (
    "Entra ID に接続できませんでした。ネットワークと設定の console.entra を確認してください"
)


def routes(console: Console) -> list[Route]:
    """GET /auth/entra and GET /auth/callback (404 without console.entra)."""

    async def begin(request: Request) -> Response:
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

    async def callback(request: Request) -> Response:
        entra = console.settings.entra
        if entra is None:
            return console.error(request, 404, NO_ENTRA)
        answer = dict(request.query_params)
        browser_state = request.cookies.get(ENTRA_STATE, "")
        try:
            try:
                identity = await run_in_threadpool(entra.finish, answer, browser_state)
            except EntraSignInError as exc:
                console.audit("-", "login", "entra", f"refused: {exc.detail}")
                return login_page(console, request, exc.status, exc.message)
            account = revocation.entra_account(identity.object_id)
            who = sessions.who(identity.user, account)
            console.audit(who, "login", "entra", f"ok ({identity.role})")
            response = secure(RedirectResponse("/", status_code=303))
            response.delete_cookie(ENTRA_STATE)
            return console.sign_in(response, identity.user, identity.role, account)
        except StoreUnavailableError as exc:
            return console.error(request, 503, str(exc))

    return [
        Route("/auth/entra", begin, methods=["GET"]),
        Route("/auth/callback", callback, methods=["GET"]),
    ]
