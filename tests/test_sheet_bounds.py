"""Specs for bounding a sheet's cell rectangle before calamine allocates it, the quick way:
the bound is never below the rectangle calamine would allocate (``_walk_cells`` walks every
cell as calamine does), whatever corner the sheet's ``<dimension>`` declares.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.damage import workbook
from automation.damage.workbook import MB, address, parse_workbook
from automation.errors import DataError
from tests.workbook_builders import MAIN_NS, XML_DECL, xlsx

Cells = list[tuple[int, int]]  # 0-based (row, col)
ERROR = ' t="e"'  # a cell holding a saved error value


def part(cells: Cells, dimension: str | None, contents: list[str] | None = None) -> bytes:
    """A sheet part holding a 1 in each cell (or the cell's ``contents``), row by row, with
    the ``dimension`` declared."""
    rows: dict[int, list[tuple[int, str]]] = {}
    for n, (row, col) in enumerate(cells):
        rows.setdefault(row, []).append((col, contents[n] if contents else "<v>1</v>"))
    data = "".join(
        f'<row r="{row + 1}">'
        + "".join(
            f'<c r="{address(row, col)}"{ERROR if ">#" in inner else ""}>{inner}</c>'
            for col, inner in cols
        )
        + "</row>"
        for row, cols in sorted(rows.items())
    )
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'{XML_DECL}<worksheet xmlns="{MAIN_NS}">{declared}<sheetData>{data}</sheetData>'
        "</worksheet>"
    ).encode()


def bound(xml: bytes) -> int:
    """The cells ``SheetChecks`` counts for the part."""
    checks = workbook.SheetChecks(b"", "book.xlsx")
    checks.bound(xml, "s")
    return checks.cells


CELL = st.tuples(st.integers(0, 4000), st.integers(0, 30))
CORNER = st.one_of(
    st.none(),
    st.builds(address, st.integers(0, 5000), st.integers(0, 30)),
    st.builds(
        lambda a, b: f"{a}:{b}",
        st.just("A1"),
        st.builds(address, st.integers(0, 5000), st.integers(0, 27)),
    ),
)


CONTENT = st.sampled_from(
    ["<v>1</v>", "<v>#DIV/0!</v>", "<f>SUM(A1:A2)</f>", "<f>A1</f><v>3</v>", "<f>B2</f><v></v>"]
)


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(CELL, min_size=1, max_size=30, unique=True),
    contents=st.lists(CONTENT, min_size=30, max_size=30),
    dimension=CORNER,
)
def test_the_cells_calamine_misreads_are_found_however_the_part_is_bounded(
    cells: Cells, contents: list[str], dimension: str | None
) -> None:
    """Saved errors and formulas without a result are put back however the sheet is bounded."""
    # exactly as a walk over every cell finds them
    xml = part(cells, dimension, contents)
    checks = workbook.SheetChecks(b"", "book.xlsx")
    assert checks.bound(xml, "s") == workbook._walk_cells(xml, "s", "book.xlsx")[1]


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(CELL, min_size=1, max_size=40, unique=True), dimension=CORNER)
def test_the_bound_is_never_below_the_rectangle_calamine_allocates(
    cells: Cells, dimension: str | None
) -> None:
    """Whatever corner a sheet declares, its bound is at or above what calamine allocates."""
    # true, too small, too large or none
    xml = part(cells, dimension)
    assert bound(xml) >= workbook._walk_cells(xml, "s", "book.xlsx")[0]


@settings(max_examples=100, deadline=None)
@given(cells=st.lists(CELL, min_size=1, max_size=40, unique=True))
def test_a_true_dimension_from_a1_bounds_the_sheet_exactly(cells: Cells) -> None:
    """A sheet declaring its true corner (as Excel does) is bounded from A1 to that corner."""
    bottom, right = max(r for r, _ in cells), max(c for _, c in cells)
    small = bottom < 999 and right < 26  # within Z999: counted as that many
    expected = workbook.SMALL_SHEET if small else (bottom + 1) * (right + 1)
    assert bound(part([*cells, (0, 0)], f"A1:{address(bottom, right)}")) == expected


def test_a_sheet_declaring_a_small_dimension_is_still_bounded_by_its_far_cell() -> None:
    """A part declaring A1:B2 but holding a cell at XFD1048576 is refused all the same."""
    xml = part([(0, 0), (1_048_575, 16_383)], "A1:B2").decode()
    sheet = xml.replace(XML_DECL, "")
    with pytest.raises(DataError) as caught:
        parse_workbook(xlsx(sheet=XML_DECL + sheet), "book.xlsx", max_bytes=200 * MB)
    assert "のセル範囲が 17,179,869,184 セルあり" in caught.value.message


@settings(deadline=None)
@given(number=st.integers(1, 2_000_000), other=st.integers(0, 3_000_000))
def test_the_numbers_up_to_a_bound_are_matched_and_no_other(number: int, other: int) -> None:
    """The pattern of 1 to N matches a number without leading zeros exactly when it is in 1-N."""
    pattern = re.compile(f"(?:{workbook._at_most(number)})")
    assert bool(pattern.fullmatch(str(other))) == (1 <= other <= number)
    assert pattern.fullmatch(str(number)) is not None
