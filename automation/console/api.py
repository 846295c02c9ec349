"""The JSON and CSV API behind the pages, for other systems (GIS, the national disaster
information system) and scripts: the same data as the pages, for a signed-in session.

Query parameters are checked: a value the API does not know answers 400 with what was
found and what is accepted, never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from automation.console import incidents, progress, trend
from automation.console.export import municipalities_csv, report_csv
from automation.console.municipalities import rows_of
from automation.console.reports import current_reports
from automation.console.sessions import Session
from automation.console.web import Console, secure
from automation.state import STATUSES, Incident

NO_REPORT = "このフローの報告はまだありません。"
MAX_LIMIT = 500
Endpoint = Callable[[Request, Session], Awaitable[Response]]


class BadQueryError(Exception):
    """A query parameter the API cannot use; the message says what is accepted."""


def _limit(request: Request, default: int) -> int:
    text = request.query_params.get("limit", str(default))
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQueryError(
            f"limit={text[:20]!r} は使えません。1〜{MAX_LIMIT} の整数を指定してください。"
        )
    return int(text)


def _json(data: Any) -> Response:
    return secure(JSONResponse(data))


def routes(console: Console) -> list[Route]:
    """Every /api/ address, each for any signed-in role."""

    def checked(view: Endpoint) -> Endpoint:
        async def endpoint(request: Request, session: Session) -> Response:
            try:
                return await view(request, session)
            except BadQueryError as exc:
                return secure(JSONResponse({"error": str(exc)}, status_code=400))

        return endpoint

    def viewer(path: str, view: Endpoint) -> Route:
        return Route(path, console.guarded("viewer", checked(view)))

    return [
        viewer("/api/reports/latest", _latest(console)),
        viewer("/api/reports/{flow}", _timeline(console)),
        viewer("/api/reports/{flow}/latest.json", _flow_latest(console)),
        viewer("/api/reports/{flow}/latest.csv", _csv(console, report_csv, False, "report.csv")),
        viewer(
            "/api/reports/{flow}/municipalities.csv",
            _csv(console, municipalities_csv, True, "municipalities.csv"),
        ),
        viewer("/api/incidents", _incidents(console)),
        viewer("/api/progress", _progress(console)),
        viewer("/api/runs", _runs(console)),
        viewer("/api/runs/{run_id:int}", _run(console)),
        viewer("/api/outbox", _outbox(console)),
        viewer("/api/audit", _audit(console)),
    ]


def _latest(console: Console) -> Endpoint:
    async def view(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            return _json({r["flow"]: r["report"] for r in current_reports(store)})

    return view


def _timeline(console: Console) -> Endpoint:
    """Every report of a flow's current incident (or of the one ``?incident=`` names),
    newest first, each with the totals that moved."""

    async def view(request: Request, session: Session) -> Response:
        flow = request.path_params["flow"]
        limit = _limit(request, 200)
        try:
            with console.open_store() as store:
                chosen = incidents.choose(
                    incidents.choices(store, flow), request.query_params.get("incident")
                )
                reports = store.reports(flow, limit=limit, incident=chosen.id)
        except incidents.UnknownIncidentError as exc:
            return console.error(request, 404, str(exc))
        if not reports:
            return console.error(request, 404, NO_REPORT)
        moved = trend.changes(reports)
        return _json(
            [
                {
                    **report,
                    "changes": [
                        {
                            "item": m.label,
                            "code": m.code,
                            "unit": m.unit,
                            "before": m.before_number,
                            "after": m.after_number,
                        }
                        for m in changes
                    ],
                }
                for report, changes in zip(reports, moved, strict=False)
            ]
        )

    return view


def _incidents(console: Console) -> Endpoint:
    """Each flow's incidents as 報告の推移 offers them (current first, then the past ones
    newest first), with their dates and report numbers; ?flow= for one flow."""

    async def view(request: Request, session: Session) -> Response:
        wanted = request.query_params.get("flow") or None
        with console.open_store() as store:
            flows = [wanted] if wanted else store.report_flows()
            listed = {flow: incidents.choices(store, flow) for flow in flows}
        return _json(
            {
                flow: [incident_json(flow, c.incident, c.current) for c in found if c.incident]
                for flow, found in listed.items()
            }
        )

    return view


def incident_json(flow: str, found: Incident, current: bool) -> dict[str, Any]:
    """One incident as the API gives it: what ``automation incident list`` shows, less the
    workbook's place, and the address of its reports."""
    return {
        "name": found.name,
        "current": current,
        "opened_at": found.opened_at.isoformat(),
        "closed_at": found.closed_at.isoformat() if found.closed_at else None,
        "closing": found.closing,
        "first_report": found.first_report,
        "last_report": found.last_report,
        "reports": f"/api/reports/{quote(flow, safe='')}?{urlencode({'incident': found.name})}",
    }


