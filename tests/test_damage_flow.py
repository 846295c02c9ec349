"""Specs for the pure damage_rollup flow: numbering, diffs, statuses, feedback, reminders."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest

from automation.config.models import (
    Contact,
    DamageRollupParams,
    Deadlines,
    Department,
    Directory,
    RecordsLayout,
)
from automation.damage.workbook import parse_workbook
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState, plan
from automation.timeutil import JST
from tests.builders import xlsx_bytes

HEADER = [["市町村", "死者", "軽傷者", "全壊(棟)"]]
ROAD_HEADER = [["被害種別", "市町村", "状況"]]


def at(hour: int, minute: int = 0) -> datetime:
    """A time on 2026-09-01 in JST."""
    return datetime(2026, 9, 1, hour, minute, tzinfo=JST)


@pytest.fixture
def directory() -> Directory:
    """Three departments: two with sheets that report, one whose sheet is absent."""
    return Directory(
        departments=(
            Department(
                name="危機管理課",
                sheet="危機管理課",
                contacts=(Contact(channel="mail", address="kiki@example.jp"),),
            ),
            Department(
                name="県土整備部",
                sheet="県土整備部",
                contacts=(Contact(channel="mail", address="kendo@example.jp"),),
            ),
            Department(
                name="企業局",
                sheet="企業局",
                contacts=(Contact(channel="mail", address="kigyou@example.jp"),),
            ),
        )
    )


@pytest.fixture
def params() -> DamageRollupParams:
    """A flow reporting every three hours to one mailbox and one webhook."""
    return DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(
            Contact(channel="mail", address="bousai@example.jp"),
            Contact(channel="teams_webhook", address="https://example.invalid/hook", name="班"),
        ),
        layouts={"県土整備部": RecordsLayout(statuses=("通行止め", "規制解除"))},
        municipalities=("前橋市", "高崎市", "桐生市"),
        deadlines=Deadlines(every_hours=3, remind_minutes_before=30),
    )


def inputs(
    kiki: list[list[object]] | None, roads: list[list[object]] | None = None
) -> DamageInputs:
    """A workbook holding the given sheets (None: the sheet is absent)."""
    sheets = {}
    if kiki is not None:
        sheets["危機管理課"] = HEADER + kiki
    if roads is not None:
        sheets["県土整備部"] = ROAD_HEADER + roads
    data = xlsx_bytes(sheets)
    return DamageInputs("v-" + str(hash(data)), parse_workbook(data, "book.xlsx", max_bytes=10**8))


def run(
    params: DamageRollupParams,
    directory: Directory,
    data: DamageInputs,
    state: DamageState,
    now: datetime,
) -> DamagePlan:
    """Plan one run."""
    return plan(params, directory, data, state, now)


FIRST = [["前橋市", 1, 2, 3], ["高崎市", 0, "未確認", 1]]
ROADS = [["道路", "前橋市", "通行止め"], ["道路", "高崎市", "規制解除"]]


def test_first_run_issues_report_one(params: DamageRollupParams, directory: Directory) -> None:
    """The first run with figures issues 第1報 as of the run time."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    assert (result.status, result.report.number, result.report.new) == ("ok", 1, True)
    assert result.report.as_of_ja == "2026年9月1日9時10分現在"
    assert result.artefact == "被害状況集計_第1報.xlsx"


