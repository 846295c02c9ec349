"""A department's reporting status in a damage report, and its Japanese name (README
"Department status"), as the report, the terminal summary and the console show it."""

from __future__ import annotations

from typing import Literal

DepartmentStatusName = Literal[
    "updated", "current", "not_updated", "not_reported", "problems", "missing"
]

# What each status means: with deadlines, each deadline asks every department for a report
# made after it; without deadlines only a first report is due, and a department whose
# figures stand unchanged is current, not behind.
STATUS_JA: dict[str, str] = {
    "updated": "更新済み",  # changed since the last deadline (or the previous report)
    "current": "報告済み",  # nothing due: reported, no deadline since (no deadlines set)
    "not_updated": "未更新",  # reported before, but not since the last deadline
    "not_reported": "未報告",  # nothing countable reported yet
    "problems": "要修正",  # cells or headers that could not be read
    "missing": "シートなし",  # the department's sheet is not in the workbook
}
