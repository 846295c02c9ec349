"""Specs for the HQ export of a progress collection round (one .xlsx for the HQ meeting)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from automation.config.models import (
    Budget,
    Contact,
    Department,
    Directory,
    ProgressCollectionParams,
    Round,
)
from automation.flows import progress_collection
from automation.flows.progress_collection import ProgressReport
from automation.jobs.progress import list_columns
from automation.ports import ListItem
from automation.progress.export import build_progress_workbook
from automation.timeutil import JST

DEADLINE = date(2026, 10, 15)
FORMULA_LIKE = '=HYPERLINK("https://evil.example","部局")'


def mail(address: str) -> Contact:
    """A mail contact."""
    return Contact(channel="mail", address=address)


def department(name: str, slug: str) -> Department:
    """A department with a DX leader and an escalation contact."""
    return Department(
        name=name,
        dx_leaders=(mail(f"{slug}-dx@example.jp"),),
        escalation=(mail(f"{slug}-head@example.jp"),),
    )


def item(item_id: int, dept: str, project: str, **fields: object) -> ListItem:
    """A complete entry of 2026上期 unless ``fields`` override it."""
    values: dict[str, object] = {
        "対象期間": "2026上期",
        "部局": dept,
        "事業名": project,
        "実績": "実施",
        "進捗状況": "順調",
        "次期予定": "継続",
        "KPI": 10,
        "課題": "",
        "予算要求内容": "",
        "予算要求額": None,
    }
    values.update(fields)
    return ListItem(str(item_id), f"https://example.jp/items/{item_id}", None, values)


@pytest.fixture
def params() -> ProgressCollectionParams:
    """The half-year review with a KPI, stated issues and budget requests."""
    return ProgressCollectionParams(
        programme="DX推進計画",
        list="list.csv",
        rounds=(Round(deadline=DEADLINE),),
        required=("実績", "進捗状況", "次期予定"),
        numeric=("KPI",),
        issue_field="課題",
        budget=Budget(content="予算要求内容", amount="予算要求額"),
        secretariat=(mail("secretariat@example.jp"),),
        summary_to=(mail("hq@example.jp"),),
    )


@pytest.fixture
def directory() -> Directory:
    """Three departments, one of whose name looks like a spreadsheet formula."""
    return Directory(
        departments=(
            department("総務部", "somu"),
            department("農政部", "nousei"),
            department(FORMULA_LIKE, "formula"),
        )
    )


@pytest.fixture
def items() -> list[ListItem]:
    """総務部 1 of 2 complete, 農政部 1 of 3, the formula-like department 1 of 1."""
    return [
        item(1, "総務部", "電子申請", 実績=""),
        item(2, "総務部", "文書管理", 予算要求内容="サーバ更新", 予算要求額="1,200"),
        item(3, "農政部", "スマート農業", 次期予定="", 予算要求内容="ドローン", 予算要求額=300),
        item(4, "農政部", "農地台帳", 進捗状況="遅れ", 課題="入札不調"),
        item(5, "農政部", "鳥獣対策", KPI="多数", 予算要求内容="センサー", 予算要求額="45.5"),
        item(6, FORMULA_LIKE, "=1+1"),
    ]


@pytest.fixture
def report(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> ProgressReport:
    """The report when the round closes, when the summary and its export are due."""
    result = progress_collection.plan(
        params, directory, items, datetime(2026, 10, 16, 9, tzinfo=JST)
    )
    assert result.summary_due
    return result.report


@pytest.fixture
def columns(params: ProgressCollectionParams) -> list[str]:
    """The exported list columns, chosen as the job chooses them."""
    f = params.fields
    return [c for c in list_columns(params) if c not in (f.department, f.project)]


@pytest.fixture
def export(report: ProgressReport, columns: list[str]) -> bytes:
    """The .xlsx bytes of the export, KPI and the budget amount read as numbers."""
    return build_progress_workbook(report, columns, ["KPI", "予算要求額"])


@pytest.fixture
def book(export: bytes) -> Workbook:
    """The export opened with openpyxl."""
    return load_workbook(io.BytesIO(export))


def rows(sheet: Worksheet) -> list[tuple[object, ...]]:
    """Every row of ``sheet`` as values."""
    return list(sheet.iter_rows(values_only=True))


def header_index(sheet: Worksheet) -> dict[object, int]:
    """Column position by header (row 1)."""
    return {name: i for i, name in enumerate(rows(sheet)[0])}


def test_sheets_are_summary_items_delays_and_budget(book: Workbook) -> None:
    """The export has 集計, 全項目, 遅延案件 and 予算要求, in that order."""
    assert book.sheetnames == ["集計", "全項目", "遅延案件", "予算要求"]


def test_summary_lists_completion_per_department_with_rate(book: Workbook) -> None:
    """集計 has one row per department: items, complete items and the rate."""
    table = rows(book["集計"])
    assert table[3][:4] == ("部局", "項目数", "記入済み", "記入率")
    assert [r[:4] for r in table[4:7]] == [
        ("総務部", 2, 1, 0.5),
        ("農政部", 3, 1, pytest.approx(1 / 3)),
        (FORMULA_LIKE, 1, 1, 1),
    ]


def test_summary_rate_is_formatted_as_percent(book: Workbook) -> None:
    """The rate cells show as whole percent."""
    assert book["集計"]["D5"].number_format == "0%"


def test_summary_has_a_bar_chart(export: bytes) -> None:
    """A bar chart part exists and the drawing on 集計 refers to it."""
    with zipfile.ZipFile(io.BytesIO(export)) as archive:
        names = set(archive.namelist())
        assert "xl/charts/chart1.xml" in names
        assert "<c:barChart>" in archive.read("xl/charts/chart1.xml").decode()
        drawing_rels = archive.read("xl/drawings/_rels/drawing1.xml.rels").decode()
        sheet_rels = archive.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
    assert "../charts/chart1.xml" in drawing_rels
    assert "../drawings/drawing1.xml" in sheet_rels


def test_items_sheet_has_one_row_per_checked_item(book: Workbook, report: ProgressReport) -> None:
    """全項目 lists every checked entry of the period once, by id."""
    ids = [r[0] for r in rows(book["全項目"])[1:]]
    assert ids == [c.item.id for c in report.checks] == ["1", "2", "3", "4", "5", "6"]


def test_items_sheet_marks_incomplete_entries(book: Workbook) -> None:
    """記入状況 is 未完了 for entries with an issue and 記入済み otherwise."""
    sheet = book["全項目"]
    state = header_index(sheet)["記入状況"]
    assert {r[0]: r[state] for r in rows(sheet)[1:]} == {
        "1": "未完了",
        "2": "記入済み",
        "3": "未完了",
        "4": "記入済み",
        "5": "未完了",
        "6": "記入済み",
    }


def test_items_sheet_states_what_is_wrong(book: Workbook) -> None:
    """不備 holds each issue as 「field: reason」 and is empty for complete entries."""
    sheet = book["全項目"]
    issues = header_index(sheet)["不備"]
    by_id = {r[0]: r[issues] for r in rows(sheet)[1:]}
    assert by_id["1"] == "実績: 未記入です"
    assert by_id["3"] == "次期予定: 未記入です"
    assert (
        by_id["5"]
        == "KPI: 「多数」は数値ではありません。数字で入力してください（80、1,200、80% など）"
    )
    assert by_id["2"] is None


def test_items_sheet_exports_the_list_columns(book: Workbook, columns: list[str]) -> None:
    """全項目's header is id, department, project, the list columns, state, issues and link."""
    assert rows(book["全項目"])[0] == (
        "ID",
        "部局",
        "事業名",
        *columns,
        "記入状況",
        "不備",
        "リンク",
    )


