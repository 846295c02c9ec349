"""Parse workbook bytes into plain grids of cell values (pure; no file or network I/O).

python-calamine does the parsing: it reads cached cell values (formulas are never
evaluated), is an order of magnitude faster than openpyxl for reading, and reports merged
ranges, which header detection needs.

Workbooks are typed by dozens of people and are untrusted, so before calamine sees one,
the package is inspected here, deterministically and cheaply, and each sheet's own part
when that sheet is parsed (:class:`SheetChecks`: a run that reuses a sheet's stored
reading never scans its XML; 60 x 2,000 rows: 1.5 s of scanning before, none now when
only one sheet is parsed):

- only an Excel workbook package (.xlsx / .xlsm) is read; other formats are refused;
- the zip directory is held to the caps below (parts, sizes, packing ratio, methods), and
  every part calamine could parse is unpacked under those caps and checked against
  its recorded size and CRC before calamine reads it;
- a DOCTYPE or ENTITY declaration in any XML part is refused (entity expansion, external
  entities): Excel never writes one;
- each sheet's cell rectangle is bounded before calamine allocates it (a two-cell file
  with A1 and XFD1048576 would otherwise ask for half a terabyte);
- a formula saved without its result becomes an ``Uncalculated`` cell, which readers report
  with sheet!cell and the formula, and a saved error (#DIV/0!) is put back as its text:
  calamine reads both as an empty cell, which would mean "not reported".

Macros (``vbaProject.bin``) and external links are never opened or followed: only the
values cached in the sheets are read, so an .xlsm is read as data.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from operator import itemgetter
from typing import Any
from weakref import WeakValueDictionary
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as SafeXML  # type: ignore[import-untyped]  # ships no stubs

from automation.cells import Uncalculated
from automation.column_names import name_key
from automation.errors import DataError

MB = 1024 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")
WORKBOOK_PART = "xl/workbook.xml"
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"

# Caps on an untrusted workbook, checked before calamine sees it. Real damage workbooks
# are far below each: the 60-sheet x 300-row benchmark has 68 parts, 7.5 MB unpacked, its
# largest part 0.2 MB packing 19x, and 4,000 cells a sheet.
MAX_PARTS = 10_000  # zip members: 250 sheets with drawings, comments and rels are ~2,500
MAX_PART_BYTES = 64 * MB  # one part unpacked: the XML of about a million filled cells
MAX_UNPACKED_BYTES = 256 * MB  # all parts unpacked: 30x the benchmark workbook
MAX_RATIO = 100  # unpacked/packed per part: sheet XML packs 5-20x even when every row is
# alike (measured), while deflate reaches ~1,030x: a part above 100x is a zip bomb
RATIO_MIN_BYTES = 1 * MB  # small parts (styles, rels) may pack oddly and are harmless
MAX_SHEET_CELLS = 2_000_000  # one sheet's rectangle: calamine allocates it whole (~50 bytes
# a cell while read), so A1 plus XFD1048576 would ask for 550 GB and abort the process
MAX_CELLS = 10_000_000  # all sheets' rectangles: ~8 bytes a cell are kept per run
SMALL_SHEET = 26 * 999  # a sheet whose cells all lie in A1:Z999 counts as this many
SCAN_CHUNK = 1 * MB  # unpacking step: memory per part stays bounded whatever it claims

ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})  # all Excel writes
LOCAL_HEADER = struct.Struct("<4s5H3L2H")
DECLARATION = re.compile(rb"<!\s*(?i:doctype|entity)")
ENTITY = re.compile(rb"<!\s*(?i:entity)")
CELL_REF = re.compile(rb'<c r="([A-Za-z]{1,3})([0-9]{1,7})"')
NOT_SMALL_CELL = re.compile(rb'<c(?! r="[A-Za-z][0-9]{1,3}")')  # beyond Z999, or unusual
DIMENSION = re.compile(rb'<dimension\s+ref="(?:[A-Z]{1,3}[0-9]{1,7}:)?([A-Z])([1-9][0-9]{0,6})"')
PREFIXED_CELL = re.compile(rb":[cfv][\s/>]")  # <x:c>, <x:f>: calamine reads any prefix
FORMULA_TAG = re.compile(rb"<f[\s/>]")
FORMULA_THEN_VALUE = re.compile(rb"<f(?:\s[^>]*)?(?:/>|>[^<]*</f\s*>)\s*<v(/>|>)")
FORMULA_WITH_RESULT = re.compile(rb"<f(?:\s[^>]*)?(?:/>|>[^<]*</f\s*>)\s*<v>[^<]")
REFERENCE = re.compile(r"([A-Za-z]+)([0-9]+)")
UTF16_STARTS = {
    b"\xff\xfe": "utf-16",
    b"\xfe\xff": "utf-16",
    b"<\0": "utf-16-le",
    b"\0<": "utf-16-be",
}
RESAVE = "Excel で開き、［名前を付けて保存］で「Excel ブック (*.xlsx)」形式に保存し直してください。"

Cell = tuple[int, int]  # 0-based (row, col)


@dataclass(frozen=True, slots=True)
class Merge:
    """A merged range, 0-based inclusive coordinates."""

    top: int
    left: int
    bottom: int
    right: int


@dataclass(frozen=True)
class Sheet:
    """One worksheet as a grid of values; ``rows[0][0]`` is cell (``top``, ``left``)."""

    name: str
    rows: tuple[tuple[object, ...], ...] = field(repr=False)  # data: a repr would copy it
    top: int = 0
    left: int = 0
    merges: tuple[Merge, ...] = ()
    _merge_index: dict[tuple[int, int], Merge] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        for merge in self.merges:
            for r in range(merge.top, merge.bottom + 1):
                for c in range(merge.left, merge.right + 1):
                    self._merge_index[(r, c)] = merge

    @property
    def bottom(self) -> int:
        """One past the last row index."""
        return self.top + len(self.rows)

    @cached_property
    def right(self) -> int:
        """One past the last column index."""
        return self.left + max((len(row) for row in self.rows), default=0)

    def value(self, row: int, col: int) -> object:
        """The value at absolute 0-based (row, col), or None."""
        r, c = row - self.top, col - self.left
        if 0 <= r < len(self.rows) and 0 <= c < len(self.rows[r]):
            return self.rows[r][c]
        return None

    def row(self, row: int) -> tuple[object, ...]:
        """The values of a row indexed by absolute column (padded on the left), or ()."""
        r = row - self.top
        if not 0 <= r < len(self.rows):
            return ()
        return (None,) * self.left + self.rows[r] if self.left else self.rows[r]

    def merged_value(self, row: int, col: int) -> object:
        """The value shown at (row, col): a merged range shows its top-left value."""
        merge = self._merge_index.get((row, col))
        if merge is None:
            return self.value(row, col)
        return self.value(merge.top, merge.left)

    def merge_at(self, row: int, col: int) -> Merge | None:
        """The merged range covering (row, col), if any."""
        return self._merge_index.get((row, col))

    @cached_property
    def _digests(self) -> tuple[str, str]:
        """``fingerprint`` and ``content``, from one text of the values (not kept: a
        2,000-row sheet's is a megabyte)."""
        values = hashlib.blake2b(repr((self.top, self.left, self.rows)).encode(), digest_size=16)
        seen = values.copy()
        seen.update(repr((self.name, self.merges)).encode())
        return values.hexdigest(), seen.hexdigest()

    @property
    def fingerprint(self) -> str:
        """A digest of every value in the sheet: equal digests mean equal content."""
        return self._digests[0]

    @property
    def content(self) -> str:
        """A digest of everything a reader sees (name, values and merged ranges): equal
        digests read the same."""
        return self._digests[1]

    @property
    def has_values(self) -> bool:
        """Whether any cell holds a value."""
        return any(v is not None for row in self.rows for v in row)


@dataclass(frozen=True)
class Workbook:
    """All worksheets of one workbook, by name.

    ``packages`` gives, per sheet name, a key of what the sheet's values are read from in
    the package (see :func:`package_keys`): equal keys read the same values, so a sheet
    whose key is unchanged need not be parsed again. Each key is computed when looked up;
    ``entries`` gives, per sheet name, a digest of the zip directory entries its key is
    computed from (``Package.entries``, read without unpacking anything): a sheet whose
    entries are those a stored key was computed from has that key still. Parsed lazily
    (``lazy=True``), a sheet is parsed when it is first looked up.
    """

    name: str
    sheets: Mapping[str, Sheet] = field(repr=False)  # data: a repr would copy every cell
    packages: Mapping[str, str] = field(default_factory=dict, repr=False)
    sizes: Mapping[str, int] = field(default_factory=dict, repr=False)  # sheet part's bytes
    entries: Mapping[str, str] = field(default_factory=dict, repr=False)

    def sheet_named(self, wanted: str) -> str | None:
        """The sheet called ``wanted``; else the one sheet whose name differs from it only in
        spaces (which Excel's sheet tabs do not show) and full- or half-width forms, as in
        「危機管理課　」; None when there is no such sheet, or more than one."""
        if wanted in self.sheets:
            return wanted
        key = name_key(wanted)
        found = [name for name in self.sheets if name_key(name) == key]
        return found[0] if len(found) == 1 else None


def address(row: int, col: int) -> str:
    """Excel address of a 0-based (row, col): ``address(2, 1) == "B3"``."""
    letters = ""
    n = col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def parse_workbook(data: bytes, name: str, *, max_bytes: int, lazy: bool = False) -> Workbook:
    """Parse .xlsx bytes; raise DataError naming the file and the fix when it cannot.

    ``lazy``: the package is inspected now, each sheet parsed when first looked up (a
    sheet that is never looked up is never parsed; a broken one raises DataError then).
    """
    if len(data) > max_bytes:
        raise DataError(
            f"{name}: ファイルサイズ {len(data) / 1e6:.1f} MB が上限 {max_bytes / 1e6:.1f} MB を"
            "超えています。不要なシートや画像を削除して保存し直すか、管理者に上限"
            "（max_workbook_mb）の変更を依頼してください。"
        )
    if data.startswith(OLE_MAGIC) and ENCRYPTED_MARK in data:
        raise DataError(
            f"{name}: パスワードで保護（暗号化）されているため読めません。"
            "Excel の［ファイル］→［情報］→［ブックの保護］でパスワードを解除して保存してください。"
        )
    if not data.startswith(b"PK"):
        kind = "旧形式の .xls など" if data.startswith(OLE_MAGIC) else "zip 形式ではありません"
        raise DataError(f"{name}: Excel ブック（.xlsx / .xlsm）ではありません（{kind}）。{RESAVE}")
    package = _inspect_package(data, name)
    with _calamine_errors(name):
        from python_calamine import CalamineWorkbook  # noqa: PLC0415

        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        found = _LazySheets(book, package.checks, name)
        sheets: Mapping[str, Sheet] = found if lazy else {n: found[n] for n in found}
    sizes = {n: info.file_size for n, info in package.sheet_parts.items()}
    keys = package_keys(package, data, name)
    return Workbook(name, sheets, keys, sizes, package.entries())


@contextmanager
def _calamine_errors(name: str, sheet: str | None = None) -> Iterator[None]:
    """calamine's errors as DataError naming the file (and the sheet being parsed) and the
    fix."""
    from python_calamine import CalamineError, PasswordError  # noqa: PLC0415

    try:
        yield
    except PasswordError as err:
        raise DataError(
            f"{name}: パスワードで保護されているため読めません。パスワードを解除して保存してください。"
        ) from err
    except (CalamineError, ValueError, OSError) as err:
        if sheet is not None:
            raise DataError(
                f"{name}: シート「{sheet}」が読めません（{err}）。Excel でこのブックを開き、"
                "このシートを確認して［名前を付けて保存］で .xlsx 形式に保存し直してください。"
            ) from err
        raise DataError(
            f"{name}: Excel ファイルとして読めません（壊れているか、.xlsx ではありません: {err}）。"
            "Excel で開けるか確認し、［名前を付けて保存］で .xlsx 形式にしてください。"
        ) from err


class _LazySheets(Mapping[str, Sheet]):
    """The workbook's sheets by name, each parsed by calamine when looked up.

    A parsed sheet is kept only while someone holds it (a weak cache): a run reads each
    sheet once, and 60 sheets of 2,000 rows held together are 70 MB."""

    def __init__(self, book: Any, checks: SheetChecks, name: str) -> None:
        self._book = book
        self._names: list[str] = list(book.sheet_names)
        self._known = frozenset(self._names)
        self._checks = checks
        self._name = name
        self._parsed: WeakValueDictionary[str, Sheet] = WeakValueDictionary()

    def __getitem__(self, sheet_name: str) -> Sheet:
        sheet = self._parsed.get(sheet_name)
        if sheet is None:
            if sheet_name not in self._known:
                raise KeyError(sheet_name)
            corrections = self._checks.check(sheet_name)  # before calamine allocates it
            with _calamine_errors(self._name, sheet_name):
                sheet = _sheet(self._book, sheet_name, corrections, self._name)
            self._parsed[sheet_name] = sheet
        return sheet

    def __contains__(self, sheet_name: object) -> bool:
        return sheet_name in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _sheet(book: object, sheet_name: str, corrections: Mapping[Cell, object], name: str) -> Sheet:
    raw = book.get_sheet_by_name(sheet_name)  # type: ignore[attr-defined]  # untyped library
    start = raw.start or (0, 0)
    # calamine gives "" for an empty cell; list comprehensions: a third faster than generators
    rows = tuple([tuple([None if v == "" else v for v in row]) for row in raw.to_python()])
    top, left = start[0], start[1]
    if corrections:
        rows, top, left = _corrected(rows, top, left, corrections)
    merges = _merges(raw.merged_cell_ranges or (), top, left, rows, sheet_name, name)
    return Sheet(sheet_name, rows, top, left, merges)


def _corrected(
    rows: tuple[tuple[object, ...], ...], top: int, left: int, cells: Mapping[Cell, object]
) -> tuple[tuple[tuple[object, ...], ...], int, int]:
    """The grid with the values calamine reads as blank put back (see ``_walk_cells``)."""
    width = max((len(row) for row in rows), default=0)
    corners = list(cells)
    if rows:
        corners += [(top, left), (top + len(rows) - 1, left + max(width - 1, 0))]
    new_top = min(r for r, _ in corners)
    new_left = min(c for _, c in corners)
    height = max(r for r, _ in corners) - new_top + 1
    span = max(c for _, c in corners) - new_left + 1
    grid: list[list[object]] = [[None] * span for _ in range(height)]
    for r, row in enumerate(rows):
        start = left - new_left
        grid[r + top - new_top][start : start + len(row)] = row
    for (r, c), value in cells.items():
        if grid[r - new_top][c - new_left] is None:
            grid[r - new_top][c - new_left] = value
    return tuple(tuple(row) for row in grid), new_top, new_left


def _merges(
    ranges: Iterable[tuple[tuple[int, int], tuple[int, int]]],
    top: int,
    left: int,
    rows: tuple[tuple[object, ...], ...],
    sheet_name: str,
    name: str,
) -> tuple[Merge, ...]:
    """Merged ranges clipped to the cells that exist (a whole merged column is 1M cells)."""
    bottom = top + len(rows) - 1
    right = left + max((len(row) for row in rows), default=0) - 1
    merges = []
    area = 0
    for (m_top, m_left), (m_bottom, m_right) in ranges:
        clipped = Merge(
            m_top, m_left, min(m_bottom, max(bottom, m_top)), min(m_right, max(right, m_left))
        )
        height = max(clipped.bottom - clipped.top + 1, 0)  # a reversed range covers nothing
        area += height * max(clipped.right - clipped.left + 1, 0)
        if area > MAX_SHEET_CELLS:
            raise DataError(
                f"{name}: シート「{sheet_name}」の結合セルが多すぎます（上限 {MAX_SHEET_CELLS:,} セル）。"
                "不要なセルの結合を解除して保存し直してください。"
            )
        merges.append(clipped)
    return tuple(merges)


# --- Package keys -------------------------------------------------------------------------

# The parts besides a sheet's own that its values are read with: shared strings (only for
# a sheet whose cells refer to them), the styles (a number format can make a number a
# date) and the workbook's date system.
SHARED_STRINGS = "sharedStrings.xml"
STRINGS_PART = "xl/sharedStrings.xml"  # the one calamine reads
STYLES = "styles.xml"
ROOT_RELS = "_rels/.rels"  # where the workbook is: calamine reads the parts beside it
DATE1904 = re.compile(rb"date1904\s*=\s*[\"'](?:1|true)[\"']")
# A cell that refers to a shared string, written as Excel writes one: the reference, the
# style, the type (attributes without a "t" after it: cm, vm, ph), the index, nothing else.
# calamine reads it as that string: it takes the attributes r, s and t, the last of each
# seen, and stops once it has seen three, so the type must come before any repeat.
SHARED_CELL = re.compile(
    rb'(<c r="[^"]*"(?: s="[0-9]{1,9}")? t="s"[^<>t]*><v>)([0-9]{1,9})</v></c>'
)
# What calamine reads text from in a sheet: an inline string (<is>, any prefix) and the
# value of a cell typed "str" or "d". Markup nested in one is skipped but its text is read,
# so a reference nested there would be read as digits: a part with an inline string or a
# "d" cell is not keyed by text, nor one with a "str" cell (a formula's text result) other
# than as Excel writes it, its formula and value plain text.
TEXT_HOLDERS = (b"<is", b":is", b'"d"')  # and 'd', looked for where there is a '
TEXT_RESULT = re.compile(rb't="str"[^<>t]*>(?:<f(?:\s[^<>]*)?(?:/>|>[^<]*</f>))?<v>[^<]*</v></c>')
STRINGS_HEAD = re.compile(rb"(?:<\?xml[^<>]*\?>)?\s*<sst(?:\s[^<>]*)?>")
STRING_COUNTS = re.compile(rb"\s(?:count|uniqueCount)\s*=\s*\"[0-9]*\"")


class SheetChecks:
    """The checks of the sheet parts calamine reads by name, made when a sheet is parsed.

    Inspecting a package checks every other part at once; a sheet's own part is unpacked
    (under the same caps), refused for a DOCTYPE/ENTITY, and its cell rectangle bounded
    only when the sheet is about to be parsed, so a run that reuses most sheets' stored
    readings never scans their XML. The rectangles of the parts checked so far add up to
    ``MAX_CELLS``. A sheet whose part is unknown (not resolved as calamine resolves it)
    has every part still unchecked checked first."""

    def __init__(self, data: bytes, name: str) -> None:
        self._view = memoryview(data)
        self._name = name
        self._waiting: dict[str, list[tuple[zipfile.ZipInfo, bool]]] = {}  # by sheet name
        self._found: dict[str, dict[Cell, object]] = {}  # by sheet name, once checked
        self.cells = 0
        self.sheets = 0

    def defer(self, sheet: str, info: zipfile.ZipInfo, *, unpacked: bool) -> None:
        """Check ``info`` (the part of ``sheet``) when the sheet is parsed; ``unpacked``:
        its size, CRC and declarations were checked already."""
        self._waiting.setdefault(sheet, []).append((info, unpacked))

    def check(self, sheet: str) -> dict[Cell, object]:
        """Check the parts of ``sheet`` not yet checked; return the cells calamine misreads
        in them. Raises DataError naming the file, the sheet and the fix.

        A sheet checked before (parsed again once its first parse was let go) gets the
        cells found then: its parts are not waiting any more, and the parts still waiting
        are other sheets'."""
        found = self._found.get(sheet)
        if found is not None:
            return found
        parts = self._waiting.pop(sheet, None)
        if parts is None:
            if not self._waiting:
                return {}
            parts = [part for waiting in self._waiting.values() for part in waiting]
            self._waiting.clear()
        found = {}
        for info, unpacked in parts:
            xml = _unpack(self._view, info, self._name)
            if xml is None:
                continue
            if not unpacked:
                _refuse_declarations(xml, info.filename, self._name)
            found.update(self.bound(xml, sheet))
        self._found[sheet] = found  # a few cells: formulas without a result, errors
        return found

    def bound(self, xml: bytes, sheet: str | None, part: str = "") -> dict[Cell, object]:
        """Bound one part's cell rectangle, alone and added to the others'; return the cells
        calamine misreads in it (``sheet`` None: a part no sheet name resolves to)."""
        start, end = xml.find(b"sheetData"), xml.rfind(b"sheetData>")
        if start == -1 or end <= start:
            return {}
        name = self._name
        where = f"シート「{sheet}」" if sheet else f"部品 {part}"
        found: dict[Cell, object] = {}
        size = _quick_rectangle(xml, start, end)
        if size is None:
            size, found = _walk_cells(xml, where, name)
        if size > MAX_SHEET_CELLS:
            raise DataError(
                f"{name}: {where}のセル範囲が {size:,} セルあり、1シートの上限 {MAX_SHEET_CELLS:,} "
                "セルを超えています。離れたセルに入力された値を削除して（［Ctrl］+［End］で最後の"
                "セルを確認できます）保存し直してください。"
            )
        self.cells += size
        self.sheets += 1
        if self.cells > MAX_CELLS:
            raise DataError(
                f"{name}: シートのセル範囲が合計で上限 {MAX_CELLS:,} セルを超えています（{where}まで"
                f" {self.sheets} シート）。不要なシートを削除するか、ブックを分けて保存し直してください。"
            )
        return found if sheet else {}


@dataclass
class Package:
    """What inspecting a package found: the checks still to make on each sheet's part, and
    what each sheet's values are read from (see :func:`package_keys`)."""

    checks: SheetChecks
    sheet_parts: dict[str, zipfile.ZipInfo] = field(default_factory=dict)  # by sheet name
    tables: list[zipfile.ZipInfo] = field(default_factory=list)  # the shared strings parts
    common: str = ""  # styles part's entry, the package's root relationships, the date system
    directory: str = ""  # the same parts' names and entries, and the tables': see ``entries``

    @property
    def shared_strings(self) -> str:
        """The shared strings parts' entries ("" when there is none)."""
        return repr(sorted(_entry(info) for info in self.tables))

    def entries(self) -> dict[str, str]:
        """Per sheet, a digest of the zip directory entries (names, CRC-32s and sizes) of
        every part its package key is computed from: its own part, the shared strings, the
        styles and the root relationships, with the date system. Read from the directory
        alone; while a sheet's digest is the same, so is its package key."""
        return {
            sheet: _digest(repr((sheet, info.filename, _entry(info), self.directory)))
            for sheet, info in self.sheet_parts.items()
        }


class PackageKeys(Mapping[str, str]):
    """Per sheet name, its package key (see :func:`package_keys`), computed when looked up.

    Only a sheet whose key is looked up has its part unpacked (and the shared strings
    table cut into its items, once for all sheets): a run whose stored readings hold by
    the directory entries (``Workbook.entries``) unpacks and hashes no sheet. A broken part
    (not the size or CRC-32 its entry records) raises DataError when its key is looked up.
    Safe to look up from several threads (or forked processes): at worst a key, or the
    table's items, are computed twice, alike."""

    def __init__(self, package: Package, data: bytes | memoryview, name: str) -> None:
        self._package = package
        self._view = memoryview(data)
        self._name = name
        self._keys: dict[str, str] = {}
        self._table: tuple[_Strings | None] | None = None  # once cut: (the table or None,)

    def __getitem__(self, sheet_name: str) -> str:
        key = self._keys.get(sheet_name)
        if key is None:
            info = self._package.sheet_parts[sheet_name]  # KeyError: no part for that sheet
            key = self._keys[sheet_name] = self._key(sheet_name, info)
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(self._package.sheet_parts)

    def __len__(self) -> int:
        return len(self._package.sheet_parts)

    def _key(self, sheet_name: str, info: zipfile.ZipInfo) -> str:
        package = self._package
        strings = ""
        xml = _unpack(self._view, info, self._name) if package.tables else None
        if xml is not None and _refers_to_shared_strings(xml):
            table = self._strings()
            text = _text_key(xml, table) if table is not None else None
            if text is not None:
                return _digest(repr(("text", sheet_name, text, package.common)))
            strings = package.shared_strings
        return _digest(repr((sheet_name, _entry(info), strings, package.common)))

    def _strings(self) -> _Strings | None:
        """The shared strings table calamine reads, cut into its items; None when there is
        none or it is not in the form :func:`_string_items` recognises."""
        if self._table is None:
            tables = self._package.tables
            table = None
            if len(tables) == 1 and _normal(tables[0].filename) == STRINGS_PART.lower():
                xml = _unpack(self._view, tables[0], self._name)
                table = _string_items(xml) if xml is not None else None
            self._table = (table,)
        return self._table[0]


def package_keys(package: Package, data: bytes | memoryview, name: str) -> PackageKeys:
    """Per sheet, a digest of what its values are read from: equal keys read the same values.

    A sheet that refers to no shared string is keyed by its part's entry in the zip
    directory (CRC-32 and size). A sheet that does is keyed by its part's XML with each
    shared-string reference replaced by that string's own XML (:func:`_text_key`): Excel
    numbers the shared strings in order of first use, so a save that adds a text to one
    sheet renumbers the references of every later sheet, whose key stays. When a sheet or
    the strings table is written in a form that key does not recognise, the sheet is keyed
    by the entries of its part and of the whole shared strings part (any other sheet's new
    text then moves its key; the flow compares its parsed values, ``Sheet.content``). Every
    key also covers the styles (a number format makes a number a date), the package's root
    relationships (where calamine finds the workbook) and the date system.

    Each key is computed when first looked up (:class:`PackageKeys`): the XML of a sheet
    (``data`` is the package's bytes, ``name`` the file's name in errors) is unpacked and
    scanned only for a sheet whose key is asked for.
    """
    return PackageKeys(package, data, name)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _entry(info: zipfile.ZipInfo) -> str:
    return f"{info.CRC:08x}:{info.file_size}"


def _normal(part: str) -> str:
    """A part's name as calamine looks parts up: case and slashes aside."""
    return part.replace("\\", "/").lower()


def _refers_to_shared_strings(xml: bytes) -> bool:
    """Whether a sheet may have a cell of type "s" (a quoted s anywhere: cheap and never
    misses one, whatever the spacing or quotes of the attribute)."""
    return b'"s"' in xml or b"'s'" in xml


@dataclass(frozen=True)
class _Strings:
    """The shared strings table cut into its items as calamine numbers them."""

    head: bytes  # a digest of what precedes the items (the counts aside)
    items: dict[bytes, bytes]  # an item's index as a cell writes it -> a digest of its XML


def _string_items(xml: bytes) -> _Strings | None:
    """The shared strings table's items; None unless the part is plainly its root tag, then
    ``<si>`` elements one after the other, then the root's end.

    calamine reads the n-th ``<si>`` element as string n; an item whose XML is unchanged
    reads the same text (its rich text and phonetic runs are part of its XML). Nothing else
    may hold or hide an item: no comment or CDATA section, nothing between the items, no
    ``<si`` that does not start one nor ``</si`` that does not end one.
    """
    first = xml.find(b"<si>")
    if first == -1 or b"<!" in xml or STRINGS_HEAD.fullmatch(xml, 0, first) is None:
        return None
    pieces = xml[first:].split(b"</si>")
    if pieces.pop().strip() != b"</sst>":
        return None
    count = len(pieces)
    if (xml.count(b"<si"), xml.count(b"</si"), xml.count(b"</si><si>")) != (
        count,
        count,
        count - 1,
    ):
        return None
    head = hashlib.blake2b(STRING_COUNTS.sub(b"", xml[:first]), digest_size=16).digest()
    items = {
        str(index).encode(): hashlib.blake2b(piece, digest_size=16).digest()
        for index, piece in enumerate(pieces)
    }
    return _Strings(head, items)


def _text_key(xml: bytes, strings: _Strings) -> str | None:
    """A digest of a sheet's part with each shared-string reference replaced by the digest
    of that string's XML; None when a cell may refer to a string in another form.

    Every cell calamine reads as a shared string has a type attribute "s", so every quoted
    s in the part must be in a cell of :data:`SHARED_CELL`'s form; a comment or CDATA
    section, or an element calamine reads text from (:data:`TEXT_HOLDERS`: the digits of a
    reference nested in one would be read as text), makes it unsure too. What is left of
    the part once the indices are taken out, with the strings they name in order, gives the
    part back but for how the strings are numbered.
    """
    if b"!" in xml and b"<!" in xml:  # "!" alone: one fast scan for the usual part
        return None
    pieces = SHARED_CELL.split(xml)
    found = pieces[2::3]
    # The checks look at the rest of the part only (a third less to scan), its pieces
    # joined by "<" so that no text or formula result reads across a reference taken out.
    rest = b"<".join(pieces[0::3])
    if b'"s"' in rest or any(holder in rest for holder in TEXT_HOLDERS):
        return None
    if b"'" in rest and (b"'s'" in rest or b"'d'" in rest):
        return None
    if b"str" in rest and rest.count(b"str") != len(TEXT_RESULT.findall(rest)):
        return None
    try:  # an index past the table, or written with a leading zero: not keyed by text
        used = b"".join(map(strings.items.__getitem__, found))
    except KeyError:
        return None
    del pieces[2::3]
    digest = hashlib.sha256(b"".join(pieces))  # with SHA instructions: 2x blake2b
    digest.update(used)
    digest.update(strings.head)
    return digest.hexdigest()


# --- Package inspection -------------------------------------------------------------------


def _inspect_package(data: bytes, name: str) -> Package:
    """Refuse a hostile or broken .xlsx package; return the cells calamine misreads by sheet
    and the directory entries of each sheet's parts.

    Raises DataError naming the file, the part and the fix. Pure and deterministic.
    """
    # zipfile needs about a second for a directory of 100,000 entries: count them first.
    entries = data.count(b"PK\x01\x02")
    if entries > MAX_PARTS:
        raise DataError(
            f"{name}: ファイル内の部品（zip の要素）が {entries:,} 個あり、上限 {MAX_PARTS:,} 個を"
            f"超えています。通常の Excel ブックではありません。{RESAVE}"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (
        zipfile.BadZipFile,
        NotImplementedError,
        ValueError,
        OSError,
        EOFError,
        struct.error,
    ) as err:
        raise DataError(
            f"{name}: ファイルが壊れています（{err}）。Excel で開けるか確認し、保存し直してください。"
        ) from err
    _check_directory(infos, name)
    by_name = {info.filename: info for info in infos}
    if WORKBOOK_PART not in by_name:
        raise DataError(
            f"{name}: Excel ブック（.xlsx / .xlsm）ではありません（{WORKBOOK_PART} がありません）。"
            f"{RESAVE}"
        )
    view = memoryview(data)
    workbook_xml = _unpack(view, by_name[WORKBOOK_PART], name)
    sheet_names = _sheet_parts(
        workbook_xml,
        _unpack(view, by_name[WORKBOOK_RELS], name) if WORKBOOK_RELS in by_name else None,
    )
    package = Package(SheetChecks(data, name))
    styles = [i for i in infos if _normal(i.filename).endswith(STYLES.lower())]
    roots = [i for i in infos if _normal(i.filename) == ROOT_RELS]
    package.tables = [i for i in infos if _normal(i.filename).endswith(SHARED_STRINGS.lower())]
    date1904 = bool(workbook_xml and DATE1904.search(workbook_xml))
    package.common = repr((sorted(map(_entry, styles)), sorted(map(_entry, roots)), date1904))
    named = [sorted((i.filename, _entry(i)) for i in p) for p in (package.tables, styles, roots)]
    package.directory = repr((*named, date1904))
    for info in infos:
        sheet = sheet_names.get(info.filename)
        if sheet is not None:  # checked when the sheet is parsed, keyed when asked (see above)
            package.sheet_parts[sheet] = info
            package.checks.defer(sheet, info, unpacked=False)
            continue
        xml = _unpack(view, info, name)
        if xml is None:
            continue
        _refuse_declarations(xml, info.filename, name)
        package.checks.bound(xml, None, info.filename)
    return package


def worksheet_xml(data: bytes, name: str) -> dict[str, bytes]:
    """Each worksheet's XML by sheet name, for what cell values do not show (protection,
    data validation). Call it on bytes :func:`parse_workbook` accepted: the parts are
    unpacked under the same caps, and XML with a DOCTYPE or ENTITY is refused."""
    _inspect_package(data, name)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        by_name = {info.filename: info for info in archive.infolist()}
    view = memoryview(data)
    rels = by_name.get(WORKBOOK_RELS)
    parts = _sheet_parts(
        _unpack(view, by_name[WORKBOOK_PART], name),
        _unpack(view, rels, name) if rels is not None else None,
    )
    found = {}
    for part, sheet in parts.items():
        info = by_name.get(part)
        xml = _unpack(view, info, name) if info is not None else None
        if xml is not None:
            _refuse_declarations(xml, part, name)  # a sheet's part is checked when it is read
            found[sheet] = xml
    return found


def _check_directory(infos: list[zipfile.ZipInfo], name: str) -> None:
    """Refuse by the zip directory alone: encryption, methods, sizes and packing ratio."""
    total = 0
    for info in infos:
        part = info.filename
        if info.flag_bits & 0x1:
            raise DataError(
                f"{name}: パスワードで保護されているため読めません（部品 {part}）。"
                "パスワードを解除して保存してください。"
            )
        if info.compress_type not in ZIP_METHODS:
            raise DataError(
                f"{name}: 部品 {part} の圧縮方式（{info.compress_type} 番）は Excel が使わないもので、"
                f"読み込めません。{RESAVE}"
            )
        if info.file_size > MAX_PART_BYTES:
            raise DataError(
                f"{name}: 部品 {part} の展開後のサイズ {info.file_size / MB:.0f} MB が上限 "
                f"{MAX_PART_BYTES // MB} MB を超えています。大きすぎるシートや画像を削除して保存し直してください。"
            )
        if info.file_size > RATIO_MIN_BYTES and info.file_size > info.compress_size * MAX_RATIO:
            ratio = info.file_size / max(info.compress_size, 1)
            raise DataError(
                f"{name}: 部品 {part} の圧縮率が {ratio:,.0f} 倍と異常です（上限 {MAX_RATIO} 倍）。"
                f"圧縮爆弾の疑いがあるため読み込みを中止しました。{RESAVE}"
            )
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise DataError(
                f"{name}: 展開後のサイズが合計 {total / MB:.0f} MB を超え、上限 "
                f"{MAX_UNPACKED_BYTES // MB} MB を超えています（{part} まで）。"
                "不要なシートや画像を削除して保存し直してください。"
            )


def _unpack(view: memoryview, info: zipfile.ZipInfo, name: str) -> bytes | None:
    """A part's bytes, unpacked under its recorded size; None for a binary part.

    Binary parts (images, the VBA project, embedded files) start with bytes that are not
    UTF-8, which calamine cannot parse as XML either: only their first bytes are unpacked.
    """
    corrupt = DataError(
        f"{name}: ファイルが壊れています（部品 {info.filename} の内容が目録と一致しません）。"
        "Excel で開けるか確認し、保存し直してください。"
    )
    offset = info.header_offset
    if not 0 <= offset <= len(view) - LOCAL_HEADER.size:
        raise corrupt
    signature, *_, name_length, extra_length = LOCAL_HEADER.unpack_from(view, offset)
    begin = offset + LOCAL_HEADER.size + name_length + extra_length
    packed = view[begin : begin + info.compress_size]
    if signature != b"PK\x03\x04" or len(packed) != info.compress_size:
        raise corrupt
    chunks: list[bytes] = []
    size = 0
    try:
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        for chunk in _inflate(packed) if deflated else (bytes(packed),):
            if not chunks and _binary(chunk[:4]):
                return None
            chunks.append(chunk)
            size += len(chunk)
            if size > info.file_size:
                raise corrupt
    except zlib.error as err:
        raise corrupt from err
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if size != info.file_size or zlib.crc32(data) != info.CRC:
        raise corrupt
    return data


def _inflate(packed: memoryview) -> Iterator[bytes]:
    """Raw deflate, SCAN_CHUNK bytes at a time (never more, whatever the input claims)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending: bytes | memoryview = packed
    while pending:
        chunk = inflater.decompress(pending, SCAN_CHUNK)
        pending = inflater.unconsumed_tail
        if chunk:
            yield chunk
        elif inflater.eof or not pending:
            break
    rest = inflater.flush()
    if rest:
        yield rest


def _binary(head: bytes) -> bool:
    """Whether a part starts with bytes that cannot begin UTF-8 or UTF-16 text."""
    if head[:2] in UTF16_STARTS:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.reason != "unexpected end of data"
    return False


def _refuse_declarations(xml: bytes, part: str, name: str) -> None:
    """Refuse DOCTYPE/ENTITY declarations (images in xl/media may carry a plain DOCTYPE)."""
    encoding = UTF16_STARTS.get(xml[:2])
    if encoding is None and b"!" not in xml:  # one fast scan for the usual part
        return
    if encoding is not None:  # calamine reads no UTF-16 part, but the rule holds for all
        xml = xml.decode(encoding, errors="replace").encode("utf-8")
    pattern = ENTITY if part.startswith("xl/media/") else DECLARATION
    if pattern.search(xml):
        raise DataError(
            f"{name}: 部品 {part} に XML の DOCTYPE/ENTITY 宣言があります。Excel が保存するファイルには"
            "なく、外部ファイルの読み込みや大量の展開に使われるため読み込みを中止しました。"
            f"{RESAVE}"
        )


def _quick_rectangle(xml: bytes, start: int, end: int) -> int | None:
    """Cells in the sheet's rectangle, from cell references alone; None when unsure.

    Sure only for sheets written the usual way (every cell ``<c r="A1"``, unprefixed), with
    no cached error value and a saved result for every formula; else take the full walk.
    """
    # A byte looked for alone is found a hundred times sooner than a pair starting with
    # ">" or "<" (memchr): without a "#" there is no error value, without an "f" no formula.
    if PREFIXED_CELL.search(xml, start, end) or (
        xml.find(b"#", start, end) != -1 and xml.find(b">#", start, end) != -1
    ):
        return None
    formulas = len(FORMULA_TAG.findall(xml, start, end)) if xml.find(b"f", start, end) != -1 else 0
    if formulas and len(FORMULA_WITH_RESULT.findall(xml, start, end)) != formulas:
        formula = xml.find(b"<f", start, end)
        while formula != -1:  # which formulas lack a result: only text ones may be empty
            if FORMULA_TAG.match(xml, formula):
                value = FORMULA_THEN_VALUE.match(xml, formula)
                if value is None:
                    return None
                if (value[1] == b"/>" or xml[value.end() : value.end() + 1] == b"<") and (
                    b't="str"' not in xml[xml.rfind(b"<c ", start, formula) : formula]
                ):
                    return None
            formula = xml.find(b"<f", formula + 2, end)
    declared = DIMENSION.search(xml, 0, start)
    small = declared is None or int(declared[2]) < 1000  # else the search below is in vain
    if small and NOT_SMALL_CELL.search(xml, start, end) is None:
        return SMALL_SHEET
    if declared is not None:  # the corner the writer declared, up to Z: is every cell in?
        column, row = declared[1].decode(), int(declared[2])
        if _outside(column, row).search(xml, start, end) is None:
            return row * (_column(column) + 1)
    refs = CELL_REF.findall(xml, start, end)
    if len(refs) != xml.count(b"<c", start, end):
        return None
    columns = [_column(letters.decode()) for letters in set(map(itemgetter(0), refs))]
    rows = [int(number) for number in set(map(itemgetter(1), refs))]
    return (max(rows) - min(rows) + 1) * (max(columns) - min(columns) + 1)


@lru_cache(maxsize=64)
def _outside(column: str, row: int) -> re.Pattern[bytes]:
    """A cell tag that is not ``<c r="..."`` with a reference in A1:``column````row`` (or
    anything unusual): where none is found, every cell lies in that rectangle (an upper
    bound of the sheet's, like ``SMALL_SHEET``; a search, not a list of every reference:
    a sixth of the time)."""
    letters = f"[A-{column}a-{column.lower()}]"
    return re.compile(f'<c(?! r="{letters}0*(?:{_at_most(row)})")'.encode())


def _at_most(number: int) -> str:
    """A regular expression for the whole numbers 1 to ``number`` (no leading zero)."""
    digits = str(number)
    size = len(digits)
    options = [f"[1-9][0-9]{{0,{size - 2}}}"] if size > 1 else []
    for place, digit in enumerate(digits):
        lowest = 1 if place == 0 else 0
        if int(digit) > lowest:
            options.append(
                f"{digits[:place]}[{lowest}-{int(digit) - 1}][0-9]{{{size - place - 1}}}"
            )
    options.append(digits)
    return "|".join(options)


def _walk_cells(xml: bytes, where: str, name: str) -> tuple[int, dict[Cell, object]]:
    """Walk every cell as calamine does: the rectangle's size and the cells it misreads.

    calamine reads two kinds of cell as blank: a formula without a saved result (no ``<v>``,
    or an empty one on a cell that is not text), which becomes ``Uncalculated``, and a
    cached error such as ``#DIV/0!``, which is put back as its text.
    """
    found: dict[Cell, object] = {}
    row, col = -1, -1
    rows: set[int] = set()
    cols: set[int] = set()
    try:
        for event, element in SafeXML.iterparse(
            io.BytesIO(xml), events=("start", "end"), forbid_dtd=True
        ):
            tag = _local(element.tag)
            if event == "start":
                if tag == "row":
                    row = _index(element.get("r"), row + 1)
                    col = -1
                continue
            if tag == "c":
                ref = _reference(element.get("r"))
                cell_row, col = ref if ref is not None else (row, col + 1)
                children = {_local(child.tag): child for child in element}
                formula, value = children.get("f"), children.get("v")
                if value is not None or formula is not None or "is" in children:
                    rows.add(cell_row)
                    cols.add(col)
                saved = value.text if value is not None else None
                if formula is not None and not saved and element.get("t") != "str":
                    found[(cell_row, col)] = Uncalculated((formula.text or "").strip())
                elif element.get("t") == "e" and saved and saved.strip():
                    found[(cell_row, col)] = saved.strip()
                element.clear()
            elif tag == "row":
                element.clear()
    except (ParseError, ValueError) as err:
        raise DataError(
            f"{name}: ファイルが壊れています（{where}の XML が読めません: {err}）。"
            "Excel で開けるか確認し、保存し直してください。"
        ) from err
    if not rows:
        return 0, found
    return (max(rows) - min(rows) + 1) * (max(cols) - min(cols) + 1), found


def _sheet_parts(workbook: bytes | None, rels: bytes | None) -> dict[str, str]:
    """Worksheet part path -> sheet name, resolved as calamine does; {} when unreadable."""
    if workbook is None or rels is None:
        return {}
    try:
        rel_root: Element = SafeXML.fromstring(rels, forbid_dtd=True)
        book_root: Element = SafeXML.fromstring(workbook, forbid_dtd=True)
    except (ParseError, ValueError):
        return {}
    targets = {
        element.get("Id"): element.get("Target") or ""
        for element in rel_root.iter()
        if _local(element.tag) == "Relationship"
    }
    parts = {}
    for element in book_root.iter():
        if _local(element.tag) != "sheet":
            continue
        rel = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
        target = targets.get(rel, "")
        if target:
            path = target[1:] if target.startswith("/") else target
            parts[path if path.startswith("xl/") else f"xl/{path}"] = element.get("name") or ""
    return parts


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _index(text: str | None, default: int) -> int:
    return int(text) - 1 if text and text.isdigit() else default


def _reference(text: str | None) -> Cell | None:
    match = REFERENCE.fullmatch(text or "")
    if match is None:
        return None
    return int(match[2]) - 1, _column(match[1])


def _column(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number - 1
