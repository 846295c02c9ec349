"""Specs for XlsxWriter's package made cheaper (``automation/xlsx_package.py``): cell notes
written one string each, parts streamed into the zip; the package is XlsxWriter's own, part
for part (and byte for byte where every part is small)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import datetime
from typing import Any

import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from automation import xlsx_package
from automation.merged_workbook import _XmlSheet, build_merged_workbook
from automation.parallel import delivered_by_helpers
from automation.xlsx_package import (
    CHUNK,
    DeflatedRows,
    PackageWorkbook,
    RenderedNotes,
    StreamedPart,
    crc32_combine,
)
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


CREATED = datetime(2026, 9, 1, 9, 0)  # docProps/core.xml's time, fixed to compare whole files


def _png() -> bytes:
    """A 1 x 1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _with_image(kind: Any, notes: list[list[tuple[int, int, str, dict[str, Any]]]]) -> bytes:
    buffer = io.BytesIO()
    book = kind(buffer, {"in_memory": True})
    book.set_properties({"created": CREATED})
    for n, sheet_notes in enumerate(notes):
        sheet = book.add_worksheet(f"s{n}")
        sheet.insert_image(0, 0, "dot.png", {"image_data": io.BytesIO(_png())})
        for row, col, text, opts in sheet_notes:
            sheet.write_comment(row, col, text, opts)
            sheet.write_string(row, col + 1, text)
    book.close()
    return buffer.getvalue()


@settings(max_examples=30, deadline=None)
@given(sheets)
def test_a_small_package_is_byte_for_byte_xlsxwriters_zip(
    notes: list[list[tuple[int, int, str, dict[str, Any]]]],
) -> None:
    """A package of small parts, streamed part by part, is byte for byte XlsxWriter's own zip."""
    # same entries, order, headers and bytes (images among the parts)
    assert _with_image(PackageWorkbook, notes) == _with_image(xlsxwriter.Workbook, notes)


@settings(max_examples=20, deadline=None)
@given(sheets)
def test_a_large_part_holds_the_same_text_deflated_faster(
    notes: list[list[tuple[int, int, str, dict[str, Any]]]],
) -> None:
    """A part over CHUNK characters is deflated at level 1 and holds XlsxWriter's text."""
    # (here every part is one), in a valid package
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("automation.xlsx_package.CHUNK", 0)
        fast = _with_image(PackageWorkbook, notes)
    plain = _with_image(xlsxwriter.Workbook, notes)
    with zipfile.ZipFile(io.BytesIO(fast)) as package:
        assert package.testzip() is None
    assert _parts(fast) == _parts(plain)


def test_a_large_part_is_deflated_at_level_1() -> None:
    """A part over CHUNK characters is deflated at level 1, a small one at zlib's default (6)."""
    # as XlsxWriter stores every part
    notes = [[(row, 0, f"読めない値 {row}", {}) for row in range(2_000)]]
    ours = zipfile.ZipFile(io.BytesIO(_with_image(PackageWorkbook, notes)))
    levels = set()
    for info in ours.infolist():
        data = ours.read(info.filename)
        level = 1 if info.filename.endswith((".xml", ".vml")) and len(data.decode()) > CHUNK else 6
        deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
        assert _raw(ours, info) == deflater.compress(data) + deflater.flush(), info.filename
        levels.add(level)
    assert levels == {1, 6}


def _raw(package: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's deflated bytes as stored."""
    assert package.fp is not None
    package.fp.seek(info.header_offset + 26)
    name_length, extra_length = struct.unpack("<HH", package.fp.read(4))
    package.fp.seek(info.header_offset + 30 + name_length + extra_length)
    return package.fp.read(info.compress_size)


@settings(max_examples=15, deadline=None)
@given(kiki_rows, road_rows)
def test_a_merged_workbook_with_every_part_packed_and_streamed_is_the_same_package(
    kiki: list[list[object]], roads: list[tuple[str, str]]
) -> None:
    """Packing every sheet's rows and deflating every part as large changes no part but the date."""
    # PACK_ABOVE 0 and CHUNK 0; only the creation time differs
    report = _report(kiki, roads)
    plain = _parts(build_merged_workbook(report, kept=None))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("automation.xlsx_package.CHUNK", 0)
        patched.setattr("automation.merged_workbook.PACK_ABOVE", 0)
        packed = _parts(build_merged_workbook(report, kept=None))
    assert packed == plain


def test_a_merged_workbook_composed_by_helper_processes_is_the_same_package() -> None:
    """読取_ sheets composed by helpers give the package one process gives; helpers did compose."""
    # the shared strings numbered in the same order, every part equal (had every helper
    # failed, this process would have composed them all and the two agree)
    before = delivered_by_helpers()
    _packages_composed_by_helpers_equal_one_process_s()
    assert delivered_by_helpers() > before


@settings(max_examples=10, deadline=None)
@given(kiki_rows, road_rows)
def _packages_composed_by_helpers_equal_one_process_s(
    kiki: list[list[object]], roads: list[tuple[str, str]]
) -> None:
    report = _report(kiki, roads)
    alone = _parts(build_merged_workbook(report, kept=None))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("automation.merged_workbook.COMPOSE_FORK_AT", 0)
        shared = _parts(build_merged_workbook(report, processes=3, kept=None))
    assert shared == alone


def test_a_text_that_looks_like_rich_text_markup_is_written_as_text() -> None:
    """A cell's "<r>...</r>" is written as text, never as markup in the package."""
    # XlsxWriter would write it raw into the shared strings (shown empty, or a broken part)
    texts = ["<r>x</r>", "<r></t></si><si><t>y</r>", " <r>z</r> "]
    buffer = io.BytesIO()
    book = PackageWorkbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("s")
    for row, text in enumerate(texts):
        sheet.write_string(row, 0, text)
    book.close()
    read = load_workbook(io.BytesIO(buffer.getvalue()))["s"]
    assert [row[0].value for row in read.iter_rows()] == texts


plain_notes = st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 40), texts), max_size=8)


