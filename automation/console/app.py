"""The console's ASGI application: sign-in, 現在の報告, 運用 and the JSON API.

Pages read the state store through its query methods only; every page escapes what it
shows (Jinja2 autoescape), every POST carries the session's CSRF token, and nothing but
``/healthz`` and the sign-in page is reachable without a session.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from automation.console import sessions, trend
from automation.console.accounts import allows, verify_password
from automation.console.export import report_csv
from automation.console.ratelimit import LoginLimiter
from automation.errors import ConfigError
from automation.health import HealthSource
from automation.state import Store

HERE = Path(__file__).parent
LOGIN_CSRF = "console_login_csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
Retry = Callable[[str], Awaitable[str]]


@dataclass
class ConsoleSettings:
    """What the console needs: the state file, the cookie key and what it may do."""

    state_path: Path
    secret: bytes
    clock: Callable[[], datetime]
    secure_cookies: bool = True
    retry: Retry | None = None  # None: read-only (no operator actions)
    health: HealthSource | None = None  # the daemon, when the console runs inside it
    limiter: LoginLimiter = field(default_factory=LoginLimiter)


class StoreUnavailableError(Exception):
    """The state database is missing or cannot be read."""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2)
    return env


def create_app(settings: ConsoleSettings) -> Starlette:
    """The console application for one state database."""
    env = _environment()

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        session = _session(request)
        body = env.get_template(name).render(session=session, path=request.url.path, **context)
        response = HTMLResponse(body, status_code=status)
        return _secure(response)

    def _session(request: Request) -> sessions.Session | None:
        value = request.cookies.get(sessions.COOKIE, "")
        return sessions.verify(settings.secret, value, settings.clock()) if value else None

    def open_store() -> Store:
        if not settings.state_path.is_file():
            raise StoreUnavailableError(
                f"状態データベース {settings.state_path.name} が見つかりません。"
                "設定の state.path を確認し、フローを一度実行してください。"
            )
        try:
            return Store(settings.state_path)
        except (sqlite3.DatabaseError, ConfigError) as exc:
            raise StoreUnavailableError(
                f"状態データベース {settings.state_path.name} を読めません（{exc}）。"
                "バックアップから戻すか、state.path を確認してください。"
            ) from exc

    def guarded(
        needed: str, view: Callable[[Request, sessions.Session], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = _session(request)
            if session is None:
                response = RedirectResponse("/login", status_code=303)
                if request.cookies.get(sessions.COOKIE):
                    response.delete_cookie(sessions.COOKIE)
                return _secure(response)
            if not allows(session.role, needed):
                return page(request, "error.html.j2", 403, message="この操作の権限がありません。")
            if request.method == "POST":
                form = await _form(request)
                if not sessions.csrf_ok(session, form.get("csrf", "")):
                    return page(
                        request,
                        "error.html.j2",
                        403,
                        message="フォームの確認トークンが一致しません。ページを開き直してください。",
                    )
                request.state.form = form
            try:
                return await view(request, session)
            except StoreUnavailableError as exc:
                return page(request, "error.html.j2", 503, message=str(exc))

        return endpoint

    async def healthz(request: Request) -> Response:
        return _secure(JSONResponse({"status": "ok"}))

    async def login_form(request: Request) -> Response:
        token = (
            request.cookies.get(LOGIN_CSRF) or sessions.new_session("", "", settings.clock()).csrf
        )
        response = page(request, "login.html.j2", csrf=token, error="")
        return _login_cookie(response, token)

    async def login(request: Request) -> Response:
        form = await _form(request)
        token = request.cookies.get(LOGIN_CSRF, "")
        if not token or form.get("csrf") != token:
            return page(
                request,
                "error.html.j2",
                403,
                message="フォームの確認トークンが一致しません。ページを開き直してください。",
            )
        name = form.get("name", "")
        key = f"{name}|{request.client.host if request.client else ''}"
        now = settings.clock()
        if settings.limiter.blocked(key, now.timestamp()):
            return page(
                request,
                "login.html.j2",
                429,
                csrf=token,
                error="サインインの失敗が続いたため、しばらく待ってからお試しください。",
            )
        try:
            with open_store() as store:
                account = store.user(name)
                ok = account is not None and verify_password(form.get("password", ""), account[0])
                store.audit(name or "-", "login", "console", "ok" if ok else "refused", now)
        except StoreUnavailableError as exc:
            return page(request, "error.html.j2", 503, message=str(exc))
        if not ok or account is None:
            settings.limiter.failed(key, now.timestamp())
            return page(
                request,
                "login.html.j2",
                401,
                csrf=token,
                error="ユーザー名またはパスワードが違います。",
            )
        settings.limiter.succeeded(key)
        session = sessions.new_session(name, account[1], now)
        response = _secure(RedirectResponse("/", status_code=303))
        response.set_cookie(
            sessions.COOKIE,
            sessions.sign(settings.secret, session),
            max_age=sessions.LIFETIME_SECONDS,
            httponly=True,
            secure=settings.secure_cookies,
            samesite="lax",
        )
        return response

    def _login_cookie(response: Response, token: str) -> Response:
        response.set_cookie(
            LOGIN_CSRF, token, httponly=True, secure=settings.secure_cookies, samesite="lax"
        )
        return response

    async def logout(request: Request, session: sessions.Session) -> Response:
        response = _secure(RedirectResponse("/login", status_code=303))
        response.delete_cookie(sessions.COOKIE)
        return response

    async def current(request: Request, session: sessions.Session) -> Response:
        with open_store() as store:
            reports = _current_reports(store)
        return page(request, "current.html.j2", reports=reports)

    async def timeline(request: Request, session: sessions.Session) -> Response:
        with open_store() as store:
            flows = []
            for flow in store.report_flows():
                reports = store.reports(flow)
                flows.append(
                    {
                        "flow": flow,
                        "reports": reports,
                        "charts": trend.charts(reports),
                        "changes": trend.changes(reports),
                    }
                )
        return page(request, "timeline.html.j2", flows=flows)

    async def api_csv(request: Request, session: sessions.Session) -> Response:
        with open_store() as store:
            report = store.latest_report(request.path_params["flow"], figures=False)
        if report is None:
            return page(request, "error.html.j2", 404, message="このフローの報告はまだありません。")
        return _secure(
            Response(
                report_csv(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": "attachment; filename=report.csv"},
            )
        )

    async def ops(request: Request, session: sessions.Session) -> Response:
        with open_store() as store:
            view: dict[str, Any] = {
                "runs": store.runs(limit=30),
                "outbox": store.outbox(),
                "counts": store.outbox_counts(),
                "audit": store.audit_log(),
            }
        if settings.health is not None:
            view["health"] = settings.health.health()
            view["metrics"] = settings.health.metrics_text()
        can_act = settings.retry is not None and allows(session.role, "operator")
        return page(request, "ops.html.j2", can_act=can_act, **view)

    async def retry(request: Request, session: sessions.Session) -> Response:
        key = request.state.form.get("key", "")
        if settings.retry is None:
            return page(
                request,
                "error.html.j2",
                403,
                message="このコンソールは読み取り専用です（automation serve --ui-port で操作できます）。",
            )
        outcome = await settings.retry(key)
        with open_store() as store:
            store.audit(session.user, "retry", key, outcome, settings.clock())
        return _secure(RedirectResponse("/ops", status_code=303))

    async def api_latest(request: Request, session: sessions.Session) -> Response:
        with open_store() as store:
            reports = {r["flow"]: r["report"] for r in _current_reports(store)}
        return _secure(JSONResponse(reports))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = "ページが見つかりません。" if status == 404 else "要求を処理できませんでした。"
        return page(request, "error.html.j2", status, message=message)

    async def server_error(request: Request, exc: Exception) -> Response:
        return page(
            request,
            "error.html.j2",
            500,
            message="内部エラーが発生しました。管理者にログを確認するよう伝えてください。",
        )

    routes = [
        Route("/healthz", healthz),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", guarded("viewer", logout), methods=["POST"]),
        Route("/", guarded("viewer", current)),
        Route("/timeline", guarded("viewer", timeline)),
        Route("/ops", guarded("viewer", ops)),
        Route("/ops/retry", guarded("operator", retry), methods=["POST"]),
        Route("/api/reports/latest", guarded("viewer", api_latest)),
        Route("/api/reports/{flow}/latest.csv", guarded("viewer", api_csv)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: not_found, 500: server_error},
    )


def _current_reports(store: Store) -> list[dict[str, Any]]:
    """The latest report of each flow with the department states beside it."""
    result = []
    for flow in store.report_flows():
        report = store.latest_report(flow, figures=False) or {}
        departments = [
            {
                "name": p.department,
                "changed_at": p.changed_at,
                "problems": p.problems,
                "table_found": p.table_found,
            }
            for p in store.fingerprints(flow)
        ]
        result.append({"flow": flow, "report": report, "departments": departments})
    return result


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form body as a flat dict (the first value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _secure(response: Response) -> Response:
    """The security headers every response carries."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response
