"""The national local-government code list (全国地方公共団体コード, 総務省), shipped as data.

Every prefecture, city, special ward (東京都の特別区), town and village, and every ward of a
designated city, with its six-digit code (five digits and the check digit) and prefecture.
Configuration checks use it to catch a misspelt municipality (前僑市 for 前橋市); the console
and exports use it for codes. ``tools/local_governments.py`` regenerates the data file.

Names are looked up as written in the list (前橋市, 札幌市中央区, 千代田区), optionally with the
prefecture in front (群馬県前橋市); where one name exists in several prefectures (府中市,
伊達市), pass ``prefecture`` to choose.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "local_governments.tsv"
SIMILAR_CUTOFF = 0.6  # difflib ratio below which a name is not offered as the one meant
KINDS = ("prefecture", "city", "special_ward", "ward", "town", "village")


@dataclass(frozen=True, slots=True)
class LocalGovernment:
    """One entry of the list: ``code`` is six digits (the last is the check digit)."""

    code: str
    prefecture: str
    name: str
    kind: str

    @property
    def full_name(self) -> str:
        """The name with its prefecture: 群馬県前橋市 (a prefecture: its own name)."""
        return self.name if self.kind == "prefecture" else self.prefecture + self.name


def check_digit(code5: str) -> int:
    """The check digit of a five-digit code: 11 minus the weighted sum (6,5,4,3,2) mod 11,
    its last digit."""
    if len(code5) != 5 or not code5.isascii() or not code5.isdigit():
        raise ValueError(
            f"a local-government code has five digits before its check digit: {code5!r}"
        )
    total = sum(int(digit) * weight for digit, weight in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


@cache
def all_governments() -> tuple[LocalGovernment, ...]:
    """Every entry, by code."""
    entries = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, prefecture, name, kind = line.split("\t")
            entries.append(LocalGovernment(code, prefecture, name, kind))
    return tuple(entries)


@cache
def _by_name() -> dict[str, tuple[LocalGovernment, ...]]:
    index: dict[str, list[LocalGovernment]] = {}
    for entry in all_governments():
        index.setdefault(entry.name, []).append(entry)
        if entry.kind != "prefecture":
            index.setdefault(entry.full_name, []).append(entry)
    return {name: tuple(found) for name, found in index.items()}


def by_code(code: str) -> LocalGovernment | None:
    """The entry with this code: six digits with a correct check digit, or the five before it."""
    code = code.strip()
    if len(code) == 6 and code[:5].isdigit() and code.isascii():
        if not code[5].isdigit() or int(code[5]) != check_digit(code[:5]):
            return None
        code = code[:5]
    if len(code) != 5 or not code.isascii() or not code.isdigit():
        return None
    wanted = f"{code}{check_digit(code)}"
    return next((e for e in all_governments() if e.code == wanted), None)


def find(name: str, prefecture: str | None = None) -> tuple[LocalGovernment, ...]:
    """Entries named ``name`` (or prefecture + name), in ``prefecture`` when given."""
    found = _by_name().get(name.strip(), ())
    return tuple(e for e in found if prefecture is None or e.prefecture == prefecture)


def of_prefecture(prefecture: str) -> tuple[LocalGovernment, ...]:
    """The prefecture's own entry and everything in it, by code."""
    return tuple(e for e in all_governments() if e.prefecture == prefecture)


def similar(name: str, prefecture: str | None = None, limit: int = 3) -> list[LocalGovernment]:
    """Entries whose name is close to ``name`` (a typo: 前僑市 -> 前橋市), closest first.

    Closeness is difflib's ratio, plus a little for characters in the same places (one
    character mistyped keeps the others where they were) and for being in ``prefecture``.
    """
    wanted = name.strip()
    scored = []
    for entry in all_governments():
        if entry.kind == "prefecture":
            continue
        ratio = difflib.SequenceMatcher(None, wanted, entry.name).ratio()
        if ratio < SIMILAR_CUTOFF:
            continue
        aligned = sum(a == b for a, b in zip(wanted, entry.name, strict=False))
        score = ratio + 0.1 * aligned / max(len(wanted), len(entry.name))
        score += 0.15 if entry.prefecture == prefecture else 0.0
        scored.append((-score, entry.code, entry))
    return [entry for _, _, entry in sorted(scored)[:limit]]


def likely_prefecture(names: list[str]) -> str | None:
    """The prefecture most of ``names`` belong to (the one a configuration is about), if any."""
    counts: dict[str, int] = {}
    for name in names:
        for prefecture in {e.prefecture for e in find(name)}:
            counts[prefecture] = counts.get(prefecture, 0) + 1
    return max(counts, key=lambda p: counts[p]) if counts else None
