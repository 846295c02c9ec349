"""Consolidate department figures into totals, and compare two reports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields
from decimal import Decimal, Inexact, localcontext
from functools import cached_property
from itertools import compress, product
from operator import itemgetter, ne
from typing import Any, ClassVar, cast

from automation.damage.catalogue import Catalogue, Item
from automation.damage.sheet_reading import SheetReading
from automation.jsontext import JSONTexts, compact, digest

Cell = tuple[str, str]  # (municipality, item code)


class Figures:
    """What one department contributes: numbers, 未確認 flags and incident statuses.

    Figures loaded from a report's text (:meth:`of_text`) stay text until a field is read:
    a run that reuses a department's figures unchanged never decodes them."""

    __slots__ = (
        "_amounts",
        "_incidents",
        "_loaded",
        "_statuses",
        "_text",
        "_unconfirmed",
        "_unreadable",
    )

    def __init__(
        self,
        amounts: dict[Cell, Decimal] | None = None,
        unconfirmed: set[Cell] | None = None,
        statuses: dict[str, dict[str, int]] | None = None,
        unreadable: set[Cell] | None = None,
        # incident key -> (item code, item label, municipality, place, status)
        incidents: dict[str, tuple[str, str, str, str, str]] | None = None,
    ) -> None:
        self._amounts = {} if amounts is None else amounts
        self._unconfirmed = set() if unconfirmed is None else unconfirmed
        self._statuses = {} if statuses is None else statuses
        self._unreadable = set() if unreadable is None else unreadable  # cells left out
        self._incidents = {} if incidents is None else incidents
        self._text: str | None = None  # the compact JSON of ``dump``, once known
        self._loaded = False  # from ``_text`` (``of_text``): decoded from it when read

    @property
    def amounts(self) -> dict[Cell, Decimal]:
        """(municipality, item code) -> figure."""
        self._decoded()
        return self._amounts

    @property
    def unconfirmed(self) -> set[Cell]:
        """Cells flagged 未確認/調査中."""
        self._decoded()
        return self._unconfirmed

    @property
    def statuses(self) -> dict[str, dict[str, int]]:
        """Item code -> incident status -> count."""
        self._decoded()
        return self._statuses

    @property
    def unreadable(self) -> set[Cell]:
        """Cells left out because they could not be read."""
        self._decoded()
        return self._unreadable

    @property
    def incidents(self) -> dict[str, tuple[str, str, str, str, str]]:
        """Incident key -> (item code, item label, municipality, place, status)."""
        if self._incidents is _UNKNOWN:
            self._decoded()
        return self._incidents

    def forget(self) -> None:
        """Drop what reading figures loaded from text (``of_text``) decoded: read again,
        they are decoded again from that same text (a changed report's 60 departments of
        2,000 rows hold about 180 MB decoded; compared one at a time, one is held). Figures
        made otherwise keep theirs: their text may write 1.50 for an equal 1.5."""
        if not self._loaded or self._amounts is _PENDING:
            return
        self._amounts, self._unconfirmed, self._statuses = _PENDING, set(), {}
        self._unreadable = set()
        if self._incidents:
            self._incidents = _UNKNOWN

    def _decoded(self) -> None:
        if self._amounts is _PENDING:
            loaded = Figures.load(json.loads(self._text or "{}"))
            self._amounts, self._unconfirmed = loaded._amounts, loaded._unconfirmed
            self._statuses, self._unreadable = loaded._statuses, loaded._unreadable
            self._incidents = loaded._incidents

    @classmethod
    def of(cls, reading: SheetReading) -> Figures:
        """The figures read from a sheet."""
        return cls(
            dict(reading.amounts),
            set(reading.unconfirmed),
            {code: dict(counter) for code, counter in reading.statuses.items()},
            set(reading.unreadable),
            {
                i.key: (i.code, i.label, i.municipality, i.place, i.status)
                for i in reading.incidents
            },
        )

    @classmethod
    def of_text(cls, text: str, *, incidents: bool = True) -> Figures:
        """Figures as ``text`` (the JSON of ``dump``) holds them, decoded when first read;
        ``incidents`` False: the text is known to hold none (so listing them decodes
        nothing)."""
        figures = cls()
        figures._amounts = _PENDING
        figures._incidents = _UNKNOWN if incidents else {}
        figures._text = text
        figures._loaded = True
        return figures

    @property
    def text(self) -> str:
        """The compact JSON of ``dump`` (kept: a report's unchanged figures are written
        back as they were read)."""
        if self._text is None:
            self._text = compact(self.dump())
        return self._text

    def dump(self) -> Mapping[str, Any]:
        """A JSON-ready form, stable in order: municipality -> item code -> value, or for a
        sheet of at least ``GRID_AT`` figures that fill most of their municipalities'
        rows, a grid (``_grid``; :func:`amounts_of` reads either)."""
        if self._amounts is _PENDING:
            return dict(json.loads(self.text))
        grid = _grid(self._amounts) if len(self._amounts) >= GRID_AT else None
        dumped: dict[str, Any] = {"amounts": _rows(self._amounts)} if grid is None else grid
        dumped["unconfirmed"] = sorted([m, c] for m, c in self._unconfirmed)
        dumped["statuses"] = {c: dict(sorted(s.items())) for c, s in sorted(self._statuses.items())}
        if self._unreadable:  # absent when empty: a sheet without one keeps its signature
            dumped["unreadable"] = sorted([m, c] for m, c in self._unreadable)
        if self._incidents:  # in sheet order, which ``load`` keeps: the report lists them so
            dumped["incidents"] = {k: list(v) for k, v in self._incidents.items()}
        return dumped

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Figures:
        """Inverse of ``dump``."""
        if "grid" in data:
            amounts = _grid_amounts(data["grid"])
        else:
            decimals = DecimalTexts()  # the same few values recur thousands of times
            amounts = {
                (m, c): decimals[v]
                for m, row in data.get("amounts", {}).items()
                for c, v in row.items()
            }
        return cls(
            amounts,
            {(m, c) for m, c in data.get("unconfirmed", [])},
            {c: dict(s) for c, s in data.get("statuses", {}).items()},
            {(m, c) for m, c in data.get("unreadable", [])},
            {k: (v[0], v[1], v[2], v[3], v[4]) for k, v in data.get("incidents", {}).items()},
        )

    def _fields(self) -> tuple[Any, ...]:
        return (self.amounts, self.unconfirmed, self.statuses, self.unreadable, self.incidents)

    def same_text(self, other: Figures) -> bool:
        """Whether both are known to be written the same (then they are equal, decoding
        neither; False says nothing)."""
        return self._text is not None and self._text == other._text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Figures):
            return NotImplemented
        if self is other or self.same_text(other):
            return True
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (a helper process sends a sheet's figures back, :mod:`automation.parallel`):
        still text, as text; else each figure's own text (1.50 stays 1.50, which a Decimal
        key would merge with 1.5) beside its cell, in order, each distinct text converted
        once on the way back (a fifth of pickling every Decimal)."""
        if self._amounts is _PENDING:
            return (_revived_text, (self._text, self._incidents is _UNKNOWN))
        amounts = self._amounts
        return (
            _revived,
            (
                list(amounts),
                list(map(str, amounts.values())),
                (self._unconfirmed, self._statuses, self._unreadable, self._incidents),
                self._text,
                self._loaded,
            ),
        )

    def __repr__(self) -> str:
        if self._amounts is _PENDING:
            return "Figures(<not decoded>)"
        return f"Figures({len(self._amounts)} amounts, {len(self._unconfirmed)} unconfirmed)"


_SHARED_CELLS: dict[Cell, Cell] = {}
SHARED_CELLS_MAX = 1 << 20  # cells (municipality x item) kept for sharing, at most


def _revived(
    cells: list[Cell],
    texts: list[str],
    rest: tuple[
        set[Cell],
        dict[str, dict[str, int]],
        set[Cell],
        dict[str, tuple[str, str, str, str, str]],
    ],
    text: str | None,
    loaded: bool,
) -> Figures:
    """Figures as ``Figures.__reduce__`` sent them, each cell's key one tuple shared by every
    sheet revived in this process (as the reader shares them: 1.4 MB a sheet of 2,000 rows)."""
    if len(_SHARED_CELLS) > SHARED_CELLS_MAX:
        _SHARED_CELLS.clear()
    shared = map(_SHARED_CELLS.setdefault, cells, cells)
    decimals = DecimalTexts()
    figures = Figures(dict(zip(shared, map(decimals.__getitem__, texts), strict=True)), *rest)
    figures._text, figures._loaded = text, loaded  # its own pickled state
    return figures


def _revived_text(text: str, incidents: bool) -> Figures:
    """Figures still text as ``Figures.__reduce__`` sent them."""
    return Figures.of_text(text, incidents=incidents)


_PENDING: dict[Cell, Decimal] = {}  # a marker: the figures are still text
_UNKNOWN: dict[str, tuple[str, str, str, str, str]] = {}  # a marker: incidents still text
GRID_AT = 1_000  # figures from which a sheet's are written as a grid
_TOWN, _CODE = itemgetter(0), itemgetter(1)


def _texts(amounts: Mapping[Cell, Decimal]) -> dict[Decimal | None, str]:
    """Each figure's text; of equal figures (1.5 and 1.50) the first met is the one written
    (the same few values recur thousands of times: each is converted once)."""
    return {value: str(value) for value in dict.fromkeys(amounts.values())}


def _rows(amounts: Mapping[Cell, Decimal]) -> dict[str, dict[str, str]]:
    """Municipality -> item code -> figure, both in order."""
    texts = _texts(amounts)
    rows: dict[str, dict[str, str]] = {}
    for (municipality, code), value in amounts.items():
        rows.setdefault(municipality, {})[code] = texts[value]
    return {m: dict(sorted(row.items())) for m, row in sorted(rows.items())}


def _grid(amounts: Mapping[Cell, Decimal]) -> dict[str, Any] | None:
    """``{"grid": {"towns": [...], "codes": [...], "values": "3,,1.5,..."}}``: the figures
    of each municipality (in order) and item (in order), comma-separated, empty where there
    is none; None when that grid would be more than half empty. A sheet of 2,000 rows is
    written 2x faster than as rows of (item, figure) pairs, read back 1.6x faster, and
    stored in a sixth of the bytes: all C loops, no step per cell in Python."""
    towns = sorted(dict.fromkeys(map(_TOWN, amounts)))
    codes = sorted(dict.fromkeys(map(_CODE, amounts)))
    if len(towns) * len(codes) > 2 * len(amounts):
        return None
    texts = _texts(amounts)
    texts[None] = ""
    values = ",".join(map(texts.__getitem__, map(amounts.get, product(towns, codes))))
    return {"grid": {"towns": towns, "codes": codes, "values": values}}


def _grid_amounts(grid: Mapping[str, Any]) -> dict[Cell, Decimal]:
    """The figures ``_grid`` wrote, in its order."""
    values: list[str] = grid["values"].split(",")
    decimals = {text: Decimal(text) for text in set(values) if text}
    cells = zip(product(grid["towns"], grid["codes"]), map(decimals.get, values), strict=True)
    # The cells with a figure (a non-empty text): no None is left.
    return cast(dict[Cell, Decimal], dict(compress(cells, values)))


def amounts_of(dumped: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Municipality -> item code -> figure (as text) of one department's ``Figures.dump``,
    in either form it takes."""
    if "grid" not in dumped:
        return dict(dumped.get("amounts") or {})
    grid = dumped["grid"]
    rows: dict[str, dict[str, str]] = {}
    for (municipality, code), text in zip(
        product(grid["towns"], grid["codes"]), grid["values"].split(","), strict=True
    ):
        if text:
            rows.setdefault(municipality, {})[code] = text
    return rows


