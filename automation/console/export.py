"""The latest report as CSV for other systems (GIS, the national disaster information
system): the totals, one row per item, and the figures per municipality with each one's
national local-government code (全国地方公共団体コード), one row per municipality and item.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from automation.console.municipalities import columns_of, rows_of

HEADER = (
    "報告番号",
    "時点",
    "項目コード",
    "区分",
    "項目",
    "単位",
    "合計",
    "未確認件数",
    "読めないセル件数",
)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_csv(report: dict[str, Any]) -> str:
    """The report's totals as UTF-8 CSV (with a BOM so Excel opens it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for code, item in (report.get("totals") or {}).items():
        writer.writerow(
            [
                _cell(report.get("number")),
                _cell(report.get("as_of")),
                _cell(code),
                _cell(item.get("category")),
                _cell(item.get("label")),
                _cell(item.get("unit")),
                _cell(item.get("value")),
                _cell(item.get("unconfirmed")),
                _cell(item.get("unreadable")),
            ]
        )
    return "\ufeff" + out.getvalue()


MUNICIPALITY_HEADER = (
    "報告番号",
    "時点",
    "団体コード",
    "市区町村",
    "項目コード",
    "区分",
    "項目",
    "単位",
    "値",
    "未確認",
    "読めないセル",
)


def municipalities_csv(report: dict[str, Any]) -> str:
    """One row per municipality and item that has a figure or a mark, municipalities in
    code order (unknown codes last), items in the report's order; UTF-8 with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MUNICIPALITY_HEADER)
    totals = report.get("totals") or {}
    columns = columns_of(report)
    rows = sorted(rows_of(report), key=lambda r: (r.code == "", r.code, r.name))
    for row in rows:
        for column in columns:
            if (
                column.code not in row.values
                and column.code not in row.unconfirmed | row.unreadable
            ):
                continue
            value = row.values.get(column.code)
            writer.writerow(
                [
                    _cell(report.get("number")),
                    _cell(report.get("as_of")),
                    _cell(row.code),
                    _cell(row.name),
                    _cell(column.code),
                    _cell(totals.get(column.code, {}).get("category")),
                    _cell(column.label),
                    _cell(column.unit),
                    _cell(None if value is None else format(value, "f")),
                    "1" if column.code in row.unconfirmed else "0",
                    "1" if column.code in row.unreadable else "0",
                ]
            )
    return "\ufeff" + out.getvalue()
