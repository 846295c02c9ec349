"""The HQ export: every entry of the period, completion per department with a chart,
delayed projects and budget requests, as one .xlsx for the HQ meeting.

Numbers are numbers (``#,##0``) and dates are dates, so HQ can sum, sort and filter: list
values such as 「1,500」 in a numeric column are written as 1500, and 2026-10-15 or
2026/10/15 as a date. Text is always written as text, never as a formula.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter

from automation.cells import Amount
from automation.flows.progress_collection import ProgressReport
from automation.list_values import number_reading
from automation.timeutil import JST

SAFE_STRINGS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
WHOLE = "#,##0"
FRACTION = "#,##0.0##"
DAY = "yyyy/mm/dd"
MINUTE = "yyyy/mm/dd hh:mm"
_DATE_TEXT = re.compile(
    r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::\d{2})?)?"
)


@dataclass(frozen=True)
class Formats:
    """The cell formats of the export."""

    head: Any
    title: Any
    percent: Any
    bad: Any
    whole: Any
    fraction: Any
    day: Any
    minute: Any


def _num(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def build_progress_workbook(
    report: ProgressReport, columns: list[str], numeric: Collection[str] = ()
) -> bytes:
    """Render the report as .xlsx bytes; ``columns`` are the list fields to export and
    ``numeric`` those of them read as numbers (numeric fields, the budget amount)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_STRINGS})
    formats = Formats(
        head=book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
        title=book.add_format({"bold": True, "font_size": 14}),
        percent=book.add_format({"num_format": "0%"}),
        bad=book.add_format({"bg_color": "#FCE4D6"}),
        whole=book.add_format({"num_format": WHOLE}),
        fraction=book.add_format({"num_format": FRACTION}),
        day=book.add_format({"num_format": DAY}),
        minute=book.add_format({"num_format": MINUTE}),
    )
    _summary(book, report, formats.head, formats.title, formats.percent)
    _items(book, report, columns, set(numeric), formats)
    _delayed(book, report, formats.head)
    _budget(book, report, formats)
    book.close()
    return buffer.getvalue()


def _summary(book: Any, report: ProgressReport, head: Any, title: Any, percent: Any) -> None:
    ws = book.add_worksheet("集計")
    ws.set_column(0, 0, 18)
    ws.write_string(0, 0, f"{report.programme} {report.period.label_ja} 進捗状況", title)
    ws.write_string(1, 0, f"締切 {report.deadline_ja} / 集計日 {report.today.isoformat()}")
    ws.write_row(3, 0, ["部局", "項目数", "記入済み", "記入率"], head)
    for row, dept in enumerate(report.completion, start=4):
        ws.write_string(row, 0, dept.name)
        ws.write_number(row, 1, dept.total)
        ws.write_number(row, 2, dept.complete)
        ws.write_number(row, 3, dept.rate, percent)
    last = 3 + len(report.completion)
    if report.completion:
        chart = book.add_chart({"type": "bar"})
        chart.add_series(
            {
                "name": "記入率",
                "categories": ["集計", 4, 0, last, 0],
                "values": ["集計", 4, 3, last, 3],
                "data_labels": {"value": True, "num_format": "0%"},
            }
        )
        chart.set_title({"name": "部局別の記入率"})
        chart.set_x_axis({"min": 0, "max": 1, "num_format": "0%"})
        chart.set_y_axis({"reverse": True})
        chart.set_legend({"none": True})
        chart.set_size({"width": 640, "height": max(240, 22 * len(report.completion) + 80)})
        ws.insert_chart(3, 5, chart)
    row = last + 2
    ws.write_row(row, 0, ["進捗状況", "件数"], head)
    for offset, (status, count) in enumerate(report.status_counts.items(), start=1):
        ws.write_string(row + offset, 0, status)
        ws.write_number(row + offset, 1, count)


def _items(
    book: Any, report: ProgressReport, columns: list[str], numeric: set[str], formats: Formats
) -> None:
    ws = book.add_worksheet("全項目")
    names = ["ID", "部局", "事業名", *columns, "記入状況", "不備", "リンク"]
    ws.write_row(0, 0, names, formats.head)
    for row, check in enumerate(report.checks, start=1):
        values: list[object] = [check.item.id, check.department, check.project]
        values += [_value(check.item.fields.get(c), c in numeric) for c in columns]
        issues = "; ".join(f"{i.field}: {i.reason}" for i in check.issues)
        values += ["記入済み" if check.complete else "未完了", issues, check.item.link]
        for col, value in enumerate(values):
            if value is None or value == "":
                continue
            if not check.complete and col == len(values) - 3:
                ws.write_string(row, col, str(value), formats.bad)
            else:
                _write(ws, row, col, value, formats)
    ws.autofilter(0, 0, max(1, len(report.checks)), len(names) - 1)
    ws.freeze_panes(1, 0)


def _value(raw: object, numeric: bool) -> object:
    """A list value as the export writes it: a numeric column's 「1,500」 as 1500, a date
    written as text as a date; anything else unchanged."""
    if numeric and isinstance(raw, str):
        reading = number_reading(raw)
        if isinstance(reading, Amount):
            return reading.value
    if isinstance(raw, str) and (match := _DATE_TEXT.fullmatch(raw.strip())):
        try:
            found = datetime(int(match["y"]), int(match["m"]), int(match["d"]))
            if match["H"] is not None:
                return found.replace(hour=int(match["H"]), minute=int(match["M"]))
            return found.date()
        except ValueError:  # 2026/02/30 is text, as written
            return raw
    return raw


def _write(ws: Any, row: int, col: int, value: object, formats: Formats) -> None:
    """One cell: numbers with thousands separators, dates as dates, the rest as text."""
    if isinstance(value, bool):
        ws.write_string(row, col, "はい" if value else "いいえ")
    elif isinstance(value, int | float | Decimal):
        number = _num(Decimal(str(value)))
        fmt = formats.whole if isinstance(number, int) else formats.fraction
        ws.write_number(row, col, number, fmt)
    elif isinstance(value, datetime):
        local = value.astimezone(JST).replace(tzinfo=None) if value.tzinfo else value
        if local.time() == datetime.min.time():
            ws.write_datetime(row, col, local, formats.day)
        else:
            ws.write_datetime(row, col, local, formats.minute)
    elif isinstance(value, date):
        ws.write_datetime(row, col, datetime.combine(value, datetime.min.time()), formats.day)
    else:
        ws.write_string(row, col, str(value))


def _delayed(book: Any, report: ProgressReport, head: Any) -> None:
    ws = book.add_worksheet("遅延案件")
    ws.write_row(0, 0, ["部局", "事業名", "進捗状況", report.issue_field or "課題"], head)
    for row, check in enumerate(report.delayed, start=1):
        issue = check.item.fields.get(report.issue_field) if report.issue_field else None
        ws.write_row(
            row, 0, [check.department, check.project, check.status or "", str(issue or "")]
        )


def _budget(book: Any, report: ProgressReport, formats: Formats) -> None:
    ws = book.add_worksheet("予算要求")
    ws.write_row(0, 0, ["部局", "事業名", "内容", "金額（千円）"], formats.head)
    row = 0
    for row, request in enumerate(report.budget, start=1):
        ws.write_row(row, 0, [request.check.department, request.check.project, request.content])
        _write(ws, row, 3, request.amount, formats)
    ws.write_string(row + 1, 2, "合計", formats.head)
    total = _num(report.budget_total) or 0
    ws.write_number(
        row + 1, 3, total, formats.whole if isinstance(total, int) else formats.fraction
    )
