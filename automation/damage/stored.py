"""A department's sheet reading kept between runs, so that a save which changed one sheet
reads that sheet only (pure: bytes in, readings out).

A stored reading is valid for two keys, each folded with the reading's configuration
(:func:`config_key`: the department, its layout, the catalogue, the municipalities and the
readers' own code, so that a change to any of them reads every sheet again):

- ``package``: the sheet's key in the package (:func:`automation.damage.workbook.package_keys`,
  from the zip directory, or for a sheet with text from its XML with the shared strings it
  names in place of their numbers): when it is unchanged the sheet is not even parsed. The
  key is kept with a digest of the zip directory entries it was computed from
  (``Workbook.entries``): while they are the same the stored key holds without unpacking
  or hashing anything (:func:`package_key`);
- ``content``: the digest of the parsed sheet (``Sheet.content``): a sheet whose package key
  moved (the styles changed, or a part the package key does not recognise) but whose values
  did not is parsed, not read again.

The reading itself is JSON compressed with zlib, in two parts: the head every run needs (the
problems) and the body (figures and rows as read, a 300-row sheet: about 25 kB), decoded
only when something asks for it (:class:`Readings`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from automation.damage.catalogue import Catalogue, Item
from automation.damage.sheet_reading import (
    PROBLEM_PREFIX,
    UNCONFIRMED_TEXT,
    AsRead,
    CellProblem,
    Incident,
    SheetReading,
    collector_paused,
)
from automation.damage.totals import DecimalTexts

# The modules whose code decides what a sheet reads as (parsing included): a stored reading
# made by other code is not reused (an upgrade reads every sheet once).
_READERS = (
    "cells.py",
    "damage/workbook.py",
    "damage/reading.py",
    "damage/sheet_reading.py",
    "damage/catalogue.py",
    "damage/text.py",
)
FORMAT = 2  # of the stored JSON: 2 stores a table's rows once (see _table)


@functools.cache
def readers_digest() -> str:
    """A digest of the reader's and parser's code: read on first use (a run that reads a
    changed workbook), not when the module is imported by every command."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(str(FORMAT).encode(), digest_size=16)
    for name in _READERS:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class PackageKey:
    """A sheet's package key in a run, and the digest of the directory entries it was
    computed from, each folded with the reading's configuration (:func:`keyed`); None
    where the sheet has no package key (it is always parsed)."""

    key: str | None
    entries: str | None = None

    @property
    def stored(self) -> str | None:
        """As ``StoredReading.package`` keeps it: the key, a space, the entries' digest."""
        if self.key is None or self.entries is None:
            return self.key
        return f"{self.key} {self.entries}"


def package_key(
    stored: StoredReading | None,
    config: str,
    entries: str | None,
    compute: Callable[[], str | None],
) -> PackageKey:
    """The sheet's package key folded with ``config``: the stored reading's while the zip
    directory entries it was computed from are the same (``entries``, this run's digest of
    them: nothing is unpacked or hashed), else ``compute()`` (the package key itself, as
    ``Workbook.packages`` gives it; None when the sheet has none).

    The two agree wherever the stored key was computed from the same entries: the package
    key is a function of the parts those entries name (their CRC-32s and sizes, the same
    trust the package key puts in them for a sheet without text)."""
    if stored is not None and entries_hold(stored, config, entries):
        return stored.keys
    package = compute()
    if not package:
        return PackageKey(None)
    return PackageKey(
        keyed(config, package), keyed(config, entries) if entries is not None else None
    )


def entries_hold(stored: StoredReading | None, config: str, entries: str | None) -> bool:
    """Whether ``stored``'s package key was computed from these very zip directory
    ``entries`` under ``config`` (then it holds without unpacking or hashing anything)."""
    return (
        stored is not None and entries is not None and stored.keys.entries == keyed(config, entries)
    )


