"""The merged workbook for the response team: FDMA-style summary, per-municipality
figures, report status, every problem cell, and each department's sheet as read.

Written with XlsxWriter (about 30% faster than openpyxl's write-only mode, and with the
formatting the summary sheets need); the 読取_ sheets, nine tenths of the cells, have their
rows composed as XML text in one pass (``_XmlSheet``), deflated and with their notes
rendered where they are composed, and kept for the next build (``KeptSheets``). Strings are always written as
strings: a department's text starting with ``=`` never becomes a formula. The
departments' input workbook is never modified: this is a separate file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import pickle
import re
import sys
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any, Protocol
from xml.sax.saxutils import escape

import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from automation.damage.catalogue import Catalogue, Item
from automation.damage.incidents import IncidentState
from automation.damage.sheet_reading import (
    PROBLEM_PREFIX,
    UNCONFIRMED_TEXT,
    AsRead,
    CellProblem,
    SheetReading,
)
from automation.damage.stored import Readings, StoredReading
from automation.damage.totals import Change, ItemTotal
from automation.flows.damage_rollup import DamageReport, DepartmentStatus
from automation.parallel import Ahead, Forked
from automation.sheet_files import SheetFiles
from automation.user_cache import user_cache_dir
from automation.xlsx_package import (
    PACK_ABOVE,
    DeflatedRows,
    NotedSheet,
    PackageWorkbook,
    RenderedNotes,
    StreamedPart,
    within_text_limit,
)

LOG = logging.getLogger("automation.runs")
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
SAFE_STRINGS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
# Readings of less stored (compressed) size than this in all are written in one process:
# about 0.1 s of composing (a 60 x 300 workbook's readings take some 0.5 MB).
COMPOSE_FORK_AT = 256 * 1024
# When a run's workbook is built ahead (``build_ahead``), else after the report, by the
# sheets' XML (its cells, however they store): from BUILD_AHEAD_AT (some 8 sheets of 300
# rows, where the whole build takes about 50 ms and a fork a few) up to BUILD_AHEAD_UP_TO
# (some 60 sheets of 800 rows of the bench's; 60 x 2,000 is 39 MB). Beyond, the helper's copy
# of the run's memory raises the run's peak (at 60 x 2,000 from 264 to 310 MB, the helper
# forked at 158-216 MB resident; 60 x 300 at 80-90 MB) and its one process composes the
# sheets slower than the build's helpers after the report (1.5 s against 0.8 s there).
BUILD_AHEAD_AT = 768 * 1024
BUILD_AHEAD_UP_TO = 16 * 1024 * 1024


class _XmlSheet(NotedSheet):
    """A worksheet whose rows arrive as finished ``<sheetData>`` XML.

    The 読取_ sheets, 市町村別 and 要修正セル hold nearly all of the workbook's cells;
    XlsxWriter's per-cell API (a call, a checked tuple per cell, then an XML element per
    cell at close) spent about 25 ms a 読取_ sheet of 300 rows. Composing the rows as text
    once, with the shared strings and formats XlsxWriter itself uses, gives the same
    package at a fraction of the cost. Comments, column widths and everything else still
    go through XlsxWriter.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rows_xml: str | DeflatedRows = ""

    def set_rows_xml(
        self, rows_xml: list[str] | str | DeflatedRows, last_row: int, last_col: int
    ) -> None:
        """The sheet's rows as XML (rows 0..last_row, columns 0..last_col), or that XML
        deflated already.

        Kept as one string until the workbook is closed (a list of a string per cell would
        take about three times the memory), deflated when large (a tenth of the memory:
        the 60 sheets of 60 x 2,000 hold some 50 MB of XML; see ``PACK_ABOVE``), as the
        package's part takes it."""
        if isinstance(rows_xml, DeflatedRows):
            self._rows_xml = rows_xml
        else:
            xml = rows_xml if isinstance(rows_xml, str) else "".join(rows_xml)
            self._rows_xml = DeflatedRows.of(xml) if len(xml) > PACK_ABOVE else xml
        self._check_dimensions(0, 0)  # the <dimension> element and the "has data" test
        self._check_dimensions(last_row, last_col)

    def _write_sheet_data(self) -> None:
        rows = self._rows_xml
        if not rows:
            super()._write_sheet_data()
            return
        self.fh.write("<sheetData>")
        if isinstance(rows, str):
            self.fh.write(rows)
        elif isinstance(self.fh, StreamedPart):  # into the zip as deflated
            self.fh.write_deflated(rows)
        else:  # a package XlsxWriter writes itself
            self.fh.write(rows.text())
        self.fh.write("</sheetData>")
        self._rows_xml = ""  # written: the package holds its own copy


class _XmlRows:
    """Rows for an _XmlSheet, cell by cell as XlsxWriter's write_* would store them."""

    def __init__(self, book: Any) -> None:
        self._string = book.str_table._get_shared_string_index
        self._letters: list[str] = []
        self.parts: list[str] = []
        self.last_row = self.last_col = 0

    def add(self, row: int, cells: list[tuple[int, object, Any]]) -> None:
        """One row (0-based) of (column, value, format) in column order; None is no value."""
        number = row + 1
        if cells:
            self.letter(cells[-1][0])  # every column's letters made
        letters, string = self._letters, self._string
        xml = []
        for col, value, fmt in cells:
            ref = f'<c r="{letters[col]}{number}"'
            style = f' s="{fmt.xf_index}"' if fmt is not None else ""
            if type(value) is str:  # most cells: the common cases first, as _cell writes them
                xml.append(f'{ref}{style} t="s"><v>{string(within_text_limit(value))}</v></c>')
            elif type(value) is int:
                xml.append(f"{ref}{style}><v>{value:.16G}</v></c>")
            else:
                xml.append(self._cell(ref, style, value))
        self.parts.append(f'<row r="{number}">{"".join(xml)}</row>')
        self.last_row = max(self.last_row, row)
        self.last_col = max(self.last_col, cells[-1][0] if cells else 0)

    def letter(self, col: int) -> str:
        """The column's letters (A, B, ..., AA)."""
        while len(self._letters) <= col:
            self._letters.append(xl_col_to_name(len(self._letters)))
        return self._letters[col]

    def _cell(self, ref: str, style: str, value: object) -> str:
        """A cell's XML from its opening (``<c r="B3"``) and style attribute, as
        XlsxWriter's write_* would store the value."""
        if value is None:  # write_blank: kept only when formatted
            return f"{ref}{style}/>" if style else ""
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, bool):
            return f'{ref}{style} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f"{ref}{style}><v>{value:.16G}</v></c>"
        return f'{ref}{style} t="s"><v>{self._string(within_text_limit(str(value)))}</v></c>'


