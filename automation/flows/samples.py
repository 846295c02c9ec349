"""Each flow kind's sample plan: the messages it sends on small built-in inputs.

The template check (:mod:`automation.templates_check`) renders override templates with
these messages, so a broken override is found by ``validate`` rather than in the middle of
a disaster. The inputs are shaped by the flow's own parameters and directory (its
departments, sheets, layouts, contacts and deadlines); the flows plan them as they would
real inputs, purely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from automation.config.models import (
    DamageRollupFlow,
    DamageRollupParams,
    Directory,
    MatrixLayout,
    ProgressCollectionFlow,
    ProgressCollectionParams,
    RecordsLayout,
)
from automation.damage.workbook import Sheet, Workbook
from automation.plan import Message
from automation.timeutil import JST

SAMPLE_TOWNS = ("前橋市", "高崎市")
SAMPLE_START = datetime(2026, 9, 1, 9, 10, tzinfo=JST)
SAMPLE_INCIDENT_OPENED = datetime(2026, 9, 1, 9, 0, tzinfo=JST)


def sample_messages(
    flow: DamageRollupFlow | ProgressCollectionFlow, directory: Directory
) -> list[Message]:
    """Messages of every kind the flow can send, the richest first."""
    if isinstance(flow, DamageRollupFlow):
        return _damage_messages(flow.params, directory)
    return _progress_messages(flow.params, directory)


def _damage_messages(params: DamageRollupParams, directory: Directory) -> list[Message]:
    """Report 1, then report 2 with changes and problems, and a quiet run before a deadline.

    Every reporting department sends its sheet for report 1 (feedback to all); the first one
    changes its figures for report 2, for which the last one (of two or more) copied its
    sheet and deleted the original (missing, its copy named); in the quiet run nobody has
    updated since the deadline in between, so everyone is reminded.
    """
    from automation.damage.deadlines import next_deadline  # noqa: PLC0415  # damage flows only
    from automation.flows import damage_rollup  # noqa: PLC0415  # damage flows only
    from automation.flows.damage_rollup import (  # noqa: PLC0415  # damage flows only
        DamageInputs,
        DamagePlan,
        DamageState,
    )

    catalogue = damage_rollup.build_catalogue(params)
    departments = damage_rollup.reporting_departments(params, directory)
    towns = (params.municipalities or SAMPLE_TOWNS)[:2]
    titles = [
        item.title for item in catalogue.items if catalogue.match_header([item.title]).item is item
    ][:3]
    labels = [item.label for item in catalogue.items if catalogue.match_label(item.label) is item]
    label = "道路" if "道路" in labels or not labels else labels[0]

    def book(changed: bool) -> Workbook:
        sheets = {}
        for index, dept in enumerate(departments):
            layout = params.layouts.get(dept.name, params.default_layout)
            bump = int(changed and index == 0)
            name = dept.sheet or ""
            if changed and index == len(departments) - 1 > 0:
                name = f"{name} (2)"  # copied, the original deleted: missing, with a hint
            sheets[name] = (
                _records_sheet(name, layout, towns, label, bump)
                if isinstance(layout, RecordsLayout)
                else _matrix_sheet(name, layout, towns, titles, bump)
            )
        return Workbook("sample.xlsx", sheets)

    def run(
        version: str, workbook: Workbook | None, state: DamageState, at: datetime
    ) -> DamagePlan:
        inputs = DamageInputs(version, workbook)
        return damage_rollup.plan(params, directory, inputs, state, at, catalogue=catalogue)

    rule = params.deadlines
    first_at = SAMPLE_START
    if rule is not None and rule.since is not None:
        since = rule.since if rule.since.tzinfo else rule.since.replace(tzinfo=JST)
        first_at = since + timedelta(minutes=10)
    later = first_at + timedelta(hours=2)
    if rule is not None:  # a minute before the second deadline after report 1
        between = next_deadline(rule, first_at)
        later = next_deadline(rule, between + timedelta(minutes=1)) - timedelta(minutes=1)
    first = run("sample-1", book(changed=False), DamageState(), first_at)
    second = run("sample-2", book(changed=True), first.state, later)
    quiet = run("sample-1", None, first.state, later)
    closing = DamageInputs("sample-2", None, final=True)
    final = damage_rollup.plan(params, directory, closing, second.state, later, catalogue=catalogue)
    return [
        *second.messages,
        *quiet.messages,
        *first.messages,
        *final.messages,
        *_incident_messages(params, directory),
    ]


def _incident_messages(params: DamageRollupParams, directory: Directory) -> list[Message]:
    """The announcement of a sample incident, its workbook on SharePoint."""
    from automation.flows import incident  # noqa: PLC0415  # damage flows only

    link = "https://example.sharepoint.com/sites/bousai/Shared%20Documents/sample.xlsx"
    notice = incident.opened(params, "令和8年台風第10号", link, SAMPLE_INCIDENT_OPENED)
    return incident.open_messages(params, directory, notice)


def _matrix_sheet(
    name: str, layout: MatrixLayout, towns: Sequence[str], titles: Sequence[str], bump: int
) -> Sheet:
    """Rows of towns under item headers: figures, an unconfirmed cell and an unreadable one."""

    def value(column: int, row: int) -> object:
        if column == 0:
            return 1 + row + bump
        if row == 0:
            return column + 1
        return "調査中" if column == 1 else "多数"

    header = (layout.key_headers[0], *titles)
    body = [(town, *(value(c, r) for c in range(len(titles)))) for r, town in enumerate(towns)]
    return Sheet(name, (header, *body))


def _records_sheet(
    name: str, layout: RecordsLayout, towns: Sequence[str], label: str, bump: int
) -> Sheet:
    """One incident per town in the first statuses, plus one row of an unknown kind."""
    statuses = (layout.statuses or ("通行止め", "規制解除"))[:2]
    rows: list[tuple[object, ...]] = [
        (layout.type_column[0], layout.municipality_column[0], layout.status_column[0])
    ]
    rows += [(label, town, statuses[i % len(statuses)]) for i, town in enumerate(towns)]
    rows += [(label, towns[0], statuses[0])] * bump
    rows.append(("（サンプル）不明な種別", towns[0], statuses[0]))
    return Sheet(name, tuple(rows))


def _progress_messages(params: ProgressCollectionParams, directory: Directory) -> list[Message]:
    """A reminder day and an escalation day (with the HQ summary) of the first round.

    Each expected department has one incomplete, delayed entry with a budget request, and
    one entry names a department that is not in the directory.
    """
    from automation.fiscal import (  # noqa: PLC0415  # progress flows only
        business_days_after,
        business_days_before,
    )
    from automation.flows import progress_collection  # noqa: PLC0415  # progress flows only
    from automation.ports import ListItem  # noqa: PLC0415  # progress flows only

    round_ = min(params.rounds, key=lambda r: r.deadline)
    period = progress_collection.round_period(params, round_)
    f = params.fields
    wanted = params.departments
    expected = [d for d in directory.departments if wanted is None or d.name in wanted]
    status = (params.delayed_statuses or params.statuses or ("遅れ",))[0]
    items = []
    for index, name in enumerate([*(d.name for d in expected), "（サンプル）名簿にない部局"]):
        fields: dict[str, object] = {
            f.period: period.key,
            f.department: name,
            f.project: f"サンプル事業{index + 1}",
            **dict.fromkeys(params.required, "記入あり"),
            params.status_field: status,
            **dict.fromkeys(params.numeric, "10"),
        }
        fields[params.required[0]] = ""  # incomplete: reminders list it
        if params.issue_field:
            fields[params.issue_field] = "サンプルの課題"
        if params.budget:
            if params.budget.content:
                fields[params.budget.content] = "サンプルの予算要求"
            fields[params.budget.amount] = "1200"
        link = f"https://example.invalid/lists/items/{index + 1}"
        items.append(ListItem(str(index + 1), link, SAMPLE_START, fields))

    def phase(day: date) -> str:
        found, _, name = progress_collection.active_round(params, day)
        return name if found == round_ else ""

    before = [business_days_before(round_.deadline, n) for n in params.remind_business_days_before]
    after = [business_days_after(round_.deadline, n) for n in params.escalate_business_days_after]
    remind_day = next((d for d in before if phase(d) in ("reminder", "deadline")), round_.deadline)
    escalate_day = next((d for d in after if phase(d) == "escalation"), round_.deadline)
    reminded = progress_collection.plan(params, directory, items, _at(remind_day))
    earlier = progress_collection.summary_snapshot(reminded.report, _at(remind_day))
    earlier = replace(  # the previous summary: nothing complete, nothing delayed yet
        earlier,
        complete=0,
        departments={name: (0, total) for name, (_, total) in earlier.departments.items()},
        delayed=(),
    )
    escalated = progress_collection.plan(
        params,
        directory,
        items,
        _at(escalate_day),
        summary_requested=True,
        previous=replace(reminded.memory, summary=earlier),
    )
    return [*escalated.messages, *reminded.messages]


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=JST)
