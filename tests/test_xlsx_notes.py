"""Specs for the cell notes written one string each (``automation/xlsx_notes.py``): the
package is XlsxWriter's own, part for part."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.xlsx_notes import NotesWorkbook

texts = st.one_of(
    st.text(min_size=0, max_size=30),
    st.sampled_from([" lead", "trail ", "a&b<c>\"d'", "改行\nあり", "\t", "x\x01y", "😀"]),
)
options = st.fixed_dictionaries(
    {},
    optional={
        "visible": st.booleans(),
        "author": st.sampled_from(["防災課", "a&b", ""]),
        "color": st.sampled_from(["#FCE4D6", "green"]),
        "font_size": st.sampled_from([8, 9.5, 11]),
        "x_scale": st.sampled_from([1, 2]),
    },
)
note = st.tuples(st.integers(0, 3000), st.integers(0, 40), texts, options)
sheets = st.lists(st.lists(note, max_size=8), min_size=1, max_size=3)


def _package(kind: Any, notes: list[list[tuple[int, int, str, dict[str, Any]]]]) -> bytes:
    buffer = io.BytesIO()
    book = kind(buffer, {"in_memory": True})
    for n, sheet_notes in enumerate(notes):
        sheet = book.add_worksheet(f"s{n}")
        sheet.set_column(2, 2, 30)
        for row, col, text, opts in sheet_notes:
            sheet.write_comment(row, col, text, opts)
    book.close()
    return buffer.getvalue()


def _parts(data: bytes) -> dict[str, bytes]:
    """The package's parts, but for its creation time."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


@settings(max_examples=60, deadline=None)
@given(sheets)
def test_notes_are_packaged_byte_for_byte_as_xlsxwriter_packages_them(
    notes: list[list[tuple[int, int, str, dict[str, Any]]]],
) -> None:
    """Every part (VML shapes, comments, the rest) equals XlsxWriter's for any notes."""
    assert _parts(_package(NotesWorkbook, notes)) == _parts(_package(xlsxwriter.Workbook, notes))


def test_a_workbook_with_a_button_is_packaged_by_xlsxwriter_itself() -> None:
    """Buttons share the VML part: such a workbook keeps XlsxWriter's own writer."""
    packages = []
    for kind in (NotesWorkbook, xlsxwriter.Workbook):
        buffer = io.BytesIO()
        book = kind(buffer, {"in_memory": True})
        sheet = book.add_worksheet()
        sheet.write_comment(1, 1, "note")
        sheet.insert_button(3, 3, {"caption": "押す"})
        book.close()
        packages.append(_parts(buffer.getvalue()))
    assert packages[0] == packages[1]
