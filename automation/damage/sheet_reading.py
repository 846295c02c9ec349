"""What a department's sheet reads as: its figures, flags, problems and incidents.

The types of :mod:`automation.damage.reading`'s result, apart from the readers: a run whose
workbook did not change shows the stored report with them, and loads no reader.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.damage.catalogue import Item

UNCONFIRMED_TEXT = "未確認"
PROBLEM_PREFIX = "要修正: "

AsRead = int | float | str


@dataclass(frozen=True, slots=True)
class CellProblem:
    """A cell (or sheet) that could not be read, for the department to fix."""

    department: str
    where: str  # "Sheet!B7", or "Sheet" for sheet-level problems
    value: str
    message: str  # what was found and the fix, for the department
    municipality: str = ""  # set for a figure's cell: whose figure is missing from the totals
    item: str = ""  # the figure's item (``重傷者``), set with ``municipality``

    @property
    def cell(self) -> str:
        """The cell without its sheet when the sheet bears the department's name."""
        sheet, _, cell = self.where.partition("!")
        return cell if sheet == self.department and cell else self.where

    @property
    def place(self) -> str:
        """Department and cell, the department named once: ``農政部!B11``,
        ``農政部 集計表!B11``."""
        sheet = self.where.partition("!")[0]
        return self.where if sheet == self.department else f"{self.department} {self.where}"

    @property
    def headline(self) -> str:
        """What the response team reads first: whose figure and which item, then where.
        ``館林市の重傷者: 若干（読めず） 農政部!C9``; a problem that is not one figure
        names its place, the value and the message."""
        if self.municipality:
            return f"{self.municipality}の{self.item}: {self.value}（読めず） {self.place}"
        value = f"「{self.value}」" if self.value else ""
        return f"{self.place}{value}: {self.message}"


@dataclass(frozen=True, slots=True)
class Incident:
    """One row of a records sheet: an incident followed from report to report by ``key``
    (its number when the sheet has one, else its type, municipality and place)."""

    key: str
    code: str
    label: str
    municipality: str
    place: str
    status: str
    where: str  # Sheet!A7 of the row


@dataclass
class SheetReading:
    """What was read from one department's sheet."""

    department: str
    sheet: str
    layout: str
    table_found: bool = True
    # The data fields stay out of the repr: a sheet can hold thousands of rows.
    columns: list[Item] = field(default_factory=list, repr=False)
    # (municipality, code) -> amount
    amounts: dict[tuple[str, str], Decimal] = field(default_factory=dict, repr=False)
    unconfirmed: set[tuple[str, str]] = field(default_factory=set, repr=False)
    # (municipality, code) -> the problem of a figure's cell that could not be read: the
    # totals leave it out and say so beside the figure.
    unreadable: dict[tuple[str, str], CellProblem] = field(default_factory=dict, repr=False)
    # code -> status -> count
    statuses: dict[str, Counter[str]] = field(default_factory=dict, repr=False)
    problems: list[CellProblem] = field(default_factory=list, repr=False)
    # As read, for the merged workbook: municipality -> item code -> number, 未確認 or 要修正 text.
    rows: list[tuple[str, dict[str, AsRead]]] = field(default_factory=list, repr=False)
    record_columns: list[str] = field(default_factory=list, repr=False)
    incidents: list[Incident] = field(default_factory=list, repr=False)
    # Whether the figures, flags and unreadable cells are exactly what ``rows`` shows (a
    # number is an amount, 未確認 a flag, 要修正 text an unreadable cell), as the matrix
    # reader leaves them: then the rows alone are stored (automation.damage.stored).
    tabular: bool = field(default=False, repr=False, compare=False)

    @property
    def reported(self) -> bool:
        """Whether anything countable (a number or an 未確認 flag) was read."""
        return bool(self.amounts or self.unconfirmed or self.statuses)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a sheet is read.

    Reading a sheet allocates tens of thousands of small containers (a dict per row, the
    figures' dict) that live on, none of them in a cycle; the collector would walk them
    again and again as they pile up (a third of the reading time, measured). Reference
    counting still frees what dies. Safe from several threads: the collector is enabled
    again by whoever found it enabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