class DecimalTexts(dict[str, Decimal]):
    """Decimal of a text, each text converted once (five times faster than converting each
    of a sheet's thousands of figures)."""

    def __missing__(self, text: str) -> Decimal:
        value = self[text] = Decimal(text)
        return value


@dataclass(frozen=True, slots=True)
class ItemTotal:
    """The consolidated figure of one item."""

    code: str
    label: str
    unit: str
    category: str
    value: Decimal | None  # None: nobody gave a number (only 未確認 flags)
    unconfirmed: int  # cells flagged 未確認/調査中
    unconfirmed_where: tuple[str, ...]  # municipalities with a flag
    unreadable: int = 0  # cells left out because they could not be read (多数, 約10)
    unreadable_where: tuple[str, ...] = ()  # municipalities with such a cell

    @property
    def notes_ja(self) -> str:
        """What the figure leaves out, written beside it so that it reads "at least":
        ``（ほか未確認 1件: 桐生市）（ほかに読めないセル 1件: 館林市）``."""
        return total_notes(
            self.unconfirmed, self.unconfirmed_where, self.unreadable, self.unreadable_where
        )


def total_notes(
    unconfirmed: int,
    unconfirmed_where: Sequence[str],
    unreadable: int,
    unreadable_where: Sequence[str],
) -> str:
    """The marks beside a total (empty when it leaves nothing out); one wording for the
    report, the card, the terminal summary and the run record."""
    notes = ""
    if unconfirmed:
        notes += f"（ほか未確認 {unconfirmed}件: {'、'.join(unconfirmed_where)}）"
    if unreadable:
        notes += f"（ほかに読めないセル {unreadable}件: {'、'.join(unreadable_where)}）"
    return notes