class _Writer:
    """A thin helper over one XlsxWriter workbook: formats and row appends."""

    def __init__(self, buffer: io.BytesIO) -> None:
        self.book = PackageWorkbook(buffer, {"in_memory": True, **SAFE_STRINGS})
        self.head = self.book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.title = self.book.add_format({"bold": True, "font_size": 14})
        self.problem = self.book.add_format({"bg_color": "#FCE4D6"})
        self.flag = self.book.add_format({"bg_color": "#FFF2CC"})
        self.wrap = self.book.add_format({"text_wrap": True, "valign": "top"})
        # Style indices fixed now, in this order (XlsxWriter numbers formats as it first
        # writes them): the 読取_ sheets' XML needs them before the workbook is closed.
        for fmt in (self.head, self.title, self.problem, self.flag, self.wrap):
            fmt._get_xf_index()  # XlsxWriter's own numbering, done early
        self.used: set[str] = set()

    def sheet(self, name: str, kind: type[Worksheet] | None = None) -> Any:
        """A new worksheet with a valid, unique name (Excel: 31 characters, no []:*?/\\)."""
        title = SHEET_NAME_BAD.sub("_", name)[:28] or "sheet"
        candidate, n = title, 2
        while candidate.lower() in self.used:
            candidate = f"{title[:26]}_{n}"
            n += 1
        self.used.add(candidate.lower())
        return self.book.add_worksheet(candidate, worksheet_class=kind)

    @staticmethod
    def value(ws: Any, row: int, col: int, value: object, fmt: object = None) -> None:
        """Write one cell by type (None leaves it empty)."""
        if value is None:
            return
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, bool):
            ws.write_boolean(row, col, value, fmt)
        elif isinstance(value, int | float):
            ws.write_number(row, col, value, fmt)
        else:
            ws.write_string(row, col, str(value), fmt)

    def row(self, ws: Any, row: int, values: list[object], fmt: object = None) -> None:
        """Write a row of values starting at column A."""
        for col, value in enumerate(values):
            self.value(ws, row, col, value, fmt)


class AsReadSheet(Protocol):
    """What a 読取_ sheet shows of a reading (a :class:`SheetReading` or, decoded without
    its figures, :class:`automation.damage.stored.Shown`)."""

    @property
    def layout(self) -> str: ...
    @property
    def columns(self) -> list[Item]: ...
    @property
    def rows(self) -> list[tuple[str, dict[str, AsRead]]]: ...
    @property
    def unreadable(self) -> dict[tuple[str, str], CellProblem]: ...


class KeptReadings(Mapping[str, AsReadSheet]):
    """The departments' readings in their stored form (compressed JSON, as the state keeps
    them): each is decoded (what the workbook shows of it) when looked up and not kept, so
    the writer holds one sheet's cells at a time. In the process that read them, a reading
    already decoded is used as it is; pickled (an owed workbook's recipe), only the stored
    form goes."""

    def __init__(
        self,
        stored: dict[str, StoredReading],
        catalogue: Catalogue,
        decoded: Callable[[str], SheetReading | None] | None = None,
    ) -> None:
        self.stored = stored
        self.catalogue = catalogue
        self._decoded = decoded

    @classmethod
    def of(cls, readings: Mapping[str, SheetReading]) -> KeptReadings:
        """``readings`` in their stored form (a run's :class:`Readings` has it already)."""
        if isinstance(readings, Readings):
            stored, catalogue = readings.kept()
            return cls(stored, catalogue, readings.decoded)
        items: dict[str, Item] = {}  # any other mapping (made by hand): encoded here
        for reading in readings.values():
            items.update((item.code, item) for item in reading.columns)
        kept = {d: StoredReading.of(r, None, "", "") for d, r in readings.items()}
        return cls(kept, Catalogue(items.values()), readings.get)

    def __getitem__(self, department: str) -> AsReadSheet:
        reading = self._decoded(department) if self._decoded is not None else None
        if reading is None:
            return self.stored[department].shown(self.catalogue)
        return reading

    def __iter__(self) -> Iterator[str]:
        return iter(self.stored)

    def __len__(self) -> int:
        return len(self.stored)

    def __getstate__(self) -> dict[str, Any]:
        return {"stored": self.stored, "catalogue": self.catalogue, "_decoded": None}


