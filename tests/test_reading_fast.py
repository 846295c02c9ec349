"""Specs for the fast path of reading a sheet: it reads exactly what a plain cell-by-cell
reading with ``read_cell`` reads (DESIGN.md §4), only sooner.

A sheet's figure cells are read once per column kind and value (``CellMemo``) and row by
row; these specs compare that with the plain reading on random cells and random sheets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from automation import cells
from automation.cells import Amount, CellMemo, Problem, Reading, Uncalculated, Unconfirmed
from automation.config.models import MatrixLayout
from automation.damage.catalogue import DEFAULT_CATALOGUE
from automation.damage.reading import (
    PROBLEM_PREFIX,
    UNCONFIRMED_TEXT,
    AsRead,
    CellProblem,
    municipality_index,
    read_matrix,
)
from automation.damage.workbook import Sheet, address

TEXTS = ["-", "ー", "なし", "未確認", "(調査中)", "多数", "約10", "１２", "3人", "4棟", "1,234",
         "0.5", "△1", " ", "", "#DIV/0!", "12 世帯", "2.25", "10以上", "１２３４５６７８９０１２３"]  # fmt: skip
RAW = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 12.0, 1e12, -3.0, 0.1]),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.booleans(),
    st.sampled_from(TEXTS),
    st.text(max_size=6),
    st.builds(Uncalculated, st.sampled_from(["", "SUM(B2:B9)"])),
    st.just(datetime(2026, 9, 1, 9, 0)),
)
# Columns of each kind: counted in people (whole numbers), in hectares and in thousands
# of yen (decimals allowed).
HEADER = ["市町村", "死者", "重傷者", "田 流失・埋没", "公共土木施設"]
TOWNS = ("前橋市", "高崎市", "桐生市", "伊勢崎市", "太田市", "沼田市")


def shown(reading: Reading) -> tuple[object, ...]:
    """Everything a reading says, ``Amount.plain`` and the Decimal's spelling included."""
    if isinstance(reading, Amount):
        return (Amount, str(reading.value), reading.plain, type(reading.plain))
    return (type(reading), reading)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(RAW, min_size=1, max_size=30),
    unit=st.sampled_from(["人", "棟", "ha", "千円", "箇所"]),
)
def test_a_memoised_cell_reads_as_read_cell_reads_it(values: list[object], unit: str) -> None:
    """A cell read through its column kind's memo reads as ``read_cell`` reads it."""
    # whatever was read before it (1.0, 1 and True share a hash but not a reading)
    memo = CellMemo(unit, unit in ("ha", "千円"))
    for raw in values + values[::-1]:
        kind, value, plain, reading = memo.get(raw)
        expected = cells._safe(raw, unit, unit in ("ha", "千円"))
        assert shown(reading) == shown(expected)
        kinds = {Amount: cells.AMOUNT, Unconfirmed: cells.UNCONFIRMED, Problem: cells.PROBLEM}
        assert kind == kinds.get(type(expected), cells.BLANK_KIND)
        if isinstance(expected, Amount):
            assert (value, plain) == (expected.value, expected.plain)
        else:
            assert (value, plain) == (None, getattr(expected, "raw", ""))


def test_minus_zero_reads_as_zero() -> None:
    """A cell holding -0 is zero, spelt 0 (not -0) in the figures."""
    reading = cells.read_cell(-0.0, "人", False)
    assert isinstance(reading, Amount) and str(reading.value) == "0"


@dataclass
class Plain:
    """A table read cell by cell."""

    amounts: dict[tuple[str, str], str] = field(default_factory=dict)
    unconfirmed: set[tuple[str, str]] = field(default_factory=set)
    rows: list[tuple[str, dict[str, AsRead]]] = field(default_factory=list)
    unreadable: dict[tuple[str, str], CellProblem] = field(default_factory=dict)


def plain_reading(rows: list[list[object]]) -> Plain:
    """The reference: each figure cell of the table read on its own with ``read_cell``."""
    columns = [DEFAULT_CATALOGUE.match_header([title]).item for title in HEADER[1:]]
    plain = Plain()
    labels = Counter(item.label for item in columns if item)
    for r, (town, *values) in enumerate(rows, start=1):
        assert isinstance(town, str)
        row: dict[str, AsRead] = {}
        for c, (item, raw) in enumerate(zip(columns, values, strict=True), start=1):
            assert item is not None
            result = cells._safe(raw, item.unit, item.decimals)
            if isinstance(result, Amount):
                plain.amounts[(town, item.code)] = str(result.value)
                row[item.code] = result.plain
            elif isinstance(result, Unconfirmed):
                plain.unconfirmed.add((town, item.code))
                row[item.code] = UNCONFIRMED_TEXT
            elif isinstance(result, Problem):
                name = item.label if labels[item.label] == 1 else item.title
                where = f"部局!{address(r, c)}"
                message = f"{item.title}: {result.message}"
                problem = CellProblem("部局", where, result.raw, message, town, name)
                plain.unreadable[(town, item.code)] = problem
                row[item.code] = PROBLEM_PREFIX + result.raw
        plain.rows.append((town, row))
    return plain


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(RAW, min_size=len(HEADER) - 1, max_size=len(HEADER) - 1), max_size=6))
def test_a_table_reads_as_its_cells_read_one_by_one(cells_of_rows: list[list[object]]) -> None:
    """A table reads as its cells read one by one with ``read_cell``."""
    # every figure, 未確認 flag, unreadable cell and value as read
    rows: list[list[object]] = [
        [town, *values] for town, values in zip(TOWNS, cells_of_rows, strict=False)
    ]
    sheet = Sheet("部局", tuple(tuple(row) for row in [HEADER, *rows]))
    reading = read_matrix(
        sheet, "部局", MatrixLayout(), DEFAULT_CATALOGUE, municipality_index(TOWNS)
    )
    plain = plain_reading(rows)
    assert {key: str(value) for key, value in reading.amounts.items()} == plain.amounts
    assert all(isinstance(value, Decimal) for value in reading.amounts.values())
    assert reading.unconfirmed == plain.unconfirmed
    assert [(m, {c: (v, type(v)) for c, v in row.items()}) for m, row in reading.rows] == [
        (m, {c: (v, type(v)) for c, v in row.items()}) for m, row in plain.rows
    ]
    assert reading.unreadable == plain.unreadable
    assert reading.problems == list(plain.unreadable.values())
