"""Specs for the Japanese fiscal calendar and business days."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.fiscal import (
    Period,
    PeriodKind,
    business_days_after,
    business_days_before,
    date_ja,
    fiscal_year,
    is_business_day,
    on_or_before_business_day,
    parse_period,
    period_due,
    period_fits_deadline,
    period_of,
    reiwa_year,
)

H1 = Period(2026, "half", 1)
H2 = Period(2026, "half", 2)


def q(index: int, year: int = 2026) -> Period:
    """A quarter of FY2026 (or of ``year``)."""
    return Period(year, "quarter", index)


# Fiscal years and periods


def test_fiscal_year_ends_on_31_march() -> None:
    """31 March belongs to the fiscal year that began the previous April."""
    assert fiscal_year(date(2027, 3, 31)) == 2026


def test_fiscal_year_starts_on_1_april() -> None:
    """1 April starts a new fiscal year."""
    assert fiscal_year(date(2026, 4, 1)) == 2026


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (H1, date(2026, 4, 1), date(2026, 9, 30)),
        (H2, date(2026, 10, 1), date(2027, 3, 31)),
        (q(1), date(2026, 4, 1), date(2026, 6, 30)),
        (q(2), date(2026, 7, 1), date(2026, 9, 30)),
        (q(3), date(2026, 10, 1), date(2026, 12, 31)),
        (q(4), date(2027, 1, 1), date(2027, 3, 31)),
    ],
)
def test_period_bounds(period: Period, start: date, end: date) -> None:
    """上期 is Apr-Sep, 下期 Oct-Mar; quarters are Apr-Jun, Jul-Sep, Oct-Dec, Jan-Mar."""
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize(
    ("day", "kind", "expected"),
    [
        (date(2026, 9, 30), "half", H1),
        (date(2026, 10, 1), "half", H2),
        (date(2027, 1, 15), "half", H2),
        (date(2026, 6, 30), "quarter", q(1)),
        (date(2026, 7, 1), "quarter", q(2)),
        (date(2026, 12, 31), "quarter", q(3)),
        (date(2027, 1, 1), "quarter", q(4)),
        (date(2027, 3, 31), "quarter", q(4)),
        (date(2027, 4, 1), "quarter", q(1, 2027)),
    ],
)
def test_period_of_a_date(day: date, kind: PeriodKind, expected: Period) -> None:
    """January to March belong to the 下期 and Q4 of the previous fiscal year."""
    assert period_of(day, kind) == expected


def test_leap_year_q4_ends_on_31_march() -> None:
    """FY2027 Q4 runs from 2028-01-01 to 2028-03-31 across a leap February."""
    assert (q(4, 2027).start, q(4, 2027).end) == (date(2028, 1, 1), date(2028, 3, 31))


def test_leap_day_is_in_q4_of_the_previous_fiscal_year() -> None:
    """2028-02-29 is in FY2027 Q4 and FY2027 下期."""
    leap_day = date(2028, 2, 29)
    assert period_of(leap_day, "quarter") == q(4, 2027)
    assert period_of(leap_day, "half") == Period(2027, "half", 2)


def test_contains_includes_both_ends() -> None:
    """A period contains its first and last day but not the days around it."""
    assert H2.contains(date(2026, 10, 1)) and H2.contains(date(2027, 3, 31))
    assert not H2.contains(date(2026, 9, 30)) and not H2.contains(date(2027, 4, 1))


def test_next_rolls_over_to_the_next_fiscal_year() -> None:
    """After 下期 comes the next year's 上期; after Q4 the next year's Q1."""
    assert (H1.next(), H2.next(), q(4).next()) == (H2, Period(2027, "half", 1), q(1, 2027))


def test_previous_rolls_back_to_the_previous_fiscal_year() -> None:
    """Before 上期 comes the previous year's 下期; before Q1 the previous year's Q4."""
    assert (H2.previous(), H1.previous(), q(1).previous()) == (
        H1,
        Period(2025, "half", 2),
        q(4, 2025),
    )


def test_periods_sort_chronologically_within_a_kind() -> None:
    """Periods of one kind order by fiscal year, then index."""
    assert sorted([q(1, 2027), q(4), q(2)]) == [q(2), q(4), q(1, 2027)]


@pytest.mark.parametrize(("kind", "index"), [("half", 0), ("half", 3), ("quarter", 5)])
def test_invalid_period_is_rejected(kind: PeriodKind, index: int) -> None:
    """A half index outside 1-2 or a quarter index outside 1-4 is a ValueError."""
    with pytest.raises(ValueError, match="out of range"):
        Period(2026, kind, index)


# Keys and labels


@pytest.mark.parametrize(
    ("period", "key", "label", "label_ja"),
    [
        (H1, "2026H1", "FY2026 上期", "令和8年度上期"),
        (H2, "2026H2", "FY2026 下期", "令和8年度下期"),
        (q(1), "2026Q1", "FY2026 第1四半期", "令和8年度第1四半期"),
        (q(4), "2026Q4", "FY2026 第4四半期", "令和8年度第4四半期"),
    ],
)
def test_key_and_labels(period: Period, key: str, label: str, label_ja: str) -> None:
    """Keys are ``2026H1``/``2026Q1``; labels read ``FY2026 上期`` and ``令和8年度上期``."""
    assert (period.key, period.label, period.label_ja) == (key, label, label_ja)


def test_first_reiwa_fiscal_year_is_written_gannen() -> None:
    """FY2019 is written 令和元年度, not 令和1年度."""
    assert Period(2019, "half", 1).label_ja == "令和元年度上期"


def test_reiwa_year_counts_from_2019() -> None:
    """Reiwa 1 is 2019, so FY2026 is 令和8年度."""
    assert (reiwa_year(2019), reiwa_year(2026)) == (1, 8)


def test_reiwa_year_rejects_earlier_years() -> None:
    """A fiscal year before 2019 has no Reiwa year."""
    with pytest.raises(ValueError, match="Reiwa"):
        reiwa_year(2018)


@pytest.mark.parametrize("kind", ["half", "quarter"])
def test_key_round_trips_through_parse_period(kind: PeriodKind) -> None:
    """Every period's key (and both labels) parse back to the same period."""
    period = Period(2019, kind, 1)
    for _ in range(12):
        for text in (period.key, period.label, period.label_ja):
            assert parse_period(text, kind) == period, text
        period = period.next()


# Parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026上期", H1),
        ("2026年度上期", H1),
        ("2026年度 下期", H2),
        ("FY2026 上期", H1),
        ("FY2026H1", H1),
        ("fy2026h1", H1),
        ("2026H1", H1),
        ("2026-H2", H2),
        ("2026 H2", H2),
        ("R8上期", H1),
        ("令和8年度上期", H1),
        ("令和８年度下半期", H2),
        ("R8H2", H2),
        ("２０２６上半期", H1),
        ("2026年度前期", H1),
        ("2026年度後期", H2),
        ("ＦＹ２０２６　Ｈ２", H2),
        ("令和元年度上期", Period(2019, "half", 1)),
        ("2026Q1", q(1)),
        ("FY2026 Q3", q(3)),
        ("2026年度第1四半期", q(1)),
        ("令和8年度第3四半期", q(3)),
        ("令和８年度第３四半期", q(3)),
        ("R8Q4", q(4)),
        ("r8q4", q(4)),
        ("2026 1Q", q(1)),
        ("  2026q2  ", q(2)),
    ],
)
def test_parse_period_accepts(text: str, expected: Period) -> None:
    """Years as 2026, FY2026, R8 or 令和8年度 with 上期/下期/H1/Q1/第1四半期 and synonyms."""
    assert parse_period(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026",
        "上期",
        "2026Q5",
        "2026Q0",
        "2026H3",
        "R上期",
        "R0上期",
        "",
        "   ",
        "abc",
        "2026上期x",
        "26上期",
    ],
)
def test_parse_period_rejects(text: str) -> None:
    """Anything that is not a fiscal year plus a half or quarter is None."""
    assert parse_period(text) is None


