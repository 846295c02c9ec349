"""The ``progress_collection`` flow: chase missing half-year (or quarterly) progress
entries and summarise them for the DX headquarters.

``plan`` is pure: the list items, the configuration, what was already sent, what the flow
remembers of the round and the time come in; the checks, reminders, escalations, notices,
summary and the new memory go out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from urllib.parse import quote

from automation.cells import Amount, Blank, read_cell
from automation.config.models import Contact, Department, Directory, ProgressCollectionParams, Round
from automation.fiscal import (
    Period,
    business_days_after,
    business_days_before,
    date_ja,
    is_business_day,
    parse_period,
    period_due,
)
from automation.flows.progress_memory import (
    ProgressMemory,
    SummaryChanges,
    SummarySnapshot,
    changes_between,
)
from automation.list_values import (
    amount_in_thousands,
    match_choice,
    number_reading,
    plain_fields,
)
from automation.plan import LIST_LIMIT, Alert, Message
from automation.ports import ListItem
from automation.timeutil import JST

Phase = Literal["before", "reminder", "deadline", "escalation", "after", "idle"]


@dataclass(frozen=True)
class FieldIssue:
    """Why one field of an item is not acceptable."""

    field: str
    reason: str


@dataclass(frozen=True)
class ItemCheck:
    """One project's entry for the period, with what is missing or wrong."""

    item: ListItem
    department: str
    project: str
    status: str | None
    issues: tuple[FieldIssue, ...]

    @property
    def complete(self) -> bool:
        """Every required field filled, the status allowed, numbers numeric."""
        return not self.issues


@dataclass(frozen=True)
class InputProblem:
    """A list entry or directory entry the secretariat must fix."""

    item_id: str
    message: str


@dataclass(frozen=True)
class DepartmentCompletion:
    """Completion of one department's entries."""

    name: str
    total: int
    complete: int

    @property
    def rate(self) -> float:
        """Share of complete entries (0 when the department has none)."""
        return self.complete / self.total if self.total else 0.0

    @property
    def percent(self) -> int:
        """Completion in whole percent."""
        return round(self.rate * 100)


@dataclass(frozen=True)
class BudgetRequest:
    """A budget request: an entry with an amount (千円); the content is "" without one."""

    check: ItemCheck
    content: str
    amount: Decimal


@dataclass
class ProgressReport:
    """The picture of the collection round at ``now``."""

    programme: str
    period: Period
    deadline: date
    phase: Phase
    today: date
    # The data fields stay out of the repr: one round can hold tens of thousands of entries.
    checks: list[ItemCheck] = field(repr=False)
    problems: list[InputProblem] = field(repr=False)
    completion: list[DepartmentCompletion] = field(repr=False)
    status_counts: dict[str, int] = field(repr=False)
    delayed: list[ItemCheck] = field(repr=False)
    budget: list[BudgetRequest] = field(repr=False)
    issue_field: str | None
    closes: datetime | None = None  # when the round closes and HQ gets its summary

    @property
    def deadline_ja(self) -> str:
        """``10月15日(木)``."""
        return date_ja(self.deadline)

    @property
    def incomplete(self) -> list[ItemCheck]:
        """Entries with at least one issue."""
        return [c for c in self.checks if not c.complete]

    @property
    def non_submitters(self) -> list[DepartmentCompletion]:
        """Departments with at least one incomplete entry."""
        return [d for d in self.completion if d.complete < d.total]

    @property
    def budget_total(self) -> Decimal:
        """Sum of the budget requests' amounts (千円)."""
        return sum((b.amount for b in self.budget), Decimal(0))

    @property
    def complete_count(self) -> int:
        """Number of complete entries."""
        return sum(1 for c in self.checks if c.complete)


@dataclass
class ProgressPlan:
    """Everything the flow decided in one run, and what to remember of the round."""

    report: ProgressReport
    memory: ProgressMemory
    messages: list[Message] = field(default_factory=list, repr=False)
    summary_due: bool = False
    artefact: str | None = None
    changes: SummaryChanges | None = None  # since the previous summary, when one is sent
    empty_round: bool = False  # the list has no entry of the period for any department


def active_round(params: ProgressCollectionParams, today: date) -> tuple[Round, Period, Phase]:
    """The round whose window (first reminder day to closing day) contains today (else the
    latest past one)."""
    rounds = sorted(params.rounds, key=lambda r: r.deadline)
    chosen = None
    for round_ in rounds:
        start, end = round_window(params, round_)
        if start <= today <= end:
            chosen = round_
            break
    if chosen is None:
        past = [r for r in rounds if r.deadline <= today]
        chosen = past[-1] if past else rounds[0]
    period = round_period(params, chosen)
    return chosen, period, _phase(params, chosen.deadline, today)


