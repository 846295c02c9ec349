"""Read one cell of a department's sheet into a number, a flag, a blank or a problem.

The rules (DESIGN.md §4): full-width digits and commas are fine, a unit written in the
cell is fine when it is the column's unit, a dash or なし means zero, a blank means "not
reported" (never zero), 未確認/調査中 is kept as a flag, decimals only where the unit
allows, a formula saved without its result is a problem (formulas are never evaluated).
Everything else is a problem carrying the raw value and a fix in Japanese.
``read_cell`` never raises.

Both flows read cells by these rules (damage counts, progress percentages), so they live
below both; the workbook parser marks a formula saved without its result as ``Uncalculated``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import ClassVar

MAX_VALUE = Decimal(10) ** 12
# Excel keeps and shows 15 significant digits; a float beyond them is a formula's binary
# leftover (=B2*0.7/0.7 saved as 2.9999999999999996, shown as 3): read what Excel shows.
EXCEL_DIGITS = ".15g"

ZERO_WORDS = frozenset({"-", "‐", "‑", "–", "—", "―", "ー", "−", "なし", "無し", "無", "ゼロ"})
UNCONFIRMED_WORDS = frozenset({"未確認", "調査中", "確認中", "未把握", "集計中", "不明"})
EXCEL_ERRORS = frozenset(
    {"#div/0!", "#n/a", "#name?", "#null!", "#num!", "#ref!", "#value!", "#getting_data"}
)
APPROXIMATE = re.compile(r"^(約|およそ|概ね)|(以上|余り|余|程度|超|前後|強|弱)$")
NUMBER = re.compile(
    r"^(?P<sign>[-△▲])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?(?P<rest>.*)$"
)

# Words a department may write after the number, per unit of the column.
UNIT_WORDS: dict[str, frozenset[str]] = {
    "人": frozenset({"人", "名"}),
    "棟": frozenset({"棟"}),
    "世帯": frozenset({"世帯"}),
    "箇所": frozenset({"箇所", "か所", "カ所", "ヶ所", "ケ所", "個所", "所"}),
    "ha": frozenset({"ha", "ヘクタール"}),
    "千円": frozenset({"千円"}),
    "件": frozenset({"件"}),
    "戸": frozenset({"戸"}),
    "回線": frozenset({"回線"}),
    "隻": frozenset({"隻"}),
}
ALL_UNIT_WORDS = frozenset().union(*UNIT_WORDS.values())


@dataclass(frozen=True, slots=True)
class Uncalculated:
    """A formula cell saved without its result (written by a program, never opened in Excel).

    Formulas are never evaluated, so its value is unknown: readers report it, never count it.
    Where text is wanted it shows nothing (``str()`` is empty), like a blank cell.
    """

    formula: str  # the formula text without "=", "" when not written in the cell

    def __str__(self) -> str:
        return ""

    @property
    def shown(self) -> str:
        """The cell as the department typed it: ``=SUM(B2:B9)``."""
        return f"={self.formula}" if self.formula else "=（数式）"


@dataclass(frozen=True, slots=True)
class Amount:
    """A readable, non-negative number (zero included)."""

    value: Decimal
    plain: int | float = field(init=False, compare=False)  # as Excel stores it (int when whole)

    def __post_init__(self) -> None:
        whole = self.value == self.value.to_integral_value()
        object.__setattr__(self, "plain", int(self.value) if whole else float(self.value))


@dataclass(frozen=True, slots=True)
class Blank:
    """Nothing entered: not reported, which is not the same as zero."""


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """未確認/調査中: the department knows of damage it cannot count yet."""

    raw: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A value that cannot be counted, with what was found and how to fix it."""

    raw: str
    reason: str
    fix: str

    @property
    def message(self) -> str:
        """The reason and the fix as one Japanese sentence pair."""
        return f"{self.reason}。{self.fix}"


Reading = Amount | Blank | Unconfirmed | Problem

BLANK = Blank()

FIX_UNCALCULATED = "Excel で開いて保存し直すか、値を直接入力してください。"
FIX_NUMBER = (
    "数字で入力してください（全角・半角どちらでも可）。"
    "不明な場合は「未確認」、被害がない場合は「0」または「-」と入力してください。"
)


