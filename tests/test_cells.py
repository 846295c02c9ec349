"""Specs for ``read_cell``: one department cell to a number, a flag, a blank or a problem.

DESIGN.md §4 "Reading cells": full-width digits and commas, the column's unit written in
the cell, dashes or なし for zero, blank = not reported (not zero), 未確認/調査中 kept as a
flag, decimals only for ha and 千円; everything else is a problem with a fix in Japanese.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.cells import (
    ALL_UNIT_WORDS,
    FIX_NUMBER,
    Amount,
    Blank,
    Problem,
    Unconfirmed,
    read_cell,
)
from automation.damage.catalogue import DEFAULT_ITEMS

UNITS = sorted({item.unit for item in DEFAULT_ITEMS})
NEGATIVE = "マイナスの値は入力できません"
NOT_A_NUMBER = "数値ではありません"
TOO_LARGE = "値が大きすぎます"
DATE = "日付・時刻として入力されています"
APPROXIMATE = "概数（約・以上など）は集計できません"


def amount(raw: object, unit: str = "人", decimals: bool = False) -> Decimal:
    """The number read from ``raw``; fails the test when it is anything else."""
    result = read_cell(raw, unit, decimals)
    assert isinstance(result, Amount), result
    return result.value


def problem(raw: object, unit: str = "人", decimals: bool = False) -> Problem:
    """The problem read from ``raw``; fails the test when the value was readable."""
    result = read_cell(raw, unit, decimals)
    assert isinstance(result, Problem), result
    return result


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("１，２３４", 1234),
        ("１２３４", 1234),
        ("1,234", 1234),
        ("１,２３４", 1234),
        ("1，234", 1234),
        ("1,234,567", 1234567),
        ("　１２　", 12),
        (12, 12),
    ],
)
def test_full_width_digits_and_commas_are_read(raw: object, value: int) -> None:
    """Full- and half-width digits, with or without thousands commas, are the same number."""
    assert amount(raw) == value


def test_an_integral_float_is_a_whole_number() -> None:
    """1.0 (how Excel often stores whole numbers) is read as the integer 1."""
    result = read_cell(1.0, "人", False)
    assert result == Amount(Decimal(1))
    assert isinstance(result, Amount)
    assert result.plain == 1
    assert isinstance(result.plain, int)


def test_zero_is_a_number() -> None:
    """0 is a reported zero, not a blank."""
    assert amount(0) == 0
    assert amount("０") == 0


# --- units in the cell -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unit", "value"),
    [
        ("12人", "人", 12),
        ("１２人", "人", 12),
        ("12名", "人", 12),
        ("３箇所", "箇所", 3),
        ("３か所", "箇所", 3),
        ("3ヶ所", "箇所", 3),
        ("3カ所", "箇所", 3),
        ("5棟", "棟", 5),
        ("2世帯", "世帯", 2),
        ("4件", "件", 4),
        ("12 人", "人", 12),
    ],
)
def test_the_columns_unit_may_be_written_in_the_cell(raw: str, unit: str, value: int) -> None:
    """A number followed by the column's unit (or its spelling variant) is that number."""
    assert amount(raw, unit) == value


def test_a_different_known_unit_is_a_problem() -> None:
    """12棟 in a 人 column is a problem naming both units."""
    found = problem("12棟", "人")
    assert found.raw == "12棟"
    assert found.reason == "単位「棟」はこの列の単位（人）と異なります"
    assert found.fix == "人単位の数値を入力してください。"


def test_an_unknown_word_after_the_number_is_a_problem() -> None:
    """12個 is not a unit the form uses: the cell cannot be read as a number."""
    assert problem("12個").reason == "「12個」は数値として読めません"


# --- zero, blank and unconfirmed -------------------------------------------------------


@pytest.mark.parametrize("raw", ["-", "－", "ー", "―", "—", "–", "‐", "−", " - ", "なし", "無し"])
def test_dashes_and_nashi_mean_zero(raw: str) -> None:
    """Every dash variant and なし mean a reported zero."""
    assert amount(raw) == 0


@pytest.mark.parametrize("raw", [None, "", " ", "　", "\t\n"])
def test_a_blank_cell_is_not_reported(raw: object) -> None:
    """A blank (None, empty or whitespace only) is Blank, never a zero."""
    result = read_cell(raw, "人", False)
    assert isinstance(result, Blank)
    assert result != Amount(Decimal(0))


