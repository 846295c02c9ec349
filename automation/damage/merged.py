"""The merged workbook for the response team: FDMA-style summary, per-municipality
figures, report status, each department's sheet as read, and every problem cell.

Written with openpyxl in write-only mode (streamed; fast enough for 60 sheets x 300 rows).
The departments' input workbook is never modified: this is a separate file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from automation.damage.catalogue import Item
from automation.flows.damage_rollup import DamageReport

BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
PROBLEM_FILL = PatternFill("solid", fgColor="FCE4D6")
FLAG_FILL = PatternFill("solid", fgColor="FFF2CC")
WRAP = Alignment(wrap_text=True, vertical="top")
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


def _cell(
    ws: WriteOnlyWorksheet,
    value: object,
    *,
    font: Font | None = None,
    fill: PatternFill | None = None,
    wrap: bool = False,
) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=_excel(value))
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if wrap:
        cell.alignment = WRAP
    return cell


def _excel(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _header(ws: WriteOnlyWorksheet, names: Iterable[str]) -> None:
    ws.append([_cell(ws, name, font=BOLD, fill=HEAD_FILL) for name in names])


def _sheet_title(name: str, used: set[str]) -> str:
    title = SHEET_NAME_BAD.sub("_", name)[:28] or "sheet"
    candidate, n = title, 2
    while candidate in used:
        candidate = f"{title[:26]}_{n}"
        n += 1
    used.add(candidate)
    return candidate


def build_merged_workbook(report: DamageReport) -> bytes:
    """Render the report as an .xlsx file and return its bytes."""
    book = Workbook(write_only=True)
    used: set[str] = set()
    _summary(book.create_sheet(_sheet_title("集計", used)), report)
    _by_municipality(book.create_sheet(_sheet_title("市町村別", used)), report)
    _status(book.create_sheet(_sheet_title("報告状況", used)), report)
    _problems(book.create_sheet(_sheet_title("要修正セル", used)), report)
    for dept, reading in report.readings.items():
        ws = book.create_sheet(_sheet_title(f"読取_{dept}", used))
        if reading.layout == "records":
            _records_as_read(ws, reading.rows)
        else:
            _matrix_as_read(ws, reading.columns, reading.rows)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _summary(ws: WriteOnlyWorksheet, report: DamageReport) -> None:
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["E"].width = 40
    ws.append([_cell(ws, f"{report.disaster} 被害状況即報（第{report.number}報）", font=TITLE)])
    ws.append([report.as_of_ja])
    ws.append([])
    _header(ws, ["区分", "項目", "単位", "数", "未確認（市町村）"])
    previous = None
    for total in report.consolidated.totals:
        category = total.category if total.category != previous else ""
        previous = total.category
        flags = (
            f"{total.unconfirmed}件: {'、'.join(total.unconfirmed_where)}"
            if total.unconfirmed
            else ""
        )
        ws.append(
            [
                category,
                total.label,
                total.unit,
                _excel(total.value),
                _cell(ws, flags, fill=FLAG_FILL if flags else None),
            ]
        )
    if report.consolidated.statuses:
        ws.append([])
        _header(ws, ["箇所の状況", "項目", "状況", "件数"])
        labels = {t.code: t.label for t in report.consolidated.totals}
        for code, counts in report.consolidated.statuses.items():
            for status, n in counts.items():
                ws.append(["", labels.get(code, code), status, n])
    if report.changes:
        ws.append([])
        _header(ws, [f"第{report.previous_number}報からの変更", "項目", "前報", "今回", "増減"])
        for change in report.changes:
            label = change.label + (f"［{change.status}］" if change.status else "")
            ws.append(
                ["", label, _excel(change.before), _excel(change.after), _excel(change.delta)]
            )


def _by_municipality(ws: WriteOnlyWorksheet, report: DamageReport) -> None:
    totals = report.consolidated.totals
    _header(ws, ["市町村", *(f"{t.label}({t.unit})" for t in totals)])
    flagged = {(m, t.code) for t in totals for m in t.unconfirmed_where}
    for municipality in _municipality_order(report):
        values = report.consolidated.by_municipality.get(municipality, {})
        row: list[object] = [municipality]
        for total in totals:
            value = values.get(total.code)
            if value is None and (municipality, total.code) in flagged:
                row.append(_cell(ws, "未確認", fill=FLAG_FILL))
            else:
                row.append(_excel(value))
        ws.append(row)


def _municipality_order(report: DamageReport) -> list[str]:
    seen: dict[str, None] = {}
    for reading in report.readings.values():
        for municipality, _ in reading.rows:
            seen.setdefault(municipality, None)
    for municipality in report.consolidated.by_municipality:
        seen.setdefault(municipality, None)
    for total in report.consolidated.totals:
        for municipality in total.unconfirmed_where:
            seen.setdefault(municipality, None)
    return list(seen)


def _status(ws: WriteOnlyWorksheet, report: DamageReport) -> None:
    _header(ws, ["部局", "シート", "状況", "前回締切以降の更新", "要修正セル", "最終更新", "備考"])
    for dept in report.departments:
        note = "読み取れないため前報の値を使用" if dept.carried_forward else ""
        changed = dept.changed_at.strftime("%Y-%m-%d %H:%M") if dept.changed_at else ""
        fill = PROBLEM_FILL if dept.status in ("problems", "missing") else None
        ws.append(
            [
                dept.name,
                dept.sheet,
                _cell(ws, dept.status_ja, fill=fill),
                "あり" if dept.updated else "なし",
                dept.problems,
                changed,
                note,
            ]
        )


def _problems(ws: WriteOnlyWorksheet, report: DamageReport) -> None:
    ws.column_dimensions["D"].width = 80
    _header(ws, ["部局", "セル", "入力値", "内容と直し方"])
    for problem in report.problems:
        ws.append(
            [
                problem.department,
                problem.where,
                problem.value,
                _cell(ws, problem.message, wrap=True),
            ]
        )


def _matrix_as_read(
    ws: WriteOnlyWorksheet, columns: list[Item], rows: list[tuple[str, dict[str, str]]]
) -> None:
    _header(ws, ["市町村", *(item.title for item in columns)])
    for municipality, values in rows:
        line: list[object] = [municipality]
        for item in columns:
            shown = values.get(item.code)
            if shown is None:
                line.append(None)
            elif shown == "未確認":
                line.append(_cell(ws, shown, fill=FLAG_FILL))
            elif shown.startswith("要修正"):
                line.append(_cell(ws, shown, fill=PROBLEM_FILL))
            else:
                line.append(_excel(Decimal(shown)))
        ws.append(line)


def _records_as_read(ws: WriteOnlyWorksheet, rows: list[tuple[str, dict[str, str]]]) -> None:
    keys: dict[str, None] = {}
    for _, values in rows:
        for key in values:
            keys.setdefault(key, None)
    _header(ws, ["市町村", *keys])
    for municipality, values in rows:
        ws.append([municipality, *(values.get(key, "") for key in keys)])