def uncalculated(raw: Uncalculated) -> Problem:
    """A formula saved without its result: never evaluated here, so never counted."""
    return Problem(raw.shown, "数式の計算結果が保存されていません", FIX_UNCALCULATED)


def read_cell(raw: object, unit: str, decimals: bool) -> Reading:
    """Interpret one cell for a column counted in ``unit``."""
    try:
        # Department sheets repeat the same few values (0, "-", "未確認", "１２") thousands of
        # times; results are immutable, so a cache keyed by type and value is safe.
        return _cached(type(raw).__name__, raw, unit, decimals)
    except TypeError:  # unhashable value: read it directly
        return _safe(raw, unit, decimals)


@lru_cache(maxsize=8192)
def _cached(kind: str, raw: object, unit: str, decimals: bool) -> Reading:
    return _safe(raw, unit, decimals)


def _safe(raw: object, unit: str, decimals: bool) -> Reading:
    try:
        return _read(raw, unit, decimals)
    except Exception:  # the contract is "never raises": report, don't crash
        return Problem(_show(raw), "この値を読み取れません", FIX_NUMBER)


def _read(raw: object, unit: str, decimals: bool) -> Reading:
    if raw is None:
        return BLANK
    if isinstance(raw, Uncalculated):
        return uncalculated(raw)
    if isinstance(raw, bool):
        return Problem(
            str(raw).upper(), "TRUE/FALSE が入力されています", "数値を入力してください。"
        )
    if isinstance(raw, int) and abs(raw) >= MAX_VALUE:  # before str(): it may have 5,000 digits
        return Problem(_show(raw), "値が大きすぎます", "桁の誤りがないか確認してください。")
    if isinstance(raw, float):  # as Excel shows it: 15 significant digits (see EXCEL_DIGITS)
        return _number(Decimal(format(raw, EXCEL_DIGITS)), _show(raw), unit, decimals)
    if isinstance(raw, int | Decimal):
        return _number(Decimal(str(raw)), _show(raw), unit, decimals)
    if isinstance(raw, datetime | date | time | timedelta):
        return Problem(
            _show(raw),
            "日付・時刻として入力されています",
            "セルの表示形式を「標準」に戻してから数値を入力してください。",
        )
    if isinstance(raw, str):
        return _text(raw, unit, decimals)
    return Problem(_show(raw), "この値を読み取れません", FIX_NUMBER)


def _text(raw: str, unit: str, decimals: bool) -> Reading:
    text = "".join(unicodedata.normalize("NFKC", raw).split())
    shown = raw.strip()
    if not text:
        return BLANK
    bare = text.strip("()[]")
    if bare in UNCONFIRMED_WORDS:
        return Unconfirmed(shown)
    if bare in ZERO_WORDS:
        return Amount(Decimal(0))
    if text.lower() in EXCEL_ERRORS:
        return Problem(
            shown,
            f"数式がエラー（{shown}）になっています",
            "数式を直すか、数値を直接入力してください。",
        )
    if APPROXIMATE.search(text):
        return Problem(
            shown,
            "概数（約・以上など）は集計できません",
            "確認できている数を数字だけで入力し、概数であることは備考欄に書いてください。",
        )
    match = NUMBER.match(text)
    if match is None:
        return Problem(shown, f"「{shown}」は数値として読めません", FIX_NUMBER)
    rest = match["rest"]
    if rest:
        allowed = UNIT_WORDS.get(unit, frozenset({unit}))
        if rest.strip("()") in UNCONFIRMED_WORDS:
            return Problem(
                shown,
                "数値と「未確認」が一緒に入力されています",
                "確認できている数だけを入力するか、「未確認」とだけ入力してください。",
            )
        if rest not in allowed and rest.lower() not in allowed:
            if rest in ALL_UNIT_WORDS:
                return Problem(
                    shown,
                    f"単位「{rest}」はこの列の単位（{unit}）と異なります",
                    f"{unit}単位の数値を入力してください。",
                )
            return Problem(shown, f"「{shown}」は数値として読めません", FIX_NUMBER)
    if match["sign"]:
        return Problem(shown, "マイナスの値は入力できません", "被害の数を0以上で入力してください。")
    number = match["int"].replace(",", "")
    if match["frac"]:
        number += "." + match["frac"]
    return _number(Decimal(number), shown, unit, decimals)


