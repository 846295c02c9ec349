"""Specs for XlsxWriter's package made cheaper (``automation/xlsx_package.py``): cell notes
written one string each, parts kept compressed; the package is XlsxWriter's own, part for
part."""

from __future__ import annotations

import io
import zipfile
from io import StringIO
from typing import Any

import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.merged_workbook import build_merged_workbook
from automation.xlsx_package import PACK_ABOVE, PackageWorkbook, PackedPart
from tests.test_owed_recipe import _report, kiki_rows, road_rows

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
            sheet.write_string(row, col + 1, text)
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
    assert _parts(_package(PackageWorkbook, notes)) == _parts(_package(xlsxwriter.Workbook, notes))


def test_a_workbook_with_a_button_is_packaged_by_xlsxwriter_itself() -> None:
    """Buttons share the VML part: such a workbook keeps XlsxWriter's own writer."""
    packages = []
    for kind in (PackageWorkbook, xlsxwriter.Workbook):
        buffer = io.BytesIO()
        book = kind(buffer, {"in_memory": True})
        sheet = book.add_worksheet()
        sheet.write_comment(1, 1, "note")
        sheet.insert_button(3, 3, {"caption": "押す"})
        book.close()
        packages.append(_parts(buffer.getvalue()))
    assert packages[0] == packages[1]


def test_a_large_part_gives_its_text_back_and_holds_it_compressed_meanwhile() -> None:
    """Once packed, a part over PACK_ABOVE characters holds no text (only its compressed
    bytes) until the zip asks for it."""
    part, row = PackedPart(), '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    text = "<sheetData>" + row * (PACK_ABOVE // len(row) + 1) + "前橋市😀"
    part.write(text)
    part.pack()
    assert StringIO.getvalue(part) == ""
    assert part.getvalue() == text


def test_a_small_part_stays_as_written() -> None:
    """A part under PACK_ABOVE characters is not worth compressing: it stays text."""
    part = PackedPart()
    part.write("<sheetData>前橋市</sheetData>")
    part.pack()
    assert StringIO.getvalue(part) == part.getvalue() == "<sheetData>前橋市</sheetData>"


@settings(max_examples=15, deadline=None)
@given(kiki_rows, road_rows)
def test_a_merged_workbook_with_every_part_packed_is_the_same_package(
    kiki: list[list[object]], roads: list[tuple[str, str]]
) -> None:
    """Compressing every part and every sheet's rows (PACK_ABOVE 0) changes no byte of the
    merged workbook (but its creation time)."""
    report = _report(kiki, roads)
    plain = _parts(build_merged_workbook(report))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("automation.xlsx_package.PACK_ABOVE", 0)
        patched.setattr("automation.merged_workbook.PACK_ABOVE", 0)
        packed = _parts(build_merged_workbook(report))
    assert packed == plain