@dataclass(frozen=True)
class StoredReading:
    """A department's reading as stored, with the keys it is valid for.

    ``head`` holds what every run needs (the problems, whether the table was found and
    anything counted); ``body`` the rest (figures, rows as read), decoded only when asked.
    """

    # The package key (None: the sheet had none and is always parsed), then a space and the
    # digest of the directory entries it was computed from (:class:`PackageKey`); a reading
    # stored before the entries were kept has the key alone and is keyed as before.
    package: str | None
    content: str
    fingerprint: str  # the sheet's value digest (``Sheet.fingerprint``) when it was read
    head: bytes = field(repr=False)
    body: bytes = field(repr=False)

    @classmethod
    def of(
        cls, reading: SheetReading, package: PackageKey | None, content: str, fingerprint: str
    ) -> StoredReading:
        """``reading`` stored under its keys (``package`` None: without a package key)."""
        head, body = encode(reading)
        return cls(package.stored if package else None, content, fingerprint, head, body)

    @property
    def keys(self) -> PackageKey:
        """The package key the reading is stored under, and the entries it was computed from."""
        if self.package is None:
            return PackageKey(None)
        key, _, entries = self.package.partition(" ")
        return PackageKey(key, entries or None)

    def keyed_by(self, package: PackageKey) -> StoredReading:
        """The same reading stored under ``package`` (itself when it already is)."""
        if package.stored == self.package:
            return self
        return replace(self, package=package.stored)

    def summary(self) -> Head:
        """The head: problems, whether the table was found and anything counted."""
        return decode_head(self.head)

    def decode(self, catalogue: Catalogue) -> SheetReading:
        """The reading as it was read."""
        return decode(self.head, self.body, catalogue)

    def shown(self, catalogue: Catalogue) -> Shown:
        """What the merged workbook shows of the reading, decoded without its figures (a
        sixth of :meth:`decode`'s work); ValueError or KeyError when it cannot be."""
        problems, data = decode_head(self.head).problems, _unpack(self.body)
        problems += [CellProblem(*p) for p in data["extra"]]
        by_code = {item.code: item for item in catalogue}
        columns = [by_code[code] for code in data["columns"]]
        if "table" not in data:
            rows = [(m, values) for m, values in data["rows"]]
            unreadable = {(m, c): problems[n] for m, c, n in data["unreadable"]}
            return Shown(data["layout"], columns, rows, unreadable)
        codes = [item.code for item in columns]
        rows = [
            (m, {c: v for c, v in zip(codes, line, strict=True) if v is not None})
            for m, *line in data["table"]
        ]
        unreadable = {(rows[r][0], codes[c]): problems[n] for r, c, n in data["unreadable"]}
        return Shown(data["layout"], columns, rows, unreadable)


@dataclass(frozen=True)
class Shown:
    """A stored reading as the merged workbook shows it: the rows as read and the cells
    that could not be read (:meth:`StoredReading.shown`)."""

    layout: str
    columns: list[Item] = field(repr=False)
    rows: list[tuple[str, dict[str, AsRead]]] = field(repr=False)
    unreadable: dict[tuple[str, str], CellProblem] = field(repr=False)


@dataclass(frozen=True)
class Head:
    """What a run needs of every department's reading, its sheet changed or not."""

    table_found: bool
    reported: bool
    problems: list[CellProblem]


def config_key(
    department: str, layout: object, catalogue: Catalogue, municipalities: tuple[str, ...] | None
) -> str:
    """A digest of everything besides the sheet that a reading depends on."""
    items = [(i.code, i.label, i.unit, i.category, i.aliases, i.qualified) for i in catalogue]
    text = repr((readers_digest(), department, layout, items, municipalities))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def keyed(config: str, key: str) -> str:
    """A package or content key folded with the configuration's key."""
    return hashlib.blake2b(f"{config}:{key}".encode(), digest_size=16).hexdigest()


def encode(reading: SheetReading) -> tuple[bytes, bytes]:
    """The reading as compressed JSON, head and body (:func:`decode` gives it back)."""
    problems = list(reading.problems)
    index = {id(p): n for n, p in enumerate(problems)}
    extra = [p for p in reading.unreadable.values() if id(p) not in index]
    for problem in extra:  # never so today: each unreadable cell is one of the problems
        index[id(problem)] = len(problems)
        problems.append(problem)
    head = {
        "format": FORMAT,
        "table_found": reading.table_found,
        "reported": reading.reported,
        "problems": [_problem(p) for p in reading.problems],
    }
    body = {
        "format": FORMAT,
        "department": reading.department,
        "sheet": reading.sheet,
        "layout": reading.layout,
        "columns": [item.code for item in reading.columns],
        "statuses": {code: dict(counts) for code, counts in reading.statuses.items()},
        "extra": [_problem(p) for p in extra],
        "record_columns": reading.record_columns,
        "incidents": [_incident(i) for i in reading.incidents],
    }
    table = _table(reading, index)
    body.update(table if table is not None else _cells(reading, index))
    return _pack(head), _pack(body)