def test_delayed_sheet_lists_delays_with_their_issue(book: Workbook) -> None:
    """遅延案件 lists the delayed project with its status and stated issue."""
    assert rows(book["遅延案件"])[1:] == [("農政部", "農地台帳", "遅れ", "入札不調")]


def test_budget_total_is_the_sum_of_amounts(book: Workbook, report: ProgressReport) -> None:
    """The 合計 row of 予算要求 equals the sum of the stated amounts (千円)."""
    table = rows(book["予算要求"])
    amounts = [r[3] for r in table[1:-1]]
    assert amounts == [1200, 300, 45.5]
    assert table[-1][2:4] == ("合計", sum(amounts))
    assert report.budget_total == Decimal("1545.5")


def test_formula_like_department_is_stored_as_text(book: Workbook) -> None:
    """A department named like a formula is a string cell on every sheet, never a formula."""
    summary = book["集計"]["A7"]
    entry = next(r for r in book["全項目"].iter_rows(min_row=2) if r[0].value == "6")
    for cell in (summary, entry[1], entry[2]):
        assert cell.data_type == "s"
    assert (summary.value, entry[1].value, entry[2].value) == (FORMULA_LIKE, FORMULA_LIKE, "=1+1")


def test_export_contains_no_formulas(export: bytes) -> None:
    """No worksheet of the export holds a formula element."""
    with zipfile.ZipFile(io.BytesIO(export)) as archive:
        sheets = [n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
        assert len(sheets) == 4
        for name in sheets:
            assert not re.search(r"<f[\s>/]", archive.read(name).decode()), name


def cell(book: Workbook, item_id: str, column: str) -> Any:
    """The 全項目 cell of one entry's column."""
    sheet = book["全項目"]
    index = header_index(sheet)[column]
    return next(r for r in sheet.iter_rows(min_row=2) if r[0].value == item_id)[index]


def test_amounts_written_as_text_are_numbers_in_the_items_sheet(book: Workbook) -> None:
    """「1,200」 in the amount column is the number 1200 shown as 1,200, so HQ can sum it."""
    amount = cell(book, "2", "予算要求額")
    assert (amount.value, amount.data_type, amount.number_format) == (1200, "n", "#,##0")


def test_fractional_amounts_keep_their_decimals(book: Workbook) -> None:
    """45.5 stays 45.5 with a thousands separator."""
    amount = cell(book, "5", "予算要求額")
    assert (amount.value, amount.number_format) == (45.5, "#,##0.0##")


def test_text_that_is_not_a_number_stays_text(book: Workbook) -> None:
    """KPI 「多数」 is written as the text it is."""
    assert cell(book, "5", "KPI").value == "多数"


def test_dates_are_dates(params: ProgressCollectionParams, directory: Directory) -> None:
    """A date column's 2026/10/15 and a Graph date-time are dates, formatted yyyy/mm/dd."""
    entries = [
        item(1, "総務部", "a", 次期予定="2026/10/15"),
        item(2, "総務部", "b", 次期予定=datetime(2026, 11, 2, 0, 0, tzinfo=JST)),
    ]
    report = progress_collection.plan(
        params, directory, entries, datetime(2026, 10, 16, 9, tzinfo=JST)
    ).report
    book = load_workbook(io.BytesIO(build_progress_workbook(report, ["次期予定"])))
    written = [
        (cell(book, i, "次期予定").value, cell(book, i, "次期予定").number_format) for i in "12"
    ]
    assert written == [
        (datetime(2026, 10, 15), "yyyy/mm/dd"),
        (datetime(2026, 11, 2), "yyyy/mm/dd"),
    ]


def test_budget_sheet_amounts_have_thousands_separators(book: Workbook) -> None:
    """予算要求 shows amounts and their total as #,##0."""
    sheet = book["予算要求"]
    assert [sheet.cell(row, 4).number_format for row in (2, 5)] == ["#,##0", "#,##0.0##"]


def test_a_figure_typed_with_a_counter_is_a_number_in_the_items_sheet(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A numeric field's 「120件」 is exported as the number 120, as the checks read it."""
    report = progress_collection.plan(
        params,
        directory,
        [item(1, "総務部", "a", KPI="120件")],
        datetime(2026, 10, 16, 9, tzinfo=JST),
    ).report
    book = load_workbook(io.BytesIO(build_progress_workbook(report, ["KPI"], ["KPI"])))
    assert (cell(book, "1", "KPI").value, cell(book, "1", "KPI").data_type) == (120, "n")
