"""The JSON run record printed by ``automation run --json`` and kept in run history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from automation.damage.totals import Change, Consolidated
from automation.errors import AutomationError
from automation.flows.damage_rollup import DamagePlan, DamageReport
from automation.plan import LIST_LIMIT
from automation.timeutil import as_of_ja


def _num(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


ERROR_KINDS = {
    "ConfigError": "config",
    "ConfigValidationError": "config",
    "AuthError": "auth",
    "TransientError": "transient",
    "UncertainError": "transient",
    "DataError": "data",
}
INTERNAL_ACTION = (
    "report it: this is a fault of the service, not of the configuration or the data; the "
    "log has the traceback"
)


def failed_record(
    flow_id: str, now: datetime, err: BaseException, *, dry_run: bool
) -> dict[str, Any]:
    """The record of a run that could not complete (``internal``: an unexpected exception)."""
    if isinstance(err, AutomationError):
        kind = ERROR_KINDS.get(type(err).__name__, "error")
        action, message = err.action, err.message
    else:
        kind, action = "internal", INTERNAL_ACTION
        message = f"{type(err).__name__}: {err}"
    return {
        "flow": flow_id,
        "status": "failed",
        "dry_run": dry_run,
        "now": now.isoformat(),
        "error": {"kind": kind, "action": action, "message": message},
        "report_number": None,
        "deliveries": [],
        "artefacts": [],
    }


def interrupted_record(flow_id: str, run_id: int, now: datetime) -> dict[str, Any]:
    """The record of a run that a crash or kill left ``running``, written at the next start."""
    return {
        "flow": flow_id,
        "run_id": run_id,
        "status": "interrupted",
        "dry_run": False,
        "now": now.isoformat(),
        "error": {
            "kind": "interrupted",
            "action": "none if it was a restart: messages it queued are checked before any "
            "resend; if it recurs, look for what kills the process (memory, service restarts)",
            "message": "the process stopped during this run (killed, crashed or restarted)",
        },
        "report_number": None,
        "deliveries": [],
        "artefacts": [],
    }


def damage_record(
    plan: DamagePlan, version: str, source: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """The damage_rollup part of a completed run's record; ``source`` is the departments'
    workbook as fetched: ``{"name", "web_url"}`` (web_url None where the backend has none)."""
    report = plan.report
    return {
        "kind": "damage_rollup",
        "report_number": report.number or None,
        "new_report": report.new,
        "as_of": report.as_of.isoformat(),
        "as_of_ja": as_of_ja(report.as_of),
        "workbook_version": version,
        "source_workbook": dict(source) if source else None,
        # read: this run read the workbook; stored: unchanged, so the totals, problems and
        # incidents are those of the current report; none: there is no report to show.
        "report_state": report.carries,
        "totals": _totals(report.consolidated),
        "statuses": report.consolidated.statuses,
        "changes": [_change(c) for c in report.changes],
        "incident_changes": [
            {
                "kind": i.kind,
                "department": i.incident.department,
                "key": i.incident.key,
                "before_status": i.before_status,
                "status": i.incident.status,
                "text": i.text,
            }
            for i in report.incident_changes
        ],
        "open_incidents": [
            {
                "department": i.department,
                "key": i.key,
                "type": i.label,
                "municipality": i.municipality,
                "place": i.place,
                "status": i.status,
                "since": i.since.isoformat(),
            }
            for i in report.open_incidents
        ],
        "departments": _departments(report),
        "not_reported": [d.name for d in report.not_reported],
        "problems": _problems(report)[:LIST_LIMIT],
        "problems_total": len(report.problems),
    }


# What a damage run's record repeats of the current report. An ``unchanged`` run keeps only its
# outcome in history (it would otherwise store the whole report again at every poll): the report
# itself is kept with the run that issued it (``report_number``).
REPORT_BODY = (
    "totals",
    "statuses",
    "changes",
    "incident_changes",
    "open_incidents",
    "departments",
    "not_reported",
    "problems",
)


def for_history(record: dict[str, Any]) -> dict[str, Any]:
    """The record as run history keeps it: an unchanged run without the report it repeats."""
    if record.get("status") != "unchanged" or record.get("kind") != "damage_rollup":
        return record
    kept = {k: v for k, v in record.items() if k not in REPORT_BODY}
    return {**kept, "report_body": "unchanged: see the run that issued report_number"}


def _totals(consolidated: Consolidated) -> dict[str, Any]:
    """Each item's total by code, with what could not be counted and where."""
    return {
        t.code: {
            "label": t.label,
            "unit": t.unit,
            "category": t.category,
            "value": _num(t.value),
            "unconfirmed": t.unconfirmed,
            "unconfirmed_where": list(t.unconfirmed_where[:LIST_LIMIT]),
            "unreadable": t.unreadable,
            "unreadable_where": list(t.unreadable_where[:LIST_LIMIT]),
            "notes": t.notes_ja,
        }
        for t in consolidated.totals
    }


def _change(c: Change) -> dict[str, Any]:
    """One changed item, with its change per municipality (the first ``LIST_LIMIT``;
    ``parts_total`` counts them all: a record that listed every moved cell of a large
    workbook ran to tens of megabytes, held whole while it is stored)."""
    return {
        "code": c.code,
        "label": c.label,
        "unit": c.unit,
        "status": c.status,
        "before": _num(c.before),
        "after": _num(c.after),
        "before_unconfirmed": c.before_unconfirmed,
        "after_unconfirmed": c.after_unconfirmed,
        "before_unreadable": c.before_unreadable,
        "after_unreadable": c.after_unreadable,
        "parts": [
            {
                "municipality": p.municipality,
                "before": _num(p.before),
                "after": _num(p.after),
                "before_mark": p.before_mark or None,
                "after_mark": p.after_mark or None,
                "departments": list(p.departments),
                "text": p.text,
            }
            for p in c.parts[:LIST_LIMIT]
        ],
        "parts_total": len(c.parts),
    }


def _departments(report: DamageReport) -> dict[str, Any]:
    """Each department's status by name."""
    return {
        d.name: {
            "status": d.status,
            "updated": d.updated,
            "behind": d.behind,
            "behind_ja": d.behind_ja if d.behind else None,
            "problems": d.problems,
            "carried_forward": d.carried_forward,
            # The sheet missing: the sheet that looks like it, and the report's words for it.
            "likely_sheet": d.likely_sheet,
            "likely_sheet_ja": d.sheet_hint_brief_ja or None,
            "changed_at": d.changed_at.isoformat() if d.changed_at else None,
        }
        for d in report.departments
    }


def _problems(report: DamageReport) -> list[dict[str, Any]]:
    """The problems shown with the report, each where it was found."""
    return [
        {
            "department": p.department,
            "where": p.where,
            "value": p.value,
            "message": p.message,
            "municipality": p.municipality or None,
            "item": p.item or None,
            "headline": p.headline,
        }
        for p in report.problems
    ]
