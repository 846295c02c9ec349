"""Specs for the merged workbook's 読取_ sheets: written as XML rows, read back as before.

The rows of a 読取_ sheet are composed as text (``automation/merged_workbook.py``), not cell
by cell through XlsxWriter; what a reader sees must not change. The reference here is the
writer as it was: XlsxWriter's per-cell API with the same formats.
"""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from automation.config.models import Contact, DamageRollupParams, Department, Directory
from automation.damage.reading import SheetReading
from automation.flows.damage_rollup import DamageState
from automation.merged_workbook import build_merged_workbook
from tests.test_damage_flow import at, inputs, run

MUNICIPALITIES = ["前橋市", "高崎市", "桐生市", "伊勢崎市", "太田市", "沼田市"]
ODD_TEXT = [
    "未確認",
    "調査中",
    "多数",
    "約10",
    "-1",
    "2.5",
    "１２",
    "=1+1",
    "a&b<c>\"d'",
    " 7 ",
    "😀",
]
SAFE = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
PROBLEM, FLAG, HEAD = "FFFCE4D6", "FFFFF2CC", "FFDDEBF7"

cell_values = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=5000),
    st.sampled_from(ODD_TEXT),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6),
)
sheet_rows = st.lists(st.lists(cell_values, min_size=3, max_size=3), min_size=1, max_size=6)


def _report(kiki: list[list[object]]) -> Any:
    """The report of one 危機管理課 sheet with the given rows (municipality, 3 figures)."""
    params = DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
    )
    directory = Directory(departments=(Department(name="危機管理課", sheet="危機管理課"),))
    rows = [[MUNICIPALITIES[n], *values] for n, values in enumerate(kiki)]
    return run(params, directory, inputs(rows), DamageState(), at(9, 10)).report


def _per_cell(reading: SheetReading) -> bytes:
    """The 読取_ sheet as XlsxWriter's per-cell API writes it: the reference."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    problem = book.add_format({"bg_color": "#FCE4D6"})
    flag = book.add_format({"bg_color": "#FFF2CC"})
    ws = book.add_worksheet("読取_危機管理課")
    ws.write_row(0, 0, ["市町村", *(item.title for item in reading.columns)], head)
    for row, (municipality, values) in enumerate(reading.rows, start=1):
        ws.write_string(row, 0, municipality)
        for col, item in enumerate(reading.columns, start=1):
            shown = values.get(item.code)
            if isinstance(shown, str):
                cell = reading.unreadable.get((municipality, item.code))
                ws.write_string(row, col, shown, problem if cell else flag)
                if cell is not None:
                    ws.write_comment(
                        row,
                        col,
                        f"{cell.place} 入力値「{cell.value}」: 読み取れないため集計していません。"
                        f"{cell.message}",
                    )
            elif shown is not None:
                ws.write_number(row, col, shown)
    book.close()
    return buffer.getvalue()


def _seen(data: bytes, sheet: str) -> dict[str, tuple[object, ...]]:
    """Every cell with a value, a fill, bold type or a comment, as openpyxl reads it."""
    ws = load_workbook(io.BytesIO(data))[sheet]
    seen = {}
    for row in ws.iter_rows():
        for cell in row:
            fill = cell.fill.fgColor.rgb if cell.fill.fill_type else None
            comment = cell.comment.text if cell.comment else None
            look = (cell.value, fill, cell.font.b, cell.border.left.style, comment)
            if look != (None, None, False, None, None):
                seen[cell.coordinate] = look
    return seen


@settings(max_examples=40, deadline=None)
@given(sheet_rows)
def test_an_as_read_sheet_reads_back_as_the_per_cell_writer_wrote_it(
    kiki: list[list[object]],
) -> None:
    """Values, fills, header style and comments of a 読取_ sheet equal the per-cell writer's."""
    report = _report(kiki)
    reading = report.readings["危機管理課"]
    merged = build_merged_workbook(report)
    assert _seen(merged, "読取_危機管理課") == _seen(_per_cell(reading), "読取_危機管理課")


def test_the_sheets_keep_their_order_and_the_fills_their_colours() -> None:
    """Summary sheets first, then one 読取_ sheet per department; problem, flag and head fills."""
    report = _report([[1, "多数", "未確認"], [2, 3, None]])
    data = build_merged_workbook(report)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["集計", "市町村別", "報告状況", "要修正セル", "読取_危機管理課"]
    seen = _seen(data, "読取_危機管理課")
    assert (seen["A1"][1], seen["C2"][1], seen["D2"][1]) == (HEAD, PROBLEM, FLAG)
    assert (seen["B3"][0], seen["C3"][0], "D3" in seen) == (2, 3, False)
