"""Specs for reading one damage-sheet cell (DESIGN.md §4 "Reading cells")."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.damage.catalogue import DEFAULT_ITEMS
from automation.damage.cells import Amount, Blank, Problem, Unconfirmed, read_cell

UNITS = sorted({item.unit for item in DEFAULT_ITEMS})


def amount(raw: object, unit: str = "人", decimals: bool = False) -> Decimal:
    """The number read from ``raw``; fails the test if it is not a number."""
    result = read_cell(raw, unit, decimals)
    assert isinstance(result, Amount), result
    return result.value


def problem(raw: object, unit: str = "人", decimals: bool = False) -> Problem:
    """The problem read from ``raw``; fails the test if it was readable."""
    result = read_cell(raw, unit, decimals)
    assert isinstance(result, Problem), result
    return result


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (12, 12),
        (12.0, 12),
        ("12", 12),
        ("１２", 12),
        ("１，２３４", 1234),
        ("1,234", 1234),
        (" 7 ", 7),
    ],
)
def test_numbers_in_any_width_are_read(raw: object, value: int) -> None:
    """Half- and full-width digits and thousands commas are numbers."""
    assert amount(raw) == value


@pytest.mark.parametrize("raw", ["12人", "１２人", "12名"])
def test_the_columns_unit_may_be_written_in_the_cell(raw: str) -> None:
    """A number followed by the column's unit (or its synonym) is that number."""
    assert amount(raw) == 12


@pytest.mark.parametrize("raw", ["3箇所", "３か所", "3ヶ所", "3カ所"])
def test_place_counts_accept_every_spelling_of_kasho(raw: str) -> None:
    """箇所 columns accept か所, ヶ所 and カ所."""
    assert amount(raw, "箇所") == 3


def test_another_known_unit_is_a_problem() -> None:
    """12棟 in a column counted in 人 is a unit mistake, not 12 people."""
    found = problem("12棟")
    assert found.reason == "単位「棟」はこの列の単位（人）と異なります"
    assert found.fix == "人単位の数値を入力してください。"


@pytest.mark.parametrize("raw", ["-", "－", "ー", "―", "なし", "無し", "0", "０"])
def test_dash_and_nashi_mean_zero(raw: str) -> None:
    """A dash or なし is an explicit zero."""
    assert amount(raw) == 0


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_blank_means_not_reported(raw: object) -> None:
    """An empty cell is "not reported", which is not zero."""
    assert isinstance(read_cell(raw, "人", False), Blank)


@pytest.mark.parametrize("raw", ["未確認", "調査中", "確認中", "（調査中）", "(未確認)"])
def test_unconfirmed_is_a_flag(raw: str) -> None:
    """未確認/調査中 are kept as a flag with the text as written."""
    result = read_cell(raw, "人", False)
    assert isinstance(result, Unconfirmed)
    assert result.raw == raw


def test_decimals_are_accepted_where_the_unit_allows() -> None:
    """ha and 千円 take decimals, also written full-width with the unit."""
    assert amount("12.5", "ha", True) == Decimal("12.5")
    assert amount("１２．５ha", "ha", True) == Decimal("12.5")
    assert amount(0.25, "千円", True) == Decimal("0.25")


@pytest.mark.parametrize("raw", [2.5, "2.5", "２．５"])
def test_decimals_of_people_are_a_problem(raw: object) -> None:
    """A fractional number of people is a problem naming the unit."""
    assert problem(raw).reason == "人の項目に小数は入力できません"


@pytest.mark.parametrize("raw", [-1, "-1", "△3", "▲3", -0.5])
def test_negative_numbers_are_a_problem(raw: object) -> None:
    """Damage cannot be negative, including the Japanese △ notation."""
    assert problem(raw, decimals=True).reason == "マイナスの値は入力できません"


def test_words_are_a_problem_with_the_fix() -> None:
    """Text such as 多数 is reported with what to write instead."""
    found = problem("多数")
    assert found.message == (
        "「多数」は数値として読めません。数字で入力してください（全角・半角どちらでも可）。"
        "不明な場合は「未確認」、被害がない場合は「0」または「-」と入力してください。"
    )


@pytest.mark.parametrize("raw", ["約10", "10以上", "100余", "50程度"])
def test_approximations_are_a_problem(raw: str) -> None:
    """約10 or 10以上 cannot be summed; the fix says to move the note to 備考."""
    assert problem(raw).reason == "概数（約・以上など）は集計できません"


def test_malformed_thousands_separator_is_a_problem() -> None:
    """1,23 is not a number (commas separate groups of three)."""
    assert problem("1,23").reason == "「1,23」は数値として読めません"


def test_excel_errors_are_a_problem() -> None:
    """A formula error's cached value names the formula as the fix."""
    assert problem("#DIV/0!").reason == "数式がエラー（#DIV/0!）になっています"


def test_number_and_flag_together_is_a_problem() -> None:
    """3(未確認) is ambiguous: the count or the flag, not both."""
    assert problem("3(未確認)").reason == "数値と「未確認」が一緒に入力されています"


@pytest.mark.parametrize("raw", [True, False])
def test_booleans_are_a_problem(raw: bool) -> None:
    """TRUE/FALSE are not counts."""
    assert problem(raw).reason == "TRUE/FALSE が入力されています"


@pytest.mark.parametrize("raw", [date(2026, 9, 1), datetime(2026, 9, 1, 9, 0)])
def test_dates_are_a_problem(raw: object) -> None:
    """A number Excel turned into a date is reported with how to undo it."""
    assert problem(raw).fix == "セルの表示形式を「標準」に戻してから数値を入力してください。"


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), 1e12, "1000000000000"])
def test_non_finite_and_huge_values_are_a_problem(raw: object) -> None:
    """NaN, infinity and values of a trillion or more are reported, not summed."""
    problem(raw, decimals=True)


WEIRD = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**15), max_value=10**15)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.dates()
    | st.datetimes()
    | st.text()
    | st.text(alphabet="０１２３４５６７８９，．－△未確認調査中なし人棟箇所ha千円 ,.-")
)


@settings(max_examples=400, deadline=None)
@given(raw=WEIRD, unit=st.sampled_from(UNITS), decimals=st.booleans())
def test_any_value_reads_as_number_flag_blank_or_problem(
    raw: object, unit: str, decimals: bool
) -> None:
    """Property: every value yields exactly one reading, never an exception; numbers are >= 0."""
    result = read_cell(raw, unit, decimals)
    assert isinstance(result, Amount | Blank | Unconfirmed | Problem)
    if isinstance(result, Amount):
        assert result.value >= 0
        assert decimals or result.value == result.value.to_integral_value()
    if isinstance(result, Problem):
        assert result.reason and result.fix
