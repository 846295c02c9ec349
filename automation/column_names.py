"""Names people type twice: a configured column name against a list's own, a typed status
against the configured ones. Two spellings are the same name when they differ only by
full-width forms (NFKC) and spaces (「進捗 状況」, 「進捗状況　」 and 「進捗状況」)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence


def name_key(value: str) -> str:
    """``value`` with full-width forms folded (NFKC) and every space removed."""
    return "".join(unicodedata.normalize("NFKC", value).split())


def same_name(value: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` that ``value`` spells, or None."""
    key = name_key(value)
    return next((n for n in names if name_key(n) == key), None)


def spelt_otherwise(missing: Sequence[str], existing: Iterable[str]) -> str:
    """「X」は一覧の「Y」のことですか。 for each missing name a column spells otherwise."""
    names = list(existing)
    hints = [
        f"「{m}」は一覧の「{found}」のことですか。"
        for m in missing
        if (found := same_name(m, names)) is not None
    ]
    return "".join(hints)