def _cells(reading: SheetReading, index: Mapping[int, int]) -> dict[str, Any]:
    """Figures, flags, unreadable cells and rows as read, each stored on its own."""
    texts: dict[Decimal, str] = {}  # the same few values recur thousands of times
    amounts: dict[str, dict[str, str]] = {}
    for (municipality, code), value in reading.amounts.items():
        text = texts.get(value)
        if text is None:
            text = texts[value] = str(value)
        amounts.setdefault(municipality, {})[code] = text
    return {
        "amounts": amounts,
        "unconfirmed": [list(cell) for cell in reading.unconfirmed],
        "unreadable": [[m, c, index[id(p)]] for (m, c), p in reading.unreadable.items()],
        "rows": reading.rows,
    }


def _table(reading: SheetReading, index: Mapping[int, int]) -> dict[str, Any] | None:
    """A table's rows as read, one list a row in column order, from which :func:`_read_table`
    tells the figures and flags again (as the matrix reader leaves them: a number is the
    cell's amount, 未確認 its flag, 要修正 text an unreadable cell); None for a reading
    that is not such a table (a records sheet). Four times smaller than storing each on
    its own, and it costs no work per cell but the row lists (``SheetReading.tabular``
    says the figures are the rows'; the specs hold the matrix reader to it).

    Only amounts that are not whole (columns in ha or 千円) may need their exact text kept
    beside the number as Excel stores it (a float)."""
    if not reading.tabular:
        return None
    codes = [item.code for item in reading.columns]
    rows = reading.rows
    cells = sum(len(as_read) for _, as_read in rows)
    towns = {municipality: r for r, (municipality, _) in enumerate(rows)}
    counted = len(reading.amounts) + len(reading.unconfirmed) + len(reading.unreadable)
    if cells != counted or len(towns) != len(rows):
        return None  # not as the matrix reader leaves a reading
    table: list[list[Any]] = [[m, *map(as_read.get, codes)] for m, as_read in rows]
    exact = {}
    for c, item in enumerate(reading.columns, start=1):
        if not item.decimals:  # a whole number: its amount is the int as read
            continue
        for r, line in enumerate(table):
            value = line[c]
            if type(value) is float:
                amount = reading.amounts[(rows[r][0], item.code)]
                if str(amount) != str(Decimal(repr(value))):
                    exact[f"{r}:{c - 1}"] = str(amount)
    where = {code: c for c, code in enumerate(codes)}
    unreadable = [
        [towns[m], where[code], index[id(p)]] for (m, code), p in reading.unreadable.items()
    ]
    return {"table": table, "exact": exact, "unreadable": unreadable}


def _pack(data: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(data, ensure_ascii=False).encode(), 1)


def _unpack(blob: bytes) -> dict[str, Any]:
    data = json.loads(zlib.decompress(blob))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("stored reading of another format")
    return data


def decode_head(blob: bytes) -> Head:
    """The head :func:`encode` stored; ValueError when it cannot be decoded."""
    data = _unpack(blob)
    problems = [CellProblem(*p) for p in data["problems"]]
    return Head(bool(data["table_found"]), bool(data["reported"]), problems)


def decode(head: bytes, body: bytes, catalogue: Catalogue) -> SheetReading:
    """The reading :func:`encode` stored; ValueError or KeyError when it cannot be."""
    summary, data = decode_head(head), _unpack(body)
    by_code = {item.code: item for item in catalogue}
    problems = summary.problems + [CellProblem(*p) for p in data["extra"]]
    reading = SheetReading(
        department=data["department"],
        sheet=data["sheet"],
        layout=data["layout"],
        table_found=summary.table_found,
        columns=[by_code[code] for code in data["columns"]],
        statuses={code: Counter(counts) for code, counts in data["statuses"].items()},
        problems=summary.problems,
        record_columns=data["record_columns"],
        incidents=[Incident(*i) for i in data["incidents"]],
    )
    with collector_paused():
        try:
            if "table" in data:
                _read_table(reading, data, problems)
            else:
                _read_cells(reading, data, problems)
        except (TypeError, IndexError, ArithmeticError) as err:  # not what encode stores
            raise ValueError(f"stored reading that cannot be decoded: {err}") from err
    return reading


