"""Write the departments' input workbook from a provision plan (XlsxWriter).

Each department's sheet: a title and a note, the header (locked), the input cells
(unlocked, each column with its data validation, input message and error alert) and
frozen panes under the header. Sheets are protected without a password unless the plan
has one. Lists of choices live on a hidden, protected 選択肢 sheet, so a list of 1,700
municipalities fits (an inline list stops at 255 characters). Strings are written as
strings: nothing a configuration says becomes a formula.
"""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter

from automation.flows.provision import (
    CHOICES_SHEET,
    INSTRUCTIONS_SHEET,
    UNCONFIRMED_CHOICES,
    ZERO_CHOICE,
    Rule,
    SheetPlan,
    WorkbookPlan,
)

SAFE_STRINGS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
TITLE_ROW, NOTE_ROW, HEADER_ROW = 0, 1, 3  # the header starts on row 4
MAX_FIGURE = "1E+12"  # read_cell refuses values from 10^12 on (a slipped digit)
PROTECTION = {
    "select_locked_cells": True,
    "select_unlocked_cells": True,
    "format_columns": True,
    "format_rows": True,
}


def figure_formula(cell: str) -> str:
    """The custom rule of a whole-number figure cell, relative to ``cell`` (e.g. B6)."""
    return _figure(cell, whole=True)


def decimal_figure_formula(cell: str) -> str:
    """The custom rule of a figure cell whose unit allows decimals."""
    return _figure(cell, whole=False)


def _figure(cell: str, *, whole: bool) -> str:
    """IF, not OR over both: Excel's OR and AND pass an error on, and INT of a text is one,
    so ``OR(AND(..., B6=INT(B6)), B6="未確認")`` would refuse 未確認 itself."""
    number = f"{cell}>=0,{cell}<{MAX_FIGURE}"
    if whole:
        number += f",{cell}=INT({cell})"
    words = ",".join(f'{cell}="{word}"' for word in (*UNCONFIRMED_CHOICES, ZERO_CHOICE))
    return f"=IF(ISNUMBER({cell}),AND({number}),OR({words}))"


class _Book:
    """One XlsxWriter workbook with the formats and the choices sheet."""

    def __init__(self, buffer: io.BytesIO, plan: WorkbookPlan) -> None:
        self.book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_STRINGS})
        self.plan = plan
        add = self.book.add_format
        self.title = add({"bold": True, "font_size": 14})
        self.note = add({"font_color": "#595959"})
        self.head = add(
            {
                "bold": True,
                "bg_color": "#DDEBF7",
                "border": 1,
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
            }
        )
        self.key = add({"bg_color": "#F2F2F2", "border": 1})
        self.input = add({"locked": False, "border": 1})
        self.text = add({"locked": False, "border": 1, "num_format": "@"})
        self.choices: Any = None
        self.choice_cols: dict[tuple[str, ...], int] = {}

    def protect(self, ws: Any, **allowed: bool) -> None:
        ws.protect(self.plan.password or "", {**PROTECTION, **allowed})

    def choice_source(self, choices: tuple[str, ...]) -> str:
        """The range on the choices sheet holding ``choices`` (written once per list)."""
        col = self.choice_cols.get(choices)
        if col is None:
            col = len(self.choice_cols)
            self.choice_cols[choices] = col
            for row, value in enumerate(choices):
                self.choices.write_string(row, col, value)
        letter = xlsxwriter.utility.xl_col_to_name(col)
        return f"='{CHOICES_SHEET}'!${letter}$1:${letter}${len(choices)}"


def build_input_workbook(plan: WorkbookPlan) -> bytes:
    """The workbook's bytes: 記入方法, each department's sheet, and the hidden choices."""
    buffer = io.BytesIO()
    out = _Book(buffer, plan)
    _instructions(out)
    sheets = [out.book.add_worksheet(sheet.name) for sheet in plan.sheets]
    out.choices = out.book.add_worksheet(CHOICES_SHEET)
    for ws, sheet in zip(sheets, plan.sheets, strict=True):
        if sheet.layout == "matrix":
            _matrix(out, ws, sheet)
        else:
            _records(out, ws, sheet)
    out.choices.hide()
    out.protect(out.choices)
    out.book.close()
    return buffer.getvalue()