def _flow_latest(console: Console) -> Endpoint:
    async def view(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            report = store.latest_report(request.path_params["flow"])
        if report is None:
            return console.error(request, 404, NO_REPORT)
        body = {k: v for k, v in report.items() if k != "figures"}
        body["municipalities"] = [
            {
                "code": row.code or None,
                "name": row.name,
                "values": {item: format(value, "f") for item, value in row.values.items()},
                "unconfirmed": sorted(row.unconfirmed),
                "unreadable": sorted(row.unreadable),
            }
            for row in rows_of(report)
        ]
        return _json(body)

    return view


def _csv(
    console: Console, make: Callable[[dict[str, Any]], str], figures: bool, name: str
) -> Endpoint:
    async def view(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            report = store.latest_report(request.path_params["flow"], figures=figures)
        if report is None:
            return console.error(request, 404, NO_REPORT)
        return secure(
            Response(
                make(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f"attachment; filename={name}"},
            )
        )

    return view


def _progress(console: Console) -> Endpoint:
    async def view(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            found = progress.rounds(store)
        return _json(
            {
                r.flow: {
                    **r.record,
                    "run_at": r.run_at,
                    "contacts": [c.__dict__ for c in r.contacts],
                }
                for r in found
            }
        )

    return view


def _runs(console: Console) -> Endpoint:
    """Run history, newest first, each with its JSON run record; ?flow= and ?limit=."""

    async def view(request: Request, session: Session) -> Response:
        flow = request.query_params.get("flow") or None
        with console.open_store() as store:
            runs = store.runs(flow, limit=_limit(request, 50))
        return _json([{**run, "record": _record(run.get("record"))} for run in runs])

    return view


def _run(console: Console) -> Endpoint:
    """One run with its JSON run record (運用 links each run here)."""

    async def view(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            run = store.run(request.path_params["run_id"])
        if run is None:
            return secure(JSONResponse({"error": "この番号の実行はありません。"}, status_code=404))
        return _json({**run, "record": _record(run.get("record"))})

    return view


def _outbox(console: Console) -> Endpoint:
    """Outbox entries (never their bodies), oldest first; ?flow= and ?status=."""

    async def view(request: Request, session: Session) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in STATUSES:
            raise BadQueryError(
                f"status={status[:20]!r} は使えません。{'、'.join(STATUSES)} のいずれかです。"
            )
        flow = request.query_params.get("flow") or None
        with console.open_store() as store:
            entries = store.outbox(flow, (status,) if status else None)
        return _json(
            [
                {
                    "key": e.key,
                    "flow": e.flow,
                    "run_id": e.run_id,
                    "kind": e.kind,
                    "channel": e.channel,
                    "recipient": e.recipient_label,
                    "status": e.status,
                    "attempts": e.attempts,
                    "last_error": e.last_error,
                }
                for e in entries
            ]
        )

    return view


def _audit(console: Console) -> Endpoint:
    async def view(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            return _json(store.audit_log(limit=_limit(request, 50)))

    return view


def _record(text: Any) -> Any:
    """A stored run record as JSON data (None when there is none or it cannot be read)."""
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