@dataclass(frozen=True, slots=True)
class CellChange:
    """One municipality's figure of one item, before and after, and who changed it."""

    municipality: str
    before: Decimal | None
    after: Decimal | None
    before_mark: str = ""  # 未確認 or 読めず when the cell held no number
    after_mark: str = ""
    departments: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[type[CellChange], tuple[Any, ...]]:
        """Pickled as its fields in order (a changed report's recipe holds thousands, handed
        to the helper building its workbook): the dataclass's own state took some 60 %
        longer both ways. A recipe pickled before still loads (its state is set as before)."""
        return (CellChange, tuple([getattr(self, name) for name in _CELL_CHANGE_FIELDS]))

    @property
    def text(self) -> str:
        """``前橋市 1 → 3（+2、危機管理課）``, ``高崎市 未確認 → 4（危機管理課）``."""
        notes = []
        if self.before is not None or self.after is not None:
            delta = (self.after or Decimal(0)) - (self.before or Decimal(0))
            if delta:
                notes.append(("+" if delta > 0 else "−") + _figure(abs(delta)))
        notes.extend(self.departments)
        return (
            f"{self.municipality} {self._shown(self.before, self.before_mark)} → "
            f"{self._shown(self.after, self.after_mark)}"
            + (f"（{'、'.join(notes)}）" if notes else "")
        )

    @staticmethod
    def _shown(value: Decimal | None, mark: str) -> str:
        shown = "—" if value is None else _figure(value)
        if mark:
            shown = mark if value is None else f"{shown}・{mark}"
        return shown


_CELL_CHANGE_FIELDS = tuple(f.name for f in fields(CellChange))  # in __init__'s order


def _figure(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():,f}"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the previous report and this one."""

    code: str
    label: str
    unit: str
    before: Decimal | None
    after: Decimal | None
    before_unconfirmed: int = 0
    after_unconfirmed: int = 0
    status: str | None = None  # set for incident-status count changes
    before_unreadable: int = 0
    after_unreadable: int = 0
    # Which municipalities' figures moved (an item whose total stands can still have moved
    # between municipalities); empty for status-count changes.
    parts: tuple[CellChange, ...] = ()

    @property
    def delta(self) -> Decimal | None:
        """after - before when both are numbers."""
        if self.before is None and self.after is not None:
            return self.after
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


ZERO = Decimal(0)
CellSum = list[Any]  # [figure or None, departments with a figure, with 未確認, with 読めず]
Cells = dict[Cell, CellSum]


