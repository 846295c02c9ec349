"""The console's ASGI application: the route modules put together, and the error pages.

Pages read the state store through its query methods only; every page escapes what it
shows (Jinja2 autoescape), every POST carries the session's CSRF token, and nothing but
``/healthz`` and the sign-in pages is reachable without a session.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from automation.console import actions, api, entra_routes, pages, signin
from automation.console.web import (
    Console,
    ConsoleSettings,
    Retry,
    RunNow,
    StoreUnavailableError,
    secure,
)
from automation.render import web_link

__all__ = ["ConsoleSettings", "Retry", "RunNow", "StoreUnavailableError", "create_app"]
HERE = Path(__file__).parent
NOT_FOUND = "ページが見つかりません。"
BAD_REQUEST = "要求を処理できませんでした。"
INTERNAL = "内部エラーが発生しました。管理者にログを確認するよう伝えてください。"


def not_allowed(method: str, allowed: str) -> str:
    """The 405 message: the method found, those the address takes."""
    return (
        f"このアドレスは {method[:20]} を受け付けません（使えるのは {allowed or 'なし'}）。"
        "ページのリンクやボタンから操作してください。"
    )


def create_app(settings: ConsoleSettings) -> Starlette:
    """The console application for one state database."""
    console = Console(settings)
    console.env.filters["weblink"] = web_link

    async def healthz(request: Request) -> Response:
        return secure(JSONResponse({"status": "ok"}))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405 and isinstance(exc, HTTPException):
            methods = (exc.headers or {}).get("Allow", "").split(",")
            allowed = ", ".join(sorted(m.strip() for m in methods if m.strip()))
            response = console.error(request, 405, not_allowed(request.method, allowed))
            response.headers["Allow"] = allowed
            return response
        return console.error(request, status, NOT_FOUND if status == 404 else BAD_REQUEST)

    async def server_error(request: Request, exc: Exception) -> Response:
        return console.error(request, 500, INTERNAL)

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    routes += signin.routes(console)
    routes += entra_routes.routes(console)
    routes += pages.routes(console)
    routes += actions.routes(console)
    routes += api.routes(console)
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, 500: server_error},
    )