def test_parse_period_kind_restriction_rejects_the_other_kind() -> None:
    """With kind="half" a quarter is None, and with kind="quarter" a half is None."""
    assert (parse_period("2026Q1", "half"), parse_period("2026上期", "quarter")) == (None, None)


def test_parse_period_kind_restriction_accepts_its_own_kind() -> None:
    """With a kind given, periods of that kind still parse."""
    assert (parse_period("2026上期", "half"), parse_period("2026Q1", "quarter")) == (H1, q(1))


# Business days


@pytest.mark.parametrize("day", [date(2026, 10, 17), date(2026, 10, 18)])
def test_weekend_is_not_a_business_day(day: date) -> None:
    """Saturdays and Sundays are closed."""
    assert not is_business_day(day)


def test_weekday_is_a_business_day() -> None:
    """An ordinary weekday is open."""
    assert is_business_day(date(2026, 10, 15))


def test_national_holiday_is_not_a_business_day() -> None:
    """A national holiday (2026-09-21 敬老の日, a Monday) is closed."""
    assert not is_business_day(date(2026, 9, 21))


def test_citizens_holiday_is_not_a_business_day() -> None:
    """2026-09-22, sandwiched between 敬老の日 and 秋分の日, is a 国民の休日."""
    assert not is_business_day(date(2026, 9, 22))


def test_substitute_holiday_is_not_a_business_day() -> None:
    """2026-05-06 (Wed) is the 振替休日 for 憲法記念日 falling on Sunday 5-03."""
    assert not is_business_day(date(2026, 5, 6))


@pytest.mark.parametrize(
    "day", [date(2026, 12, d) for d in (29, 30, 31)] + [date(2027, 1, d) for d in (1, 2, 3)]
)
def test_year_end_closure_is_not_business_days(day: date) -> None:
    """29 December to 3 January are closed, whatever the weekday."""
    assert not is_business_day(day)


@pytest.mark.parametrize("day", [date(2026, 12, 28), date(2027, 1, 4)])
def test_days_around_year_end_closure_are_business_days(day: date) -> None:
    """28 December and 4 January are open when they are weekdays (Mondays in 2026/27)."""
    assert is_business_day(day)


def test_one_business_day_before() -> None:
    """One business day before Thu 2026-10-15 is Wed 10-14."""
    assert business_days_before(date(2026, 10, 15), 1) == date(2026, 10, 14)


def test_business_days_before_skip_weekend_and_holiday() -> None:
    """Counting back from Thu 10-15 skips the weekend and Mon 10-12 (スポーツの日): 4th Thu 10-08, 5th Wed 10-07."""
    assert business_days_before(date(2026, 10, 15), 4) == date(2026, 10, 8)
    assert business_days_before(date(2026, 10, 15), 5) == date(2026, 10, 7)


def test_business_days_after_skip_weekend() -> None:
    """One business day after Fri 2026-10-16 is Mon 10-19."""
    assert business_days_after(date(2026, 10, 16), 1) == date(2026, 10, 19)


def test_business_days_after_skip_holidays() -> None:
    """One business day after Fri 2026-09-18 is Thu 9-24 (9-21..23 are holidays)."""
    assert business_days_after(date(2026, 9, 18), 1) == date(2026, 9, 24)


def test_business_days_after_skip_year_end_closure() -> None:
    """One business day after Mon 2026-12-28 is Mon 2027-01-04."""
    assert business_days_after(date(2026, 12, 28), 1) == date(2027, 1, 4)


def test_business_days_before_skip_year_end_closure() -> None:
    """One business day before Mon 2027-01-04 is Mon 2026-12-28."""
    assert business_days_before(date(2027, 1, 4), 1) == date(2026, 12, 28)