@dataclass(frozen=True)
class Part:
    """What one department's figures add to the totals (its part of each item)."""

    amounts: dict[str, Decimal]  # item code -> sum of the department's figures
    unconfirmed: dict[str, list[str]]  # item code -> municipalities flagged 未確認
    unreadable: dict[str, list[str]]  # item code -> municipalities with an unreadable cell
    statuses: dict[str, dict[str, int]]
    incidents: bool  # whether the figures list incidents
    digest: str  # of the figures' text: equal digests, equal figures

    @classmethod
    def of(cls, figures: Figures, amounts: dict[str, Decimal] | None = None) -> Part:
        """The part of ``figures`` (``amounts``: their sums per item, when known)."""
        if amounts is None:
            amounts = {}
            get = amounts.get
            for (_, code), value in figures.amounts.items():
                amounts[code] = get(code, ZERO) + value
        return cls(
            amounts,
            _where(figures.unconfirmed),
            _where(figures.unreadable),
            figures.statuses,
            bool(figures.incidents),
            digest(figures.text),
        )

    def dump(self) -> dict[str, Any]:
        """JSON-ready; statuses sorted as ``Figures.dump`` sorts them (a reused department's
        figures are loaded from that dump)."""
        return {
            "amounts": {c: str(v) for c, v in self.amounts.items()},
            "unconfirmed": {c: sorted(m) for c, m in self.unconfirmed.items()},
            "unreadable": {c: sorted(m) for c, m in self.unreadable.items()},
            "statuses": {c: dict(sorted(s.items())) for c, s in sorted(self.statuses.items())},
            "incidents": self.incidents,
            "digest": self.digest,
        }

    @classmethod
    def load(cls, data: Mapping[str, Any], decimals: DecimalTexts) -> Part:
        """Inverse of ``dump``."""
        return cls(
            {c: decimals[v] for c, v in data["amounts"].items()},
            {c: list(m) for c, m in data["unconfirmed"].items()},
            {c: list(m) for c, m in data["unreadable"].items()},
            {c: dict(s) for c, s in data["statuses"].items()},
            bool(data["incidents"]),
            str(data["digest"]),
        )


def _where(cells: set[Cell]) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for municipality, code in cells:
        where.setdefault(code, []).append(municipality)
    return where


@dataclass(frozen=True)
class Sums:
    """What a report's figures add up to, kept with it so that the next report adds up only
    the departments whose figures changed: each department's part, and per cell the sum
    over departments with how many of them have a figure, a 未確認 flag, an unreadable
    cell there."""

    parts: dict[str, Part]
    cells: Cells

    VERSION: ClassVar[int] = 1

    def dump(self) -> dict[str, Any]:
        """JSON-ready: municipality -> item code -> [figure, figures, flags, unreadable]."""
        rows: dict[str, dict[str, list[Any]]] = {}
        for (municipality, code), (value, n, flags, unread) in self.cells.items():
            shown = None if value is None else str(value)
            rows.setdefault(municipality, {})[code] = [shown, n, flags, unread]
        return {
            "version": self.VERSION,
            "parts": {d: p.dump() for d, p in self.parts.items()},
            "cells": rows,
        }

    @classmethod
    def load(cls, data: Mapping[str, Any] | None) -> Sums | None:
        """Inverse of ``dump``; None for none, or sums kept in another form."""
        if not data or data.get("version") != cls.VERSION:
            return None
        decimals = DecimalTexts()
        try:
            return cls(
                {d: Part.load(p, decimals) for d, p in data["parts"].items()},
                {
                    (m, c): [None if v is None else decimals[v], int(n), int(f), int(u)]
                    for m, row in data["cells"].items()
                    for c, (v, n, f, u) in row.items()
                },
            )
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return None


@dataclass(eq=False)
class Consolidated:
    """All departments' figures added up."""

    # Data, not a debugging aid: kept out of the repr (every department's every cell).
    figures: dict[str, Figures] = field(repr=False)
    totals: list[ItemTotal] = field(repr=False)
    by_department: dict[str, dict[str, Decimal]] = field(repr=False)
    statuses: dict[str, dict[str, int]] = field(repr=False)
    # None: a report as stored, or figures whose sums could not be kept exactly.
    sums: Sums | None = field(default=None, repr=False)
    # By municipality, when added up with the rest (else computed from the figures when
    # first read). Added up incrementally, a municipality that is new to this report comes
    # last, where adding up everything names it as the departments' figures first do:
    # only the merged workbook orders by it, and only rows no sheet lists as read.
    municipality_sums: dict[str, dict[str, Decimal]] | None = field(default=None, repr=False)

    @cached_property
    def by_municipality(self) -> dict[str, dict[str, Decimal]]:
        """Municipality -> item code -> the sum of every department's figure there."""
        if self.municipality_sums is not None:
            return self.municipality_sums
        by_municipality: dict[str, dict[str, Decimal]] = {}
        for fig in self.figures.values():
            for (municipality, code), value in fig.amounts.items():
                row = by_municipality.setdefault(municipality, {})
                row[code] = row.get(code, ZERO) + value
        return by_municipality

    @cached_property
    def figure_texts(self) -> JSONTexts:
        """Every department's figures as JSON text, by department (for snapshots)."""
        parts = self.sums.parts if self.sums is not None else {}
        return JSONTexts(
            {d: f.text for d, f in sorted(self.figures.items())},
            {d: p.digest for d, p in parts.items()},
        )

    @cached_property
    def signature(self) -> str:
        """Digest of everything a report shows: equal signatures need no new report."""
        digests = (
            {d: p.digest for d, p in self.sums.parts.items()}
            if self.sums is not None
            else {d: digest(f.text) for d, f in self.figures.items()}
        )
        listed = "".join(f"{d}\0{digest}\n" for d, digest in sorted(digests.items()))
        return hashlib.sha256(listed.encode()).hexdigest()

    def totals_dump(self) -> dict[str, dict[str, Any]]:
        """Totals keyed by code, JSON-ready, as stored in a report snapshot."""
        return {
            t.code: {
                "label": t.label,
                "unit": t.unit,
                "category": t.category,
                "value": None if t.value is None else format(t.value, "f"),
                "unconfirmed": t.unconfirmed,
                "unconfirmed_where": list(t.unconfirmed_where),
                "unreadable": t.unreadable,
                "unreadable_where": list(t.unreadable_where),
            }
            for t in self.totals
        }

    @classmethod
    def of_snapshot(cls, snapshot: Mapping[str, Any]) -> Consolidated | None:
        """The totals and statuses a report snapshot holds, without its per-sheet figures
        (what an unchanged poll shows); None for a snapshot too old to say everything."""
        totals = []
        for code, data in snapshot.get("totals", {}).items():
            if "category" not in data or "unconfirmed_where" not in data:
                return None
            value = data["value"]
            totals.append(
                ItemTotal(
                    code,
                    data["label"],
                    data["unit"],
                    data["category"],
                    None if value is None else Decimal(value),
                    int(data["unconfirmed"]),
                    tuple(data["unconfirmed_where"]),
                    int(data.get("unreadable", 0)),
                    tuple(data.get("unreadable_where", ())),
                )
            )
        statuses = {c: dict(s) for c, s in snapshot.get("statuses", {}).items()}
        return cls({}, totals, {}, statuses, municipality_sums={})