def _read_cells(reading: SheetReading, data: dict[str, Any], problems: list[CellProblem]) -> None:
    decimals = DecimalTexts()
    reading.amounts = {
        (m, c): decimals[v] for m, row in data["amounts"].items() for c, v in row.items()
    }
    reading.unconfirmed = {(m, c) for m, c in data["unconfirmed"]}
    reading.unreadable = {(m, c): problems[n] for m, c, n in data["unreadable"]}
    reading.rows = [(m, values) for m, values in data["rows"]]


def _read_table(reading: SheetReading, data: dict[str, Any], problems: list[CellProblem]) -> None:
    """The figures, flags, unreadable cells and rows of a table stored by :func:`_table`."""
    codes = [item.code for item in reading.columns]
    reading.rows = rows = [
        (m, {c: v for c, v in zip(codes, line, strict=True) if v is not None})
        for m, *line in data["table"]
    ]
    numbers = _Numbers()
    amounts = {(m, c): numbers[v] for m, row in rows for c, v in row.items() if type(v) is not str}
    for key, text in data["exact"].items():
        r, c = map(int, key.split(":"))
        amounts[(rows[r][0], codes[c])] = Decimal(text)
    reading.amounts = amounts
    reading.unconfirmed = {
        (m, c) for m, row in rows for c, v in row.items() if v == UNCONFIRMED_TEXT
    }
    reading.unreadable = {(rows[r][0], codes[c]): problems[n] for r, c, n in data["unreadable"]}
    reading.tabular = True
    shown = [rows[r][1].get(codes[c]) for r, c, _ in data["unreadable"]]
    if len(amounts) + len(reading.unconfirmed) + len(reading.unreadable) != sum(
        len(row) for _, row in rows
    ) or not all(isinstance(text, str) and text.startswith(PROBLEM_PREFIX) for text in shown):
        raise ValueError("stored table whose cells are not figures, flags or unreadable cells")


class _Numbers(dict[int | float, Decimal]):
    """The amount of a number as read, each number converted once (a whole number is an
    int: a float as read is never whole, so 1 and 1.0 never meet here)."""

    def __missing__(self, value: int | float) -> Decimal:
        if type(value) is not int and type(value) is not float:
            raise ValueError(f"stored cell of type {type(value).__name__}")
        amount = self[value] = Decimal(value if type(value) is int else repr(value))
        return amount


def _problem(p: CellProblem) -> list[str]:
    return [p.department, p.where, p.value, p.message, p.municipality, p.item]


def _incident(i: Incident) -> list[str]:
    return [i.key, i.code, i.label, i.municipality, i.place, i.status, i.where]


class Readings(Mapping[str, SheetReading]):
    """The departments' readings: this run's, and the stored ones decoded when looked up
    (a run that changed one sheet need not decode the others' unless it shows them)."""

    def __init__(
        self,
        fresh: Mapping[str, SheetReading],
        stored: Mapping[str, StoredReading],
        order: list[str],
        catalogue: Catalogue,
    ) -> None:
        self._fresh = dict(fresh)
        self._stored = stored
        self._order = order
        self._catalogue = catalogue

    def __getitem__(self, department: str) -> SheetReading:
        reading = self._fresh.get(department)
        if reading is None:
            if department not in self._order:
                raise KeyError(department)
            reading = self._fresh[department] = self._stored[department].decode(self._catalogue)
        return reading

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, department: object) -> bool:
        return department in self._order

    def kept(self) -> tuple[dict[str, StoredReading], Catalogue]:
        """Each department's reading as stored, in order, and the catalogue decoding them."""
        return {d: self._stored[d] for d in self._order}, self._catalogue

    def decoded(self, department: str) -> SheetReading | None:
        """The department's reading if this run already has it decoded (none is decoded)."""
        return self._fresh.get(department)