def round_window(params: ProgressCollectionParams, round_: Round) -> tuple[date, date]:
    """The first reminder day and the last day the round acts on (escalation or closing)."""
    first_reminder = max(params.remind_business_days_before, default=0)
    last_escalation = max(params.escalate_business_days_after, default=0)
    start = business_days_before(round_.deadline, first_reminder)
    end = business_days_after(round_.deadline, last_escalation)
    return start, max(end, closing_time(params, round_).date())


def closing_time(params: ProgressCollectionParams, round_: Round) -> datetime:
    """When the round closes and HQ gets its summary (JST): ``summary_after`` business days
    after the deadline, at ``summary_after.at``."""
    after = params.summary_after
    day = business_days_after(round_.deadline, after.business_days)
    return datetime.combine(day, after.at, tzinfo=JST)


def round_period(params: ProgressCollectionParams, round_: Round) -> Period:
    """The period a round collects: as configured, or the one whose end is nearest the
    deadline (a 上期 round due 9/30 or 10/15 collects 上期; one due 4/15 the 下期 before)."""
    if round_.period is not None:
        parsed = parse_period(round_.period, params.period_kind)
        if parsed is not None:
            return parsed
    return period_due(round_.deadline, params.period_kind)


def _phase(params: ProgressCollectionParams, deadline: date, today: date) -> Phase:
    if not is_business_day(today):
        return "idle"
    if today == deadline:
        return "deadline"
    if today in {
        business_days_before(deadline, n) for n in params.remind_business_days_before if n
    }:
        return "reminder"
    if today in {
        business_days_after(deadline, n) for n in params.escalate_business_days_after if n
    }:
        return "escalation"
    return "before" if today < deadline else "after"


def plan(
    params: ProgressCollectionParams,
    directory: Directory,
    items: list[ListItem],
    now: datetime,
    *,
    sent: frozenset[str] = frozenset(),
    summary_requested: bool = False,
    previous: ProgressMemory | None = None,
    admins: tuple[Contact, ...] = (),
) -> ProgressPlan:
    """Decide this run's reminders, escalations, notices and summary, and what to remember.

    ``previous`` is what earlier runs remembered; ``admins`` are told (instead of the
    secretariat hearing that every department has no entry) when the list holds no entry
    of the round's period at all.
    """
    today = now.astimezone(JST).date()
    round_, period, phase = active_round(params, today)
    items = with_links(readable(items), params.link_template)
    expected = _expected_departments(params, directory)
    checks, problems = check_items(params, directory, items, period)
    empty = bool(expected) and not checks
    problems.extend(_directory_problems(params, expected, checks, empty=empty))
    report = _report(params, period, round_.deadline, phase, today, checks, problems, expected)
    report.closes = closing_time(params, round_)
    memory = previous if previous is not None and previous.period == period.key else None
    result = ProgressPlan(report, memory or ProgressMemory(period.key), empty_round=empty)
    result.messages += _contact_messages(params, report, directory)
    start, end = round_window(params, round_)
    if phase != "idle" and start <= today <= end:
        _list_notices(params, result, admins or params.secretariat, items)
    _summary(params, result, now, sent, summary_requested)
    return result


def readable(items: list[ListItem]) -> list[ListItem]:
    """Items with every field as the list shows it: rich text as text, several choices or
    lookups joined, a hyperlink by its description (``automation.list_values``)."""
    return [replace(item, fields=plain_fields(item.fields)) for item in items]


def with_links(items: list[ListItem], template: str | None) -> list[ListItem]:
    """Items without a link get ``template`` with ``{id}`` replaced (local lists)."""
    if template is None:
        return items
    return [
        item if item.link else replace(item, link=template.replace("{id}", quote(item.id)))
        for item in items
    ]


def _contact_messages(
    params: ProgressCollectionParams, report: ProgressReport, directory: Directory
) -> list[Message]:
    """Reminders to DX leaders, escalations to heads, non-submitters to the secretariat."""
    by_department = _group(report.incomplete)
    period, day, phase = report.period.key, report.today.isoformat(), report.phase
    messages: list[Message] = []
    if phase == "reminder" or (phase == "deadline" and params.remind_on_deadline):
        messages += _to_contacts(
            "reminder",
            f"reminder:{period}:{day}",
            "progress_reminder",
            report,
            by_department,
            lambda dept: dept.dx_leaders,
            directory,
        )
    if phase == "escalation":
        messages += _to_contacts(
            "escalation",
            f"escalation:{period}:{day}",
            "progress_escalation",
            report,
            by_department,
            lambda dept: dept.escalation,
            directory,
        )
        if report.non_submitters:
            occasion = f"non_submitters:{period}:{day}"
            messages += _to_secretariat(
                params, "non_submitters", occasion, "progress_non_submitters", report
            )
    return messages


