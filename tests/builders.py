"""Builders for test inputs: workbooks from plain rows, sheets, configurations."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from openpyxl import Workbook

from automation.damage.workbook import Sheet, parse_workbook

Rows = Sequence[Sequence[object]]


def xlsx_bytes(
    sheets: Mapping[str, Rows], merges: Mapping[str, Sequence[str]] | None = None
) -> bytes:
    """An .xlsx file with the given rows (row 1 first) and merged ranges (``"A4:A5"``)."""
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(row=r, column=c, value=value)
        for ref in (merges or {}).get(name, ()):
            ws.merge_cells(ref)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def sheet(rows: Rows, merges: Sequence[str] = (), name: str = "部局") -> Sheet:
    """A parsed sheet, exactly as the flow would see it after a round trip through .xlsx."""
    data = xlsx_bytes({name: rows}, {name: merges})
    return parse_workbook(data, "test.xlsx", max_bytes=10**8).sheets[name]


def fire_times(trigger: Any, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of an APScheduler trigger after ``after``."""
    times: list[datetime] = []
    previous, now = None, after
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        times.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return times
