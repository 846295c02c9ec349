"""Specs for the merged workbook's sheets written as XML rows: they read back as before.

The rows of the 読取_ sheets, 市町村別 and 要修正セル are composed as text
(``automation/merged_workbook.py``), not cell by cell through XlsxWriter; what a reader
sees must not change. The reference here is the writer as it was: XlsxWriter's per-cell
API with the same formats.
"""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from automation.config.models import Contact, DamageRollupParams, Department, Directory
from automation.damage.reading import CellProblem, SheetReading
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


def _comment(problems: list[CellProblem]) -> str:
    return "\n".join(
        f"{p.place} 入力値「{p.value}」: 読み取れないため集計していません。{p.message}"
        for p in problems
    )


def _reference_book() -> tuple[Any, io.BytesIO, dict[str, Any]]:
    """A workbook with the merged workbook's formats, for the per-cell reference."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE})
    formats = {
        "head": book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
        "problem": book.add_format({"bg_color": "#FCE4D6"}),
        "flag": book.add_format({"bg_color": "#FFF2CC"}),
        "wrap": book.add_format({"text_wrap": True, "valign": "top"}),
    }
    return book, buffer, formats


def _per_cell_summaries(report: Any) -> bytes:
    """市町村別 and 要修正セル as XlsxWriter's per-cell API wrote them: the reference."""
    book, buffer, f = _reference_book()
    ws = book.add_worksheet("市町村別")
    totals = report.consolidated.totals
    ws.write_row(0, 0, ["市町村", *(f"{t.label}({t.unit})" for t in totals)], f["head"])
    flagged = {(m, t.code) for t in totals for m in t.unconfirmed_where}
    unreadable: dict[tuple[str, str], list[CellProblem]] = {}
    for reading in report.readings.values():
        for key, cell in reading.unreadable.items():
            unreadable.setdefault(key, []).append(cell)
    order = [m for r in report.readings.values() for m, _ in r.rows]
    order += list(report.consolidated.by_municipality)
    order += [m for t in totals for m in t.unconfirmed_where]
    for row, municipality in enumerate(dict.fromkeys(order), start=1):
        values = report.consolidated.by_municipality.get(municipality, {})
        ws.write_string(row, 0, municipality)
        for col, total in enumerate(totals, start=1):
            value, problems = values.get(total.code), unreadable.get((municipality, total.code))
            if problems:
                shown = "要修正: " + problems[0].value if value is None else float(value)
                ws.write(row, col, shown, f["problem"])
                ws.write_comment(row, col, _comment(problems))
            elif value is None and (municipality, total.code) in flagged:
                ws.write_string(row, col, "未確認", f["flag"])
            elif value is not None:
                ws.write_number(row, col, float(value))
    ws = book.add_worksheet("要修正セル")
    ws.write_row(0, 0, ["部局", "セル", "入力値", "内容と直し方"], f["head"])
    for row, p in enumerate(report.problems, start=1):
        ws.write_row(row, 0, [p.department, p.where, p.value])
        ws.write_string(row, 3, p.message, f["wrap"])
    book.close()
    return buffer.getvalue()


def _per_cell(reading: SheetReading) -> bytes:
    """The 読取_ sheet as XlsxWriter's per-cell API writes it: the reference."""
    book, buffer, f = _reference_book()
    head, problem, flag = f["head"], f["problem"], f["flag"]
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
                    ws.write_comment(row, col, _comment([cell]))
            elif shown is not None:
                ws.write_number(row, col, shown)
    book.close()
    return buffer.getvalue()


def _seen(data: bytes, sheet: str) -> dict[str, tuple[object, ...]]:
    """Every cell with a value, a fill, bold type, wrapping or a comment, as openpyxl reads it."""
    ws = load_workbook(io.BytesIO(data))[sheet]
    seen = {}
    for row in ws.iter_rows():
        for cell in row:
            fill = cell.fill.fgColor.rgb if cell.fill.fill_type else None
            comment = cell.comment.text if cell.comment else None
            wrap = bool(cell.alignment.wrap_text)
            look = (cell.value, fill, cell.font.b, cell.border.left.style, wrap, comment)
            if look != (None, None, False, None, False, None):
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


@settings(max_examples=30, deadline=None)
@given(sheet_rows)
def test_the_municipality_and_problem_sheets_read_back_as_the_per_cell_writer_wrote_them(
    kiki: list[list[object]],
) -> None:
    """市町村別 and 要修正セル: every cell's value, fill, style and comment as before."""
    report = _report(kiki)
    merged, reference = build_merged_workbook(report), _per_cell_summaries(report)
    for sheet in ("市町村別", "要修正セル"):
        assert _seen(merged, sheet) == _seen(reference, sheet)


def test_the_sheets_keep_their_order_and_the_fills_their_colours() -> None:
    """Summary sheets first, then one 読取_ sheet per department; problem, flag and head fills."""
    report = _report([[1, "多数", "未確認"], [2, 3, None]])
    data = build_merged_workbook(report)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["集計", "市町村別", "報告状況", "要修正セル", "読取_危機管理課"]
    seen = _seen(data, "読取_危機管理課")
    assert (seen["A1"][1], seen["C2"][1], seen["D2"][1]) == (HEAD, PROBLEM, FLAG)
    assert (seen["B3"][0], seen["C3"][0], "D3" in seen) == (2, 3, False)