def test_totals_add_departments_and_keep_unconfirmed_apart(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Totals sum readable numbers; 未確認 cells are counted apart, never as zero."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    totals = {t.code: t for t in result.report.consolidated.totals}
    assert totals["dead"].value == Decimal(1)
    assert totals["injured_minor"].value == Decimal(2)
    assert totals["injured_minor"].unconfirmed == 1
    assert totals["injured_minor"].unconfirmed_where == ("高崎市",)
    assert totals["roads"].value == Decimal(2)
    assert result.report.consolidated.statuses["roads"] == {"通行止め": 1, "規制解除": 1}


def test_first_report_goes_to_every_response_team_contact(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A new report is one message per report_to contact, the workbook attached to mail only."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    reports = [m for m in result.messages if m.kind == "report"]
    assert [(m.contact.channel, m.attachments) for m in reports] == [
        ("mail", ("被害状況集計_第1報.xlsx",)),
        ("teams_webhook", ()),
    ]
    assert {m.occasion for m in reports} == {"report:1"}


def test_unchanged_workbook_issues_no_new_report(
    params: DamageRollupParams, directory: Directory
) -> None:
    """When the backend saw no change (workbook None), the number stays and nothing is reported."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    second = run(
        params, directory, DamageInputs(first.state.version or "", None), first.state, at(9, 20)
    )
    assert (second.status, second.report.number, second.report.new) == ("unchanged", 1, False)
    assert [m for m in second.messages if m.kind in ("report", "feedback")] == []


def test_same_figures_in_a_new_file_issue_no_new_report(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A re-saved workbook with identical figures does not produce a new number."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    again = inputs(FIRST, ROADS)
    second = run(params, directory, replace(again, version="other"), first.state, at(9, 20))
    assert (second.status, second.report.number) == ("unchanged", 1)


def test_changed_figure_issues_next_number_with_diff(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A changed figure issues 第2報 and lists the item with before and after."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    changed = [["前橋市", 2, 2, 3], ["高崎市", 0, "未確認", 1]]
    second = run(params, directory, inputs(changed, ROADS), first.state, at(10, 0))
    assert second.report.number == 2
    assert [(c.code, c.before, c.after, c.delta) for c in second.report.changes] == [
        ("dead", Decimal(1), Decimal(2), Decimal(1))
    ]


def test_confirming_an_unconfirmed_cell_is_a_change(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Replacing 未確認 with a number changes the figures and the flag count."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    confirmed = [["前橋市", 1, 2, 3], ["高崎市", 0, 4, 1]]
    second = run(params, directory, inputs(confirmed, ROADS), first.state, at(10, 0))
    change = next(c for c in second.report.changes if c.code == "injured_minor")
    assert (change.before, change.after, change.before_unconfirmed, change.after_unconfirmed) == (
        Decimal(2),
        Decimal(6),
        1,
        0,
    )


def test_status_change_of_an_incident_is_a_change(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A road reopening (通行止め -> 規制解除) issues a new report listing both status counts."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    reopened = [["道路", "前橋市", "規制解除"], ["道路", "高崎市", "規制解除"]]
    second = run(params, directory, inputs(FIRST, reopened), first.state, at(10, 0))
    assert [(c.status, c.before, c.after) for c in second.report.changes] == [
        ("規制解除", Decimal(1), Decimal(2)),
        ("通行止め", Decimal(1), Decimal(0)),
    ]


def test_missing_sheet_is_reported_as_missing(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A department whose sheet is absent has status missing and counts as not reported."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    status = {d.name: d for d in result.report.departments}["企業局"]
    assert (status.status, status.updated) == ("missing", False)
    assert "企業局" in [d.name for d in result.report.not_reported]


@pytest.mark.parametrize("name", ["危機管理課 ", "危機管理課　", " 危機管理課"])
def test_a_sheet_name_with_a_space_excel_does_not_show_is_the_departments(
    params: DamageRollupParams, directory: Directory, name: str
) -> None:
    """A sheet renamed with a leading or trailing (full-width) space is still read."""
    data = xlsx_bytes({name: HEADER + FIRST, "県土整備部": ROAD_HEADER + ROADS})
    book = DamageInputs("v", parse_workbook(data, "book.xlsx", max_bytes=10**8))
    result = run(params, directory, book, DamageState(), at(9, 10))
    kiki = {d.name: d for d in result.report.departments}["危機管理課"]
    assert kiki.status == "updated"
    assert {t.code: t.value for t in result.report.consolidated.totals}["dead"] == Decimal(1)


def test_sheet_removed_after_reporting_keeps_previous_figures(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A sheet that disappears keeps its last figures, marked as carried forward."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    second = run(params, directory, inputs(FIRST, None), first.state, at(10, 0))
    roads = {d.name: d for d in second.report.departments}["県土整備部"]
    assert (roads.status, roads.carried_forward) == ("missing", True)
    assert second.report.number == 1  # the figures did not change


def test_unreadable_table_keeps_previous_figures(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A sheet whose header was broken keeps the last figures and shows problems."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    broken = xlsx_bytes(
        {"危機管理課": [["地名", "死者"], ["前橋市", 5]], "県土整備部": ROAD_HEADER + ROADS}
    )
    data = DamageInputs("broken", parse_workbook(broken, "book.xlsx", max_bytes=10**8))
    second = run(params, directory, data, first.state, at(10, 0))
    kiki = {d.name: d for d in second.report.departments}["危機管理課"]
    assert (kiki.status, kiki.carried_forward) == ("problems", True)
    assert {t.code: t.value for t in second.report.consolidated.totals}["dead"] == Decimal(1)


def test_blank_template_is_not_a_report(params: DamageRollupParams, directory: Directory) -> None:
    """A sheet with only its headers is not updated and gets no feedback."""
    result = run(params, directory, inputs([], ROADS), DamageState(), at(9, 10))
    kiki = {d.name: d for d in result.report.departments}["危機管理課"]
    assert (kiki.status, kiki.updated, kiki.behind) == ("not_reported", False, True)
    assert [m for m in result.messages if m.kind == "feedback" and m.audience == "危機管理課"] == []


def test_feedback_goes_to_departments_whose_sheet_changed(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Each department with a new sheet version gets feedback once per version."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    assert sorted(m.audience for m in first.messages if m.kind == "feedback") == [
        "危機管理課",
        "県土整備部",
    ]
    changed = [["前橋市", 2, 2, 3], ["高崎市", 0, "未確認", 1]]
    second = run(params, directory, inputs(changed, ROADS), first.state, at(10, 0))
    assert [m.audience for m in second.messages if m.kind == "feedback"] == ["危機管理課"]


def test_feedback_lists_the_departments_problem_cells(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A department's feedback carries its own unreadable cells with their addresses."""
    result = run(
        params, directory, inputs([["前橋市", "多数", 1, 1]], ROADS), DamageState(), at(9, 10)
    )
    feedback = next(
        m for m in result.messages if m.kind == "feedback" and m.audience == "危機管理課"
    )
    assert [p.where for p in feedback.context["reading"].problems] == ["危機管理課!B2"]


def test_feedback_keeps_the_counts_and_problems_not_the_cells(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A feedback message keeps what it shows (problems, counts), not the sheet's cells."""
    # 60 waiting messages would otherwise keep every department's cells alive
    result = run(
        params, directory, inputs([["前橋市", "多数", 1, 1]], ROADS), DamageState(), at(9, 10)
    )
    feedback = next(
        m for m in result.messages if m.kind == "feedback" and m.audience == "危機管理課"
    )
    reading = feedback.context["reading"]
    assert (reading.amounts, reading.rows, reading.unreadable) == ({}, [], {})
    assert [p.where for p in reading.problems] == ["危機管理課!B2"]
    counted = {c.item.code: (c.value, c.unreadable) for c in feedback.context["counted"]}
    assert counted["dead"] == (None, 1) and counted["injured_minor"] == (1, 0)


def test_a_flow_without_feedback_counts_nothing_for_it(
    params: DamageRollupParams, directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With feedback off, no sheet is counted for a feedback message: the report is the same."""
    with_feedback = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))

    def refused(*_: object) -> None:
        raise AssertionError("counted for feedback that is never sent")

    monkeypatch.setattr(damage_rollup, "_feedback_of", refused)
    quiet = params.model_copy(update={"feedback": False})
    result = run(quiet, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    assert [m.kind for m in result.messages if m.kind == "feedback"] == []
    assert result.report.consolidated.totals == with_feedback.report.consolidated.totals


def test_reminder_goes_to_departments_not_updated_inside_window(
    params: DamageRollupParams, directory: Directory
) -> None:
    """30 minutes before a deadline, departments not updated since the last one are reminded."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(8, 0))
    unchanged = DamageInputs(first.state.version or "", None)
    result = run(params, directory, unchanged, first.state, at(11, 40))
    reminders = [m for m in result.messages if m.kind == "reminder"]
    assert sorted(m.audience for m in reminders) == ["企業局", "危機管理課", "県土整備部"]
    assert {m.occasion for m in reminders} == {"reminder:2026-09-01T12:00:00+09:00"}


def test_no_reminder_outside_the_window(params: DamageRollupParams, directory: Directory) -> None:
    """Before the reminder window opens nobody is reminded."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(8, 0))
    result = run(
        params, directory, DamageInputs(first.state.version or "", None), first.state, at(11, 0)
    )
    assert [m for m in result.messages if m.kind == "reminder"] == []


def test_updated_department_is_not_reminded(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A department that changed its sheet after the last deadline gets no reminder."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(11, 40))
    assert sorted(m.audience for m in result.messages if m.kind == "reminder") == ["企業局"]


def test_plan_does_not_mutate_previous_state(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Planning is pure: the previous state object is left as it was."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    before = (first.state.report_number, dict(first.state.departments), first.state.snapshot)
    run(params, directory, inputs([["前橋市", 9, 9, 9]], ROADS), first.state, at(10, 0))
    assert (
        first.state.report_number,
        dict(first.state.departments),
        first.state.snapshot,
    ) == before


def test_report_time_writes_minutes_in_two_digits(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Times are written as Japanese reports write them: 9時05分, not 9時5分."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 5))
    assert result.report.as_of_ja == "2026年9月1日9時05分現在"


UNREADABLE = [["前橋市", 1, 2, 3], ["高崎市", 0, "多数", 1]]


def test_a_total_leaving_out_an_unreadable_cell_says_how_many_and_where(
    params: DamageRollupParams, directory: Directory
) -> None:
    """多数 is not counted; the total says one cell in 高崎市 is left out, so it reads "at least"."""
    result = run(params, directory, inputs(UNREADABLE, ROADS), DamageState(), at(9, 10))
    minor = next(t for t in result.report.consolidated.totals if t.code == "injured_minor")
    assert (minor.value, minor.unreadable, minor.unreadable_where) == (Decimal(2), 1, ("高崎市",))
    assert minor.notes_ja == "（ほかに読めないセル 1件: 高崎市）"


@pytest.mark.parametrize(
    ("row", "where"),
    [
        (["前橋", 2, None, None], "前橋"),  # not in the list: 前橋市 is
        (["前橋市", 2, None, None], "前橋市"),  # the municipality's second row
        ([None, 2, None, None], "市町村名なし"),
    ],
)
def test_a_row_left_out_says_so_beside_the_totals_it_would_move(
    params: DamageRollupParams, directory: Directory, row: list[object], where: str
) -> None:
    """A row not counted (its municipality unknown, repeated or blank) marks the totals."""
    kiki = [["前橋市", 1, 2, 3], row]
    result = run(params, directory, inputs(kiki, ROADS), DamageState(), at(9, 10))
    totals = {t.code: t for t in result.report.consolidated.totals}
    dead, minor = totals["dead"], totals["injured_minor"]
    assert (dead.value, dead.unreadable, dead.unreadable_where) == (Decimal(1), 1, (where,))
    assert dead.notes_ja == f"（ほかに読めないセル 1件: {where}）"
    assert minor.unreadable == 0  # the row's blank cells move nothing


@pytest.mark.parametrize(
    ("road", "where"),
    [
        (["道路", "前橋", "通行止め"], "前橋"),  # not in the list
        (["道路", "高崎市", "通行止"], "高崎市"),  # not one of the statuses
    ],
)
def test_an_incident_left_out_says_so_beside_its_items_total(
    params: DamageRollupParams, directory: Directory, road: list[object], where: str
) -> None:
    """An incident not counted (municipality or status unknown) marks its item's total."""
    result = run(params, directory, inputs(FIRST, [*ROADS, road]), DamageState(), at(9, 10))
    roads = next(t for t in result.report.consolidated.totals if t.code == "roads")
    assert (roads.value, roads.unreadable, roads.unreadable_where) == (Decimal(2), 1, (where,))


def test_an_item_with_only_an_unreadable_cell_is_still_listed(
    params: DamageRollupParams, directory: Directory
) -> None:
    """An item whose only cell cannot be read shows no figure and the marker, never nothing."""
    only = [["前橋市", 1, "若干", 3]]
    result = run(params, directory, inputs(only, ROADS), DamageState(), at(9, 10))
    minor = next(t for t in result.report.consolidated.totals if t.code == "injured_minor")
    assert (minor.value, minor.unreadable_where) == (None, ("前橋市",))


def test_a_cell_becoming_unreadable_is_a_change(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Replacing a number by 多数 changes the total and the count of cells left out."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    second = run(params, directory, inputs(UNREADABLE, ROADS), first.state, at(10, 0))
    change = next(c for c in second.report.changes if c.code == "injured_minor")
    assert (change.before_unreadable, change.after_unreadable) == (0, 1)


def test_report_text_and_card_carry_the_unreadable_marker_beside_the_figure(
    params: DamageRollupParams, directory: Directory
) -> None:
    """The mail text and the Adaptive Card write 「2人（ほかに読めないセル 1件: 高崎市）」."""
    from automation.render import environment, render  # noqa: PLC0415

    result = run(params, directory, inputs(UNREADABLE, ROADS), DamageState(), at(9, 10))
    mail, card = (render(environment(), m) for m in result.messages if m.kind == "report")
    assert "・人的被害 軽傷者: 2人（ほかに読めないセル 1件: 高崎市）" in (mail.text or "")
    assert "（ほかに読めないセル 1件: 高崎市）</td>" in (mail.html or "")
    facts = card.card["body"][3]["facts"] if card.card else []
    assert {"title": "軽傷者", "value": "2人（ほかに読めないセル 1件: 高崎市）"} in facts


def _no_deadlines(params: DamageRollupParams) -> DamageRollupParams:
    return params.model_copy(update={"deadlines": None})


def test_without_deadlines_a_department_with_standing_figures_is_not_behind(
    params: DamageRollupParams, directory: Directory
) -> None:
    """No deadline asks for more: figures that stand since the last report are 報告済み."""
    free = _no_deadlines(params)
    first = run(free, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    changed = [["前橋市", 2, 2, 3], ["高崎市", 0, "未確認", 1]]
    second = run(free, directory, inputs(changed, ROADS), first.state, at(10, 0))
    roads = {d.name: d for d in second.report.departments}["県土整備部"]
    assert (roads.status, roads.status_ja, roads.behind) == ("current", "報告済み", False)
    assert [d.name for d in second.report.not_reported] == ["企業局"]


def test_without_deadlines_a_department_that_never_reported_is_behind(
    params: DamageRollupParams, directory: Directory
) -> None:
    """The first report is always due: a blank template is 未報告 and listed."""
    result = run(_no_deadlines(params), directory, inputs([], ROADS), DamageState(), at(9, 10))
    kiki = {d.name: d for d in result.report.departments}["危機管理課"]
    assert (kiki.status_ja, kiki.behind, kiki.behind_ja) == ("未報告", True, "未報告")


def test_with_deadlines_no_change_since_the_last_deadline_is_behind(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Each deadline asks for a report after it: unchanged since 9:00 is 未更新 at 10:00."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(8, 50))
    changed = [["前橋市", 2, 2, 3], ["高崎市", 0, "未確認", 1]]
    second = run(params, directory, inputs(changed, ROADS), first.state, at(10, 0))
    roads = {d.name: d for d in second.report.departments}["県土整備部"]
    assert (roads.status_ja, roads.behind, roads.changed_at) == ("未更新", True, at(8, 50))


def test_the_report_lists_who_is_behind_with_their_last_change(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A department behind is listed with why and when it last changed its sheet."""
    from automation.render import environment, render  # noqa: PLC0415

    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(8, 50))
    changed = [["前橋市", 2, 2, 3], ["高崎市", 0, "未確認", 1]]
    second = run(params, directory, inputs(changed, ROADS), first.state, at(10, 0))
    mail = render(environment(), next(m for m in second.messages if m.kind == "report"))
    assert "・県土整備部（未更新、最終更新 9月1日(火)8時50分）" in (mail.text or "")
    assert "・危機管理課: 更新済み（9月1日(火)10時00分）" in (mail.text or "")


def test_a_move_between_municipalities_is_a_change_naming_both(
    params: DamageRollupParams, directory: Directory
) -> None:
    """One death moved from 前橋市 to 高崎市 leaves the total alone but issues 第2報 naming both."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    moved = [["前橋市", 0, 2, 3], ["高崎市", 1, "未確認", 1]]
    second = run(params, directory, inputs(moved, ROADS), first.state, at(10, 0))
    (change,) = second.report.changes
    assert (second.report.number, change.code, change.delta) == (2, "dead", Decimal(0))
    assert [p.text for p in change.parts] == [
        "前橋市 1 → 0（−1、危機管理課）",
        "高崎市 0 → 1（+1、危機管理課）",
    ]


def test_an_increase_names_the_municipality_and_the_department(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A change lists which municipality moved, by how much, and whose sheet moved it."""
    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(9, 10))
    confirmed = [["前橋市", 1, 2, 3], ["高崎市", 0, 4, 1]]
    second = run(params, directory, inputs(confirmed, ROADS), first.state, at(10, 0))
    change = next(c for c in second.report.changes if c.code == "injured_minor")
    assert [p.text for p in change.parts] == ["高崎市 未確認 → 4（+4、危機管理課）"]


NUMBERED = [["No", "被害種別", "市町村", "箇所", "状況"]]


def numbered(roads: list[list[object]]) -> DamageInputs:
    """A workbook whose road sheet numbers its incidents and says where each is."""
    data = xlsx_bytes({"危機管理課": HEADER + FIRST, "県土整備部": NUMBERED + roads})
    return DamageInputs("v-" + str(hash(data)), parse_workbook(data, "book.xlsx", max_bytes=10**8))


ROADS_1 = [
    [1, "道路", "前橋市", "国道17号 上細井", "通行止め"],
    [2, "道路", "高崎市", "県道 箕郷", "通行止め"],
]


def test_no_new_number_when_the_message_would_say_nothing_changed(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Rewording an incident's place changes the sheet but no figure or status: no 第2報."""
    first = run(params, directory, numbered(ROADS_1), DamageState(), at(9, 10))
    reworded = [[1, "道路", "前橋市", "国道17号 上細井町", "通行止め"], ROADS_1[1]]
    second = run(params, directory, numbered(reworded), first.state, at(10, 0))
    assert (second.status, second.report.number) == ("unchanged", 1)
    assert [m for m in second.messages if m.kind == "report"] == []


def test_incidents_new_closed_and_removed_are_listed_by_number(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Each incident is followed by its number: new, closed (規制解除) and removed are named."""
    first = run(params, directory, numbered(ROADS_1), DamageState(), at(9, 10))
    later = [
        [1, "道路", "前橋市", "国道17号 上細井", "規制解除"],
        [3, "道路", "桐生市", "県道 梅田", "通行止め"],
    ]
    second = run(params, directory, numbered(later), first.state, at(10, 0))
    assert [i.text for i in second.report.incident_changes] == [
        "解除・終了: 道路 前橋市 国道17号 上細井: 通行止め → 規制解除",
        "新規: 道路 桐生市 県道 梅田: 通行止め",
        "一覧から削除: 道路 高崎市 県道 箕郷: 通行止め",
    ]


def test_open_incidents_leave_out_closed_ones_newest_change_first(
    params: DamageRollupParams, directory: Directory
) -> None:
    """規制解除 is over; the open ones are listed with the newest status change first."""
    first = run(params, directory, numbered(ROADS_1), DamageState(), at(9, 10))
    later = [*ROADS_1, [3, "道路", "桐生市", "県道 梅田", "通行止め"]]
    later[0] = [1, "道路", "前橋市", "国道17号 上細井", "規制解除"]
    second = run(params, directory, numbered(later), first.state, at(10, 0))
    assert [(i.municipality, i.place, i.status, i.since) for i in second.report.open_incidents] == [
        ("桐生市", "県道 梅田", "通行止め", at(10, 0)),
        ("高崎市", "県道 箕郷", "通行止め", at(9, 10)),
    ]


def test_an_unchanged_run_shows_the_open_incidents_of_the_current_report(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A poll that finds the workbook unchanged still knows the open incidents."""
    first = run(params, directory, numbered(ROADS_1), DamageState(), at(9, 10))
    again = run(
        params, directory, DamageInputs(first.state.version or "", None), first.state, at(9, 20)
    )
    assert [i.municipality for i in again.report.open_incidents] == ["前橋市", "高崎市"]


def test_an_unchanged_run_carries_the_current_reports_problems(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A poll on an unchanged workbook shows the current report's problems, saying so."""
    first = run(params, directory, inputs(UNREADABLE, ROADS), DamageState(), at(9, 10))
    again = run(
        params, directory, DamageInputs(first.state.version or "", None), first.state, at(9, 20)
    )
    assert (again.report.carries, again.report.problems) == ("stored", first.report.problems)
    assert [d.name for d in again.report.not_reported] == ["企業局"]


def test_an_unchanged_run_without_a_report_says_it_carries_none(
    params: DamageRollupParams, directory: Directory
) -> None:
    """Before any report, or after one stored without its problems, the run says it has none."""
    old = DamageState(version="v", report_number=1, snapshot={"number": 1, "as_of": "x"})
    again = run(params, directory, DamageInputs("v", None), old, at(9, 20))
    assert (again.report.carries, again.report.problems) == ("none", [])


def test_a_long_list_of_open_incidents_is_capped_and_points_to_the_workbook(
    params: DamageRollupParams, directory: Directory
) -> None:
    """21 open incidents: the mail lists 20 and points to 箇所一覧; the card marks its cap."""
    from automation.render import environment, render  # noqa: PLC0415

    many = [[n, "道路", "前橋市", f"地点{n}", "通行止め"] for n in range(1, 22)]
    result = run(params, directory, numbered(many), DamageState(), at(9, 10))
    mail, card = (render(environment(), m) for m in result.messages if m.kind == "report")
    text = mail.text or ""
    assert "■ 対応中の箇所（21件、変更の新しい順）" in text
    assert "・ほか 1件（集計ブックの「箇所一覧」シートを参照）" in text
    assert "地点20" in text and "地点21" not in text
    assert any(e.get("id") == "see-workbook" for e in (card.card or {}).get("body", []))


def test_a_reminder_names_the_last_change_and_not_the_department_twice(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A sheet named after its department is 「報告シート」; the reminder says when it last changed."""
    from automation.render import environment, render  # noqa: PLC0415

    first = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(8, 0))
    unchanged = DamageInputs(first.state.version or "", None)
    result = run(params, directory, unchanged, first.state, at(11, 40))
    reminder = next(
        m for m in result.messages if m.kind == "reminder" and m.audience == "危機管理課"
    )
    text = render(environment(), reminder).text or ""
    assert (
        "報告シートは前回の締切（9時00分）以降更新されていません（最終更新 9月1日(火)8時00分）。"
        in text
    )
    assert "シート「危機管理課」" not in text


def test_an_incident_changing_to_an_open_status_is_a_status_change(
    params: DamageRollupParams, directory: Directory
) -> None:
    """A status that is not a closing one (規制解除 -> 通行止め) is a 状況変更."""
    closed = [[1, "道路", "前橋市", "国道17号 上細井", "規制解除"], ROADS_1[1]]
    first = run(params, directory, numbered(closed), DamageState(), at(9, 10))
    second = run(params, directory, numbered(ROADS_1), first.state, at(10, 0))
    assert [i.text for i in second.report.incident_changes] == [
        "状況変更: 道路 前橋市 国道17号 上細井: 規制解除 → 通行止め"
    ]


def with_copy(copy: str = "企業局 (2)", kiki: list[list[object]] = FIRST) -> DamageInputs:
    """危機管理課's and 県土整備部's sheets, and ``copy`` in place of 企業局's sheet."""
    sheets = {"危機管理課": HEADER + kiki, "県土整備部": ROAD_HEADER + ROADS, copy: HEADER + FIRST}
    data = xlsx_bytes(sheets)
    return DamageInputs("v-" + str(hash(data)), parse_workbook(data, "book.xlsx", max_bytes=10**8))


def test_a_missing_sheet_names_the_copy_that_looks_like_it(
    params: DamageRollupParams, directory: Directory
) -> None:
    """企業局's sheet is gone and 「企業局 (2)」 is there: the status names it as a hint."""
    result = run(params, directory, with_copy(), DamageState(), at(9, 10))
    status = {d.name: d for d in result.report.departments}["企業局"]
    assert (status.status, status.likely_sheet) == ("missing", "企業局 (2)")


def test_the_copys_figures_are_never_read_in_place_of_the_missing_sheet(
    params: DamageRollupParams, directory: Directory
) -> None:
    """The copy may be a scratch copy: the totals hold 危機管理課's figures alone."""
    result = run(params, directory, with_copy(), DamageState(), at(9, 10))
    assert {t.code: t.value for t in result.report.consolidated.totals}["dead"] == Decimal(1)


def test_a_sheet_of_a_department_outside_the_flow_is_never_named(
    params: DamageRollupParams, directory: Directory
) -> None:
    """「企業局経理課」 is another department's sheet in the directory, though this flow does
    not read it: it is not named as 企業局's."""
    other = Department(name="企業局経理課", sheet="企業局経理課", contacts=())
    wider = Directory(departments=(*directory.departments, other))
    flow = params.model_copy(update={"departments": ("危機管理課", "県土整備部", "企業局")})
    result = run(flow, wider, with_copy("企業局経理課"), DamageState(), at(9, 10))
    assert {d.name: d for d in result.report.departments}["企業局"].likely_sheet is None


def test_the_hint_goes_when_the_copy_does(params: DamageRollupParams, directory: Directory) -> None:
    """A workbook saved without the copy: the missing sheet no longer names it."""
    first = run(params, directory, with_copy(), DamageState(), at(9, 10))
    second = run(params, directory, inputs(FIRST, ROADS), first.state, at(10, 0))
    assert {d.name: d for d in second.report.departments}["企業局"].likely_sheet is None


def reminder_text(result: DamagePlan, audience: str, part: str = "text") -> str:
    """The rendered reminder to ``audience``: its plain text, its HTML, or (sent to a Teams
    webhook) its card's text blocks as shown, Markdown escapes taken out."""
    from automation.render import environment, render  # noqa: PLC0415

    message = next(m for m in result.messages if m.kind == "reminder" and m.audience == audience)
    if part == "card":
        webhook = Contact(channel="teams_webhook", address="https://example.invalid/hook")
        card = render(environment(), replace(message, contact=webhook)).card or {}
        return "".join(str(block.get("text", "")) for block in card["body"]).replace("\\", "")
    rendered = render(environment(), message)
    return (rendered.html if part == "html" else rendered.text) or ""


def test_the_reminder_names_the_copy_and_the_name_to_give_it(
    params: DamageRollupParams, directory: Directory
) -> None:
    """The department is told its sheet is missing, which sheet looks like it, and the fix,
    by a poll that sees the workbook unchanged since the copy was seen."""
    first = run(params, directory, with_copy(), DamageState(), at(8, 0))
    unchanged = DamageInputs(first.state.version or "", None)
    result = run(params, directory, unchanged, first.state, at(11, 40))
    assert (
        "報告用ブックにシート「企業局」が見つかりません。「企業局 (2)」がこの部局のシートのコピーの"
        "ようです。シート名を「企業局」に変更してください。"
    ) in reminder_text(result, "企業局")


@pytest.mark.parametrize("part", ["html", "card"])
def test_the_reminders_mail_and_card_name_the_copy_too(
    params: DamageRollupParams, directory: Directory, part: str
) -> None:
    """The HTML mail and the Teams card carry the same hint as the plain text."""
    result = run(params, directory, with_copy(), DamageState(), at(11, 40))
    hint = "「企業局 (2)」がこの部局のシートのコピーのようです。シート名を「企業局」に変更してください。"
    assert hint in reminder_text(result, "企業局", part)


def test_a_missing_sheet_with_nothing_like_it_keeps_the_general_advice(
    params: DamageRollupParams, directory: Directory
) -> None:
    """No sheet looks like 企業局's: the reminder asks to check for a renamed or deleted sheet."""
    result = run(params, directory, inputs(FIRST, ROADS), DamageState(), at(11, 40))
    assert (
        "報告用ブックにシート「企業局」が見つかりません。シート名を変更・削除していないか確認してください。"
        in reminder_text(result, "企業局")
    )


@pytest.mark.parametrize("channel", ["mail", "teams_webhook"])
def test_the_report_lists_the_copy_beside_the_missing_sheet(
    params: DamageRollupParams, directory: Directory, channel: str
) -> None:
    """未報告・未更新の部局 says in a few words that a copy of the sheet is there."""
    import json  # noqa: PLC0415

    from automation.render import environment, render  # noqa: PLC0415

    result = run(params, directory, with_copy(), DamageState(), at(9, 10))
    report = next(m for m in result.messages if m.kind == "report" and m.contact.channel == channel)
    rendered = render(environment(), report)
    body = rendered.text if channel == "mail" else json.dumps(rendered.card, ensure_ascii=False)
    assert "企業局（シートなし、コピー「企業局 (2)」あり）" in (body or "").replace("\\", "")


def test_a_status_kept_before_the_hint_existed_still_loads() -> None:
    """A DepartmentStatus pickled without likely_sheet (an owed workbook's recipe) loads, with
    no hint."""
    import pickle  # noqa: PLC0415

    from automation.flows.damage_rollup import DepartmentStatus  # noqa: PLC0415

    status = DepartmentStatus("企業局", "企業局", "missing", False, 0, None)
    object.__delattr__(status, "likely_sheet")  # as an older version kept it
    loaded = pickle.loads(pickle.dumps(status))
    assert (loaded.likely_sheet, loaded.sheet_hint_ja) == (None, "")


def test_the_run_record_keeps_the_hint_for_the_console(
    params: DamageRollupParams, directory: Directory
) -> None:
    """The record names the sheet like the missing one, and the words the report gave it."""
    from automation.record import damage_record  # noqa: PLC0415

    result = run(params, directory, with_copy(), DamageState(), at(9, 10))
    kigyou = damage_record(result, "v")["departments"]["企業局"]
    assert (kigyou["likely_sheet"], kigyou["likely_sheet_ja"]) == (
        "企業局 (2)",
        "コピー「企業局 (2)」あり",
    )
