"""The console's pages: 現在の報告, 報告の推移, 進捗 and 運用, and the merged workbook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from automation.console import incidents, municipalities, progress
from automation.console import timeline as timeline_data
from automation.console.accounts import allows
from automation.console.incidents import UnknownIncidentError
from automation.console.reports import current_reports, local_file
from automation.console.sessions import Session
from automation.console.web import Console, secure
from automation.state import Store

NO_WORKBOOK = (
    "この報告の集約ブックはこのコンソールから取り出せません"
    "（SharePoint に保存されていないか、ファイルが移動されました）。"
)


def routes(console: Console) -> list[Route]:
    """The HTML pages, each for any signed-in role."""

    async def current(request: Request, session: Session) -> Response:
        sort = request.query_params.get("sort", municipalities.CODE_COLUMN)
        direction = request.query_params.get("dir", "asc")
        with console.open_store() as store:
            reports = current_reports(store, sort, direction)
        # An idle flow's final report is shown when asked for (or a heading of its table was
        # clicked); by the address, so the page's reload every minute keeps it shown.
        show_final = "final" in request.query_params or "sort" in request.query_params
        return console.page(request, "current.html.j2", reports=reports, show_final=show_final)

    async def timeline(request: Request, session: Session) -> Response:
        flow = request.query_params.get("flow")
        wanted = request.query_params.get("incident")
        try:
            with console.open_store() as store:
                flows = timeline_data.flows(store, flow, wanted)
        except UnknownIncidentError as exc:
            return console.error(request, 404, str(exc))
        chosen = flow is not None or wanted is not None
        return console.page(request, "timeline.html.j2", flows=flows, chosen=chosen)

    async def progress_page(request: Request, session: Session) -> Response:
        with console.open_store() as store:
            rounds = progress.rounds(store)
        return console.page(request, "progress.html.j2", rounds=rounds)

    async def ops(request: Request, session: Session) -> Response:
        return console.page(request, "ops.html.j2", **ops_view(console, session))

    async def merged_workbook(request: Request, session: Session) -> Response:
        flow = request.path_params["flow"]
        number = request.path_params["number"]
        try:
            with console.open_store() as store:
                found = report_incidents(store, flow, number, request.query_params.get("incident"))
                path = (
                    local_file(store, flow, number, found[0].id, console.settings.artefacts)
                    if len(found) == 1
                    else None
                )
        except UnknownIncidentError as exc:
            return console.error(request, 404, str(exc))
        if len(found) > 1:
            context = {"flow": flow, "number": number, "found": found}
            return console.page(request, "which_incident.html.j2", 300, **context)
        if path is None:
            return console.error(request, 404, NO_WORKBOOK)
        return secure(FileResponse(path, filename=path.name))

    return [
        Route("/", console.guarded("viewer", current)),
        Route("/timeline", console.guarded("viewer", timeline)),
        Route("/progress", console.guarded("viewer", progress_page)),
        Route("/ops", console.guarded("viewer", ops)),
        Route("/reports/{flow}/{number:int}/workbook", console.guarded("viewer", merged_workbook)),
    ]


def report_incidents(
    store: Store, flow: str, number: int, wanted: str | None
) -> list[incidents.Choice]:
    """The incidents report ``number`` of ``flow`` may belong to: the one ``?incident=``
    names, else every incident of the flow that issued a 第N報 of that number (several
    once numbering restarted: an address without ``?incident=`` from before then cannot
    say which it meant)."""
    listed = incidents.choices(store, flow)
    if wanted is not None:
        return [incidents.choose(listed, wanted)]
    issued = store.report_incidents(flow, number)
    return [choice for choice in listed if choice.id in issued]


def ops_view(console: Console, session: Session) -> dict[str, Any]:
    """What 運用 shows: flows, the outbox, runs, audit log, health, and what this user may do."""
    settings = console.settings
    with console.open_store() as store:
        view: dict[str, Any] = {
            "runs": store.runs(limit=30),
            "outbox": store.outbox(),
            "counts": store.outbox_counts(),
            "audit": store.audit_log(),
        }
        last = store.last_runs()
    if settings.health is not None:
        view["health"] = settings.health.health()
        view["metrics"] = settings.health.metrics_text()
    operator = allows(session.role, "operator")
    view["can_act"] = settings.retry is not None and operator
    view["can_run"] = settings.run_now is not None and operator
    view["can_sign_out_everyone"] = allows(session.role, "admin")
    view["flows"] = flow_rows(settings.flows(), last, view.get("health", {}).get("flows", {}))
    return view


def flow_rows(
    schedules: Mapping[str, str],
    last: Mapping[str, Mapping[str, Any]],
    live: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Each configured flow (or, unconfigured, each flow that ran): its schedule, the next
    run the daemon has planned, and how its last run ended."""
    names = list(schedules) or sorted(last)
    return [
        {
            "id": name,
            "schedule": schedules.get(name, "") if schedules else None,  # None: not known
            "next_run": (live.get(name) or {}).get("next_run"),
            "last_status": (last.get(name) or {}).get("status"),
            "last_run": (last.get(name) or {}).get("finished_at"),
            "report_number": (last.get(name) or {}).get("report_number"),
        }
        for name in names
    ]