def _instructions(out: _Book) -> None:
    ws = out.book.add_worksheet(INSTRUCTIONS_SHEET)
    ws.activate()
    ws.set_column(0, 0, 110)
    for row, line in enumerate(out.plan.instructions):
        ws.write_string(row, 0, line, out.title if row == 0 else None)
    out.protect(ws)


def _heading(out: _Book, ws: Any, sheet: SheetPlan) -> None:
    ws.write_string(TITLE_ROW, 0, sheet.title, out.title)
    ws.write_string(NOTE_ROW, 0, sheet.note, out.note)


def _matrix(out: _Book, ws: Any, sheet: SheetPlan) -> None:
    """Municipalities down column A, items across, a category row over the items."""
    _heading(out, ws, sheet)
    grouped = any(c.group for c in sheet.columns)
    depth = 2 if grouped else 1
    last_head = HEADER_ROW + depth - 1
    if grouped:
        ws.merge_range(HEADER_ROW, 0, last_head, 0, sheet.key_header, out.head)
        _group_row(out, ws, sheet)
    else:
        ws.write_string(HEADER_ROW, 0, sheet.key_header, out.head)
    ws.set_column(0, 0, 14)
    first = last_head + 1
    last = first + len(sheet.rows) - 1
    for offset, town in enumerate(sheet.rows):
        ws.write_string(first + offset, 0, town, out.key)
    for index, column in enumerate(sheet.columns, start=1):
        ws.write_string(last_head, index, column.header, out.head)
        ws.set_column(index, index, column.width)
        for row in range(first, last + 1):
            ws.write_blank(row, index, None, out.input)
        _validate(out, ws, (first, index, last, index), column.rule)
    ws.set_row(last_head, 30)
    ws.freeze_panes(first, 1)
    out.protect(ws)


def _group_row(out: _Book, ws: Any, sheet: SheetPlan) -> None:
    """The categories over their items: runs of one category merged into one cell."""
    start = 0
    columns = sheet.columns
    for index in range(1, len(columns) + 1):
        if index < len(columns) and columns[index].group == columns[start].group:
            continue
        group = columns[start].group
        if index - 1 > start:
            ws.merge_range(HEADER_ROW, start + 1, HEADER_ROW, index, group, out.head)
        else:
            ws.write_string(HEADER_ROW, start + 1, group, out.head)
        start = index


def _records(out: _Book, ws: Any, sheet: SheetPlan) -> None:
    """One incident per row under a one-row header; rows may be added, sorted, filtered."""
    _heading(out, ws, sheet)
    first = HEADER_ROW + 1
    last = first + sheet.blank_rows - 1
    for col, column in enumerate(sheet.columns):
        ws.write_string(HEADER_ROW, col, column.header, out.head)
        ws.set_column(col, col, column.width)
        fmt = out.text if column.rule is not None and column.rule.kind == "text" else out.input
        for row in range(first, last + 1):
            ws.write_blank(row, col, None, fmt)
        _validate(out, ws, (first, col, last, col), column.rule)
    ws.autofilter(HEADER_ROW, 0, last, len(sheet.columns) - 1)
    ws.freeze_panes(first, 0)
    out.protect(ws, insert_rows=True, delete_rows=True, sort=True, autofilter=True)


def _validate(out: _Book, ws: Any, area: tuple[int, int, int, int], rule: Rule | None) -> None:
    """The column's data validation with its input message and a stopping error alert."""
    if rule is None:
        return
    top, left = area[0], area[1]
    cell = xlsxwriter.utility.xl_rowcol_to_cell(top, left)
    options: dict[str, Any] = {
        "input_title": rule.input_title,
        "input_message": rule.input_message[:255],
        "error_title": rule.error_title[:32],
        "error_message": rule.error_message[:255],
        "error_type": "stop",
        "ignore_blank": True,
    }
    if rule.kind == "figure":
        formula = decimal_figure_formula(cell) if rule.decimals else figure_formula(cell)
        options.update(validate="custom", value=formula)
    elif rule.kind == "choice":
        options.update(validate="list", source=out.choice_source(rule.choices))
    elif rule.kind == "number":
        options.update(validate="integer", criteria=">=", value=1)
    else:
        options.update(validate="length", criteria="<=", value=255)
    ws.data_validation(*area, options)