@dataclass(frozen=True)
class MergedSource:
    """What the merged workbook shows of a report, and no more: the recipe an owed workbook
    is kept as (:mod:`automation.owed`), small enough to store before the report goes out.

    The bulk (every problem cell, the figures per municipality) is kept as compressed JSON,
    a few milliseconds to write where thousands of objects took a tenth of a second to
    pickle, and decoded by the sheet that shows it, then let go; the readings as the state
    stores them (:class:`KeptReadings`)."""

    disaster: str
    number: int
    as_of_ja: str
    previous_number: int | None
    totals: list[ItemTotal] = field(repr=False)
    statuses: dict[str, dict[str, int]] = field(repr=False)
    changes: list[Change] = field(repr=False)
    departments: list[DepartmentStatus] = field(repr=False)
    open_incidents: list[IncidentState] = field(repr=False)
    readings: KeptReadings = field(repr=False)
    packed_problems: bytes = field(repr=False)  # see problems()
    packed_figures: bytes = field(repr=False)  # see by_municipality()

    @classmethod
    def of(cls, report: DamageReport) -> MergedSource:
        """What ``report``'s merged workbook needs."""
        consolidated = report.consolidated
        figures = {
            m: {code: _number(value) for code, value in values.items()}
            for m, values in consolidated.by_municipality.items()
        }
        return cls(
            report.disaster,
            report.number,
            report.as_of_ja,
            report.previous_number,
            consolidated.totals,
            consolidated.statuses,
            report.changes,
            report.departments,
            report.open_incidents,
            KeptReadings.of(report.readings),
            _pack([_problem_row(p) for p in report.problems]),
            _pack(figures),
        )

    def problems(self) -> list[CellProblem]:
        """Every problem cell."""
        return [CellProblem(*p) for p in _unpack(self.packed_problems)]

    def by_municipality(self) -> dict[str, dict[str, int | float]]:
        """Each municipality's figures, as the cells show them."""
        figures: dict[str, dict[str, int | float]] = _unpack(self.packed_figures)
        return figures


def _pack(data: object) -> bytes:
    return zlib.compress(json.dumps(data, ensure_ascii=False).encode(), 1)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def _problem_row(p: CellProblem) -> list[str]:
    return [p.department, p.where, p.value, p.message, p.municipality, p.item]


def _number(value: Decimal) -> int | float:
    """A figure as its cell holds it (what XlsxWriter's write_number is given)."""
    return int(value) if value == value.to_integral_value() else float(value)


# What _compose writes and how a composed sheet is kept: a change to either must change
# this, so that no sheet composed by the code before is taken for one composed now.
COMPOSED_FORMAT = "5"
KEEP_COMPOSED_BYTES = 64 * 1024 * 1024  # a 60 x 2,000 workbook's sheets: about 9 MB


class KeptSheets:
    """読取_ sheets composed before, packed (:class:`_Packed`), for the builds after: a save
    that changed one department's sheet composes that sheet only.

    A sheet is keyed by everything its composing reads: the department's stored reading
    (its head and body as stored: the rows, figures and problems shown), the catalogue's
    titles, the formats' style numbers and :data:`COMPOSED_FORMAT`. Kept in memory, at most
    ``limit`` bytes, the sheets used least recently dropped first; and, given ``disk`` (the
    files or how to find them when first needed), on disk too (:mod:`automation.sheet_files`,
    each file named by the key folded with the composing code's digest), so that a later
    process (the next cron run, a daemon just started) takes them too. Builds in several
    threads (a daemon's flows) share it under a lock; a forked process (a build ahead's
    helper) has a lock of its own, free (another thread may have held this process's at the
    fork: held for ever in the copy, it would stop the helper at its first use), and never
    reads or writes the files (a helper touches nothing but its own results)."""

    def __init__(
        self,
        limit: int = KEEP_COMPOSED_BYTES,
        disk: SheetFiles | Callable[[], SheetFiles | None] | None = None,
    ) -> None:
        self.limit = limit
        self._sheets: OrderedDict[bytes, _Packed] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._disk: SheetFiles | None = None if callable(disk) else disk
        self._find_disk: Callable[[], SheetFiles | None] | None = disk if callable(disk) else None
        self._pid = os.getpid()
        _ALL_KEPT.add(self)

    def _forked(self) -> None:
        """In a forked process: a lock of its own (the only thread is the one that forked)."""
        self._lock = threading.Lock()

    def _files(self) -> SheetFiles | None:
        """The files on disk, found on first use; none in a forked process."""
        if os.getpid() != self._pid:
            return None
        if self._find_disk is not None:
            self._disk, self._find_disk = self._find_disk(), None
        return self._disk

    def holds(self, key: bytes) -> bool:
        """Whether a sheet is kept for ``key`` (one on disk is read into memory, so that a
        process forked next holds it too; not counted as a use)."""
        with self._lock:
            if key in self._sheets:
                return True
        return self._from_disk(key) is not None

    def get(self, key: bytes) -> _Packed | None:
        """The sheet composed for ``key``, if kept."""
        with self._lock:
            sheet = self._sheets.get(key)
            if sheet is not None:
                self._sheets.move_to_end(key)
                return sheet
        return self._from_disk(key)

    def put(self, key: bytes, sheet: _Packed) -> None:
        """Keep ``sheet`` under ``key`` (one larger than the limit is not kept in memory)."""
        self._keep(key, sheet)
        files = self._files()
        if files is not None:
            files.write(_file_name(key), pickle.dumps(sheet, pickle.HIGHEST_PROTOCOL))

    def _keep(self, key: bytes, sheet: _Packed) -> None:
        if sheet.size > self.limit:
            return
        with self._lock:
            old = self._sheets.pop(key, None)
            self._size -= old.size if old is not None else 0
            self._sheets[key] = sheet
            self._size += sheet.size
            while self._size > self.limit:
                _, dropped = self._sheets.popitem(last=False)
                self._size -= dropped.size

    def _from_disk(self, key: bytes) -> _Packed | None:
        """The sheet kept on disk for ``key``, now in memory too; None when there is none or
        it does not load as one (then it is composed again)."""
        files = self._files()
        payload = files.read(_file_name(key)) if files is not None else None
        if payload is None:
            return None
        try:  # our own file, in a folder private to this user (see automation.user_cache)
            sheet = pickle.loads(payload)
        except Exception:  # a file another build left damaged: composed again
            return None
        if not isinstance(sheet, _Packed):
            return None
        self._keep(key, sheet)
        return sheet

    def clear(self) -> None:
        """Forget every sheet, on disk too."""
        with self._lock:
            self._sheets.clear()
            self._size = 0
        files = self._files()
        if files is not None:
            files.clear()

    def __len__(self) -> int:
        return len(self._sheets)

    @property
    def size(self) -> int:
        """The bytes kept."""
        return self._size