def consolidate(
    figures: Mapping[str, Figures],
    catalogue: Catalogue,
    previous: tuple[Mapping[str, Figures], Sums | None] | None = None,
) -> Consolidated:
    """Add up department figures per item, municipality and department.

    ``previous``: the previous report's figures and their sums. A department whose figures
    are the very same object contributes the part it did then; only the others are added
    up again, and the cells they touch updated. Every figure is a non-negative Decimal, so
    an exact sum is the same whatever the order: when any step would round, everything is
    added up again from the figures as before."""
    before, sums = previous or ({}, None)
    if sums is not None and _worth_building_on(figures, before, sums):
        try:
            with localcontext() as context:
                context.traps[Inexact] = True
                return _incremental(figures, catalogue, before, sums)
        except (Inexact, KeyError):  # KeyError: sums that do not hold those figures
            pass
    return _full(figures, catalogue)


def _worth_building_on(
    figures: Mapping[str, Figures], before: Mapping[str, Figures], sums: Sums
) -> bool:
    """Whether the sums hold the previous figures, and few enough departments changed that
    taking theirs out and adding the new ones is cheaper than adding everything up (a
    changed department costs about three times what adding it up does)."""
    if set(sums.parts) != set(before):
        return False
    changed = sum(before.get(d) is not f for d, f in figures.items())
    changed += sum(d not in figures for d in before)
    return changed * 3 <= len(figures)


def _full(figures: Mapping[str, Figures], catalogue: Catalogue) -> Consolidated:
    """Every department's figures added up, cell by cell."""
    cells: Cells = {}
    by_department: dict[str, dict[str, Decimal]] = {}
    with localcontext() as context:
        context.clear_flags()
        for dept, fig in figures.items():
            by_department[dept] = _added(cells, fig)
        by_municipality: dict[str, dict[str, Decimal]] = {}
        for (municipality, code), entry in cells.items():  # only figures so far: in order
            by_municipality.setdefault(municipality, {})[code] = entry[0]
        for fig in figures.values():
            _flagged(cells, fig, 1)
        parts = {dept: Part.of(fig, by_department[dept]) for dept, fig in figures.items()}
        consolidated = _assembled(figures, parts, catalogue, Sums(parts, cells), by_municipality)
        if not context.flags[Inexact]:
            return consolidated
    # A sum was rounded (more than 28 digits): the totals as they always were added up,
    # figure by figure in department order, and no sums kept to build on.
    amount: dict[str, Decimal] = {}
    for fig in figures.values():
        for (_, code), value in fig.amounts.items():
            amount[code] = amount.get(code, ZERO) + value
    return _assembled(figures, parts, catalogue, None, by_municipality, amount)


def _added(cells: Cells, figures: Figures) -> dict[str, Decimal]:
    """Add a department's figures to ``cells``; return its sum per item."""
    amounts: dict[str, Decimal] = {}
    get = amounts.get
    find = cells.get
    for cell, value in figures.amounts.items():
        code = cell[1]
        amounts[code] = get(code, ZERO) + value
        entry = find(cell)
        if entry is None:
            cells[cell] = [ZERO + value, 1, 0, 0]
        elif entry[0] is None:
            entry[0] = ZERO + value
            entry[1] += 1
        else:
            entry[0] += value
            entry[1] += 1
    return amounts


def _flagged(cells: Cells, figures: Figures, sign: int) -> None:
    """Count (``sign`` 1) or uncount (-1) a department's 未確認 and unreadable cells."""
    for index, marked in ((2, figures.unconfirmed), (3, figures.unreadable)):
        for cell in marked:
            entry = cells.get(cell)
            if entry is None:
                entry = cells[cell] = [None, 0, 0, 0]
            entry[index] += sign


def _removed(cells: Cells, figures: Figures) -> None:
    """Take a department's figures out of ``cells`` (the inverse of ``_added``)."""
    for cell, value in figures.amounts.items():
        entry = cells[cell]
        entry[1] -= 1
        entry[0] = None if entry[1] == 0 else entry[0] - value
    _flagged(cells, figures, -1)


