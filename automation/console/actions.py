"""Operator actions on 運用: 再送 of a failed message and 今すぐ実行 of a flow (operator
and admin, as issue 15 asks: a viewer only reads); 全員をサインアウト (admin).

Both go through hooks the daemon gives (the same flow lock and outbox as the CLI and the
schedule); a console without them is read-only and says so. Every action, refused or done,
is written to the audit log with who asked, for what, and how it ended.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from automation.console import revocation
from automation.console.sessions import COOKIE, Session
from automation.console.web import Console, secure

READ_ONLY = "このコンソールは読み取り専用です（automation serve --ui-port で操作できます）。"


def routes(console: Console) -> list[Route]:
    """POST /ops/retry and POST /ops/run, for operators and admins; POST /ops/signout-all
    for admins."""

    async def retry(request: Request, session: Session) -> Response:
        key = request.state.form.get("key", "")
        if console.settings.retry is None:
            return console.error(request, 403, READ_ONLY)
        outcome = await console.settings.retry(key)
        console.audit(session.who, "retry", key, outcome)
        return secure(RedirectResponse("/ops", status_code=303))

    async def run_now(request: Request, session: Session) -> Response:
        flow = request.state.form.get("flow", "")
        if console.settings.run_now is None:
            return console.error(request, 403, READ_ONLY)
        flows = console.settings.flows()
        if flow not in flows:
            known = "、".join(flows) or "なし"
            console.audit(session.who, "run", flow or "-", "refused: unknown flow")
            return console.error(
                request,
                404,
                f"フロー「{flow}」は設定にありません（設定にあるフロー: {known}）。"
                "運用のページから選び直してください。",
            )
        outcome = await console.settings.run_now(flow)
        console.audit(session.who, "run", flow, outcome)
        return secure(RedirectResponse("/ops", status_code=303))

    async def sign_out_everyone(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            revocation.revoke_all(store, console.settings.clock())
        console.audit(session.who, "signout-all", "console", "ok")
        response = secure(RedirectResponse("/login", status_code=303))
        response.delete_cookie(COOKIE)
        return response

    return [
        Route("/ops/retry", console.guarded("operator", retry), methods=["POST"]),
        Route("/ops/run", console.guarded("operator", run_now), methods=["POST"]),
        Route("/ops/signout-all", console.guarded("admin", sign_out_everyone), methods=["POST"]),
    ]