def _forked_kept() -> None:  # pragma: no cover  # runs in a forked process
    for kept in list(_ALL_KEPT):
        kept._forked()


_ALL_KEPT: weakref.WeakSet[KeptSheets] = weakref.WeakSet()
os.register_at_fork(after_in_child=_forked_kept)


def _user_sheet_files() -> SheetFiles | None:
    """The composed sheets' files in the user's cache folder, if there is one."""
    folder = user_cache_dir("composed")
    return SheetFiles(folder) if folder is not None else None


@functools.cache
def _code_digest() -> bytes:
    """What the composing code is, for the names of sheets kept on disk: each module of the
    package by its path, size and modification time (an edit or an upgrade composes every
    sheet again), with XlsxWriter's and Python's versions."""
    root = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.blake2b(repr((xlsxwriter.__version__, sys.version)).encode(), digest_size=20)
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(n for n in names if n.endswith(".py")):
            found = os.stat(os.path.join(folder, name))
            place = os.path.relpath(os.path.join(folder, name), root)
            digest.update(repr((place, found.st_size, found.st_mtime_ns)).encode())
    return digest.digest()


def _file_name(key: bytes) -> str:
    """The file a sheet kept under ``key`` is kept in on disk."""
    return hashlib.blake2b(_code_digest() + key, digest_size=20).hexdigest()


# This process's, used by every build unless told otherwise.
KEPT_SHEETS = KeptSheets(disk=_user_sheet_files)


def build_merged_workbook(
    report: DamageReport | MergedSource,
    processes: int = 1,
    kept: KeptSheets | None = KEPT_SHEETS,
) -> bytes:
    """Render the report as an .xlsx file and return its bytes (the 読取_ sheets' rows
    composed by ``processes`` processes, :mod:`automation.parallel`). The 読取_ sheets
    composed before for the same readings are taken from ``kept``, this process's by
    default (None: every sheet is composed); the bytes are the same either way. A source
    given to a :class:`BuildAhead` is not built again: its helper's bytes are taken."""
    if isinstance(report, MergedSource) and (ahead := _taken_ahead(report)) is not None:
        return ahead.built(kept)
    return _build(report, processes, kept)


def _build(report: DamageReport | MergedSource, processes: int, kept: KeptSheets | None) -> bytes:
    buffer = io.BytesIO()
    for _, step in build_steps(report, buffer, processes=processes, kept=kept):
        step()
    return buffer.getvalue()


@dataclass(frozen=True)
class _Ahead:
    """What a build ahead composes before it is given its source (see :class:`BuildAhead`)."""

    readings: KeptReadings
    styles: tuple[int, int, int]
    keys: dict[str, bytes]
    missing: list[str]  # the departments whose sheet ``kept`` lacked
    kept: KeptSheets  # the forking process's (in the helper: its copy as it was then)


Built = tuple[bytes, list[tuple[bytes, "_Packed"]]]  # the workbook, the sheets it composed


class BuildAhead:
    """A merged workbook built in a helper process (:class:`automation.parallel.Ahead`) from
    the moment the departments' sheets are read: the helper composes the 読取_ sheets the
    kept sheets lack while this process adds up and plans; :meth:`give` hands it the report
    once planned, and the helper builds the workbook while this process records and sends
    the report. The build of that report (:func:`build_merged_workbook`, given the very
    source given here) then takes the helper's bytes and keeps its sheets, or, if the helper
    failed, builds here as it would have. :meth:`cancel` when no workbook is to be built."""

    def __init__(self, ahead: Ahead[_Ahead, MergedSource, Built]) -> None:
        self._ahead = ahead
        self._lock = threading.Lock()  # give() and cancel() one at a time
        self._ended = False  # cancelled: a give() after that (its run ended) sends nothing
        self._taken = False  # taken by the build (under _AHEAD_LOCK): built() ends it

    def give(self, source: MergedSource) -> None:
        """The report's source: the helper builds it; a build of ``source`` takes the bytes
        (at most ``AHEAD_HELD`` builds wait so: an older one is cancelled). One that cannot
        be sent ends the helper: the build is made here, as without one."""
        with self._lock:
            if self._ended:
                return
            try:
                self._ahead.give(source)
            except Exception:  # pickling or the temporary file refused: built here, later
                self._ended = True
                self._ahead.cancel()
                LOG.warning(
                    "the merged workbook could not be handed to its helper process; it is "
                    "built after the report instead",
                    exc_info=True,
                    extra={"event": "build_ahead_refused"},
                )
                return
            with _AHEAD_LOCK:
                _BUILT_AHEAD.append((source, self))
                dropped = _BUILT_AHEAD[:-AHEAD_HELD]
                del _BUILT_AHEAD[:-AHEAD_HELD]
        for _, older in dropped:  # never built (its run failed before): not waited for
            older.cancel()

    def cancel(self) -> None:
        """End the helper and let go of the source given: no workbook is to be built from it
        (the run records nothing, failed, or is over). Nothing once the build took it."""
        with self._lock:
            with _AHEAD_LOCK:
                if self._taken or self._ended:
                    return
                self._ended = True
                _BUILT_AHEAD[:] = [entry for entry in _BUILT_AHEAD if entry[1] is not self]
            self._ahead.cancel()

    def built(self, kept: KeptSheets | None) -> bytes:
        """The workbook's bytes; the sheets composed for it kept in ``kept``."""
        data, composed = self._ahead.result()
        if kept is not None:
            for key, sheet in composed:
                kept.put(key, sheet)
        return data


