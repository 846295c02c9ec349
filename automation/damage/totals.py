"""Consolidate department figures into totals, and compare two reports."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from automation.damage.catalogue import Catalogue, Item
from automation.damage.reading import SheetReading

Cell = tuple[str, str]  # (municipality, item code)


@dataclass
class Figures:
    """What one department contributes: numbers, 未確認 flags and incident statuses."""

    # Data, not a debugging aid: kept out of the repr (a department can have thousands of cells).
    amounts: dict[Cell, Decimal] = field(default_factory=dict, repr=False)
    unconfirmed: set[Cell] = field(default_factory=set, repr=False)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    unreadable: set[Cell] = field(default_factory=set, repr=False)  # cells left out
    # incident key -> (item code, item label, municipality, place, status)
    incidents: dict[str, tuple[str, str, str, str, str]] = field(default_factory=dict, repr=False)
    # The dump these figures were loaded from (a report's figures, unchanged since): it is
    # what ``dump`` would give, so a 60-sheet report need not dump every sheet again.
    loaded_from: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

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

    def dump(self) -> Mapping[str, Any]:
        """A JSON-ready form, stable in order: municipality -> item code -> value."""
        if self.loaded_from is not None:
            return self.loaded_from
        texts: dict[Decimal, str] = {}  # the same few values recur thousands of times
        rows: dict[str, dict[str, str]] = {}
        for (municipality, code), value in self.amounts.items():
            text = texts.get(value)
            if text is None:
                text = texts[value] = str(value)
            rows.setdefault(municipality, {})[code] = text
        dumped: dict[str, Any] = {
            "amounts": {m: dict(sorted(row.items())) for m, row in sorted(rows.items())},
            "unconfirmed": sorted([m, c] for m, c in self.unconfirmed),
            "statuses": {c: dict(sorted(s.items())) for c, s in sorted(self.statuses.items())},
        }
        if self.unreadable:  # absent when empty: a sheet without one keeps its signature
            dumped["unreadable"] = sorted([m, c] for m, c in self.unreadable)
        if self.incidents:  # in sheet order, which ``load`` keeps: the report lists them so
            dumped["incidents"] = {k: list(v) for k, v in self.incidents.items()}
        return dumped

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Figures:
        """Inverse of ``dump``."""
        decimals = DecimalTexts()  # the same few values recur thousands of times
        return cls(
            {
                (m, c): decimals[v]
                for m, row in data.get("amounts", {}).items()
                for c, v in row.items()
            },
            {(m, c) for m, c in data.get("unconfirmed", [])},
            {c: dict(s) for c, s in data.get("statuses", {}).items()},
            {(m, c) for m, c in data.get("unreadable", [])},
            {k: (v[0], v[1], v[2], v[3], v[4]) for k, v in data.get("incidents", {}).items()},
            loaded_from=data,
        )


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


@dataclass
class Consolidated:
    """All departments' figures added up."""

    # Data, not a debugging aid: kept out of the repr (every department's every cell).
    figures: dict[str, Figures] = field(repr=False)
    totals: list[ItemTotal] = field(repr=False)
    by_municipality: dict[str, dict[str, Decimal]] = field(repr=False)
    by_department: dict[str, dict[str, Decimal]] = field(repr=False)
    statuses: dict[str, dict[str, int]] = field(repr=False)

    @cached_property
    def figures_dump(self) -> dict[str, Mapping[str, Any]]:
        """Every department's figures, JSON-ready (computed once; used for snapshots)."""
        return {d: f.dump() for d, f in sorted(self.figures.items())}

    @cached_property
    def signature(self) -> str:
        """Digest of everything a report shows: equal signatures need no new report."""
        # repr of nested lists/dicts of str and int is deterministic and much faster than JSON
        return hashlib.sha256(repr(self.figures_dump).encode()).hexdigest()

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
        return cls({}, totals, {}, {}, statuses)


def consolidate(figures: Mapping[str, Figures], catalogue: Catalogue) -> Consolidated:
    """Add up department figures per item, municipality and department."""
    amount: dict[str, Decimal] = {}
    flagged: dict[str, list[str]] = {}
    unread: dict[str, list[str]] = {}
    by_municipality: dict[str, dict[str, Decimal]] = {}
    by_department: dict[str, dict[str, Decimal]] = {}
    statuses: dict[str, dict[str, int]] = {}
    for dept, fig in figures.items():
        dept_totals = by_department.setdefault(dept, {})
        for (municipality, code), value in fig.amounts.items():
            amount[code] = amount.get(code, Decimal(0)) + value
            row = by_municipality.setdefault(municipality, {})
            row[code] = row.get(code, Decimal(0)) + value
            dept_totals[code] = dept_totals.get(code, Decimal(0)) + value
        for municipality, code in fig.unconfirmed:
            flagged.setdefault(code, []).append(municipality)
        for municipality, code in fig.unreadable:
            unread.setdefault(code, []).append(municipality)
        for code, counts in fig.statuses.items():
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
    return Consolidated(dict(figures), totals, by_municipality, by_department, statuses)