@pytest.mark.parametrize(
    "raw", ["未確認", "調査中", "(未確認)", "（調査中）", "（未確認）", "確認中", "　未確認　"]
)
def test_unconfirmed_is_kept_as_a_flag(raw: str) -> None:
    """未確認/調査中, bare or in parentheses, is Unconfirmed with the text as written."""
    assert read_cell(raw, "人", False) == Unconfirmed(raw.strip())


@pytest.mark.parametrize("raw", ["不明", "（不明）", "不 明"])
def test_fumei_is_kept_as_an_unconfirmed_flag(raw: str) -> None:
    """不明 (the count is not known yet) is 未確認: shown, counted apart, never summed."""
    assert read_cell(raw, "人", False) == Unconfirmed(raw)


def test_a_number_with_unconfirmed_is_a_problem() -> None:
    """12（未確認） mixes a count and a flag: the department must choose one."""
    assert problem("12（未確認）").reason == "数値と「未確認」が一緒に入力されています"


# --- decimals --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["2.5", 2.5, "２．５"])
def test_decimals_are_a_problem_where_the_unit_counts_things(raw: object) -> None:
    """2.5 people is a problem that names the unit."""
    found = problem(raw, "人", False)
    assert found.reason == "人の項目に小数は入力できません"
    assert found.fix == "整数で入力してください。"


@pytest.mark.parametrize(
    ("raw", "unit", "value"),
    [
        ("12.5ha", "ha", Decimal("12.5")),
        ("１２．５", "ha", Decimal("12.5")),
        (12.5, "ha", Decimal("12.5")),
        (1234.5, "千円", Decimal("1234.5")),
        ("1,234.5千円", "千円", Decimal("1234.5")),
        (Decimal("2.50"), "ha", Decimal("2.5")),
    ],
)
def test_decimals_are_read_for_hectares_and_thousand_yen(
    raw: object, unit: str, value: Decimal
) -> None:
    """ha and 千円 columns take fractional values."""
    assert amount(raw, unit, True) == value


@pytest.mark.parametrize(
    ("raw", "unit", "decimals", "value"),
    [
        (2.9999999999999996, "人", False, Decimal(3)),
        (3.0000000000000004, "棟", False, Decimal(3)),
        (0.30000000000000004, "ha", True, Decimal("0.3")),
        (1234.5000000000002, "千円", True, Decimal("1234.5")),
    ],
)
def test_a_float_is_read_as_excel_shows_it_to_15_significant_digits(
    raw: float, unit: str, decimals: bool, value: Decimal
) -> None:
    """A formula's binary leftover (2.9999999999999996, shown by Excel as 3) reads as 3."""
    assert amount(raw, unit, decimals) == value


def test_a_fractional_amount_keeps_its_fraction_as_plain() -> None:
    """12.5 ha is stored for Excel as the float 12.5."""
    result = read_cell("12.5", "ha", True)
    assert isinstance(result, Amount)
    assert result.plain == 12.5


# --- problems --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [-1, -0.5, "-1", "－２", "△3", "▲3", "△１２人", Decimal(-4)])
def test_negative_values_are_a_problem(raw: object) -> None:
    """Negatives, including the accounting triangles △/▲, are problems."""
    found = problem(raw, "人", True)
    assert found.reason == NEGATIVE
    assert found.fix == "被害の数を0以上で入力してください。"


def test_a_word_instead_of_a_number_is_a_problem() -> None:
    """多数 is not a count: the problem quotes it and tells how to fill the cell."""
    found = problem("多数")
    assert found.raw == "多数"
    assert found.reason == "「多数」は数値として読めません"
    assert found.fix == FIX_NUMBER
    assert found.message == (
        "「多数」は数値として読めません。数字で入力してください（全角・半角どちらでも可）。"
        "不明な場合は「未確認」、被害がない場合は「0」または「-」と入力してください。"
    )


@pytest.mark.parametrize("raw", ["約10", "およそ5", "概ね３", "10以上", "10程度", "５０余り"])
def test_approximate_numbers_are_a_problem(raw: str) -> None:
    """約10 and 10以上 cannot be summed: the exact count goes in, the rest in 備考."""
    found = problem(raw)
    assert found.reason == APPROXIMATE
    assert (
        found.fix == "確認できている数を数字だけで入力し、概数であることは備考欄に書いてください。"
    )


@pytest.mark.parametrize("raw", ["1,23", "12,34,567", "1,2345", ",123", "1,,234"])
def test_malformed_thousands_commas_are_a_problem(raw: str) -> None:
    """Commas must separate groups of three digits; 1,23 is not read as 123."""
    assert problem(raw).reason == f"「{raw}」は数値として読めません"