AHEAD_HELD = 2  # builds ahead given their source and not yet taken, at most (per process)
_BUILT_AHEAD: list[tuple[MergedSource, BuildAhead]] = []
_AHEAD_LOCK = threading.Lock()


def build_ahead(
    readings: Mapping[str, SheetReading],
    processes: int,
    sheet_bytes: int,
    kept: KeptSheets = KEPT_SHEETS,
) -> BuildAhead | None:
    """Start building the merged workbook of a run that read ``readings`` from a workbook of
    ``sheet_bytes`` of sheet XML (see :class:`BuildAhead`); None when ``processes`` is 1 or
    the sheets are too few to be worth a fork or too many to be worth the memory
    (``BUILD_AHEAD_AT``, ``BUILD_AHEAD_UP_TO``): the runner builds after the report."""
    if processes <= 1 or not BUILD_AHEAD_AT <= sheet_bytes <= BUILD_AHEAD_UP_TO:
        return None
    source = KeptReadings.of(readings)
    styles = _fresh_styles()
    keys = _sheet_keys(source, styles)
    missing = [d for d in source if not kept.holds(keys[d])]
    job = _Ahead(source, styles, keys, missing, kept)
    return BuildAhead(Ahead(_built_ahead, job))


def _built_ahead(job: _Ahead, given: Callable[[], MergedSource]) -> Built:
    """The 読取_ sheets ``job.kept`` lacks composed, then, once given its source, the
    workbook built with them: its bytes and those sheets."""
    composed, inline = [], _InlineTexts()
    for department in job.missing:
        sheet = _composed(job.readings, job.styles, department, packed=True, inline=inline)
        if isinstance(sheet, _Packed):  # an incident list, written cell by cell, is not kept
            composed.append((job.keys[department], sheet))
    kept = job.kept
    for key, sheet in composed:
        kept.put(key, sheet)
    return _build(given(), 1, kept), composed


def _taken_ahead(source: MergedSource) -> BuildAhead | None:
    """The build ahead given ``source`` itself (not an equal one: a recipe read back after a
    crash is built here), taken from those waiting."""
    with _AHEAD_LOCK:
        for index, (waiting, ahead) in enumerate(_BUILT_AHEAD):
            if waiting is source:
                del _BUILT_AHEAD[index]
                ahead._taken = True
                return ahead
    return None


def _styles(out: _Writer) -> tuple[int, int, int]:
    """The 読取_ sheets' formats' style numbers in ``out``: the head's, a problem cell's and
    an 未確認 cell's."""
    return (out.head.xf_index, out.problem.xf_index, out.flag.xf_index)


@functools.cache
def _fresh_styles() -> tuple[int, int, int]:
    """The style numbers a new workbook gives those formats (every build's: ``_Writer``
    fixes them as it starts). Were they ever to differ, a sheet composed ahead would not be
    found by the build's key, and would be composed again: slower, never wrong."""
    return _styles(_Writer(io.BytesIO()))


def _sheet_keys(readings: KeptReadings, styles: tuple[int, int, int]) -> dict[str, bytes]:
    """Each department's key in :class:`KeptSheets` (see there)."""
    titles = [(item.code, item.title) for item in readings.catalogue]
    context = repr((COMPOSED_FORMAT, styles, titles)).encode()
    keys = {}
    for department, stored in readings.stored.items():
        digest = hashlib.blake2b(context, digest_size=20)
        digest.update(len(stored.head).to_bytes(8, "little"))
        digest.update(stored.head)
        digest.update(stored.body)
        keys[department] = digest.digest()
    return keys


Step = Callable[[], None]


@dataclass
class _Seen:
    """What the 読取_ sheets saw, for 市町村別: the municipalities in order of appearance and
    every unreadable cell's problems."""

    municipalities: dict[str, None] = field(default_factory=dict)
    unreadable: dict[tuple[str, str], list[CellProblem]] = field(default_factory=dict)

    def forget(self) -> None:
        """Let what was seen go (市町村別 is written)."""
        self.municipalities.clear()
        self.unreadable.clear()

    def add(
        self, municipalities: Iterable[str], unreadable: Mapping[tuple[str, str], CellProblem]
    ) -> None:
        """Note one department's rows' municipalities, in order, and unreadable cells."""
        for municipality in municipalities:
            self.municipalities.setdefault(municipality, None)
        for key, problem in unreadable.items():
            self.unreadable.setdefault(key, []).append(problem)


def build_steps(
    report: DamageReport | MergedSource,
    buffer: io.BytesIO,
    *,
    on_sheet: Callable[[str, float], None] | None = None,
    processes: int = 1,
    kept: KeptSheets | None = None,
) -> list[tuple[str, Step]]:
    """The writer's steps in order, each named (``bench/writer.py`` times them one by one).

    The sheets are added in the order they appear; 市町村別 is filled after the 読取_ sheets,
    from what they saw, so that each department's reading is decoded once and dropped.
    ``on_sheet(department, seconds)`` hears how long each 読取_ sheet took; ``kept``: the
    読取_ sheets composed before, taken from there and added to it (None: none)."""
    src = report if isinstance(report, MergedSource) else MergedSource.of(report)
    out = _Writer(buffer)
    seen = _Seen()
    summary, by_municipality = out.sheet("集計", _XmlSheet), out.sheet("市町村別", _XmlSheet)
    steps: list[tuple[str, Step]] = [
        ("集計", lambda: _summary(out, summary, src)),
        ("報告状況", lambda: _status(out, src)),
        ("要修正セル", lambda: _problems(out, src.problems())),
    ]
    if src.open_incidents:
        steps.append(("箇所一覧", lambda: _open_incidents(out, src)))
    steps.append(
        ("読取_ sheets", lambda: _as_read_sheets(out, src, seen, on_sheet, processes, kept))
    )

    def municipalities() -> None:
        _by_municipality(out, by_municipality, src.totals, src.by_municipality(), seen)
        seen.forget()  # every unreadable cell's problem: not needed while the package closes

    steps.append(("市町村別", municipalities))
    steps.append(("package (close)", out.book.close))
    return steps