def _ordered(catalogue: Catalogue, codes: set[str]) -> list[Item]:
    return [item for item in catalogue.items if item.code in codes]


def diff(
    previous: Mapping[str, Any] | None,
    current: Consolidated,
    previous_figures: Mapping[str, Figures] | None = None,
    order: Sequence[str] = (),
) -> list[Change]:
    """Item and status changes since the previous snapshot (empty for the first report).

    An item changes when its total, its 未確認 or unreadable count, or any municipality's
    figure changed; each change lists the municipalities that moved, in ``order`` (the
    configured municipality list) and then by name, with the departments behind them."""
    if previous is None:
        return []
    before_totals: Mapping[str, Mapping[str, Any]] = previous.get("totals", {})
    after_totals = current.totals_dump()
    parts = _cell_changes(
        previous_figures or {}, current.figures, order, current.by_municipality or None
    )
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
    of one department's figures (dict and set operations: a changed 60-sheet workbook has
    tens of thousands of cells)."""
    empty = Figures()
    old, new = old or empty, new or empty
    a, b = old.amounts, new.amounts
    moved = {cell for cell in a.keys() | b.keys() if a.get(cell) != b.get(cell)}
    moved |= old.unconfirmed ^ new.unconfirmed
    moved |= old.unreadable ^ new.unreadable
    return moved


def _cell_changes(
    before: Mapping[str, Figures],
    after: Mapping[str, Figures],
    order: Sequence[str],
    after_sums: Mapping[str, Mapping[str, Decimal]] | None = None,
) -> dict[str, list[CellChange]]:
    """Per item code, the municipalities whose figure changed (summed over departments).

    ``after_sums``: ``after`` summed per municipality and item (``Consolidated.by_municipality``);
    with it, what the unchanged departments add to a moved cell is that sum less the changed
    departments' part, not a walk through every department's figures."""
    moved: dict[Cell, set[str]] = {}  # cell -> departments whose part of it changed
    changed: set[str] = set()
    for dept in set(before) | set(after):
        old, new = before.get(dept), after.get(dept)
        if old is not new and old != new:
            changed.add(dept)
            for cell in _moved_cells(old, new):
                moved.setdefault(cell, set()).add(dept)
    if not moved:
        return {}
    kept = _kept_sums(after, changed, moved.keys(), after_sums)
    b_sums = _summed([f for d, f in before.items() if d in changed], kept)
    a_sums = _summed([f for d, f in after.items() if d in changed], kept)
    rank = {name: index for index, name in enumerate(order)}
    result: dict[str, list[CellChange]] = {}
    for cell in sorted(moved, key=lambda c: (rank.get(c[0], len(rank)), c[0])):
        (b_value, b_mark), (a_value, a_mark) = b_sums[cell], a_sums[cell]
        if (b_value, b_mark) == (a_value, a_mark):
            continue  # two departments' changes cancel out in this municipality
        result.setdefault(cell[1], []).append(
            CellChange(cell[0], b_value, a_value, b_mark, a_mark, tuple(sorted(moved[cell])))
        )
    return result


MARKS = ("未確認", "読めず")  # in this order beside a figure, whichever departments set them
Sums = dict[Cell, tuple[Decimal | None, set[str]]]


def _kept_sums(
    after: Mapping[str, Figures],
    changed: set[str],
    cells: Iterable[Cell],
    after_sums: Mapping[str, Mapping[str, Decimal]] | None,
) -> Sums:
    """Each cell's figure over the departments whose figures did not change, and its marks:
    the same before and after, so summed once."""
    kept = [f for d, f in after.items() if d not in changed]
    fresh = [f for d, f in after.items() if d in changed]
    sums: Sums = {}
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
    return sums


def _summed(figures: list[Figures], kept: Sums) -> dict[Cell, tuple[Decimal | None, str]]:
    """Each cell's figure over the unchanged departments (``kept``) and ``figures``, and
    its marks (未確認, 読めず)."""
    values = {cell: value for cell, (value, _) in kept.items()}
    marks = {cell: set(found) for cell, (_, found) in kept.items()}
    for fig in figures:
        for cell in values.keys() & fig.amounts.keys():
            amount = fig.amounts[cell]
            total = values[cell]
            values[cell] = amount if total is None else total + amount
        for cell in fig.unconfirmed & marks.keys():
            marks[cell].add("未確認")
        for cell in fig.unreadable & marks.keys():
            marks[cell].add("読めず")
    return {
        cell: (value, "・".join(m for m in MARKS if m in marks[cell]))
        for cell, value in values.items()
    }


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
