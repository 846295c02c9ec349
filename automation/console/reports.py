"""現在の報告 and the report API's data: each damage flow's latest report, its departments,
its per-municipality table and where its merged workbook is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automation.config.loader import LoadedConfig
from automation.config.models import LocalBackend, Schedule
from automation.console import incidents, municipalities
from automation.console.trend import shown
from automation.damage.status import STATUS_JA
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
    """The latest report of each flow with the department states and municipalities, and
    from the run that issued it: what changed since the report before it, who is behind,
    and where its workbooks are."""
    result = []
    for flow in store.report_flows():
        report = store.latest_report(flow) or {}
        number = report.get("number")
        listed = incidents.choices(store, flow)
        current = listed[0]
        record = store.report_record(flow, number, current.id) if isinstance(number, int) else None
        result.append(
            {
                "flow": flow,
                "report": {k: v for k, v in report.items() if k != "figures"},
                "departments": departments(store, flow, record),
                "table": municipalities.table(report, sort, direction),
                "workbook": (
                    stored_workbook(record, current, number) if isinstance(number, int) else None
                ),
                "source": source(record),
                "incident": incident(listed),
                "points": points(record),
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


def departments(
    store: Store, flow: str, record: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each department's status in the report as its run recorded it (the status the
    report in the channel gave: 未報告, シートなし, 要修正 …), its last change; without such
    a record (a report stored before runs kept one), from the sheets last seen."""
    recorded = (record or {}).get("departments")
    if isinstance(recorded, dict) and recorded:
        return [
            {
                "name": str(name),
                "status": _status_ja(dept),
                "changed_at": dept.get("changed_at"),
            }
            for name, dept in recorded.items()
            if isinstance(dept, dict)
        ]
    return [
        {
            "name": p.department,
            "status": (
                "シートなし"
                if not p.table_found
                else f"要修正（{p.problems}件）"
                if p.problems
                else "更新済み"
                if p.changed_at
                else "未更新"
            ),
            "changed_at": p.changed_at,
        }
        for p in store.fingerprints(flow)
    ]


def _status_ja(dept: dict[str, Any]) -> str:
    status = str(dept.get("status") or "")
    text = STATUS_JA.get(status, status)
    if status == "problems":
        return f"{text}（{dept.get('problems')}件）"
    hint = _hint(dept)
    return f"{text}（{hint}）" if hint else text


def _hint(dept: dict[str, Any]) -> str:
    """The sheet that looks like the missing one as the report named it (コピー「危機管理課 (2)」
    あり), or "" (none, or a record kept before hints)."""
    hint = dept.get("likely_sheet_ja")
    return hint if isinstance(hint, str) else ""


def points(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the report in the channel opened with, for someone coming on shift: the items
    that changed since the report before (each with its unit), who is behind and why
    (未報告, 未更新, シートなし), and how many cells could not be read; None without the
    issuing run's record."""
    if not record or "changes" not in record:
        return None
    recorded: dict[str, Any] = record.get("departments") or {}
    return {
        "first": not record.get("changes") and record.get("report_number") == 1,
        "changes": [
            {
                "label": str(c.get("label", c.get("code", ""))),
                "status": c.get("status"),
                "before": shown(c.get("before"), str(c.get("unit") or "")),
                "after": shown(c.get("after"), str(c.get("unit") or "")),
            }
            for c in record.get("changes") or ()
            if isinstance(c, dict)
        ],
        "behind": [
            {"name": str(name), "why": _why(recorded.get(name))}
            for name in record.get("not_reported") or ()
        ],
        "problems": int(record.get("problems_total") or 0),
    }


def _why(dept: Any) -> str:
    """Why a department is behind, as the report said: 未報告, 未更新 or シートなし (with the
    sheet that looks like the missing one)."""
    if not isinstance(dept, dict):
        return "未報告"
    why = str(dept.get("behind_ja") or "未報告")
    hint = _hint(dept)
    return f"{why}、{hint}" if hint else why


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


def source(record: dict[str, Any] | None) -> Workbook | None:
    """The departments' workbook a report was read from, as its run (``record``) recorded
    it: its web address when the backend gave one (the Teams channel's file on
    SharePoint), else only its name (a local path is not something a browser elsewhere
    can open)."""
    found = (record or {}).get("source_workbook")
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