def _as_read_sheets(
    out: _Writer,
    src: MergedSource,
    seen: _Seen,
    on_sheet: Callable[[str, float], None] | None,
    processes: int = 1,
    kept: KeptSheets | None = None,
) -> None:
    """Each department's sheet as read. A table's rows are composed apart (``_compose``),
    by ``processes`` processes (:mod:`automation.parallel`) when there is enough to write,
    or taken from ``kept``, then added in department order with their notes."""
    styles = _styles(out)
    departments = list(src.readings)
    started = time.perf_counter()
    composed = _composed_sheets(src.readings, styles, processes, kept)
    share = (time.perf_counter() - started) / max(len(departments), 1)
    for dept, sheet in zip(departments, composed, strict=True):
        started = time.perf_counter()
        if sheet is None:  # an incident list: XlsxWriter's own cells
            reading = src.readings[dept]
            seen.add((municipality for municipality, _ in reading.rows), reading.unreadable)
            _records_as_read(out, out.sheet(f"読取_{dept}"), reading.rows)
            del reading  # one department's cells at a time
        else:
            table = sheet.unpacked() if isinstance(sheet, _Packed) else sheet
            seen.add(table.municipalities, table.unreadable)
            table.write(out.sheet(f"読取_{dept}", _XmlSheet))
            del table
        if on_sheet is not None:
            on_sheet(dept, share + time.perf_counter() - started)


def _composed_sheets(
    readings: KeptReadings,
    styles: tuple[int, int, int],
    processes: int,
    kept: KeptSheets | None,
) -> Iterable[_Composed | _Packed | None]:
    """Each department's table composed (None for an incident list), in order: without
    ``kept`` one at a time as it is written, or all at once by helper processes (packed);
    with ``kept``, the sheets it holds taken from it and the others composed packed and
    kept there."""
    departments = list(readings)
    if kept is None:
        weights = [len(readings.stored[d].body) for d in departments]
        if processes > 1 and sum(weights) >= COMPOSE_FORK_AT:
            # Every sheet's result is held until the helpers are done: packed, a tenth.
            compose = partial(_composed, readings, styles, packed=True, inline=_InlineTexts())
            return Forked(processes)(compose, departments, weights)
        shared = _InlineTexts()
        return map(partial(_composed, readings, styles, packed=False, inline=shared), departments)
    keys = _sheet_keys(readings, styles)
    found: dict[str, _Composed | _Packed | None] = {d: kept.get(keys[d]) for d in departments}
    missing = [d for d in departments if found[d] is None]
    weights = [len(readings.stored[d].body) for d in missing]
    compose = partial(_composed, readings, styles, packed=True, inline=_InlineTexts())
    if processes > 1 and sum(weights) >= COMPOSE_FORK_AT:
        made = Forked(processes)(compose, missing, weights)
    else:
        made = [compose(d) for d in missing]
    for department, sheet in zip(missing, made, strict=True):
        found[department] = sheet
        if isinstance(sheet, _Packed):
            kept.put(keys[department], sheet)
    return [found[d] for d in departments]


_Grid = dict[int, dict[int, tuple[object, Any]]]  # row -> column -> (value, format)


def _summary(out: _Writer, ws: _XmlSheet, report: MergedSource) -> None:
    """The totals, the incidents' statuses and the changes since the previous report. Its
    rows are XML (``_XmlRows``): a report that changed every department has thousands of
    change rows, which XlsxWriter's cells took some 25 ms to write."""
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 22)
    ws.set_column(4, 5, 40)
    grid = _summary_grid(out, report)
    rows = _XmlRows(out.book)
    for row in sorted(grid):
        cells = grid[row]
        rows.add(row, [(col, *cells[col]) for col in sorted(cells)])
    ws.set_rows_xml(rows.parts, rows.last_row, rows.last_col)


def _summary_grid(out: _Writer, report: MergedSource) -> _Grid:
    """集計's cells, as ``_Writer.value`` would write them (None: no cell, except the blank
    marked where a total has nothing readable)."""
    grid: _Grid = {}

    def put(row: int, values: Sequence[object], fmt: Any = None, col: int = 0) -> None:
        cells = grid.setdefault(row, {})
        for at, value in enumerate(values, start=col):
            if value is not None:
                cells[at] = (value, fmt)

    put(0, [f"{report.disaster} 被害状況即報（第{report.number}報）"], out.title)
    put(1, [report.as_of_ja])
    row = 3
    put(row, ["区分", "項目", "単位", "数", "未確認（市町村）", "読めないセル（市町村）"], out.head)
    previous = None
    for total in report.totals:
        row += 1
        category = total.category if total.category != previous else ""
        previous = total.category
        put(row, [category, total.label, total.unit])
        # A total that leaves out an unreadable cell is at least this much: marked so.
        if total.value is None and total.unreadable:
            grid[row][3] = (None, out.problem)
        else:
            put(row, [total.value], out.problem if total.unreadable else None, col=3)
        if total.unreadable:
            where = "、".join(total.unreadable_where)
            put(row, [f"{total.unreadable}件: {where}（数はこれ以上）"], out.problem, col=5)
        if total.unconfirmed:
            where = "、".join(total.unconfirmed_where)
            put(row, [f"{total.unconfirmed}件: {where}"], out.flag, col=4)
    if report.statuses:
        row += 2
        put(row, ["箇所の状況", "項目", "状況", "件数"], out.head)
        labels = {t.code: t.label for t in report.totals}
        for code, counts in report.statuses.items():
            for status, n in counts.items():
                row += 1
                put(row, ["", labels.get(code, code), status, n])
    if report.changes:
        row += 2
        head = [f"第{report.previous_number}報からの変更", "項目", "前報", "今回", "増減"]
        put(row, head, out.head)
        for change in report.changes:
            row += 1
            label = change.label + (f"［{change.status}］" if change.status else "")
            put(row, ["", label, change.before, change.after, change.delta])
            for part in change.parts:
                row += 1
                put(row, ["　" + part.text], col=1)
    return grid


