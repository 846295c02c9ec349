"""Rows written as XML (merged_workbook._XmlRows) hold what XlsxWriter's cells would."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from automation import xlsx_package
from automation.merged_workbook import _Writer, _XmlRows, _XmlSheet

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1e9, max_value=1e9),
    st.text(max_size=12),
    st.sampled_from(["", " 前橋市 ", "<r>x</r>", "_x0041_", "a\x01b", "多数"]),
)
CELLS = st.lists(
    st.lists(st.tuples(VALUES, st.sampled_from(["none", "problem", "flag"])), max_size=6),
    max_size=6,
)


def read_back(data: bytes) -> list[tuple[int, int, object, str, str]]:
    """Every cell a reader finds: (row, column, value, its type, fill colour); the type
    because True == 1 == 1.0 in Python, not in a cell."""
    sheet = load_workbook(io.BytesIO(data))["t"]
    return [
        (cell.row, cell.column, cell.value, type(cell.value).__name__, cell.fill.fgColor.rgb)
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None or cell.has_style
    ]


def written(rows: list[list[tuple[object, str]]], as_xml: bool) -> bytes:
    """A workbook with ``rows`` in sheet "t", as XML rows or through XlsxWriter's cells."""
    buffer = io.BytesIO()
    out = _Writer(buffer)
    formats: dict[str, Any] = {"none": None, "problem": out.problem, "flag": out.flag}
    sheet = out.sheet("t", _XmlSheet if as_xml else None)
    xml = _XmlRows(out.book)
    for row, cells in enumerate(rows):
        placed = [(col, value, formats[fmt]) for col, (value, fmt) in enumerate(cells)]
        if as_xml:
            xml.add(row, placed)
            continue
        for col, value, fmt in placed:
            if value is None and fmt is not None:
                sheet.write_blank(row, col, None, fmt)
            else:
                out.value(sheet, row, col, value, fmt)
    if as_xml:
        sheet.set_rows_xml(xml.parts, xml.last_row, xml.last_col)
    out.book.close()
    return buffer.getvalue()


@settings(max_examples=40, deadline=None)
@given(CELLS)
def test_xml_rows_hold_what_xlsxwriters_cells_would(rows: list[list[tuple[object, str]]]) -> None:
    """Every value (text, number, Decimal, bool, a formatted blank) reads back as XlsxWriter's."""
    assert read_back(written(rows, as_xml=True)) == read_back(written(rows, as_xml=False))


def test_a_decimal_is_written_whole_when_it_is_whole() -> None:
    """Decimal("3.000") is the number 3, Decimal("1.5") the number 1.5, as _Writer.value writes."""
    rows: list[list[tuple[object, str]]] = [[(Decimal("3.000"), "none"), (Decimal("1.5"), "none")]]
    assert [value for _, _, value, _, _ in read_back(written(rows, as_xml=True))] == [3, 1.5]


def test_shared_strings_written_in_several_pieces_read_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A table of more shared strings than one write takes reads back string for string."""
    # written a chunk at a time: the whole table at once added 24 MB to a 60 x 2,000 peak
    monkeypatch.setattr(xlsx_package, "SST_CHUNK", 3)
    texts = [f"前橋市{n}" for n in range(7)] + [" 空白 ", "a\x01b", "<r>x</r>", "&<>"]
    rows: list[list[tuple[object, str]]] = [[(text, "none")] for text in texts]
    read = [value for _, _, value, _, _ in read_back(written(rows, as_xml=True))]
    assert read == [*texts[:8], "a_x0001_b", "<r>x</r>", "&<>"]
