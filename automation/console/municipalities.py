"""A report's figures per municipality, with each one's national local-government code
(全国地方公共団体コード), sorted as the reader asked.

The figures come from the report's stored per-department figures, added up per municipality
(a municipality two departments report on shows their sum). A name the code list does not
know, or knows in several prefectures with none the report's, has no code (an empty cell,
never a guess).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from automation import local_governments as lg
from automation.damage.totals import amounts_of

DIRECTIONS = ("asc", "desc")
NAME_COLUMN = "name"
CODE_COLUMN = "code"


@dataclass(frozen=True)
class Column:
    """One item of the report, in the report's (FDMA) order."""

    code: str
    label: str
    unit: str


@dataclass
class Row:
    """One municipality: its code when known, its figures, and the cells without a number."""

    name: str
    code: str
    values: dict[str, Decimal] = field(default_factory=dict)
    unconfirmed: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)

    def shown(self, item: str) -> str:
        """The cell as the table shows it: the figure, 未確認 or 読めず beside it, or —."""
        value = self.values.get(item)
        text = "—" if value is None else _figure(value)
        marks = [
            m
            for m, cells in (("未確認", self.unconfirmed), ("読めず", self.unreadable))
            if item in cells
        ]
        if marks:
            text = "・".join(marks) if value is None else f"{text}（{'・'.join(marks)}）"
        return text


@dataclass(frozen=True)
class Table:
    """The per-municipality table of one report, with how it is sorted."""

    columns: list[Column]
    rows: list[Row]
    sort: str
    direction: str

    @property
    def headers(self) -> list[tuple[str, str]]:
        """(sort key, heading) of every column, code and name first."""
        return [(CODE_COLUMN, "団体コード"), (NAME_COLUMN, "市区町村")] + [
            (c.code, f"{c.label}（{c.unit}）" if c.unit else c.label) for c in self.columns
        ]


def _figure(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():,f}"


def columns_of(report: Mapping[str, Any]) -> list[Column]:
    """The report's items in its own order (the catalogue's, FDMA order)."""
    return [
        Column(code, str(item.get("label", code)), str(item.get("unit", "")))
        for code, item in (report.get("totals") or {}).items()
    ]


def rows_of(report: Mapping[str, Any]) -> list[Row]:
    """Every municipality of the report's figures, in the order first met, with its code."""
    rows: dict[str, Row] = {}
    for figures in (report.get("figures") or {}).values():
        for name, amounts in amounts_of(figures).items():
            row = rows.setdefault(name, Row(name, ""))
            for item, text in amounts.items():
                try:
                    row.values[item] = row.values.get(item, Decimal(0)) + Decimal(str(text))
                except InvalidOperation:
                    continue
        for key, marks in (("unconfirmed", "unconfirmed"), ("unreadable", "unreadable")):
            for name, item in figures.get(key) or ():
                getattr(rows.setdefault(name, Row(name, "")), marks).add(item)
    codes = codes_for(list(rows))
    for row in rows.values():
        row.code = codes.get(row.name, "")
    return list(rows.values())


def codes_for(names: list[str]) -> dict[str, str]:
    """Each name's six-digit code, looked up in the prefecture most names belong to."""
    prefecture = lg.likely_prefecture(names)
    codes = {}
    for name in names:
        found = lg.find(name, prefecture) or lg.find(name)
        if len(found) == 1:
            codes[name] = found[0].code
    return codes


def table(report: Mapping[str, Any], sort: str = CODE_COLUMN, direction: str = "asc") -> Table:
    """The table sorted by ``sort`` (name, code or an item code); unknown values fall back
    to code order, ascending."""
    columns = columns_of(report)
    if sort not in {NAME_COLUMN, CODE_COLUMN, *(c.code for c in columns)}:
        sort, direction = CODE_COLUMN, "asc"
    if direction not in DIRECTIONS:
        direction = "asc"
    rows = sorted(rows_of(report), key=lambda r: _key(r, sort), reverse=direction == "desc")
    return Table(columns, rows, sort, direction)


def _key(row: Row, sort: str) -> tuple[Any, ...]:
    if sort == NAME_COLUMN:
        return (row.name,)
    if sort == CODE_COLUMN:  # unknown codes after known ones, by name
        return (row.code == "", row.code, row.name)
    value = row.values.get(sort)
    return (value is not None, value or Decimal(0), row.name)