def _incremental(
    figures: Mapping[str, Figures],
    catalogue: Catalogue,
    before: Mapping[str, Figures],
    sums: Sums,
) -> Consolidated:
    """``figures`` added up from the previous report's sums and the departments changed."""
    parts: dict[str, Part] = {}
    changed: list[tuple[Figures | None, Figures | None]] = []
    for dept, fig in figures.items():
        old = before.get(dept)
        if old is fig:
            parts[dept] = sums.parts[dept]
        else:
            parts[dept] = Part.of(fig)
            changed.append((old, fig))
    changed += [(old, None) for dept, old in before.items() if dept not in figures]
    touched = {
        cell for old, new in changed for f in (old, new) if f is not None for cell in _cells_of(f)
    }
    cells = dict(sums.cells)
    for cell in touched:
        entry = cells.get(cell)
        cells[cell] = [None, 0, 0, 0] if entry is None else list(entry)
    for old, new in changed:
        if old is not None:
            _removed(cells, old)
        if new is not None:
            _added(cells, new)
            _flagged(cells, new, 1)
    for cell in touched:
        if cells[cell][1:] == [0, 0, 0]:
            del cells[cell]
    by_municipality: dict[str, dict[str, Decimal]] = {}
    for (municipality, code), entry in cells.items():
        if entry[1]:
            by_municipality.setdefault(municipality, {})[code] = entry[0]
    return _assembled(figures, parts, catalogue, Sums(parts, cells), by_municipality)


def _ordered(catalogue: Catalogue, codes: set[str]) -> list[Item]:
    return [item for item in catalogue.items if item.code in codes]


def _cells_of(figures: Figures) -> set[Cell]:
    return figures.amounts.keys() | figures.unconfirmed | figures.unreadable


def _assembled(
    figures: Mapping[str, Figures],
    parts: Mapping[str, Part],
    catalogue: Catalogue,
    sums: Sums | None,
    by_municipality: dict[str, dict[str, Decimal]] | None = None,
    summed: dict[str, Decimal] | None = None,
) -> Consolidated:
    """The totals and statuses of the departments' parts (in ``figures`` order); ``summed``:
    the totals per item, when added up otherwise."""
    amount: dict[str, Decimal] = {} if summed is None else summed
    flagged: dict[str, list[str]] = {}
    unread: dict[str, list[str]] = {}
    statuses: dict[str, dict[str, int]] = {}
    for dept in figures:
        part = parts[dept]
        if summed is None:
            for code, value in part.amounts.items():
                amount[code] = amount.get(code, ZERO) + value
        for code, towns in part.unconfirmed.items():
            flagged.setdefault(code, []).extend(towns)
        for code, towns in part.unreadable.items():
            unread.setdefault(code, []).extend(towns)
        for code, counts in part.statuses.items():
            merged = statuses.setdefault(code, {})
            for status, n in counts.items():
                merged[status] = merged.get(status, 0) + n
    totals = []
    for item in _ordered(catalogue, set(amount) | set(flagged) | set(unread)):
        where = tuple(sorted(set(flagged.get(item.code, []))))
        unread_where = tuple(sorted(set(unread.get(item.code, []))))
        totals.append(
            ItemTotal(
                item.code,
                item.label,
                item.unit,
                item.category,
                amount.get(item.code),
                len(flagged.get(item.code, [])),
                where,
                len(unread.get(item.code, [])),
                unread_where,
            )
        )
    by_department = {dept: parts[dept].amounts for dept in figures}
    return Consolidated(dict(figures), totals, by_department, statuses, sums, by_municipality)


def diff(
    previous: Mapping[str, Any] | None,
    current: Consolidated,
    previous_figures: Mapping[str, Figures] | None = None,
    order: Sequence[str] = (),
    previous_sums: Sums | None = None,
) -> list[Change]:
    """Item and status changes since the previous snapshot (empty for the first report).

    An item changes when its total, its 未確認 or unreadable count, or any municipality's
    figure changed; each change lists the municipalities that moved, in ``order`` (the
    configured municipality list) and then by name, with the departments behind them.
    ``previous_sums``: what ``previous_figures`` add up to (the previous report's sums)."""
    if previous is None:
        return []
    before_totals: Mapping[str, Mapping[str, Any]] = previous.get("totals", {})
    after_totals = current.totals_dump()
    parts = _moved_parts(previous_figures or {}, current, order, previous_sums)
    changes: list[Change] = []
    codes = [t.code for t in current.totals] + [c for c in before_totals if c not in after_totals]
    codes += [c for c in parts if c not in codes]
    for code in codes:
        before = before_totals.get(code)
        after = after_totals.get(code)
        b_value = _dec(before["value"]) if before else None
        a_value = _dec(after["value"]) if after else None
        b_flag = int(before["unconfirmed"]) if before else 0
        a_flag = int(after["unconfirmed"]) if after else 0
        b_unread = int(before.get("unreadable", 0)) if before else 0
        a_unread = int(after.get("unreadable", 0)) if after else 0
        moved = parts.get(code, ())
        if b_value != a_value or b_flag != a_flag or b_unread != a_unread or moved:
            source = after or before or {"label": code, "unit": ""}
            changes.append(
                Change(
                    code,
                    source["label"],
                    source["unit"],
                    b_value,
                    a_value,
                    b_flag,
                    a_flag,
                    before_unreadable=b_unread,
                    after_unreadable=a_unread,
                    parts=tuple(moved),
                )
            )
    changes += _status_changes(previous, current, {**before_totals, **after_totals})
    return changes


def _moved_parts(
    before: Mapping[str, Figures],
    current: Consolidated,
    order: Sequence[str],
    before_sums: Sums | None,
) -> dict[str, list[CellChange]]:
    """``_cell_changes`` from the sums per cell before and after when both are kept (a
    moved cell's figures are looked up, the unchanged departments' never read), from the
    current ones (less the changed departments' share), else from the sums per
    municipality."""
    if current.sums is not None and before_sums is not None:
        cells = (before_sums.cells, current.sums.cells)
        return _cell_changes(before, current.figures, order, both_cells=cells)
    if current.sums is not None:
        try:
            with localcontext() as context:
                context.traps[Inexact] = True
                return _cell_changes(before, current.figures, order, after_cells=current.sums.cells)
        except Inexact:
            pass
    return _cell_changes(before, current.figures, order, current.by_municipality or None)


