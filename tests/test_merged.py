"""Specs for the merged workbook: a cell that could not be read never looks blank."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook as OpenpyxlBook

from automation.config.models import Contact, DamageRollupParams, Department, Directory
from automation.damage.workbook import parse_workbook
from automation.flows.damage_rollup import DamageInputs, DamageState
from automation.merged_workbook import build_merged_workbook
from tests.builders import xlsx_bytes
from tests.test_damage_flow import HEADER, at, inputs, run

PROBLEM_FILL = "FFFCE4D6"


@pytest.fixture(scope="module")
def book() -> OpenpyxlBook:
    """The merged workbook of a report where 高崎市's 軽傷者 reads 多数 and 前橋市's is blank."""
    params = DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
    )
    directory = Directory(departments=(Department(name="危機管理課", sheet="危機管理課"),))
    rows = [["前橋市", 1, None, 3], ["高崎市", 0, "多数", 1]]
    result = run(params, directory, inputs(rows), DamageState(), at(9, 10))
    return load_workbook(io.BytesIO(build_merged_workbook(result.report)))


def test_a_problem_cell_by_municipality_is_filled_and_commented(book: OpenpyxlBook) -> None:
    """In 市町村別 the unreadable cell shows its raw value, a fill and why it is not counted."""
    ws = book["市町村別"]
    cell = ws["C3"]
    assert (ws["A3"].value, ws["C1"].value) == ("高崎市", "軽傷者(人)")
    assert (cell.value, cell.fill.fgColor.rgb) == ("要修正: 多数", PROBLEM_FILL)
    assert cell.comment is not None
    assert "危機管理課!C3 入力値「多数」" in cell.comment.text


def test_a_blank_cell_stays_blank_and_unmarked(book: OpenpyxlBook) -> None:
    """A cell nobody filled in (not reported) has no value, no fill and no comment."""
    cell = book["市町村別"]["C2"]
    assert (cell.value, cell.comment, cell.fill.fgColor.rgb) == (None, None, "00000000")


def test_a_problem_cell_as_read_carries_its_reason(book: OpenpyxlBook) -> None:
    """The 読取_ sheet fills the problem cell and comments the raw value and the reason."""
    cell = book["読取_危機管理課"]["C3"]
    assert (cell.value, cell.fill.fgColor.rgb) == ("要修正: 多数", PROBLEM_FILL)
    assert cell.comment is not None
    assert "「多数」は数値として読めません" in cell.comment.text


def test_the_summary_sheet_marks_a_total_that_leaves_a_cell_out(book: OpenpyxlBook) -> None:
    """集計 fills the affected figure and says how many cells, where, and that it is a floor."""
    ws = book["集計"]
    row = next(r for r in ws.iter_rows(min_row=5) if r[1].value == "軽傷者")
    assert (row[3].value, row[3].fill.fgColor.rgb) == (None, PROBLEM_FILL)
    assert row[5].value == "1件: 高崎市（数はこれ以上）"


def test_the_status_sheet_names_the_copy_of_a_missing_sheet() -> None:
    """報告状況 says which sheet looks like a missing department's and what to rename it to."""
    params = DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
    )
    directory = Directory(
        departments=(
            Department(name="危機管理課", sheet="危機管理課"),
            Department(name="土木部", sheet="土木部"),
        )
    )
    rows = [["前橋市", 1, 0, 3]]
    data = xlsx_bytes({"危機管理課": HEADER + rows, "土木部 (2)": HEADER + rows})
    workbook = DamageInputs("v1", parse_workbook(data, "book.xlsx", max_bytes=10**8))
    result = run(params, directory, workbook, DamageState(), at(9, 10))
    ws = load_workbook(io.BytesIO(build_merged_workbook(result.report)))["報告状況"]
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "土木部")
    assert (row[2].value, row[6].value) == (
        "シートなし",
        "「土木部 (2)」がこの部局のシートのコピーのようです。シート名を「土木部」に変更してください。",
    )


def test_every_open_incident_is_in_the_incident_sheet(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """箇所一覧 holds every open incident (the report lists the first 20), newest first."""
    from automation.config.models import RecordsLayout  # noqa: PLC0415
    from tests.test_damage_flow import numbered  # noqa: PLC0415

    params = DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
        layouts={"県土整備部": RecordsLayout()},
    )
    directory = Directory(departments=(Department(name="県土整備部", sheet="県土整備部"),))
    many = [
        [n, "道路", "前橋市", f"地点{n}", "通行止め" if n % 5 else "規制解除"] for n in range(1, 26)
    ]
    result = run(params, directory, numbered(many), DamageState(), at(9, 10))
    ws = load_workbook(io.BytesIO(build_merged_workbook(result.report)))["箇所一覧"]
    places = [row[3] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert places == [f"地点{n}" for n in range(1, 26) if n % 5]


def test_a_note_longer_than_excel_allows_is_cut_to_its_limit() -> None:
    """A hostile cell's text in a note is cut to Excel's 32,767 characters, never left whole."""
    from tests.test_owed_recipe import _report  # noqa: PLC0415  # its sample report

    report = _report([["多数" + "あ" * 33_000, 1, 2]], [])
    book = load_workbook(io.BytesIO(build_merged_workbook(report, kept=None)))
    notes = [
        cell.comment.text
        for ws in book.worksheets
        for row in ws.iter_rows()
        for cell in row
        if cell.comment is not None
    ]
    assert notes and all(len(text.encode("utf-16-le")) // 2 <= 32_767 for text in notes)
    assert any(text.count("あ") > 30_000 for text in notes)


def test_the_summary_sheet_lists_each_change_with_its_cells_beneath() -> None:
    """集計 lists each changed total (前報, 今回, 増減) under a header, its cells indented below."""
    params = DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
    )
    directory = Directory(departments=(Department(name="危機管理課", sheet="危機管理課"),))
    first = run(params, directory, inputs([["前橋市", 1, 0, 3]]), DamageState(), at(9, 10))
    second = run(params, directory, inputs([["前橋市", 2, 0, 3]]), first.state, at(9, 40))
    ws = load_workbook(io.BytesIO(build_merged_workbook(second.report)))["集計"]
    cells = [row for row in ws.iter_rows() if any(c.value is not None for c in row)]
    rows = [tuple(c.value for c in row) for row in cells]
    head = rows.index(("第1報からの変更", "項目", "前報", "今回", "増減", None))
    assert rows[head + 1][:5] == ("", "死者", 1, 2, 1)
    assert rows[head + 2][:2] == (None, "　前橋市 1 → 2（+1、危機管理課）")
    assert [c.font.b for c in cells[head][:5]] == [True] * 5
