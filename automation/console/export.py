"""The latest report as CSV for other systems: one row per item of the prefecture's totals.

Municipality codes (全国地方公共団体コード) need the per-municipality figures and the code
list; until that list lands in the package, the CSV carries the prefecture's totals only.
"""

from __future__ import annotations

import csv
import io
from typing import Any

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
