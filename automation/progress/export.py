"""The HQ export: every entry of the period, completion per department with a chart,
delayed projects and budget requests, as one .xlsx for the HQ meeting."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import xlsxwriter

from automation.flows.progress_collection import ProgressReport

SAFE_STRINGS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def _num(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def build_progress_workbook(report: ProgressReport, columns: list[str]) -> bytes:
    """Render the report as .xlsx bytes; ``columns`` are the list fields to export."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_STRINGS})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    title = book.add_format({"bold": True, "font_size": 14})
    percent = book.add_format({"num_format": "0%"})
    bad = book.add_format({"bg_color": "#FCE4D6"})
    _summary(book, report, head, title, percent)
    _items(book, report, columns, head, bad)
    _delayed(book, report, head)
    _budget(book, report, head)
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


def _items(book: Any, report: ProgressReport, columns: list[str], head: Any, bad: Any) -> None:
    ws = book.add_worksheet("全項目")
    names = ["ID", "部局", "事業名", *columns, "記入状況", "不備", "リンク"]
    ws.write_row(0, 0, names, head)
    for row, check in enumerate(report.checks, start=1):
        values: list[object] = [check.item.id, check.department, check.project]
        values += [check.item.fields.get(c) for c in columns]
        issues = "; ".join(f"{i.field}: {i.reason}" for i in check.issues)
        values += ["記入済み" if check.complete else "未完了", issues, check.item.link]
        for col, value in enumerate(values):
            fmt = bad if (not check.complete and col == len(values) - 3) else None
            if value is None or value == "":
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                ws.write_number(row, col, value, fmt)
            else:
                ws.write_string(row, col, str(value), fmt)
    ws.autofilter(0, 0, max(1, len(report.checks)), len(names) - 1)
    ws.freeze_panes(1, 0)


def _delayed(book: Any, report: ProgressReport, head: Any) -> None:
    ws = book.add_worksheet("遅延案件")
    ws.write_row(0, 0, ["部局", "事業名", "進捗状況", report.issue_field or "課題"], head)
    for row, check in enumerate(report.delayed, start=1):
        issue = check.item.fields.get(report.issue_field) if report.issue_field else None
        ws.write_row(
            row, 0, [check.department, check.project, check.status or "", str(issue or "")]
        )


def _budget(book: Any, report: ProgressReport, head: Any) -> None:
    ws = book.add_worksheet("予算要求")
    ws.write_row(0, 0, ["部局", "事業名", "内容", "金額（千円）"], head)
    row = 0
    for row, request in enumerate(report.budget, start=1):
        ws.write_row(row, 0, [request.check.department, request.check.project, request.content])
        amount = _num(request.amount)
        if amount is not None:
            ws.write_number(row, 3, amount)
    ws.write_string(row + 1, 2, "合計", head)
    ws.write_number(row + 1, 3, _num(report.budget_total) or 0, head)
