"""Builders for hostile and fuzzed workbooks: raw .xlsx packages, hypothesis strategies, oracles.

``package`` writes a workbook part by part, so a test can put exactly the bytes an attacker
would (a DOCTYPE, a lying zip directory, a cell at XFD1048576). The strategies draw
department sheets in both layouts as real .xlsx bytes (openpyxl or XlsxWriter) and
byte-level corruptions of them; ``check_plan`` is the property the fuzz tests and
``bench/fuzz_soak.py`` hold every run to.
"""

from __future__ import annotations

import io
import json
import re
import struct
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import xlsxwriter
from hypothesis import strategies as st
from openpyxl import Workbook as OpenpyxlWorkbook

from automation.cells import Amount, Problem, Unconfirmed, read_cell
from automation.config.models import (
    Contact,
    DamageRollupParams,
    Department,
    Directory,
    RecordsLayout,
)
from automation.damage.catalogue import DEFAULT_CATALOGUE, Item
from automation.damage.reading import (
    NO_STATUS,
    NOTE_PREFIXES,
    PROBLEM_PREFIX,
    TOTAL_WORDS,
    SheetReading,
)
from automation.damage.text import normalize
from automation.damage.workbook import Sheet, Uncalculated, Workbook, address
from automation.flows.damage_rollup import DamagePlan
from automation.record import damage_record