def _status_changes(
    previous: Mapping[str, Any],
    current: Consolidated,
    totals: Mapping[str, Mapping[str, Any]],
) -> list[Change]:
    before_status: Mapping[str, Mapping[str, int]] = previous.get("statuses", {})
    changes = []
    for code in sorted(set(before_status) | set(current.statuses)):
        old = before_status.get(code, {})
        new = current.statuses.get(code, {})
        for status in sorted(set(old) | set(new)):
            if old.get(status, 0) != new.get(status, 0):
                known = totals.get(code, {})
                changes.append(
                    Change(
                        code,
                        known.get("label", code),
                        known.get("unit", ""),
                        Decimal(old.get(status, 0)),
                        Decimal(new.get(status, 0)),
                        status=status,
                    )
                )
    return changes


def _moved_cells(old: Figures | None, new: Figures | None) -> set[Cell]:
    """The cells whose amount, 未確認 flag or unreadable mark differ between two versions
    of one department's figures (a changed 60-sheet workbook has tens of thousands of
    cells: one lookup each, not sets of (cell, figure) pairs, which were 3x slower; two
    grids of the same rows and items are compared as texts, :func:`_moved_in_grids`)."""
    empty = Figures()
    old, new = old or empty, new or empty
    in_grids = _moved_in_grids(old, new)
    if in_grids is not None:
        return in_grids
    before, after = old.amounts, new.amounts
    find = before.get
    # A cell new or changed (a missing figure is None, unequal to any), or gone.
    moved = {cell for cell, figure in after.items() if find(cell) != figure}
    moved |= before.keys() - after.keys()
    moved |= old.unconfirmed ^ new.unconfirmed
    moved |= old.unreadable ^ new.unreadable
    return moved


def _moved_in_grids(old: Figures, new: Figures) -> set[Cell] | None:
    """``_moved_cells`` of two figures both written as grids (``Figures.text``) of the same
    municipalities and items, found without decoding either: each figure's text compared in
    place, all in C, and only the texts that differ looked at (1.5 and 1.50 are equal
    figures written two ways); None when they are not two such grids."""
    if old._text is None or new._text is None:
        return None
    if not (old._text.startswith('{"grid":') and new._text.startswith('{"grid":')):
        return None
    before, after = json.loads(old._text), json.loads(new._text)
    grid, other = before.get("grid"), after.get("grid")
    if grid is None or other is None:
        return None
    if grid["towns"] != other["towns"] or grid["codes"] != other["codes"]:
        return None
    cells = _grid_cells(grid["towns"], grid["codes"])
    old_texts, new_texts = grid["values"].split(","), other["values"].split(",")
    if not len(old_texts) == len(new_texts) == len(cells):
        return None
    differ = map(ne, old_texts, new_texts)
    if not (_respellable(grid["values"]) or _respellable(other["values"])):
        moved = set(compress(cells, differ))  # whole numbers: one way each to write them
    else:
        moved = {
            cell
            for cell, a, b in compress(zip(cells, old_texts, new_texts, strict=True), differ)
            if not (a and b) or Decimal(a) != Decimal(b)
        }
    for key in ("unconfirmed", "unreadable"):
        marked = {(m, c) for m, c in before.get(key, ())} ^ {(m, c) for m, c in after.get(key, ())}
        moved |= marked
    return moved


_GRID_CELLS: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Cell]] = {}


def _grid_cells(towns: list[str], codes: list[str]) -> list[Cell]:
    """A grid's cells in its order, made once for the departments that list the same
    municipalities and items (most of a workbook's: one template)."""
    key = (tuple(towns), tuple(codes))
    cells = _GRID_CELLS.get(key)
    if cells is None:
        if len(_GRID_CELLS) >= 8:
            _GRID_CELLS.clear()
        cells = _GRID_CELLS[key] = list(product(towns, codes))
    return cells


def _respellable(values: str) -> bool:
    """Whether a grid's figures (``_grid``'s values) may hold one written two ways: a
    whole number has one text (``str`` of a Decimal: no sign, no leading zero), a
    fraction or an exponent more (1.5, 1.50)."""
    return "." in values or "E" in values


def _cell_changes(
    before: Mapping[str, Figures],
    after: Mapping[str, Figures],
    order: Sequence[str],
    after_sums: Mapping[str, Mapping[str, Decimal]] | None = None,
    *,
    after_cells: Cells | None = None,
    both_cells: tuple[Cells, Cells] | None = None,
) -> dict[str, list[CellChange]]:
    """Per item code, the municipalities whose figure changed (summed over departments).

    ``after_sums``: ``after`` summed per municipality and item (``Consolidated.by_municipality``);
    with it, what the unchanged departments add to a moved cell is that sum less the changed
    departments' part, not a walk through every department's figures. ``after_cells``
    (``Sums.cells``) also counts the departments with a figure or mark in each cell: with
    it, the unchanged departments' figures are not read at all. ``both_cells``: the sums
    per cell of ``before`` and of ``after``: a moved cell's figure before and after is
    looked up."""
    moved: dict[Cell, list[str]] = {}  # cell -> departments whose part of it changed
    changed: set[str] = set()
    find = moved.get
    for dept in sorted(set(before) | set(after)):  # so each cell lists them sorted
        old, new = before.get(dept), after.get(dept)
        if old is new or (old is not None and new is not None and old.same_text(new)):
            continue
        cells = _moved_cells(old, new)
        if not cells and old == new:  # the same figures written otherwise (1.5, 1.50)
            continue
        changed.add(dept)
        for cell in cells:
            listed = find(cell)
            if listed is None:
                moved[cell] = [dept]
            else:
                listed.append(dept)
        if old is not None and both_cells is not None:
            old.forget()  # read no more: the sums per cell give its figures
    if not moved:
        return {}
    if both_cells is not None:
        b_sums, a_sums = (_looked_up(cells, moved.keys()) for cells in both_cells)
    else:
        kept = (
            _kept_sums(after, changed, moved.keys(), after_sums)
            if after_cells is None
            else _kept_cells(after, changed, moved.keys(), after_cells)
        )
        b_sums = _summed([f for d, f in before.items() if d in changed], kept)
        a_sums = _summed([f for d, f in after.items() if d in changed], kept)
    rank = {name: index for index, name in enumerate(order)}
    result: dict[str, list[CellChange]] = {}
    for cell in sorted(moved, key=lambda c: (rank.get(c[0], len(rank)), c[0])):
        (b_value, b_mark), (a_value, a_mark) = b_sums[cell], a_sums[cell]
        if (b_value, b_mark) == (a_value, a_mark):
            continue  # two departments' changes cancel out in this municipality
        result.setdefault(cell[1], []).append(
            CellChange(cell[0], b_value, a_value, b_mark, a_mark, tuple(moved[cell]))
        )
    return result


