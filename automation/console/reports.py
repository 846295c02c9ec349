"""現在の報告 and the report API's data: each damage flow's latest report, its departments,
its per-municipality table and where its merged workbook is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.config.loader import LoadedConfig
from automation.config.models import LocalBackend, Schedule
from automation.console import incidents, municipalities
from automation.render import web_link
from automation.state import Store


@dataclass(frozen=True)
class Workbook:
    """The merged workbook of a report: a SharePoint/OneDrive address, or a local file the
    console can hand out, or only its name (a file the console cannot reach)."""

    name: str
    url: str | None = None
    download: str | None = None


def current_reports(
    store: Store, sort: str = municipalities.CODE_COLUMN, direction: str = "asc"
) -> list[dict[str, Any]]:
    """The latest report of each flow with the department states and municipalities."""
    result = []
    for flow in store.report_flows():
        report = store.latest_report(flow) or {}
        number = report.get("number")
        listed = incidents.choices(store, flow)
        current = listed[0]
        result.append(
            {
                "flow": flow,
                "report": {k: v for k, v in report.items() if k != "figures"},
                "departments": departments(store, flow),
                "table": municipalities.table(report, sort, direction),
                "workbook": workbook(store, current, number) if isinstance(number, int) else None,
                "source": source(store, flow, number) if isinstance(number, int) else None,
                "incident": incident(listed),
            }
        )
    return result


def incident(listed: list[incidents.Choice]) -> dict[str, Any] | None:
    """The incident the flow's current reports belong to (``automation incident``), if any
    (``listed``: the flow's choices, current first): its name, dates and whether it is
    closed (the flow idles until the next one opens), where 報告の推移 shows its reports,
    and the incident before it."""
    current = listed[0]
    found = current.incident
    if found is None:
        return None
    before = listed[1] if len(listed) > 1 else None
    return {
        "name": found.name,
        "closed": not found.is_open,
        "opened_at": found.opened_at.isoformat(),
        "closed_at": found.closed_at.isoformat() if found.closed_at else None,
        "last_report": found.last_report,
        "timeline": f"/timeline?{current.query()}",
        "before": (
            {"name": before.name, "timeline": f"/timeline?{before.query()}"} if before else None
        ),
    }


def departments(store: Store, flow: str) -> list[dict[str, Any]]:
    """Each department's sheet state: last change, problems, whether its table was found."""
    return [
        {
            "name": p.department,
            "changed_at": p.changed_at,
            "problems": p.problems,
            "table_found": p.table_found,
        }
        for p in store.fingerprints(flow)
    ]


def workbook(store: Store, chosen: incidents.Choice, number: int) -> Workbook | None:
    """Where the merged workbook of report ``number`` of an incident was stored, from its
    run record."""
    return stored_workbook(store.report_record(chosen.flow, number, chosen.id), chosen, number)


def stored_workbook(
    record: dict[str, Any] | None, chosen: incidents.Choice, number: int
) -> Workbook | None:
    """The merged workbook a report's run record names: its SharePoint address, or the
    console's incident-qualified download address for a local file."""
    for artefact in (record or {}).get("artefacts") or ():
        name = str(artefact.get("name") or "")
        location = str(artefact.get("location") or "")
        if not name.endswith(".xlsx"):
            continue
        url = web_link(location)
        if url:
            return Workbook(name, url=url)
        return Workbook(name, download=chosen.workbook(number))
    return None


def source(store: Store, flow: str, number: int) -> Workbook | None:
    """The departments' workbook report ``number`` was read from, as its run recorded it:
    its web address when the backend gave one (the Teams channel's file on SharePoint),
    else only its name (a local path is not something a browser elsewhere can open)."""
    record = store.report_record(flow, number) or {}
    found = record.get("source_workbook")
    if not isinstance(found, dict) or not found.get("name"):
        return None
    return Workbook(str(found["name"]), url=web_link(found.get("web_url")))


def local_file(
    store: Store, flow: str, number: int, incident: int, folder: Path | None
) -> Path | None:
    """The merged workbook of a report (of the incident with id ``incident``) as a file
    inside ``folder`` (the local backend's artefacts), or None: no folder, no such report,
    or a location outside the folder."""
    if folder is None:
        return None
    record = store.report_record(flow, number, incident) or {}
    root = folder.resolve()
    for artefact in record.get("artefacts") or ():
        location = str(artefact.get("location") or "")
        if not location or web_link(location):
            continue
        path = Path(location).resolve()
        if path.is_relative_to(root) and path.suffix == ".xlsx" and path.is_file():
            return path
    return None


def artefacts_folder(loaded: LoadedConfig) -> Path | None:
    """The local backend's folder of merged workbooks (the console hands them out), or
    None for Graph, whose workbooks are linked by their SharePoint address instead."""
    backend = loaded.config.backend
    return loaded.resolve(backend.artefacts) if isinstance(backend, LocalBackend) else None


def schedules(loaded: LoadedConfig) -> dict[str, str]:
    """Every configured flow with its schedule as 運用 shows it ("" when not scheduled)."""
    return {flow.id: schedule_text(flow.schedule) for flow in loaded.config.flows}


def schedule_text(schedule: Schedule | None) -> str:
    """``cron */5 * * * *（営業日のみ）``, ``60秒ごと``, or "" without a schedule."""
    if schedule is None:
        return ""
    text = (
        f"{schedule.every_seconds}秒ごと"
        if schedule.every_seconds is not None
        else "cron " + "、".join(schedule.cron)
    )
    return text + ("（営業日のみ）" if schedule.business_days_only else "")