def _list_notices(
    params: ProgressCollectionParams,
    result: ProgressPlan,
    admins: tuple[Contact, ...],
    items: list[ListItem],
) -> None:
    """Notices about the list's content, each problem once per round: entries the flow
    cannot use to the secretariat, a list without any entry of the period to the admins."""
    report = result.report
    memory = result.memory
    unnotified = [p for p in report.problems if _problem_key(p) not in memory.notified]
    new = unnotified[:LIST_LIMIT]  # the rest wait for the next notice
    if new:
        occasion = f"input_problems:{report.period.key}:{_problems_digest(new)}"
        still_open = len(report.problems) - len(unnotified)
        result.messages += [
            Message(
                "input_problems",
                occasion,
                "secretariat",
                contact,
                "progress_problems",
                {
                    "report": report,
                    "problems": new,
                    "still_open": still_open,
                    "later": len(unnotified) - len(new),
                },
            )
            for contact in params.secretariat
        ]
        notified = memory.notified | {_problem_key(p) for p in new}
        result.memory = replace(memory, notified=notified)
    if result.empty_round:
        alert = _empty_round_alert(params, report, items)
        result.messages += [
            Message(
                "alert",
                f"empty_round:{report.period.key}",
                "admins",
                contact,
                "admin_alert",
                {"alert": alert},
            )
            for contact in admins
        ]


def _empty_round_alert(
    params: ProgressCollectionParams, report: ProgressReport, items: list[ListItem]
) -> Alert:
    """Which period the round looks for, which periods the list holds, what to check."""
    period = report.period
    found = Counter(
        parsed.key
        for item in items
        if (parsed := parse_period(_text(item.fields.get(params.fields.period)), None))
    )
    held = (
        "一覧にある対象期間: " + "、".join(f"{key} {n}件" for key, n in sorted(found.items()))
        if found
        else "一覧に対象期間を読める項目がありません。"
    )
    return Alert(
        f"{report.programme}: 一覧に{period.label_ja}（{period.key}）の項目が1件もありません",
        (
            f"締切 {report.deadline_ja} の回は{period.label_ja}の項目を集めますが、"
            f"一覧の {len(items)}件 のうち該当するものは0件でした。",
            held,
            "各部局の「項目がありません」は事務局に通知していません。",
        ),
        f"設定の rounds[].period が集める期間か確かめてください（例: period: {period.key}）。"
        "期間が正しければ、一覧に各部局の項目を作成してください。",
    )


def _problem_key(problem: InputProblem) -> str:
    """A short stable key of one problem: notices name each problem once per round."""
    return hashlib.sha256(f"{problem.item_id}\x1f{problem.message}".encode()).hexdigest()[:16]


def _summary(
    params: ProgressCollectionParams,
    result: ProgressPlan,
    now: datetime,
    sent: frozenset[str],
    requested: bool,
) -> None:
    """The HQ summary when the round closes (once, on a business day, not for an empty
    round) or on demand, saying what changed since the previous summary of the round."""
    report = result.report
    memory = result.memory
    occasion = f"summary:{report.period.key}"
    closing = (
        report.closes is not None
        and now >= report.closes
        and is_business_day(report.today)
        and not memory.closed
        and occasion not in sent
        and not result.empty_round
    )
    if requested:
        occasion = f"summary:{report.period.key}:{now.isoformat()}"
    elif not closing:
        return
    snapshot = summary_snapshot(report, now)
    if memory.summary is not None:
        result.changes = changes_between(memory.summary, snapshot)
    result.memory = replace(memory, summary=snapshot, closed=memory.closed or not requested)
    result.summary_due = True
    result.artefact = params.artefact_name.format(period=report.period.key)
    result.messages += _summary_messages(params, result, occasion, result.artefact)


def summary_snapshot(report: ProgressReport, now: datetime) -> SummarySnapshot:
    """The figures of ``report`` an HQ summary shows."""
    return SummarySnapshot(
        now,
        report.complete_count,
        len(report.checks),
        {d.name: (d.complete, d.total) for d in report.completion},
        tuple(f"{c.department}「{c.project}」" for c in report.delayed),
        len(report.budget),
        report.budget_total,
    )