def _by_municipality(
    out: _Writer,
    ws: _XmlSheet,
    totals: list[ItemTotal],
    figures: dict[str, dict[str, int | float]],
    seen: _Seen,
) -> None:
    rows = _XmlRows(out.book)
    titles = ["市町村", *(f"{t.label}({t.unit})" for t in totals)]
    rows.add(0, [(col, title, out.head) for col, title in enumerate(titles)])
    flagged = {(m, t.code) for t in totals for m in t.unconfirmed_where}
    unreadable = seen.unreadable
    notes: list[tuple[int, int, str]] = []
    for row, municipality in enumerate(_municipality_order(totals, figures, seen), start=1):
        values = figures.get(municipality, {})
        cells: list[tuple[int, object, Any]] = [(0, municipality, None)]
        for col, total in enumerate(totals, start=1):
            value = values.get(total.code)
            problems = unreadable.get((municipality, total.code))
            if problems:
                # Not blank ("not reported"): filled, the raw value and reason in a comment.
                shown = PROBLEM_PREFIX + problems[0].value if value is None else value
                cells.append((col, shown, out.problem))
                notes.append((row, col, _comment(problems)))
            elif value is None and (municipality, total.code) in flagged:
                cells.append((col, UNCONFIRMED_TEXT, out.flag))
            elif value is not None:
                cells.append((col, value, None))
        rows.add(row, cells)
    ws.set_rows_xml(rows.parts, rows.last_row, rows.last_col)
    ws.set_notes(RenderedNotes.of(notes))  # one string each, not XlsxWriter's calls


def _comment(problems: list[CellProblem]) -> str:
    """What a problem cell held and why it is not counted, for its comment."""
    return "\n".join(
        f"{p.place} 入力値「{p.value}」: 読み取れないため集計していません。{p.message}"
        for p in problems
    )


def _municipality_order(
    totals: list[ItemTotal], figures: dict[str, dict[str, int | float]], seen: _Seen
) -> list[str]:
    order = dict(seen.municipalities)
    for municipality in figures:
        order.setdefault(municipality, None)
    for total in totals:
        for municipality in total.unconfirmed_where:
            order.setdefault(municipality, None)
    return list(order)


def _status(out: _Writer, report: MergedSource) -> None:
    ws = out.sheet("報告状況")
    out.row(
        ws,
        0,
        ["部局", "シート", "状況", "前回締切以降の更新", "要修正セル", "最終更新", "備考"],
        out.head,
    )
    for row, dept in enumerate(report.departments, start=1):
        note = "読み取れないため前報の値を使用" if dept.carried_forward else ""
        if dept.sheet_hint_ja:  # the sheet missing: which sheet looks like it, the rename
            note = f"{note}。{dept.sheet_hint_ja}" if note else dept.sheet_hint_ja
        changed = dept.changed_at.strftime("%Y-%m-%d %H:%M") if dept.changed_at else ""
        out.row(
            ws,
            row,
            [
                dept.name,
                dept.sheet,
                None,
                "あり" if dept.updated else "なし",
                dept.problems,
                changed,
                note,
            ],
        )
        fmt = out.problem if dept.status in ("problems", "missing") else None
        ws.write_string(row, 2, dept.status_ja, fmt)


def _open_incidents(out: _Writer, report: MergedSource) -> None:
    """Every open incident, newest change first (the report lists the first few)."""
    ws = out.sheet("箇所一覧")
    ws.set_column(3, 3, 40)
    out.row(ws, 0, ["部局", "種別", "市町村", "箇所", "状況", "この状況になった報告"], out.head)
    for row, i in enumerate(report.open_incidents, start=1):
        out.row(ws, row, [i.department, i.label, i.municipality, i.place, i.status, i.since_ja])


def _problems(out: _Writer, problems: list[CellProblem]) -> None:
    ws = out.sheet("要修正セル", _XmlSheet)
    ws.set_column(3, 3, 80)
    rows = _XmlRows(out.book)
    titles = ["部局", "セル", "入力値", "内容と直し方"]
    rows.add(0, [(col, title, out.head) for col, title in enumerate(titles)])
    for row, p in enumerate(problems, start=1):
        rows.add(
            row,
            [
                (0, p.department, None),
                (1, p.where, None),
                (2, p.value, None),
                (3, p.message, out.wrap),
            ],
        )
    ws.set_rows_xml(rows.parts, rows.last_row, rows.last_col)


@dataclass(frozen=True)
class _Composed:
    """A table's 読取_ sheet composed apart from the workbook: its rows' XML (its text as
    inline strings), its notes, and what 市町村別 sees of it (text only: no cell objects)."""

    xml: str | DeflatedRows  # the rows; deflated (as ``_XmlSheet`` keeps a large sheet) or not
    notes: RenderedNotes  # the problem cells' notes, as the package writes them
    last_row: int
    last_col: int
    municipalities: list[str]  # each row's, in order (for 市町村別's order)
    unreadable: dict[tuple[str, str], CellProblem]

    def write(self, ws: _XmlSheet) -> None:
        """Into ``ws``: the rows, then the notes."""
        ws.set_rows_xml(self.xml, self.last_row, self.last_col)
        ws.set_notes(self.notes)


