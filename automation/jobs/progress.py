"""The progress_collection job: read the list, plan, render, build the HQ export."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automation.config.loader import LoadedConfig
from automation.config.models import ProgressCollectionFlow, ProgressCollectionParams, SiteList
from automation.flows import progress_collection
from automation.flows.progress_collection import ProgressPlan
from automation.flows.progress_memory import ProgressMemory
from automation.jobs import Artefact, Prepared
from automation.render import Rendered, environment, render
from automation.state import Store
from automation.timeutil import JST

if TYPE_CHECKING:
    from automation.plan import Message
    from automation.ports import Backend, ListItem


def list_columns(params: ProgressCollectionParams) -> list[str]:
    """Every list column the flow reads, in a stable order, without repeats."""
    f = params.fields
    names = [
        f.period,
        f.department,
        f.project,
        *params.required,
        params.status_field,
        *params.numeric,
    ]
    if params.issue_field:
        names.append(params.issue_field)
    if params.budget:
        if params.budget.content:
            names.append(params.budget.content)
        names.append(params.budget.amount)
    return list(dict.fromkeys(names))


async def prepare(
    loaded: LoadedConfig,
    flow: ProgressCollectionFlow,
    now: datetime,
    store: Store | None,
    backend: Backend,
    *,
    summary: bool = False,
) -> Prepared:
    """Run the progress flow up to (not including) recording and delivery."""
    from automation.progress.export import build_progress_workbook  # noqa: PLC0415

    params = flow.params
    f = params.fields
    columns = list_columns(params)
    items = await _items(backend, params, columns, now)
    sent = store.sent_occasions(flow.id) if store is not None else frozenset()
    key = memory_key(flow.id)
    previous = ProgressMemory.loads(store.lookup(key)) if store is not None else None
    # Planning and rendering hold no I/O: off the event loop, as the damage job does.
    plan, rendered = await asyncio.to_thread(
        _plan_and_render, loaded, params, items, now, sent, summary, previous
    )
    export_columns = [c for c in columns if c not in (f.department, f.project)]
    numeric = [*params.numeric, *([params.budget.amount] if params.budget else [])]
    artefacts = (
        [Artefact(plan.artefact, build_progress_workbook, (plan.report, export_columns, numeric))]
        if plan.artefact
        else []
    )
    return Prepared(
        status="ok",
        record=progress_record(plan),
        rendered=rendered,
        artefacts=artefacts,
        near=params.list,
        save=lambda store, run_id, when: store.remember(key, plan.memory.dumps(), when),
    )


async def _items(
    backend: Backend, params: ProgressCollectionParams, columns: list[str], now: datetime
) -> list[ListItem]:
    """The list's entries: with ``period_indexed``, only the round's (filtered on the period
    as provision spells it, 令和8年度上期), and when there are none every entry, so that
    the alert can say which periods the list does hold."""
    f = params.fields
    read = functools.partial(
        backend.lists.items,
        params.list,
        columns,
        id_column=f.id,
        link_column=f.link,
        modified_column=f.modified,
    )
    if not (isinstance(params.list, SiteList) and params.list.period_indexed):
        return await read()
    _, period, _ = progress_collection.active_round(params, now.astimezone(JST).date())
    return await read(only=(f.period, period.label_ja)) or await read()


def _plan_and_render(
    loaded: LoadedConfig,
    params: ProgressCollectionParams,
    items: list[ListItem],
    now: datetime,
    sent: frozenset[str],
    summary: bool,
    previous: ProgressMemory | None,
) -> tuple[ProgressPlan, list[tuple[Message, Rendered]]]:
    """The pure part of a run: plan the round's messages and render them."""
    plan = progress_collection.plan(
        params,
        loaded.config.directory,
        items,
        now,
        sent=sent,
        summary_requested=summary,
        previous=previous,
        admins=loaded.config.service.alerts,
    )
    env = environment(loaded.resolve(params.templates) if params.templates else None)
    return plan, [(message, render(env, message)) for message in plan.messages]


def memory_key(flow_id: str) -> str:
    """Where a progress flow's memory of its round is kept in the state database."""
    return f"progress_memory:{flow_id}"


def progress_record(plan: ProgressPlan) -> dict[str, Any]:
    """The progress_collection part of a run record."""
    report = plan.report
    return {
        "kind": "progress_collection",
        "period": report.period.key,
        "period_ja": report.period.label_ja,
        "deadline": report.deadline.isoformat(),
        "phase": report.phase,
        "today": report.today.isoformat(),
        "items": len(report.checks),
        "complete": report.complete_count,
        "completion": {
            d.name: {"total": d.total, "complete": d.complete, "percent": d.percent}
            for d in report.completion
        },
        "status_counts": report.status_counts,
        "incomplete": [
            {
                "id": c.item.id,
                "department": c.department,
                "project": c.project,
                "link": c.item.link,
                "issues": [{"field": i.field, "reason": i.reason} for i in c.issues],
            }
            for c in report.incomplete
        ],
        "delayed": [
            {"id": c.item.id, "department": c.department, "project": c.project, "status": c.status}
            for c in report.delayed
        ],
        "budget_requests": len(report.budget),
        "budget_total": float(report.budget_total),
        "problems": [{"id": p.item_id, "message": p.message} for p in report.problems],
        "empty_round": plan.empty_round,
        "closes": report.closes.isoformat() if report.closes else None,
        "summary": plan.summary_due,
    }