def _to_secretariat(
    params: ProgressCollectionParams,
    kind: str,
    occasion: str,
    template: str,
    report: ProgressReport,
) -> list[Message]:
    """One message of ``kind`` to each secretariat contact."""
    return [
        Message(kind, occasion, "secretariat", contact, template, {"report": report})
        for contact in params.secretariat
    ]


def _problems_digest(problems: list[InputProblem]) -> str:
    """A short digest of the problems shown: the same problems are reported once."""
    return hashlib.sha256(
        "\n".join(f"{p.item_id}\x1f{p.message}" for p in problems).encode()
    ).hexdigest()[:12]


def _summary_messages(
    params: ProgressCollectionParams, result: ProgressPlan, occasion: str, artefact: str
) -> list[Message]:
    """The HQ summary to each of its contacts; mail carries the summary workbook."""
    context = {"report": result.report, "changes": result.changes}
    return [
        Message(
            "summary",
            occasion,
            "headquarters",
            contact,
            "progress_summary",
            context,
            (artefact,) if contact.channel == "mail" else (),
        )
        for contact in params.summary_to or params.secretariat
    ]


def _expected_departments(
    params: ProgressCollectionParams, directory: Directory
) -> list[Department]:
    wanted = params.departments
    return [d for d in directory.departments if wanted is None or d.name in wanted]


def check_items(
    params: ProgressCollectionParams,
    directory: Directory,
    items: Iterable[ListItem],
    period: Period,
) -> tuple[list[ItemCheck], list[InputProblem]]:
    """Check every item of ``period``; report entries that cannot be attributed."""
    f = params.fields
    checks: list[ItemCheck] = []
    problems: list[InputProblem] = []
    seen: dict[tuple[str, str], str] = {}
    known = {d.name for d in directory.departments}
    for item in items:
        value = item.fields.get(f.period)
        raw_period = _text(value)
        parsed = parse_period(raw_period, params.period_kind) if raw_period else None
        if parsed is None:
            problems.append(InputProblem(item.id, _period_problem(value, raw_period, period)))
            continue
        if parsed != period:
            continue
        written = _text(item.fields.get(f.department))
        department = match_choice(written, known) or written
        project = _text(item.fields.get(f.project))
        if department not in known:
            problems.append(
                InputProblem(
                    item.id,
                    (
                        f"部局「{department}」が部局一覧（ディレクトリ）にありません。"
                        if department
                        else "部局が空欄です。"
                    )
                    + "部局名を直すか、管理者にディレクトリへの追加を依頼してください。",
                )
            )
            continue
        key = (department, project)
        if key in seen:
            problems.append(
                InputProblem(
                    item.id,
                    (
                        f"{department}「{project}」の{period.label_ja}の項目が重複しています"
                        f"（ID {seen[key]} と ID {item.id}）。1件にまとめてください。"
                        f"集計には ID {seen[key]} を使っています。"
                    ),
                )
            )
            continue
        seen[key] = item.id
        checks.append(_check(params, item, department, project))
    return checks, problems


def _period_problem(value: object, raw: str, period: Period) -> str:
    """Why an entry's period cannot be read, with how to write it."""
    example = f"「{period.key}」や「{period.label_ja}」のように"
    if isinstance(value, date):  # a date column (datetime is a date too)
        return (
            f"対象期間が日付（{value:%Y/%m/%d}）になっています。{example}期間を書いてください"
            "（一覧の列が日付型なら、選択肢か1行テキストの列にしてください）。"
        )
    if raw:
        return f"対象期間「{raw}」を読めません。{example}書いてください。"
    return f"対象期間が空欄です。{example}書いてください。"


def _check(
    params: ProgressCollectionParams, item: ListItem, department: str, project: str
) -> ItemCheck:
    issues: list[FieldIssue] = []
    for name in params.required:
        if _is_empty(item.fields.get(name)):
            issues.append(FieldIssue(name, "未記入です"))
    written = _text(item.fields.get(params.status_field)) or None
    status = match_choice(written, params.statuses) or written if written else None
    if status is not None and status not in params.statuses:
        issues.append(
            FieldIssue(
                params.status_field,
                f"「{status}」は選択肢（{'・'.join(params.statuses)}）にありません",
            )
        )
    for name in params.numeric:
        value = item.fields.get(name)
        if not _is_empty(value) and not isinstance(number_reading(value), Amount):
            issues.append(
                FieldIssue(
                    name,
                    f"「{_text(value)}」は数値ではありません。"
                    "数字で入力してください（80、1,200、80% など）",
                )
            )
    if params.budget is not None:
        amount = item.fields.get(params.budget.amount)
        if not _is_empty(amount) and not isinstance(amount_in_thousands(amount), Amount):
            issues.append(FieldIssue(params.budget.amount, _unreadable_amount(amount)))
    return ItemCheck(item, department, project, status, tuple(issues))