@pytest.mark.parametrize("raw", ["#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#div/0!"])
def test_excel_error_values_are_a_problem(raw: str) -> None:
    """A formula error cached in the cell is reported as a formula error."""
    found = problem(raw)
    assert found.reason == f"数式がエラー（{raw}）になっています"
    assert found.fix == "数式を直すか、数値を直接入力してください。"


@pytest.mark.parametrize(("raw", "shown"), [(True, "TRUE"), (False, "FALSE")])
def test_booleans_are_a_problem(raw: bool, shown: str) -> None:
    """TRUE/FALSE is not a count (and never 1/0)."""
    found = problem(raw)
    assert found.raw == shown
    assert found.reason == "TRUE/FALSE が入力されています"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (date(2026, 9, 1), "2026-09-01"),
        (datetime(2026, 9, 1, 9, 30), "2026-09-01 09:30:00"),
        (time(12, 0), "12:00:00"),
    ],
)
def test_dates_and_times_are_a_problem(raw: object, shown: str) -> None:
    """A cell formatted as a date is a problem telling to reset the number format."""
    found = problem(raw)
    assert found.raw == shown
    assert found.reason == DATE
    assert found.fix == "セルの表示形式を「標準」に戻してから数値を入力してください。"


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf"), Decimal("NaN")])
def test_nan_and_infinity_are_a_problem(raw: object) -> None:
    """Non-finite numbers are problems, never amounts."""
    assert problem(raw, "ha", True).reason == NOT_A_NUMBER


@pytest.mark.parametrize(
    "raw", [10**12, 1e12, 10**15, "1000000000000", "１，０００，０００，０００，０００"]
)
def test_numbers_of_a_trillion_or_more_are_a_problem(raw: object) -> None:
    """10**12 or more is a typo (a digit too many), not a count."""
    found = problem(raw)
    assert found.reason == TOO_LARGE
    assert found.fix == "桁の誤りがないか確認してください。"


def test_numbers_below_a_trillion_are_read() -> None:
    """The largest accepted value is 10**12 - 1."""
    assert amount(10**12 - 1) == 10**12 - 1


def test_an_astronomically_large_integer_is_a_problem_not_a_crash() -> None:
    """read_cell never raises, even for an int with more digits than str() allows."""
    assert problem(10**5000).reason == TOO_LARGE


def test_an_unknown_type_is_a_problem() -> None:
    """A value of an unexpected type (not text, number, date or bool) is a problem."""
    assert problem(object()).reason == "この値を読み取れません"


# --- properties ------------------------------------------------------------------------

JAPANESE = (
    "０１２３４５６７８９，．－ー―△▲（）()［］ 　"
    "0123456789,.-+eE#/!"
    "人名棟世帯箇所か所ヶカ千円件戸回線隻ha"
    "約以上程度余なし無未確認調査中多数"
)
TEXT = st.one_of(
    st.text(),
    st.text(alphabet=JAPANESE, max_size=12),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", "-", "△", "約", "（", "　"]),
        st.integers(min_value=-(10**13), max_value=10**13).map(str),
        st.sampled_from(["", *sorted(ALL_UNIT_WORDS), "以上", "）", "未確認", ".5"]),
    ),
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(),
    st.times(),
    TEXT,
)


@settings(max_examples=300, deadline=None)
@given(raw=VALUES, unit=st.sampled_from(UNITS), decimals=st.booleans())
def test_any_value_reads_to_a_reading_without_raising(
    raw: object, unit: str, decimals: bool
) -> None:
    """Whatever a cell holds, read_cell returns Amount, Blank, Unconfirmed or Problem."""
    assert isinstance(read_cell(raw, unit, decimals), Amount | Blank | Unconfirmed | Problem)


@settings(max_examples=300, deadline=None)
@given(raw=VALUES, unit=st.sampled_from(UNITS), decimals=st.booleans())
def test_an_amount_is_never_negative(raw: object, unit: str, decimals: bool) -> None:
    """No input, however written, reads as a negative amount."""
    result = read_cell(raw, unit, decimals)
    if isinstance(result, Amount):
        assert result.value >= 0
        assert result.plain >= 0


@settings(max_examples=300, deadline=None)
@given(number=st.integers(min_value=0, max_value=10**12 - 1), unit=st.sampled_from(UNITS))
def test_full_width_and_comma_spellings_read_as_the_same_number(number: int, unit: str) -> None:
    """Any count written with full-width digits or thousands commas is that count."""
    full_width = f"{number:,}".translate(str.maketrans("0123456789,", "０１２３４５６７８９，"))
    assert amount(full_width, unit) == number
    assert amount(f"{number:,}{unit}", unit) == number
