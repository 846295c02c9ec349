"""The JSON and CSV API behind the pages, for other systems (GIS, the national disaster
information system): the same data as the pages, for a signed-in session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from automation.console import progress
from automation.console.export import municipalities_csv, report_csv
from automation.console.municipalities import rows_of
from automation.console.reports import current_reports
from automation.console.sessions import Session
from automation.console.web import Console, secure

NO_REPORT = "このフローの報告はまだありません。"


def routes(console: Console) -> list[Route]:
    """/api/...: latest reports as JSON, one flow's latest as JSON and CSV, progress rounds."""

    async def latest(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            reports = {r["flow"]: r["report"] for r in current_reports(store)}
        return secure(JSONResponse(reports))

    async def flow_latest(request: Request, session: Session) -> Response:
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
        return secure(JSONResponse(body))

    def csv_of(make: Callable[[dict[str, Any]], str], figures: bool, name: str) -> Any:
        async def endpoint(request: Request, session: Session) -> Response:
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

        return endpoint

    async def rounds(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            found = progress.rounds(store)
        return secure(
            JSONResponse(
                {
                    r.flow: {
                        **r.record,
                        "run_at": r.run_at,
                        "contacts": [c.__dict__ for c in r.contacts],
                    }
                    for r in found
                }
            )
        )

    viewer = console.guarded
    return [
        Route("/api/reports/latest", viewer("viewer", latest)),
        Route("/api/reports/{flow}/latest.json", viewer("viewer", flow_latest)),
        Route(
            "/api/reports/{flow}/latest.csv",
            viewer("viewer", csv_of(report_csv, False, "report.csv")),
        ),
        Route(
            "/api/reports/{flow}/municipalities.csv",
            viewer("viewer", csv_of(municipalities_csv, True, "municipalities.csv")),
        ),
        Route("/api/progress", viewer("viewer", rounds)),
    ]
