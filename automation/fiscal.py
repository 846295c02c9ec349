"""Japanese fiscal calendar (April to March, 上期/下期, quarters) and business days."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import jpholiday

from automation.timeutil import WEEKDAYS_JA

PeriodKind = Literal["half", "quarter"]

REIWA_FIRST_YEAR = 2019
_COUNT: dict[str, int] = {"half": 2, "quarter": 4}
_HALF_NAMES = ("上期", "下期")
_MIN_YEAR, _MAX_YEAR = 1, 9998  # FY9998 still ends inside the range of ``date``

_YEAR = r"(?:FY(?P<fy>\d{4})|(?P<ad>\d{4})|(?:R|令和)(?P<reiwa>\d{1,2}|元))(?:年度)?"
_HALF = r"(?P<h1>上半?期|前期|H1|1H)|(?P<h2>下半?期|後期|H2|2H)"
_QUARTER = r"Q(?P<q1>[1-4])|(?P<q2>[1-4])Q|第?(?P<q3>[1-4])四半期"
_PATTERN = re.compile(rf"{_YEAR}-?(?:{_HALF}|{_QUARTER})")


@dataclass(frozen=True, order=True)
class Period:
    """One half (上期/下期) or quarter of a fiscal year."""

    fiscal_year: int
    kind: PeriodKind
    index: int

    def __post_init__(self) -> None:
        if self.kind not in _COUNT:
            raise ValueError(f"unknown period kind: {self.kind!r}")
        if not 1 <= self.index <= _COUNT[self.kind]:
            raise ValueError(f"{self.kind} index out of range: {self.index}")

    @property
    def _months(self) -> int:
        return 12 // _COUNT[self.kind]

    @property
    def start(self) -> date:
        """The first day of the period."""
        month = 4 + (self.index - 1) * self._months
        if month > 12:
            return date(self.fiscal_year + 1, month - 12, 1)
        return date(self.fiscal_year, month, 1)

    @property
    def end(self) -> date:
        """The last day of the period (inclusive)."""
        return self.next().start - timedelta(days=1)

    @property
    def key(self) -> str:
        """A stable key such as ``2026H1`` or ``2026Q3`` (used in idempotency keys)."""
        letter = "H" if self.kind == "half" else "Q"
        return f"{self.fiscal_year}{letter}{self.index}"

    @property
    def label(self) -> str:
        """A label such as ``FY2026 上期`` or ``FY2026 第1四半期``."""
        return f"FY{self.fiscal_year} {self._name}"

    @property
    def label_ja(self) -> str:
        """A label such as ``令和8年度上期`` (``令和元年度`` for FY2019)."""
        year = reiwa_year(self.fiscal_year)
        return f"令和{'元' if year == 1 else year}年度{self._name}"

    @property
    def _name(self) -> str:
        if self.kind == "half":
            return _HALF_NAMES[self.index - 1]
        return f"第{self.index}四半期"

    def contains(self, d: date) -> bool:
        """Whether ``d`` falls within the period."""
        return self.start <= d <= self.end

    def next(self) -> Period:
        """The period of the same kind that follows this one."""
        if self.index == _COUNT[self.kind]:
            return Period(self.fiscal_year + 1, self.kind, 1)
        return Period(self.fiscal_year, self.kind, self.index + 1)

    def previous(self) -> Period:
        """The period of the same kind that precedes this one."""
        if self.index == 1:
            return Period(self.fiscal_year - 1, self.kind, _COUNT[self.kind])
        return Period(self.fiscal_year, self.kind, self.index - 1)


def fiscal_year(d: date) -> int:
    """The fiscal year of a date: 1 April starts a new one (2027-03-31 is FY2026)."""
    return d.year if d.month >= 4 else d.year - 1


def period_of(d: date, kind: PeriodKind) -> Period:
    """The half or quarter containing ``d``."""
    months_since_april = (d.month - 4) % 12
    return Period(fiscal_year(d), kind, months_since_april * _COUNT[kind] // 12 + 1)


def period_due(deadline: date, kind: PeriodKind) -> Period:
    """The period a round due on ``deadline`` reports on: the one whose end is nearest.

    A 上期 round may be due near the end of the half (9/30) or after it (10/15): both
    collect 上期. The period containing the deadline is chosen when less of it is left than
    has passed since the previous one ended; a tie goes to the previous period.
    """
    current = period_of(deadline, kind)
    previous = current.previous()
    return current if current.end - deadline < deadline - previous.end else previous


def period_fits_deadline(period: Period, deadline: date) -> bool:
    """Whether ``deadline`` falls within ``period`` or shortly after it: ``period`` is the
    one a round due then collects by default (see :func:`period_due`)."""
    return period.contains(deadline) or period == period_due(deadline, period.kind)


def reiwa_year(fiscal_year: int) -> int:
    """The Reiwa year of a fiscal year (FY2019 = 令和元年度 = 1); ValueError before 2019."""
    if fiscal_year < REIWA_FIRST_YEAR:
        raise ValueError(f"FY{fiscal_year} is before the Reiwa era")
    return fiscal_year - REIWA_FIRST_YEAR + 1


def _year_of(match: re.Match[str]) -> int:
    if match["reiwa"] is not None:
        reiwa = 1 if match["reiwa"] == "元" else int(match["reiwa"])
        return reiwa + REIWA_FIRST_YEAR - 1 if reiwa >= 1 else 0
    return int(match["fy"] or match["ad"])


def _kind_index_of(match: re.Match[str]) -> tuple[PeriodKind, int]:
    if match["h1"] is not None:
        return "half", 1
    if match["h2"] is not None:
        return "half", 2
    return "quarter", int(match["q1"] or match["q2"] or match["q3"])


def parse_period(text: str, kind: PeriodKind | None = None) -> Period | None:
    """Read ``2026上期``, ``令和8年度下半期``, ``FY2026 Q3``, ``R8H2`` and so on; None if not a period."""
    normalized = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()
    match = _PATTERN.fullmatch(normalized)
    if match is None:
        return None
    year = _year_of(match)
    found_kind, index = _kind_index_of(match)
    if not _MIN_YEAR <= year <= _MAX_YEAR or (kind is not None and kind != found_kind):
        return None
    return Period(year, found_kind, index)


def is_business_day(d: date) -> bool:
    """Not a weekend, a national holiday (incl. substitute holidays) or 12/29-1/3."""
    year_end = (d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3)
    return d.weekday() < 5 and not year_end and not jpholiday.is_holiday(d)


def _following(d: date, one: timedelta) -> date:
    d += one
    while not is_business_day(d):
        d += one
    return d


def _step(d: date, n: int, one: timedelta) -> date:
    if n < 0:
        raise ValueError(f"business day count must not be negative: {n}")
    if n == 0:
        return d if is_business_day(d) else _following(d, one)
    for _ in range(n):
        d = _following(d, one)
    return d


def business_days_before(d: date, n: int) -> date:
    """The n-th business day before ``d`` (n == 0: ``d`` or the previous business day)."""
    return _step(d, n, timedelta(days=-1))


def business_days_after(d: date, n: int) -> date:
    """The n-th business day after ``d`` (n == 0: ``d`` or the next business day)."""
    return _step(d, n, timedelta(days=1))


def on_or_before_business_day(d: date) -> date:
    """``d`` if it is a business day, else the previous business day."""
    return business_days_before(d, 0)


def date_ja(d: date) -> str:
    """Format a date for messages: ``10月15日(木)``."""
    return f"{d.month}月{d.day}日({WEEKDAYS_JA[d.weekday()]})"