def _noted(notes: list[list[tuple[int, int, str]]], rendered: bool, many: int = 0) -> bytes:
    """Sheets of rows as XML with notes, then a sheet of ``many`` notes, then one noted in
    XlsxWriter's own sheet; ``rendered``: the notes rendered apart (RenderedNotes), else
    written one by one (write_comment)."""
    buffer = io.BytesIO()
    book = PackageWorkbook(buffer, {"in_memory": True})
    sheets: list[list[tuple[int, int, str]]] = [*notes, [(r, 1, f"{r}") for r in range(many)]]
    for n, sheet_notes in enumerate(sheets):
        sheet = book.add_worksheet(f"s{n}", worksheet_class=_XmlSheet)
        last = max([(row, col) for row, col, _ in sheet_notes], default=(0, 0))
        sheet.set_rows_xml('<row r="1"><c r="A1"><v>1</v></c></row>', *last)
        if rendered:
            sheet.set_notes(RenderedNotes.of(sheet_notes))
        for row, col, text in [] if rendered else sheet_notes:
            sheet.write_comment(row, col, text)
    book.add_worksheet("other").write_comment(2, 2, "one by one")
    book.close()
    return buffer.getvalue()


@settings(max_examples=40, deadline=None)
@given(st.lists(plain_notes, min_size=1, max_size=3), st.sampled_from([0, 5, 1025, 2100]))
def test_notes_rendered_apart_are_packaged_as_write_comment_packages_them(
    notes: list[list[tuple[int, int, str]]], many: int
) -> None:
    """Notes rendered apart from the workbook give every part write_comment's notes give."""
    # shape ids numbered across sheets, a sheet of more than 1,024 notes, a sheet after
    # them noted by XlsxWriter (write_comment's parts: the spec above)
    assert _parts(_noted(notes, True, many)) == _parts(_noted(notes, False, many))


def test_a_sheet_with_rendered_notes_and_set_column_widths_is_refused() -> None:
    """Rendered notes assume default widths and heights: a sheet that changed them says so."""
    book = PackageWorkbook(io.BytesIO(), {"in_memory": True})
    sheet = book.add_worksheet("s", worksheet_class=_XmlSheet)
    sheet.set_column(0, 0, 30)
    sheet.set_notes(RenderedNotes.of([(1, 1, "x")]))
    with pytest.raises(ValueError, match="column widths"):
        book.close()


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=70_000))
def test_crc32_combine_gives_the_crc_of_both_together(first: bytes, second: bytes) -> None:
    """crc32_combine of A's and B's CRC-32 and B's length is the CRC-32 of A + B."""
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


spliced_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=3_000)


@settings(max_examples=40, deadline=None)
@given(spliced_texts, st.lists(spliced_texts, max_size=3), spliced_texts, st.integers(1, 300))
def test_text_deflated_apart_reads_back_in_its_part_between_the_text_around_it(
    before: str, deflated: list[str], after: str, repeat: int
) -> None:
    """A part's text deflated apart (DeflatedRows) reads back in place; the zip's CRCs hold."""
    # text written before and after it, several in a row, a part larger than CHUNK
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        part = StreamedPart(package, "xl/part.xml")
        part.write(before * repeat)
        for text in deflated:
            part.write_deflated(DeflatedRows.of(text * repeat))
        part.write(after)
        part.finish()
    with zipfile.ZipFile(buffer) as package:
        assert package.testzip() is None
        read = package.read("xl/part.xml").decode()
    assert read == before * repeat + "".join(t * repeat for t in deflated) + after


def test_text_deflated_apart_is_written_as_text_where_zipfile_keeps_its_entry_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zipfile whose entry writer lacks the fields spliced into gets the text written plainly."""
    monkeypatch.setattr(xlsx_package, "_WRITER_FIELDS", ("_compressor", "_a_later_python_s"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        part = StreamedPart(package, "xl/part.xml")
        part.write("<a>" * 30_000)
        part.write_deflated(DeflatedRows.of("<b>" * 30_000))
        part.finish()
    with zipfile.ZipFile(buffer) as package:
        assert package.testzip() is None
        assert package.read("xl/part.xml").decode() == "<a>" * 30_000 + "<b>" * 30_000
