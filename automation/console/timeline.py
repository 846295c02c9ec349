"""報告の推移's data: each flow's reports of one incident (its current one, or the one
``?incident=`` names) with their changes, charts and merged workbooks, and the flow's
incidents to choose from."""

from __future__ import annotations

from typing import Any

from automation.console import incidents, trend
from automation.console.incidents import UnknownIncidentError
from automation.console.reports import stored_workbook
from automation.console.text import audit_text
from automation.state import Store


def flows(store: Store, flow: str | None, wanted: str | None) -> list[dict[str, Any]]:
    """The flows 報告の推移 shows: every flow with reports (or only ``flow``), each at the
    incident ``wanted`` names (None: its current one). With a name, only the flows that had
    an incident of that name are shown; UnknownIncidentError when none had one, or when
    ``flow`` has no reports or no such incident."""
    names = store.report_flows()
    if flow is not None:
        if flow not in names:
            raise UnknownIncidentError(
                f"フロー {audit_text(flow, 60)} の報告はありません。報告の推移の一覧から選んでください。"
            )
        names = [flow]
    shown = []
    for name in names:
        listed = incidents.choices(store, name)
        try:
            chosen = incidents.choose(listed, wanted)
        except UnknownIncidentError:
            if flow is not None:
                raise
            continue
        shown.append(one_flow(store, chosen, listed))
    if not shown and wanted is not None:
        raise UnknownIncidentError(incidents.unknown(None, wanted))
    return shown


def one_flow(
    store: Store, chosen: incidents.Choice, listed: list[incidents.Choice]
) -> dict[str, Any]:
    """One flow's reports of the chosen incident, newest first, with what 報告の推移 draws."""
    reports = store.reports(chosen.flow, incident=chosen.id)
    records = store.report_records(chosen.flow, chosen.id)
    return {
        "flow": chosen.flow,
        "chosen": chosen,
        "choices": listed if chosen.key is not None else [],
        "reports": reports,
        "charts": trend.charts(reports),
        "changes": trend.changes(reports),
        "workbooks": [
            stored_workbook(records.get(int(r.get("number", 0))), chosen, int(r.get("number", 0)))
            for r in reports
        ],
    }