# --- Raw packages -------------------------------------------------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
CONTENT_TYPES = (
    XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="{main}"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
XLSM_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
ROOT_RELS = (
    XML_DECL + f'<Relationships xmlns="{PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
SHEET_NAME = "危機管理課"
# The sheet every hostile test starts from: 市町村 | 死者 / 前橋市 | 1 (strings shared).
STRINGS = ("市町村", "死者", "前橋市")
CELLS = (
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
    '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>1</v></c></row>'
)


def workbook_xml(extra: str = "") -> str:
    """xl/workbook.xml with one sheet (``extra`` goes after ``<sheets>``)."""
    return (
        XML_DECL + f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        f'<sheets><sheet name="{SHEET_NAME}" sheetId="1" r:id="rId1"/></sheets>{extra}</workbook>'
    )


def workbook_rels(extra: str = "") -> str:
    """xl/_rels/workbook.xml.rels for the sheet and shared strings, plus ``extra``."""
    return (
        XML_DECL + f'<Relationships xmlns="{PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
        f"{extra}</Relationships>"
    )


def sheet_xml(cells: str = CELLS, *, prolog: str = "", after: str = "") -> str:
    """A worksheet part: ``prolog`` goes before the root, ``after`` after ``</sheetData>``."""
    return (
        XML_DECL + prolog + f'<worksheet xmlns="{MAIN_NS}"><sheetData>{cells}</sheetData>'
        f"{after}</worksheet>"
    )


def shared_strings_xml(strings: Sequence[str] = STRINGS, *, prolog: str = "") -> str:
    """xl/sharedStrings.xml (strings are inserted as given: entities stay entities)."""
    items = "".join(f"<si><t>{s}</t></si>" for s in strings)
    return (
        XML_DECL + prolog + f'<sst xmlns="{MAIN_NS}" count="{len(strings)}" '
        f'uniqueCount="{len(strings)}">{items}</sst>'
    )


def parts(**replace: str | bytes) -> dict[str, str | bytes]:
    """The parts of the minimal workbook, by zip path (keyword ``sheet``, ``strings`` ...)."""
    result: dict[str, str | bytes] = {
        "[Content_Types].xml": CONTENT_TYPES.format(main=XLSX_MAIN),
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": workbook_xml(),
        "xl/_rels/workbook.xml.rels": workbook_rels(),
        "xl/worksheets/sheet1.xml": sheet_xml(),
        "xl/sharedStrings.xml": shared_strings_xml(),
    }
    names = {
        "types": "[Content_Types].xml",
        "book": "xl/workbook.xml",
        "rels": "xl/_rels/workbook.xml.rels",
        "sheet": "xl/worksheets/sheet1.xml",
        "strings": "xl/sharedStrings.xml",
    }
    for key, value in replace.items():
        result[names.get(key, key)] = value
    return result


def package(members: Mapping[str, str | bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Zip ``members`` (text is written as UTF-8) into workbook bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data.encode() if isinstance(data, str) else data)
    return buffer.getvalue()


def xlsx(**replace: str | bytes) -> bytes:
    """The minimal workbook with some parts replaced or added, as bytes."""
    return package(parts(**replace))


def patched(
    data: bytes, member: str, *, size: int | None = None, flags: int | None = None
) -> bytes:
    """``data`` with ``member``'s recorded size or flags changed in both zip headers."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        offset = archive.getinfo(member).header_offset
    damaged = bytearray(data)
    central = damaged.find(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack_from("<H", damaged, central + 28)[0]
        if damaged[central + 46 : central + 46 + length] == member.encode():
            if size is not None:
                struct.pack_into("<L", damaged, central + 24, size)
                struct.pack_into("<L", damaged, offset + 22, size)
            if flags is not None:
                struct.pack_into("<H", damaged, central + 8, flags)
                struct.pack_into("<H", damaged, offset + 6, flags)
        central = damaged.find(b"PK\x01\x02", central + 4)
    return bytes(damaged)


# --- Generated department sheets ----------------------------------------------------------

TOWNS = ("前橋市", "高崎市", "桐生市", "伊勢崎市", "太田市", "沼田市", "みなかみ町")
UNKNOWN_TOWNS = ("架空市", "前橋", "東京都", "高崎市役所")
STATUSES = ("通行止め", "片側交互通行", "解除")
RECORD_TYPES = ("道路", "河川", "橋りょう", "がけ崩れ", "水道", "停電")
TITLES = ("令和8年台風第10号に係る被害状況", "9月1日10時00分現在", "（第2報）", "報告様式")
MATRIX_SHEET = "危機管理課"
RECORDS_SHEET = "県土整備部"
HOUSING_LABELS = ("全壊", "半壊", "一部破損", "床上浸水", "床下浸水")
HOUSING_UNITS = ("棟", "世帯", "人")
JAPANESE = (
    "あいうえおかきくけこさしすせそアイウエオカキクケコ市町村被害死者全壊道路河川未確認調査中"
    "多数約以上人棟世帯箇所戸号丁目県橋山川０１２３４５６７８９，．－ー（）　ＡＢＣａｂｃ"
    "0123456789,.-()/#!?=+ abcxyz%＄￥"
)


def _is_structural(text: str) -> bool:
    """Text a reader treats as a total row or a note (kept out of generated free text)."""
    folded = unicodedata.normalize("NFKC", text).strip()
    return normalize(text) in TOTAL_WORDS or folded.startswith(NOTE_PREFIXES)


free_text = st.text(alphabet=JAPANESE, min_size=1, max_size=8).filter(
    lambda s: not _is_structural(s)
)


@dataclass(frozen=True)
class Formula:
    """A formula cell; XlsxWriter saves ``cached`` as its result, openpyxl saves none."""

    text: str
    cached: object = None


FORMULAS = ("=1+1", "=SUM(B2:B4)", "=[1]外部!A1", '=IF(B2="","",B2)', "=B2/0")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
CELL_WORDS = (
    "-", "なし", "未確認", "調査中", "多数", "約10", "10以上", "12人", "３棟", "5世帯", "１，２３４",
    "#DIV/0!", "#N/A", "TRUE", "0", " 5 ", "５．５", "△3", "▲2", "1,000", "1e3", "０", "ー",
)  # fmt: skip

readable_values: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.integers(0, 60),
    st.integers(0, 60).map(lambda n: str(n).translate(FULL_WIDTH)),  # １２
    st.floats(0, 1000, allow_nan=False, allow_infinity=False),
    st.sampled_from(["-", "なし", "未確認", "調査中", "0", "１，２３４", "12人", "３棟", "ー"]),
)
odd_values: st.SearchStrategy[object] = st.one_of(
    st.integers(-50, -1),
    st.integers(10**11, 10**30),
    st.sampled_from(CELL_WORDS),
    free_text,
    st.booleans(),
    st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)),
    st.times().map(lambda t: t.replace(microsecond=0)),
    st.builds(
        Formula,
        st.sampled_from(FORMULAS),
        st.one_of(st.none(), st.integers(0, 9), st.sampled_from(["", "7", "#DIV/0!"])),
    ),
)
# Mostly what departments type, a fifth of the time something a reader must refuse.
cell_values = st.one_of(*[readable_values] * 4, odd_values)
town_cells: st.SearchStrategy[object] = st.one_of(
    *[st.sampled_from(TOWNS)] * 4,
    st.sampled_from(TOWNS).map(" ".join),  # 前 橋 市: still the town
    st.sampled_from(UNKNOWN_TOWNS),
    st.builds(Formula, st.just("=A1"), st.one_of(st.none(), st.sampled_from(TOWNS))),
    st.integers(1, 999),
    free_text,
)


@dataclass
class Layout:
    """Where a generated table is: the oracle reads the parsed sheet at these cells."""

    key_col: int
    data_rows: list[int] = field(default_factory=list)
    columns: list[tuple[int, Item]] = field(default_factory=list)  # matrix item columns
    type_col: int = 0  # records
    town_col: int = 0
    status_col: int = 0


@dataclass
class DrawnSheet:
    """A sheet as drawn: rows (row 1 first), merged ranges and where its table is."""

    rows: list[list[object]]
    merges: list[tuple[int, int, int, int]]
    layout: Layout


def _header_items() -> tuple[list[Item], dict[str, list[Item]]]:
    """Items whose label and printed title read back as themselves, and the housing groups."""
    single = [
        item
        for item in DEFAULT_CATALOGUE.items
        if item.category != "住家被害"
        and DEFAULT_CATALOGUE.match_header([item.title]).item == item
        and DEFAULT_CATALOGUE.match_header([item.label]).item == item
    ]
    groups = {
        label: [item for item in DEFAULT_CATALOGUE.items if item.label == label]
        for label in HOUSING_LABELS
    }
    return single, groups


SINGLE_ITEMS, HOUSING_GROUPS = _header_items()


@st.composite
def matrix_sheets(draw: st.DrawFn) -> DrawnSheet:
    """A matrix sheet: titles, a one- or two-row (merged or not) header, rows, total, notes."""
    left = draw(st.integers(0, 1))
    titles = draw(st.lists(st.sampled_from(TITLES), max_size=3))
    rows: list[list[object]] = [[None] * left + [t] for t in titles]
    merges: list[tuple[int, int, int, int]] = []
    two_rows = draw(st.booleans())
    merged = two_rows and draw(st.booleans())
    singles = draw(st.lists(st.sampled_from(SINGLE_ITEMS), max_size=5, unique_by=lambda i: i.code))
    groups = draw(st.lists(st.sampled_from(HOUSING_LABELS), max_size=2, unique=True))
    order = draw(st.permutations([i.code for i in singles] + groups)) or [SINGLE_ITEMS[0].code]
    header_row = len(rows)
    top: list[object] = [None] * left + ["市町村"]
    second: list[object] = [None] * (left + 1)
    columns: list[tuple[int, Item]] = []
    for entry in order:
        col = len(top)
        if entry not in HOUSING_GROUPS:
            item = DEFAULT_CATALOGUE.by_code[entry]
            top.append(item.label if two_rows else item.title)
            second.append(None)
            columns.append((col, item))
            if merged:
                merges.append((header_row, col, header_row + 1, col))
        else:
            label, members = entry, HOUSING_GROUPS[entry]
            units = draw(st.lists(st.sampled_from(members), min_size=1, unique_by=lambda i: i.unit))
            for offset, item in enumerate(units):
                if two_rows:
                    top.append(label if offset == 0 else None)
                    second.append(item.unit)
                else:
                    top.append(item.title)
                columns.append((col + offset, item))
            if merged and len(units) > 1:
                merges.append((header_row, col, header_row, col + len(units) - 1))
    if merged:
        merges.append((header_row, left, header_row + 1, left))
    rows.append(top)
    if two_rows:
        rows.append(second)
    layout = Layout(key_col=left, columns=columns)
    width = len(top) - left - 1
    count = draw(st.integers(1, 8))
    for index in range(count):
        if index and draw(st.integers(0, 5)) == 0:
            rows.append([])  # a blank separator row
        town = draw(st.sampled_from(TOWNS) if index == 0 else town_cells)
        values = draw(st.lists(cell_values, min_size=width, max_size=width))
        layout.data_rows.append(len(rows))
        rows.append([None] * left + [town, *values])
    if draw(st.booleans()):
        rows.append([None] * left + ["計", *draw(st.lists(st.integers(0, 99), max_size=width))])
    if draw(st.booleans()):
        rows.append([None] * left + ["※ 数値は速報値"])
        rows.append([None] * left + draw(st.lists(cell_values, max_size=width + 1)))
    return DrawnSheet(rows, merges, layout)


@st.composite
def records_sheets(draw: st.DrawFn) -> DrawnSheet:
    """A records sheet: titles, a header in any column order, one row per incident."""
    titles = draw(st.lists(st.sampled_from(TITLES), max_size=2))
    rows: list[list[object]] = [[t] for t in titles]
    headers = draw(st.permutations(["被害種別", "市町村", "状況", "路線名", "箇所", "備考"]))
    layout = Layout(
        key_col=0,
        type_col=headers.index("被害種別"),
        town_col=headers.index("市町村"),
        status_col=headers.index("状況"),
    )
    rows.append(list(headers))
    kinds = st.one_of(
        *[st.sampled_from(RECORD_TYPES)] * 4,
        st.sampled_from(["", "謎の被害", "道"]),
        st.builds(Formula, st.just("=A1"), st.one_of(st.none(), st.just("道路"))),
        free_text,
    )
    statuses = st.one_of(
        *[st.sampled_from(STATUSES)] * 4,
        st.sampled_from(["", "不明", "通行止"]),
        st.builds(Formula, st.just("=A1"), st.one_of(st.none(), st.just("解除"))),
        free_text,
    )
    for _ in range(draw(st.integers(0, 8))):
        row: list[object] = [None] * len(headers)
        row[layout.type_col] = draw(kinds)
        row[layout.town_col] = draw(town_cells)
        row[layout.status_col] = draw(statuses)
        for col, header in enumerate(headers):
            if header in ("路線名", "箇所", "備考"):
                row[col] = draw(st.one_of(st.none(), free_text, cell_values))
        layout.data_rows.append(len(rows))
        rows.append(row)
    return DrawnSheet(rows, merges=[], layout=layout)


@dataclass
class DrawnBook:
    """A generated workbook: its bytes and how each department sheet was laid out."""

    data: bytes
    sheets: dict[str, DrawnSheet]
    statuses: tuple[str, ...] | None
    writer: str


def _write_openpyxl(sheets: Mapping[str, DrawnSheet]) -> bytes:
    book = OpenpyxlWorkbook()
    book.remove(book.active)
    for name, drawn in sheets.items():
        ws = book.create_sheet(name)
        for r, row in enumerate(drawn.rows, start=1):
            for c, value in enumerate(row, start=1):
                if isinstance(value, Formula):
                    ws.cell(row=r, column=c, value=value.text)
                elif value is not None:
                    ws.cell(row=r, column=c, value=value)
        for top, left, bottom, right in drawn.merges:
            ws.merge_cells(
                start_row=top + 1, start_column=left + 1, end_row=bottom + 1, end_column=right + 1
            )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write_xlsxwriter(sheets: Mapping[str, DrawnSheet]) -> bytes:
    buffer = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(buffer, {**options, "strings_to_urls": False})
    when = book.add_format({"num_format": "yyyy/mm/dd hh:mm"})
    for name, drawn in sheets.items():
        ws = book.add_worksheet(name)
        merged = {(t, lft) for t, lft, _, _ in drawn.merges}
        for top, left, bottom, right in drawn.merges:
            value = _at(drawn.rows, top, left)
            ws.merge_range(top, left, bottom, right, None)
            if value is not None:
                _write_cell(ws, top, left, value, when)
        for r, row in enumerate(drawn.rows):
            for c, value in enumerate(row):
                if value is not None and (r, c) not in merged:
                    _write_cell(ws, r, c, value, when)
    book.close()
    return buffer.getvalue()


def _at(rows: Sequence[Sequence[object]], r: int, c: int) -> object:
    return rows[r][c] if r < len(rows) and c < len(rows[r]) else None


def _write_cell(ws: Any, r: int, c: int, value: object, when: Any) -> None:
    if isinstance(value, Formula):
        cached = "" if value.cached is None else value.cached
        ws.write_formula(r, c, value.text, None, cached)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value)
    elif isinstance(value, datetime | date | time):
        ws.write_datetime(r, c, value, when)
    else:
        ws.write_string(r, c, str(value))


SHARED_TEXT = re.compile(r"<si><t(?P<attrs>[^>]*)>(?P<head>[^<&])(?P<rest>[^<]+)</t></si>")


def _write_excel_like(sheets: Mapping[str, DrawnSheet]) -> bytes:
    """XlsxWriter's package with its shared strings as Excel keeps typed Japanese: each text
    in two formatted runs with its furigana (a phonetic run) beside it, read as the text."""
    with zipfile.ZipFile(io.BytesIO(_write_xlsxwriter(sheets))) as archive:
        members: dict[str, str | bytes] = {i.filename: archive.read(i) for i in archive.infolist()}
    table = members.get("xl/sharedStrings.xml")
    if isinstance(table, bytes):
        members["xl/sharedStrings.xml"] = SHARED_TEXT.sub(
            r'<si><r><t\g<attrs>>\g<head></t></r><r><rPr><b/></rPr><t xml:space="preserve">'
            r'\g<rest></t></r><rPh sb="0" eb="1"><t>フリガナ</t></rPh>'
            '<phoneticPr fontId="0" type="noConversion"/></si>',
            table.decode(),
        )
    return package(members)


WRITERS = {"openpyxl": _write_openpyxl, "xlsxwriter": _write_xlsxwriter, "excel": _write_excel_like}


@st.composite
def workbooks(draw: st.DrawFn) -> DrawnBook:
    """A damage workbook with one matrix and one records sheet, as real .xlsx bytes."""
    sheets = {MATRIX_SHEET: draw(matrix_sheets()), RECORDS_SHEET: draw(records_sheets())}
    writer = draw(st.sampled_from(sorted(WRITERS)))
    statuses = draw(st.one_of(st.none(), st.just(STATUSES)))
    return DrawnBook(WRITERS[writer](sheets), sheets, statuses, writer)


def _without(data: bytes, index: int) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        dropped = infos[index % len(infos)].filename
        members = {i.filename: archive.read(i) for i in infos if i.filename != dropped}
    return package(members)


def _mangled(data: bytes, index: int, position: int, junk: bytes) -> bytes:
    """A well-formed zip whose one XML part has bytes overwritten (CRC recomputed)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    names = sorted(n for n in members if n.endswith((".xml", ".rels")))
    target = names[index % len(names)]
    content = members[target]
    at = position % (len(content) + 1)
    members[target] = content[:at] + junk + content[at + len(junk) :]
    return package(members)


@st.composite
def corrupted(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    """``data`` damaged at the byte level: truncated, flipped, a part dropped or mangled."""
    kind = draw(st.sampled_from(["mangle", "drop", "flip", "splice", "truncate"]))
    if kind == "truncate":
        return kind, data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        damaged = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            damaged[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return kind, bytes(damaged)
    if kind == "drop":
        return kind, _without(data, draw(st.integers(0, 100)))
    junk = draw(
        st.one_of(
            st.binary(min_size=1, max_size=12),
            st.sampled_from([b"<", b"&", b"]]>", b"</row>", b'<c r="XFD1">', b"\xff\xfe", b"<f>"]),
        )
    )
    if kind == "mangle":
        return kind, _mangled(data, draw(st.integers(0, 100)), draw(st.integers(0, 10**6)), junk)
    at = draw(st.integers(0, len(data)))
    return kind, data[:at] + junk + data[at:]


# --- The property -------------------------------------------------------------------------


def fuzz_params(statuses: tuple[str, ...] | None) -> DamageRollupParams:
    """The flow configuration the fuzzed workbooks are read with."""
    return DamageRollupParams(
        disaster="令和8年台風第10号",
        workbook="book.xlsx",
        report_to=(Contact(channel="mail", address="bousai@example.jp"),),
        layouts={RECORDS_SHEET: RecordsLayout(statuses=statuses)},
        municipalities=TOWNS,
    )


FUZZ_DIRECTORY = Directory(
    departments=(
        Department(
            name=MATRIX_SHEET,
            sheet=MATRIX_SHEET,
            contacts=(Contact(channel="mail", address="kiki@example.jp"),),
        ),
        Department(
            name=RECORDS_SHEET,
            sheet=RECORDS_SHEET,
            contacts=(Contact(channel="mail", address="kendo@example.jp"),),
        ),
    )
)
TOWN_INDEX = {normalize(t): t for t in TOWNS}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _town(value: object) -> str | None:
    return TOWN_INDEX.get(normalize("".join(_text(value).split())))


class PropertyError(AssertionError):
    """The reading broke the property; the message says which cell and how."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise PropertyError(message)


def check_matrix(sheet: Sheet, layout: Layout, reading: SheetReading) -> None:
    """Counted = every readable cell of an accepted row; no reported cell is counted."""
    problems = {p.where.partition("!")[2] for p in reading.problems}
    amounts: dict[tuple[str, str], Decimal] = {}
    flags: set[tuple[str, str]] = set()
    owner: dict[str, tuple[str, str]] = {}  # value cell -> (town, code)
    seen: set[str] = set()
    for row in layout.data_rows:
        key = address(row, layout.key_col)
        name = sheet.value(row, layout.key_col)
        cells = [(col, item, sheet.value(row, col)) for col, item in layout.columns]
        blank = all(_text(v) == "" for _, _, v in cells)
        town = None if isinstance(name, Uncalculated) else _town(name)
        if town is None or town in seen:
            _expect(
                key in problems or (not _text(name) and blank),
                f"{key}: row of {name!r} dropped without a problem",
            )
            continue
        seen.add(town)
        _expect(key not in problems, f"{key}: accepted row {town} has a key problem")
        for col, item, value in cells:
            cell = address(row, col)
            owner[cell] = (town, item.code)
            result = read_cell(value, item.unit, item.decimals)
            if isinstance(result, Problem):
                _expect(cell in problems, f"{cell}: {value!r} not reported")
                continue
            _expect(cell not in problems, f"{cell}: readable {value!r} reported")
            if isinstance(result, Amount):
                amounts[(town, item.code)] = result.value
            elif isinstance(result, Unconfirmed):
                flags.add((town, item.code))
    for cell in problems & owner.keys():
        counted = owner[cell] in reading.amounts or owner[cell] in reading.unconfirmed
        _expect(not counted, f"{cell}: reported as a problem and counted as {owner[cell]}")
    _expect(reading.amounts == amounts, f"amounts {reading.amounts} != {amounts}")
    _expect(reading.unconfirmed == flags, f"flags {reading.unconfirmed} != {flags}")


def check_records(
    sheet: Sheet, layout: Layout, reading: SheetReading, statuses: tuple[str, ...] | None
) -> None:
    """Counted = every incident row with no problem in its type, town or status cell."""
    problems = {p.where.partition("!")[2] for p in reading.problems}
    allowed = {normalize(s): s for s in statuses} if statuses else None
    amounts: Counter[tuple[str, str]] = Counter()
    by_status: dict[str, Counter[str]] = {}
    for row in layout.data_rows:
        values = [sheet.value(row, c) for c in range(sheet.left, sheet.right)]
        keys = [address(row, c) for c in (layout.type_col, layout.town_col, layout.status_col)]
        reported = [k for k in keys if k in problems]
        if all(_text(v) == "" for v in values):
            _expect(not reported, f"row {row + 1}: blank row reported")
            continue
        kind, town_cell, status_cell = (
            sheet.value(row, c) for c in (layout.type_col, layout.town_col, layout.status_col)
        )
        item = (
            None if isinstance(kind, Uncalculated) else DEFAULT_CATALOGUE.match_label(_text(kind))
        )
        town = None if isinstance(town_cell, Uncalculated) else _town(town_cell)
        status = "" if isinstance(status_cell, Uncalculated) else _text(status_cell)
        canonical = allowed.get(normalize(status)) if allowed is not None and status else status
        readable = (
            item is not None
            and town is not None
            and canonical is not None
            and not isinstance(status_cell, Uncalculated)
        )
        _expect(
            readable != bool(reported), f"row {row + 1}: readable={readable}, problems {reported}"
        )
        if readable:
            assert item is not None and town is not None and canonical is not None
            amounts[(town, item.code)] += 1
            by_status.setdefault(item.code, Counter())[canonical or NO_STATUS] += 1
    counted = {k: int(v) for k, v in reading.amounts.items()}
    _expect(counted == dict(amounts), f"counts {counted} != {dict(amounts)}")
    _expect(reading.statuses == by_status, f"statuses {reading.statuses} != {by_status}")


def check_consistent(reading: SheetReading) -> None:
    """Structure-free: a cell shown as 要修正 is never counted, a counted one is shown."""
    if reading.layout == "records":
        counts = Counter(
            (town, values["集計項目"]) for town, values in reading.rows if "集計項目" in values
        )
        labels = {item.code: item.label for item in DEFAULT_CATALOGUE.items}
        counted = Counter({(t, labels.get(c, c)): int(v) for (t, c), v in reading.amounts.items()})
        _expect(counts == counted, f"records shown {counts} != counted {counted}")
        return
    shown: dict[tuple[str, str], object] = {
        (town, code): value for town, values in reading.rows for code, value in values.items()
    }
    for key, value in shown.items():
        if isinstance(value, str) and value.startswith(PROBLEM_PREFIX):
            _expect(key not in reading.amounts, f"{key}: shown {value!r} but counted")
            _expect(key not in reading.unconfirmed, f"{key}: shown {value!r} but flagged")
    for key, amount in reading.amounts.items():
        value = shown.get(key)
        _expect(
            isinstance(value, int | float) and float(value) == float(amount),
            f"{key}: counted {amount} but shown {value!r}",
        )


def check_totals(plan: DamagePlan) -> None:
    """The consolidated totals are exactly the departments' readings added up."""
    expected: dict[str, Decimal] = {}
    for reading in plan.report.readings.values():
        check_consistent(reading)
        for (_, code), value in reading.amounts.items():
            expected[code] = expected.get(code, Decimal(0)) + value
    totals = {t.code: t.value for t in plan.report.consolidated.totals if t.value is not None}
    _expect(totals == expected, f"totals {totals} != {expected}")
    json.dumps(damage_record(plan, "fuzz"), ensure_ascii=False)


def check_plan(drawn: DrawnBook, book: Workbook, plan: DamagePlan) -> None:
    """The whole property for an undamaged generated workbook."""
    readings = plan.report.readings
    matrix, records = drawn.sheets[MATRIX_SHEET], drawn.sheets[RECORDS_SHEET]
    check_matrix(book.sheets[MATRIX_SHEET], matrix.layout, readings[MATRIX_SHEET])
    check_records(
        book.sheets[RECORDS_SHEET], records.layout, readings[RECORDS_SHEET], drawn.statuses
    )
    check_totals(plan)