def _number(value: Decimal, shown: str, unit: str, decimals: bool) -> Reading:
    try:
        finite = value.is_finite()
    except InvalidOperation:  # pragma: no cover - Decimal(str(x)) of a float is well formed
        finite = False
    if not finite:
        return Problem(shown, "数値ではありません", FIX_NUMBER)
    if value < 0:
        return Problem(shown, "マイナスの値は入力できません", "被害の数を0以上で入力してください。")
    if value >= MAX_VALUE:
        return Problem(shown, "値が大きすぎます", "桁の誤りがないか確認してください。")
    if value.is_zero():  # -0 too: zero is spelt 0 in the figures
        return Amount(Decimal(0))
    if value != value.to_integral_value():
        if not decimals:
            return Problem(shown, f"{unit}の項目に小数は入力できません", "整数で入力してください。")
        return Amount(value.normalize())
    return Amount(value.to_integral_value())


def _show(raw: object) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) >= MAX_VALUE:
        # str() of an int refuses more than 4,300 digits; the size is what the reader needs.
        digits = int(abs(raw).bit_length() * math.log10(2)) + 1
        return f"{'-' if raw < 0 else ''}約{digits}桁の数値"
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, float):
        return format(raw, EXCEL_DIGITS)
    return str(raw)


# A reading's kind, first of a memoised entry (see ``CellMemo``).
BLANK_KIND, AMOUNT, UNCONFIRMED, PROBLEM = 0, 1, 2, 3
# (kind, the amount's value, the amount as Excel stores it or the raw text, the reading)
Entry = tuple[int, Decimal | None, int | float | str, Reading]
MEMO_SIZE = 4096  # distinct values kept per column kind and value type; then started over


def entry(result: Reading) -> Entry:
    """A reading as a memo entry."""
    if isinstance(result, Amount):
        return (AMOUNT, result.value, result.plain, result)
    if isinstance(result, Unconfirmed | Problem):
        return (
            UNCONFIRMED if isinstance(result, Unconfirmed) else PROBLEM,
            None,
            result.raw,
            result,
        )
    return (BLANK_KIND, None, "", result)


class CellMemo:
    """:func:`read_cell` for one column kind (unit, decimals), memoised by value.

    A department's sheet repeats the same few values (12.0, "-", "未確認", "１２") thousands
    of times, so most cells of a sheet cost one dictionary look-up. Only floats and strings
    are memoised (what calamine gives for numbers and text): they never compare equal to
    each other, but ``1.0 == 1 == True`` share a hash while a bool or a 13-digit int reads
    differently, so :attr:`table` may be looked up for a float or a str only."""

    __slots__ = ("decimals", "table", "unit")
    _kinds: ClassVar[dict[tuple[str, bool], CellMemo]] = {}

    def __init__(self, unit: str, decimals: bool) -> None:
        self.unit = unit
        self.decimals = decimals
        self.table: dict[object, Entry] = {}  # float or str -> its entry

    @classmethod
    def of(cls, unit: str, decimals: bool) -> CellMemo:
        """The memo of a column kind, shared by every sheet of the process."""
        memo = cls._kinds.get((unit, decimals))
        if memo is None:
            memo = cls._kinds[(unit, decimals)] = cls(unit, decimals)
        return memo

    def get(self, raw: object) -> Entry:
        """``read_cell(raw, unit, decimals)`` as a memo entry."""
        kind = type(raw)
        if kind is not float and kind is not str:
            return entry(read_cell(raw, self.unit, self.decimals))
        found = self.table.get(raw)
        if found is None:
            if len(self.table) >= MEMO_SIZE:
                self.table.clear()
            found = self.table[raw] = entry(_safe(raw, self.unit, self.decimals))
        return found
