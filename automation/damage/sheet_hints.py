"""Which sheet of a workbook looks like a department's missing sheet: a hint, never a reading.

A department's sheet is found by the name the directory gives it (``Workbook.sheet_named``
forgives spaces and full- or half-width forms). What users also do: copy the sheet and
delete or rename the original (Excel names the copy 「危機管理課 (2)」, LibreOffice
「危機管理課_2」, Google Sheets 「危機管理課 のコピー」 or "Copy of 危機管理課"), or rename the
tab slightly (「危機管理課（報告）」, 「危機管理課R8」). The run then finds no sheet (シートなし);
the hint names the one sheet that plausibly is the department's, so the messages can say
which sheet to rename. Its figures are never read in the missing sheet's place: it may be a
scratch copy.

Conservative: a hint names a single candidate or nothing, and never a sheet another
department reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from automation.column_names import name_key

# Copy marks around a name, on its key (spaces removed, full-width forms folded): Excel's
# 「X (2)」, LibreOffice's 「X_2」, Google Sheets' 「X のコピー」 and "Copy of X".
COPY_MARKS = (
    r"{name}\([0-9]+\)",
    r"{name}_[0-9]+",
    r"{name}のコピー(?:[0-9]+|\([0-9]+\))?",
    r"(?i:copyof){name}(?:[0-9]+|\([0-9]+\))?",
)
SHORTEST_CONTAINED = 2  # a one-character name is in too many sheet names to say which


def likely_sheet(wanted: str, sheets: Iterable[str], others: Iterable[str]) -> str | None:
    """The sheet of ``sheets`` that most plausibly is the missing sheet ``wanted``: the one
    sheet that is a copy of it by its name, or whose name contains it; None when there is no
    such sheet or more than one. ``others``: the sheet names the other departments are
    configured with; a sheet one of them reads (its name is theirs) or whose name holds one
    of them that is not part of ``wanted`` (「危機管理課分室 (2)」 for 危機管理課) is never
    named."""
    key = name_key(wanted)
    theirs = {k for k in map(name_key, others) if k and k != key}
    candidates = []
    for sheet in sheets:
        found = name_key(sheet)
        if _plausible(key, found) and not any(k in found and k not in key for k in theirs):
            candidates.append(sheet)
    return candidates[0] if len(candidates) == 1 else None


def hinted_sheet(
    department: str, wanted: str, sheets: Iterable[str], configured: Mapping[str, str]
) -> str | None:
    """``likely_sheet`` for ``department``'s missing sheet ``wanted``, sparing the sheet of
    every other department ``configured`` (each department's sheet in the directory, by
    department): the one rule the runs, ``--check-inputs`` and the doctor share."""
    others = [sheet for name, sheet in configured.items() if sheet and name != department]
    return likely_sheet(wanted, sheets, others)


def is_copy(wanted: str, sheet: str) -> bool:
    """Whether ``sheet`` is named as Excel, LibreOffice or Google Sheets name a copy of
    ``wanted``."""
    return _copy(name_key(wanted), name_key(sheet))


def _copy(key: str, found: str) -> bool:
    escaped = re.escape(key)
    return bool(key) and any(re.fullmatch(m.format(name=escaped), found) for m in COPY_MARKS)


def _plausible(key: str, found: str) -> bool:
    """Whether a sheet's name (its key) may be the missing one's: a copy of it, or (for a
    name of two characters or more) a name that contains it."""
    if not key or found == key or key not in found:
        return False
    return len(key) >= SHORTEST_CONTAINED or _copy(key, found)


def hint_ja(wanted: str, sheet: str) -> str:
    """What the department is told: which sheet looks like its own, and to rename it."""
    what = "この部局のシートのコピー" if is_copy(wanted, sheet) else "この部局のシート"
    return f"「{sheet}」が{what}のようです。シート名を「{wanted}」に変更してください。"


def brief_ja(wanted: str, sheet: str) -> str:
    """The hint as a report line lists it beside シートなし: コピー「危機管理課 (2)」あり."""
    return f"コピー「{sheet}」あり" if is_copy(wanted, sheet) else f"似た名前の「{sheet}」あり"


def hint_en(wanted: str, sheet: str) -> str:
    """The hint as the set-up checks say it: '危機管理課 (2)' looks like a copy of it: rename
    it to '危機管理課'."""
    what = "a copy of it" if is_copy(wanted, sheet) else "it under another name"
    return f"{sheet!r} looks like {what}: rename it to {wanted!r}"