def _unreadable_amount(amount: object) -> str:
    return (
        f"「{_text(amount)}」は金額（千円）として読めません。千円単位の数字（1,200）か、"
        "単位をつけて（1,200千円・120万円・1,200,000円）入力してください"
    )


def _directory_problems(
    params: ProgressCollectionParams,
    expected: list[Department],
    checks: list[ItemCheck],
    *,
    empty: bool = False,
) -> list[InputProblem]:
    """Departments without entries (unless none has any: the admins hear of that once),
    without a DX leader or without an escalation contact."""
    problems = []
    has_items = {c.department for c in checks}
    for dept in expected:
        if dept.name not in has_items and not empty:
            problems.append(
                InputProblem(
                    "-", f"{dept.name}: この期間の項目が一覧にありません。項目を作成してください。"
                )
            )
        if not dept.dx_leaders:
            problems.append(
                InputProblem(
                    "-",
                    f"{dept.name}: DX推進リーダーの連絡先がディレクトリにありません。督促を送れません。",
                )
            )
        if params.escalate_business_days_after and not dept.escalation:
            problems.append(
                InputProblem("-", f"{dept.name}: エスカレーション先がディレクトリにありません。")
            )
    return problems


def _report(
    params: ProgressCollectionParams,
    period: Period,
    deadline: date,
    phase: Phase,
    today: date,
    checks: list[ItemCheck],
    problems: list[InputProblem],
    expected: list[Department],
) -> ProgressReport:
    per_dept: dict[str, list[ItemCheck]] = {d.name: [] for d in expected}
    for check in checks:
        per_dept.setdefault(check.department, []).append(check)
    completion = [
        DepartmentCompletion(name, len(entries), sum(1 for c in entries if c.complete))
        for name, entries in per_dept.items()
    ]
    statuses = Counter(c.status for c in checks if c.status in params.statuses)
    status_counts = {s: statuses.get(s, 0) for s in params.statuses}
    delayed = [c for c in checks if c.status in params.delayed_statuses]
    budget = _budget_requests(params, checks)
    return ProgressReport(
        params.programme,
        period,
        deadline,
        phase,
        today,
        checks,
        problems,
        completion,
        status_counts,
        delayed,
        budget,
        params.issue_field,
    )


def _budget_requests(
    params: ProgressCollectionParams, checks: list[ItemCheck]
) -> list[BudgetRequest]:
    """Entries with an amount (not blank, not 0): a content alone is not a request."""
    budget = params.budget
    if budget is None:
        return []
    requests = []
    for check in checks:
        reading = amount_in_thousands(check.item.fields.get(budget.amount))
        if isinstance(reading, Amount) and reading.value != 0:
            content = _text(check.item.fields.get(budget.content)) if budget.content else ""
            requests.append(BudgetRequest(check, content, reading.value))
    return requests


def _group(checks: list[ItemCheck]) -> dict[str, list[ItemCheck]]:
    grouped: dict[str, list[ItemCheck]] = {}
    for check in checks:
        grouped.setdefault(check.department, []).append(check)
    return grouped


def _to_contacts(
    kind: str,
    occasion: str,
    template: str,
    report: ProgressReport,
    by_department: Mapping[str, list[ItemCheck]],
    contacts_of: Callable[[Department], tuple[Contact, ...]],
    directory: Directory,
) -> list[Message]:
    """One message per contact, listing exactly the incomplete items of their departments."""
    per_contact: dict[tuple[str, str], tuple[Contact, list[str], list[ItemCheck]]] = {}
    for name, entries in by_department.items():
        dept = directory.get(name)
        if dept is None:
            continue
        for contact in contacts_of(dept):
            slot = per_contact.setdefault((contact.channel, contact.address), (contact, [], []))
            slot[1].append(name)
            slot[2].extend(entries)
    return [
        Message(
            kind,
            occasion,
            "・".join(names),
            contact,
            template,
            {"report": report, "contact_departments": names, "items": entries},
        )
        for contact, names, entries in per_contact.values()
    ]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_empty(value: object) -> bool:
    return (
        isinstance(read_cell(value, "", True), Blank)
        if not isinstance(value, str)
        else not value.strip()
    )