def test_zero_business_days_is_the_day_itself_when_open() -> None:
    """n == 0 on a business day returns that day, before and after alike."""
    day = date(2026, 10, 15)
    assert (business_days_before(day, 0), business_days_after(day, 0)) == (day, day)


def test_zero_business_days_moves_off_a_closed_day() -> None:
    """n == 0 on a closed day moves to the previous (before) or next (after) business day."""
    saturday = date(2026, 10, 17)
    assert business_days_before(saturday, 0) == date(2026, 10, 16)
    assert business_days_after(saturday, 0) == date(2026, 10, 19)


def test_negative_business_day_count_is_rejected() -> None:
    """A negative n is a ValueError."""
    with pytest.raises(ValueError, match="negative"):
        business_days_before(date(2026, 10, 15), -1)


def test_on_or_before_business_day_keeps_a_business_day() -> None:
    """A business day is its own on-or-before business day."""
    assert on_or_before_business_day(date(2026, 10, 15)) == date(2026, 10, 15)


def test_on_or_before_business_day_moves_back_over_closure() -> None:
    """A deadline on 2027-01-02 (closed) moves back to Mon 2026-12-28."""
    assert on_or_before_business_day(date(2027, 1, 2)) == date(2026, 12, 28)


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 10, 15), "10月15日(木)"),
        (date(2026, 10, 18), "10月18日(日)"),
        (date(2027, 1, 4), "1月4日(月)"),
    ],
)
def test_date_ja(day: date, text: str) -> None:
    """Dates read ``10月15日(木)`` with the weekday in kanji."""
    assert date_ja(day) == text


_DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
_COUNTS = st.integers(min_value=0, max_value=30)


@settings(deadline=None)
@given(_DATES, _COUNTS)
def test_business_day_walks_land_on_business_days(day: date, n: int) -> None:
    """Counting business days before or after any date always lands on a business day."""
    assert is_business_day(business_days_before(day, n))
    assert is_business_day(business_days_after(day, n))


@settings(deadline=None)
@given(_DATES, _COUNTS)
def test_business_days_before_then_after_round_trips(day: date, n: int) -> None:
    """From a business day, n business days back then n forward returns to it."""
    start = on_or_before_business_day(day)
    assert business_days_after(business_days_before(start, n), n) == start


@pytest.mark.parametrize(
    ("deadline", "kind", "expected"),
    [
        (date(2026, 9, 30), "half", "2026H1"),  # due at the end of 上期
        (date(2026, 8, 31), "half", "2026H1"),
        (date(2026, 10, 15), "half", "2026H1"),  # due after 上期
        (date(2027, 3, 31), "half", "2026H2"),
        (date(2027, 4, 15), "half", "2026H2"),
        (date(2026, 6, 30), "half", "2025H2"),  # a tie goes to the period before
        (date(2026, 6, 20), "quarter", "2026Q1"),
        (date(2026, 7, 10), "quarter", "2026Q1"),
    ],
)
def test_a_round_collects_the_period_whose_end_is_nearest_its_deadline(
    deadline: date, kind: PeriodKind, expected: str
) -> None:
    """The period collected by default is the one whose end is nearest the deadline."""
    assert period_due(deadline, kind).key == expected


@pytest.mark.parametrize(
    ("period", "deadline", "fits"),
    [
        ("2026H1", date(2026, 5, 15), True),
        ("2026H1", date(2026, 9, 30), True),
        ("2026H1", date(2026, 10, 15), True),
        ("2026H1", date(2027, 1, 15), False),
        ("2025H2", date(2026, 9, 30), False),
    ],
)
def test_a_period_fits_a_deadline_inside_it_or_shortly_after_it(
    period: str, deadline: date, fits: bool
) -> None:
    """A round's period contains its deadline or ends nearer it than the following one."""
    parsed = parse_period(period)
    assert parsed is not None
    assert period_fits_deadline(parsed, deadline) is fits