@dataclass(frozen=True)
class _Packed:
    """A composed sheet packed (a tenth of its memory): its rows and notes as composed
    (deflated already, not packed again), the rest pickled and zlib-packed, as it waits
    with the others for the helpers (:mod:`automation.parallel`) before it is written, or
    is kept for the next build (:class:`KeptSheets`: in memory, and pickled in the user's
    private cache folder, which only this user can write)."""

    xml: str | DeflatedRows
    notes: RenderedNotes
    rest: bytes

    @classmethod
    def of(cls, composed: _Composed) -> _Packed:
        rest = replace(composed, xml="", notes=_NO_NOTES)
        packed = zlib.compress(pickle.dumps(rest, pickle.HIGHEST_PROTOCOL), 1)
        return cls(composed.xml, composed.notes, packed)

    @property
    def size(self) -> int:
        """About the bytes it holds."""
        rows = self.xml.data if isinstance(self.xml, DeflatedRows) else self.xml
        return len(rows) + self.notes.size + len(self.rest)

    def unpacked(self) -> _Composed:
        composed: _Composed = pickle.loads(zlib.decompress(self.rest))  # see class
        return replace(composed, xml=self.xml, notes=self.notes)


_NO_NOTES = RenderedNotes.of([])  # in a packed sheet's pickled rest: its notes are apart


def _composed(
    readings: Mapping[str, AsReadSheet],
    styles: tuple[int, int, int],
    department: str,
    *,
    packed: bool,
    inline: _InlineTexts | None = None,
) -> _Composed | _Packed | None:
    """``department``'s table composed (``_compose``, its texts' XML from ``inline`` when
    shared with the other sheets), ``packed`` or not; None for an incident list."""
    reading = readings[department]
    if reading.layout == "records":
        return None
    composed = _compose(reading, styles, inline if inline is not None else _InlineTexts())
    return _Packed.of(composed) if packed else composed


def _compose(reading: AsReadSheet, styles: tuple[int, int, int], inline: _InlineTexts) -> _Composed:
    """The sheet as read, its rows composed as XML text in one pass (see _XmlSheet).

    Cell for cell what XlsxWriter's write_string/write_number would show: each text an
    inline string, as XlsxWriter's constant_memory mode writes it (so that a sheet is
    composed whole, in a helper process too), numbers as ``%.16G``, the problem fill and
    note on an unreadable cell, the 未確認 fill on other text. ``styles``: the head,
    problem and 未確認 formats' indexes; ``inline``: the texts' XML made so far (the same
    municipalities and marks recur in every department's sheet). Rows of more than
    ``PACK_ABOVE`` characters are deflated (:class:`DeflatedRows`), ready for the package."""
    codes = [item.code for item in reading.columns]
    letters = [xl_col_to_name(col) for col in range(len(codes) + 1)]
    head, problem_s, flag_s = styles
    titles = ["市町村", *(item.title for item in reading.columns)]
    header = "".join(
        f'<c r="{letters[col]}1" s="{head}" t="inlineStr">{inline[title]}</c>'
        for col, title in enumerate(titles)
    )
    parts = [f'<row r="1">{header}</row>']
    comments: list[tuple[int, int, str]] = []
    unreadable = reading.unreadable
    columns = [(col, code, f'<c r="{letters[col]}') for col, code in enumerate(codes, start=1)]
    whole: dict[int, str] = {}  # a whole number's text, formatted once (the same few recur)
    for row, (municipality, values) in enumerate(reading.rows, start=2):
        cells = [f'<row r="{row}"><c r="A{row}" t="inlineStr">{inline[municipality]}</c>']
        for col, code, opening in columns:
            shown = values.get(code)
            if shown is None:
                continue
            if type(shown) is int:
                text = whole.get(shown)
                if text is None:
                    text = whole[shown] = f"{shown:.16G}"
                cells.append(f'{opening}{row}"><v>{text}</v></c>')
            elif isinstance(shown, str):
                problem = unreadable.get((municipality, code))
                style = problem_s if problem else flag_s
                cells.append(f'{opening}{row}" s="{style}" t="inlineStr">{inline[shown]}</c>')
                if problem is not None:
                    comments.append((row - 1, col, _comment([problem])))
            else:
                cells.append(f'{opening}{row}"><v>{shown:.16G}</v></c>')
        cells.append("</row>")
        parts.append("".join(cells))
    xml = "".join(parts)
    return _Composed(
        DeflatedRows.of(xml) if len(xml) > PACK_ABOVE else xml,
        RenderedNotes.of(comments),
        len(reading.rows),
        len(codes),
        [municipality for municipality, _ in reading.rows],
        dict(unreadable),
    )


class _InlineTexts(dict[str, str]):
    """A text's ``<is>`` element, as XlsxWriter's constant_memory mode writes an inline
    string (control characters as ``_xHHHH_``, ``&<>`` escaped, surrounding spaces kept),
    each text made once. Unlike XlsxWriter, a text that looks like its rich-text markup
    (``<r>...</r>``) is escaped as any other: a department's text is never markup."""

    def __missing__(self, text: str) -> str:
        escaped = Worksheet._escape_control_characters(within_text_limit(text))
        space = ' xml:space="preserve"' if _preserve_whitespace(escaped) else ""
        made = self[text] = f"<is><t{space}>{escape(escaped)}</t></is>"
        return made


def _records_as_read(out: _Writer, ws: Any, rows: list[tuple[str, dict[str, AsRead]]]) -> None:
    keys: dict[str, None] = {}
    for _, values in rows:
        for key in values:
            keys.setdefault(key, None)
    out.row(ws, 0, ["市町村", *keys], out.head)
    for row, (municipality, values) in enumerate(rows, start=1):
        out.row(ws, row, [municipality, *(values.get(key, "") for key in keys)])