MARKS = ("未確認", "読めず")  # in this order beside a figure, whichever departments set them
KeptSums = dict[Cell, tuple[Decimal | None, AbstractSet[str]]]


def _kept_sums(
    after: Mapping[str, Figures],
    changed: set[str],
    cells: Iterable[Cell],
    after_sums: Mapping[str, Mapping[str, Decimal]] | None,
) -> KeptSums:
    """Each cell's figure over the departments whose figures did not change, and its marks:
    the same before and after, so summed once."""
    kept = [f for d, f in after.items() if d not in changed]
    fresh = [f for d, f in after.items() if d in changed]
    sums: dict[Cell, tuple[Decimal | None, set[str]]] = {}
    for cell in cells:
        total = None if after_sums is None else after_sums.get(cell[0], {}).get(cell[1])
        if after_sums is None or (total is not None and total == 0):
            # No shortcut: walk the unchanged departments (a zero may be a typed 0).
            present = [f.amounts[cell] for f in kept if cell in f.amounts]
            value = sum(present[1:], present[0]) if present else None
        elif total is None:
            value = None  # nobody has a figure there now, so no unchanged department has
        else:
            value = total - sum((f.amounts.get(cell, 0) for f in fresh), Decimal(0))
            if value == 0 and not any(cell in f.amounts for f in kept):
                value = None
        sums[cell] = (value, set())
    for fig in kept:
        for cell in fig.unconfirmed & sums.keys():
            sums[cell][1].add("未確認")
        for cell in fig.unreadable & sums.keys():
            sums[cell][1].add("読めず")
    return dict(sums)


def _kept_cells(
    after: Mapping[str, Figures], changed: set[str], cells: Iterable[Cell], after_cells: Cells
) -> KeptSums:
    """``_kept_sums`` from the sums per cell: each less what the changed departments add."""
    fresh = [(f.amounts, f.unconfirmed, f.unreadable) for d, f in after.items() if d in changed]
    find = after_cells.get
    sums: KeptSums = {}
    for cell in cells:
        entry = find(cell) or _NO_CELL
        value: Decimal | None = entry[0]
        figures, flags, unread = entry[1], entry[2], entry[3]
        for amounts, unconfirmed, unreadable in fresh:
            amount = amounts.get(cell)
            if amount is not None:
                figures -= 1
                value = (ZERO if value is None else value) - amount
            flags -= cell in unconfirmed
            unread -= cell in unreadable
        sums[cell] = (value if figures else None, _MARK_SETS[bool(flags), bool(unread)])
    return sums


_NO_CELL = (None, 0, 0, 0)
_MARK_SETS = {  # shared, never changed: ``_summed`` copies what it adds to
    (False, False): frozenset(),
    (True, False): frozenset({"未確認"}),
    (False, True): frozenset({"読めず"}),
    (True, True): frozenset(MARKS),
}
_MARK_TEXTS = {key: "・".join(m for m in MARKS if m in marks) for key, marks in _MARK_SETS.items()}


def _looked_up(cells: Cells, wanted: Iterable[Cell]) -> dict[Cell, tuple[Decimal | None, str]]:
    """``_summed`` of every department, from their sums per cell."""
    found = {}
    for cell in wanted:
        entry = cells.get(cell) or _NO_CELL
        found[cell] = (entry[0] if entry[1] else None, _MARK_TEXTS[entry[2] > 0, entry[3] > 0])
    return found


def _summed(figures: list[Figures], kept: KeptSums) -> dict[Cell, tuple[Decimal | None, str]]:
    """Each cell's figure over the unchanged departments (``kept``) and ``figures``, and
    its marks (未確認, 読めず)."""
    values = {cell: value for cell, (value, _) in kept.items()}
    flagged = {cell for cell, (_, found) in kept.items() if "未確認" in found}
    unread = {cell for cell, (_, found) in kept.items() if "読めず" in found}
    cells = values.keys()
    for fig in figures:
        amounts = fig.amounts
        for cell in cells & amounts.keys():
            amount = amounts[cell]
            total = values[cell]
            values[cell] = amount if total is None else total + amount
        flagged |= fig.unconfirmed & cells
        unread |= fig.unreadable & cells
    return {
        cell: (value, _MARK_TEXTS[cell in flagged, cell in unread])
        for cell, value in values.items()
    }


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
