"""Consolidate department figures into totals, and compare two reports."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
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

    @classmethod
    def of(cls, reading: SheetReading) -> Figures:
        """The figures read from a sheet."""
        return cls(
            dict(reading.amounts),
            set(reading.unconfirmed),
            {code: dict(counter) for code, counter in reading.statuses.items()},
            set(reading.unreadable),
        )

    def dump(self) -> dict[str, Any]:
        """A JSON-ready form, stable in order: municipality -> item code -> value."""
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
        return dumped

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Figures:
        """Inverse of ``dump``."""
        return cls(
            {
                (m, c): Decimal(v)
                for m, row in data.get("amounts", {}).items()
                for c, v in row.items()
            },
            {(m, c) for m, c in data.get("unconfirmed", [])},
            {c: dict(s) for c, s in data.get("statuses", {}).items()},
            {(m, c) for m, c in data.get("unreadable", [])},
        )


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
    def figures_dump(self) -> dict[str, dict[str, Any]]:
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


def diff(previous: Mapping[str, Any] | None, current: Consolidated) -> list[Change]:
    """Item and status changes since the previous snapshot (empty for the first report)."""
    if previous is None:
        return []
    before_totals: Mapping[str, Mapping[str, Any]] = previous.get("totals", {})
    after_totals = current.totals_dump()
    changes: list[Change] = []
    order = [t.code for t in current.totals] + [c for c in before_totals if c not in after_totals]
    for code in order:
        before = before_totals.get(code)
        after = after_totals.get(code)
        b_value = _dec(before["value"]) if before else None
        a_value = _dec(after["value"]) if after else None
        b_flag = int(before["unconfirmed"]) if before else 0
        a_flag = int(after["unconfirmed"]) if after else 0
        b_unread = int(before.get("unreadable", 0)) if before else 0
        a_unread = int(after.get("unreadable", 0)) if after else 0
        if b_value != a_value or b_flag != a_flag or b_unread != a_unread:
            source = after or before or {}
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
                )
            )
    before_status: Mapping[str, Mapping[str, int]] = previous.get("statuses", {})
    labels = {code: data["label"] for code, data in {**before_totals, **after_totals}.items()}
    units = {code: data["unit"] for code, data in {**before_totals, **after_totals}.items()}
    for code in sorted(set(before_status) | set(current.statuses)):
        old = before_status.get(code, {})
        new = current.statuses.get(code, {})
        for status in sorted(set(old) | set(new)):
            if old.get(status, 0) != new.get(status, 0):
                changes.append(
                    Change(
                        code,
                        labels.get(code, code),
                        units.get(code, ""),
                        Decimal(old.get(status, 0)),
                        Decimal(new.get(status, 0)),
                        status=status,
                    )
                )
    return changes


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
