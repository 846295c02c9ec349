"""Find the table on a department's sheet and read it (matrix or records layout).

Real forms carry title rows above the table, a header one to three rows deep (often
merged), blank separator rows, a total row (計/合計) and notes (※...) under the table.
Readers find the header, skip what is not data, and never count a total row twice.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from weakref import WeakKeyDictionary

from automation.cells import (
    PROBLEM,
    UNCONFIRMED,
    Amount,
    CellMemo,
    Problem,
    Reading,
    Uncalculated,
    Unconfirmed,
    read_cell,
    uncalculated,
)
from automation.config.models import MatrixLayout, RecordsLayout
from automation.damage.catalogue import Catalogue, HeaderMatch, Item
from automation.damage.sheet_reading import (
    PROBLEM_PREFIX,
    UNCONFIRMED_TEXT,
    AsRead,
    CellProblem,
    Incident,
    SheetReading,
    collector_paused,
)
from automation.damage.text import normalize
from automation.damage.workbook import Sheet, address

HEADER_SCAN_ROWS = 40
MAX_HEADER_DEPTH = 3
TOTAL_WORDS = frozenset(
    normalize(w) for w in ("計", "合計", "総計", "小計", "県計", "合計値", "総数")
)
PART_TOTAL_CHARS = 8  # 市部計, 吾妻郡計, 群馬県計: a total row's name, not a note
NOTE_PREFIXES = ("※", "注", "*", "備考", "(注")
NO_STATUS = "（未記入）"
UNNAMED_ROW = "市町村名なし"  # where a row without a (readable) municipality name is left out


def _as_read(value: object) -> AsRead:
    """A record cell as shown in the merged workbook: numbers stay numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return _text(value)


def _unreadable(reading: SheetReading, where: str, message: str) -> SheetReading:
    """Mark a sheet whose table cannot be found, with one sheet-level problem."""
    reading.table_found = False
    reading.problems.append(CellProblem(reading.department, where, "", message))
    return reading


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _formula_problem(department: str, where: str, column: str, value: Uncalculated) -> CellProblem:
    """A key cell (municipality, type, status) whose formula has no saved result."""
    problem = uncalculated(value)
    return CellProblem(
        department,
        where,
        problem.raw,
        f"{column}: {problem.reason}。この行は集計されません。{problem.fix}",
    )


def _is_total(text: str) -> bool:
    """計, 合計 ...; or a part's total: 市部計, 町村部計, 群馬県計 (no municipality's name ends
    in 計, and a note would be longer)."""
    folded = normalize(text).strip("()[]（）【】")
    return folded in TOTAL_WORDS or (folded.endswith("計") and len(folded) <= PART_TOTAL_CHARS)


def _is_note(text: str) -> bool:
    return unicodedata.normalize("NFKC", text).lstrip().startswith(NOTE_PREFIXES)


def _find_cell(
    sheet: Sheet, labels: tuple[str, ...], start_row: int | None = None
) -> tuple[int, int] | None:
    wanted = {normalize(label) for label in labels}
    first = sheet.top if start_row is None else start_row
    for row in range(first, min(sheet.bottom, first + HEADER_SCAN_ROWS)):
        for col in range(sheet.left, sheet.right):
            value = sheet.value(row, col)
            if isinstance(value, str) and normalize(value) in wanted:
                return row, col
    return None


def _header_depth(sheet: Sheet, row: int, key_col: int) -> int:
    merge = sheet.merge_at(row, key_col)
    if merge is not None and merge.top == row and merge.bottom > row:
        return min(merge.bottom - row + 1, MAX_HEADER_DEPTH)
    depth = 1
    while depth < MAX_HEADER_DEPTH and row + depth < sheet.bottom:
        below = row + depth
        if sheet.value(below, key_col) is not None:
            break
        cells = [sheet.value(below, c) for c in range(key_col + 1, sheet.right)]
        texts = [v for v in cells if isinstance(v, str) and v.strip()]
        numbers = [v for v in cells if isinstance(v, int | float) and not isinstance(v, bool)]
        if not texts or numbers:
            break
        if any(isinstance(read_cell(v, "", True), Amount | Unconfirmed) for v in texts):
            break
        depth += 1
    return depth


def _header_parts(sheet: Sheet, rows: range, col: int) -> list[str]:
    parts = []
    # Where the header rows use no merged cells, a group title covers the blanks to its
    # right (a merged title line above the table does not change that).
    fill = len(rows) > 1 and not any(
        m.top <= rows[-1] and m.bottom >= rows[0] for m in sheet.merges
    )
    for index, row in enumerate(rows):
        value = sheet.merged_value(row, col)
        if value is None and fill and index < len(rows) - 1:
            # Unmerged multi-row headers: a group title covers the blanks to its right.
            back = col - 1
            while (
                back >= sheet.left
                and sheet.value(row, back) is None
                and sheet.value(rows[-1], back) is not None
            ):
                back -= 1
            value = sheet.value(row, back) if back >= sheet.left else None
        text = _text(value)
        if text and text not in parts:
            parts.append(text)
    return parts


RECORD_SIGNS = RecordsLayout()  # the headers an incident list is recognised by


def records_headers(sheet: Sheet) -> list[str] | None:
    """The headers of a sheet that looks like an incident list (one row holding a type,
    a municipality and a status column, like 被害種別・市町村・状況); None otherwise."""
    groups = (
        RECORD_SIGNS.type_column,
        RECORD_SIGNS.municipality_column,
        RECORD_SIGNS.status_column,
    )
    wanted = [{normalize(label) for label in group} for group in groups]
    for row in range(sheet.top, min(sheet.bottom, sheet.top + HEADER_SCAN_ROWS)):
        texts = [v for v in sheet.row(row) if isinstance(v, str)]
        found = [next((t for t in texts if normalize(t) in w), None) for w in wanted]
        if all(found):
            number = next((t for t in texts if normalize(t) in _NUMBER_HEADERS), None)
            return [t.strip() for t in (number, *found) if t]
    return None


_NUMBER_HEADERS = {normalize(label) for label in RECORD_SIGNS.id_column}


def records_layout_hint(department: str, headers: list[str]) -> str:
    """What to tell about an incident list configured as a table, with the line to add."""
    return (
        f"このシートは箇所の一覧（{'・'.join(headers)} の列）のようですが、設定では"
        "市町村×項目の表として読むことになっているため、箇所は集計されていません。"
        f"管理者へ: 設定の params.layouts に「{department}: {{type: records}}」を加えてください。"
    )


def read_matrix(
    sheet: Sheet,
    department: str,
    layout: MatrixLayout,
    catalogue: Catalogue,
    municipalities: Mapping[str, str] | None,
) -> SheetReading:
    """Read a municipality x item table."""
    reading = SheetReading(department, sheet.name, "matrix", tabular=True)
    listed = records_headers(sheet)
    if listed is not None:
        return _unreadable(reading, sheet.name, records_layout_hint(department, listed))
    key = _find_cell(sheet, layout.key_headers)
    if key is None:
        return _unreadable(
            reading,
            sheet.name,
            f"表の見出し（{'・'.join(layout.key_headers[:2])}）が見つかりません。"
            "様式の見出し行（市町村の列）を元に戻してください。",
        )
    key_row, key_col = key
    depth = _header_depth(sheet, key_row, key_col)
    merge = sheet.merge_at(key_row, key_col)  # 「市町村」 merged across A:B is one header
    last = merge.right if merge is not None else key_col
    columns = _matrix_columns(sheet, reading, key_row, last, depth, catalogue)
    reading.columns = [item for _, item in columns]
    if not columns:
        return _unreadable(
            reading,
            f"{sheet.name}!{address(key_row, key_col)}",
            "被害項目の列が見つかりません。様式の見出し（死者、全壊など）を元に戻してください。",
        )
    names = _name_column(sheet, key_row + depth, key_col, last)
    with collector_paused():
        _read_matrix_rows(sheet, reading, key_row + depth, names, columns, municipalities)
    return reading


def _name_column(sheet: Sheet, first: int, left: int, right: int) -> int:
    """Under a municipality header merged across ``left``..``right``, the column the names
    are written in: the first holding text that is not a number (a row number may stand in
    the column before the names); ``left`` when none does."""
    if right == left:
        return left
    for col in range(left, right + 1):
        for row in range(first, min(sheet.bottom, first + HEADER_SCAN_ROWS)):
            value = sheet.value(row, col)
            if (
                isinstance(value, str)
                and _text(value)
                and not isinstance(read_cell(value, "", True), Amount)
            ):
                return col
    return left


def _read_matrix_rows(
    sheet: Sheet,
    reading: SheetReading,
    first: int,
    key_col: int,
    columns: list[tuple[int, Item]],
    municipalities: Mapping[str, str] | None,
) -> None:
    """Read the table's rows from ``first`` down to a note (or the sheet's end)."""
    department = reading.department
    seen_rows: dict[str, int] = {}  # municipality -> its row
    segment: list[str] = []  # rows' names since the last total row (rows left out too)
    above: list[str] = []  # every row's name so far: what a total row may sum
    width = max(col for col, _ in columns) + 1 - sheet.left
    row_reader = _RowReader(sheet, reading, columns)
    key = key_col - sheet.left
    leading: list[tuple[int, list[tuple[int, Item, object]]]] = []  # totals above every row
    for row in range(first, sheet.bottom):
        values = sheet.rows[row - sheet.top]
        if len(values) < width:
            values = values + (None,) * (width - len(values))
        key_value = values[key] if key < len(values) else None
        name = _text(key_value)  # "" for a formula without its result too
        if not name:
            if not isinstance(key_value, Uncalculated) and row_reader.blank(values):
                continue  # blank separator row
            where = f"{sheet.name}!{address(row, key_col)}"
            label, problem = UNNAMED_ROW, _unnamed_row_problem(department, where, key_value)
        else:
            kind = _row_name(name)
            if kind.note:
                break
            if kind.total:
                # Never counted; compared with the rows it sums, and a mismatch reported.
                cells = row_reader.cells(values)
                if not above:  # above every row (県計 under the header): it sums them all
                    leading.append((row, cells))
                    continue
                _check_total(sheet, reading, row, cells, [segment, above])
                segment = []
                continue
            municipality = kind.cleaned if municipalities is None else municipalities.get(kind.key)
            if municipality is not None and municipality not in seen_rows:
                seen_rows[municipality] = row
                segment.append(municipality)
                above.append(municipality)
                row_reader.read(row, municipality, values)
                continue
            first_row = seen_rows.get(municipality or "")
            label = municipality or kind.cleaned
            problem = _matrix_row_problem(
                department,
                f"{sheet.name}!{address(row, key_col)}",
                name,
                municipality,
                f"{sheet.name}!{address(first_row, key_col)}" if first_row is not None else "",
                municipalities,
            )
        # Left out, and so is any total over it: its figures are not known (see left_out).
        row_reader.left_out(values, label, problem)
        if label not in seen_rows:
            segment.append(label)
            above.append(label)
    for row, cells in leading:
        _check_total(sheet, reading, row, cells, [above])


def _unnamed_row_problem(department: str, where: str, key_value: object) -> CellProblem:
    """A row with figures but no municipality: its name cell blank, or a formula without
    its saved result."""
    if isinstance(key_value, Uncalculated):
        return _formula_problem(department, where, "市町村名", key_value)
    return CellProblem(
        department,
        where,
        "",
        "市町村名が空欄の行に数値があります。この行は集計されません。市町村名を入力してください。",
    )


def _matrix_row_problem(
    department: str,
    where: str,
    name: str,
    municipality: str | None,
    first: str,
    known: Mapping[str, str] | None = None,
) -> CellProblem:
    """Why a table row named ``name`` is not counted: an unknown or a repeated municipality."""
    if municipality is None:
        return CellProblem(
            department,
            where,
            name,
            f"市町村名「{name}」が市町村一覧にありません。この行は集計されません。"
            + _municipality_fix(name, known, "正しい市町村名（例: 前橋市）に直してください。"),
        )
    return CellProblem(
        department,
        where,
        name,
        f"「{municipality}」の行が2つあります（{first} と重複）。"
        "この行は集計されません。1行にまとめてください。",
    )


def _check_total(
    sheet: Sheet,
    reading: SheetReading,
    row: int,
    cells: list[tuple[int, Item, object]],
    spans: list[list[str]],
) -> None:
    """A typed 計 row is never counted; where its figure matches neither the rows since the
    previous total row nor all rows above, the department is told (a sum gone stale, a
    row typed wrong). Columns with 未確認 or unreadable cells have no known sum: skipped."""
    for col, item, raw in cells:
        typed = read_cell(raw, item.unit, item.decimals)
        if not isinstance(typed, Amount):
            continue
        sums = []
        for span in spans:
            if not span or any(
                (m, item.code) in reading.unconfirmed or (m, item.code) in reading.unreadable
                for m in span
            ):
                continue
            sums.append(
                sum((reading.amounts.get((m, item.code), Decimal(0)) for m in span), Decimal(0))
            )
        if not sums or typed.value in sums:
            continue
        cell = address(row, col)
        reading.problems.append(
            CellProblem(
                reading.department,
                f"{sheet.name}!{cell}",
                str(_as_read(raw)),
                f"{item.title}: 計の行（{cell}）は {_plain(typed.value)} ですが、"
                f"各行の合計は {_plain(sums[0])} です。計の行は集計に使っていません"
                "（各行の値を集計しています）。計か各行の値を直してください。",
            )
        )


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != value.to_integral_value() else str(int(value))


_HEADER_MATCHES: WeakKeyDictionary[Catalogue, dict[tuple[str, ...], HeaderMatch]] = (
    WeakKeyDictionary()
)


def _match_header(catalogue: Catalogue, parts: tuple[str, ...]) -> HeaderMatch:
    """``catalogue.match_header(parts)``, once per catalogue and header (every department's
    sheet has the same header row)."""
    matches = _HEADER_MATCHES.setdefault(catalogue, {})
    match = matches.get(parts)
    if match is None:
        if len(matches) >= 4096:
            matches.clear()
        match = matches[parts] = catalogue.match_header(parts)
    return match


def _matrix_columns(
    sheet: Sheet,
    reading: SheetReading,
    key_row: int,
    key_last: int,
    depth: int,
    catalogue: Catalogue,
) -> list[tuple[int, Item]]:
    """Match each header column right of the municipality header (``key_last``: its last
    column) to an item; report unknown, ambiguous and repeated ones."""
    header_rows = range(key_row, key_row + depth)
    columns: list[tuple[int, Item]] = []
    used: dict[str, str] = {}
    for col in range(key_last + 1, sheet.right):
        parts = _header_parts(sheet, header_rows, col)
        if not parts:
            continue
        match = _match_header(catalogue, tuple(parts))
        if match.ignored:
            continue
        where = f"{sheet.name}!{address(key_row, col)}"
        shown = " / ".join(parts)
        if match.item is None:
            if match.candidates:
                names = "、".join(item.title for item in match.candidates)
                message = (
                    f"見出し「{shown}」がどの項目か決められません（候補: {names}）。"
                    "単位（棟・世帯・人など）や区分（住家・非住家など）を見出しに書いてください。"
                )
            else:
                message = (
                    f"見出し「{shown}」に当たる項目がありません。この列は集計されません。"
                    "様式の項目名に戻すか、管理者に項目の追加を依頼してください。"
                )
            reading.problems.append(CellProblem(reading.department, where, shown, message))
            continue
        if match.item.code in used:
            reading.problems.append(
                CellProblem(
                    reading.department,
                    where,
                    shown,
                    f"項目「{match.item.title}」の列が2つあります（{used[match.item.code]} と重複）。"
                    "この列は集計されません。どちらか一方にまとめてください。",
                )
            )
            continue
        used[match.item.code] = where
        columns.append((col, match.item))
    return columns


@lru_cache(maxsize=16384)
def cell_keys(municipality: str, codes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The keys ``(municipality, code)`` of a row's cells, one tuple each shared by every
    sheet and reading of the process: the same municipalities and items recur on every
    department's sheet (at 60 x 2,000 this saves 50 MB and a tuple a cell)."""
    return tuple((municipality, code) for code in codes)


@dataclass(frozen=True, slots=True)
class _RowName:
    """What a table row's name cell says: a note, a total row or a municipality's name."""

    note: bool
    total: bool
    cleaned: str  # spaces removed: the municipality as written
    key: str  # normalised, to look the municipality up by


@lru_cache(maxsize=8192)
def _row_name(name: str) -> _RowName:
    """A row name's kind (the same municipality names recur on every department's sheet)."""
    cleaned = "".join(name.split())
    return _RowName(_is_note(name), _is_total(name), cleaned, normalize(cleaned))


class _RowReader:
    """Reads a table's figure cells row by row into a reading.

    A cell's value is read by :func:`read_cell` once per column kind (unit and decimals)
    and value: a sheet repeats the same few values (12.0, "-", "未確認", "１２") thousands
    of times, so most cells cost one dictionary look-up (:class:`CellMemo`)."""

    def __init__(self, sheet: Sheet, reading: SheetReading, columns: list[tuple[int, Item]]):
        self.sheet = sheet
        self.reading = reading
        self.columns = columns
        memos = [CellMemo.of(item.unit, item.decimals) for _, item in columns]
        self.plan = [
            (col - sheet.left, item.code, memo, memo.table)
            for (col, item), memo in zip(columns, memos, strict=True)
        ]
        self.codes = tuple(item.code for _, item in columns)
        labels = Counter(item.label for _, item in columns)
        # An item is named by its label unless another column shares it (全壊 棟/世帯).
        self.names = {
            item.code: item.label if labels[item.label] == 1 else item.title for _, item in columns
        }

    def blank(self, values: tuple[object, ...]) -> bool:
        """Whether the row's figure cells hold nothing (blank or spaces)."""
        return all(values[index] is None or _text(values[index]) == "" for index, *_ in self.plan)

    def cells(self, values: tuple[object, ...]) -> list[tuple[int, Item, object]]:
        """The row's figure cells: column, item and raw value."""
        return [(col, item, values[col - self.sheet.left]) for col, item in self.columns]

    def read(self, row: int, municipality: str, values: tuple[object, ...]) -> None:
        """Read one municipality's cells into the reading."""
        reading = self.reading
        amounts, unconfirmed = reading.amounts, reading.unconfirmed
        as_read: dict[str, AsRead] = {}
        keys = cell_keys(municipality, self.codes)
        for (index, code, memo, table), key in zip(self.plan, keys, strict=True):
            raw = values[index]
            if raw is None:
                continue
            entry = table.get(raw) if (cls := type(raw)) is float or cls is str else None
            if entry is None:
                entry = memo.get(raw)
            value = entry[1]
            if value is not None:  # an amount
                amounts[key] = value
                as_read[code] = entry[2]
            elif entry[0] == UNCONFIRMED:
                unconfirmed.add(key)
                as_read[code] = UNCONFIRMED_TEXT
            elif entry[0] == PROBLEM:
                self._problem(row, index, municipality, code, entry[3])
                as_read[code] = PROBLEM_PREFIX + str(entry[2])
        reading.rows.append((municipality, as_read))

    def left_out(self, values: tuple[object, ...], label: str, problem: CellProblem) -> None:
        """A row that is not counted (its municipality unknown, repeated or not written):
        ``problem`` (its key cell's) is the department's to fix, and each figure cell that
        holds anything is an unreadable cell of ``label``, so the totals it would move say
        that they leave something out (README: "never silently")."""
        reading = self.reading
        reading.problems.append(problem)
        for (index, *_), key in zip(self.plan, cell_keys(label, self.codes), strict=True):
            raw = values[index]
            filled = _text(raw) != "" if isinstance(raw, str) else raw is not None
            if filled and key not in reading.unreadable:
                reading.unreadable[key] = problem

    def _problem(self, row: int, index: int, municipality: str, code: str, result: Reading) -> None:
        assert isinstance(result, Problem)
        item = next(item for _, item in self.columns if item.code == code)
        reading = self.reading
        problem = CellProblem(
            reading.department,
            f"{self.sheet.name}!{address(row, index + self.sheet.left)}",
            result.raw,
            f"{item.title}: {result.message}",
            municipality,
            self.names[code],
        )
        reading.problems.append(problem)
        reading.unreadable[(municipality, code)] = problem


def read_records(
    sheet: Sheet,
    department: str,
    layout: RecordsLayout,
    catalogue: Catalogue,
    municipalities: Mapping[str, str] | None,
) -> SheetReading:
    """Read one-row-per-incident records, counting rows per item and status."""
    with collector_paused():
        return _read_records(sheet, department, layout, catalogue, municipalities)


def _read_records(
    sheet: Sheet,
    department: str,
    layout: RecordsLayout,
    catalogue: Catalogue,
    municipalities: Mapping[str, str] | None,
) -> SheetReading:
    reading = SheetReading(department, sheet.name, "records")
    found_type = _find_cell(sheet, layout.type_column)
    if found_type is None:
        return _unreadable(
            reading,
            sheet.name,
            f"列「{layout.type_column[0]}」が見つかりません。見出し行を様式どおりに戻してください。",
        )
    header_row, type_col = found_type
    muni_col = _column_in_row(sheet, header_row, layout.municipality_column)
    status_col = _column_in_row(sheet, header_row, layout.status_column)
    if muni_col is None:
        return _unreadable(
            reading,
            f"{sheet.name}!{address(header_row, type_col)}",
            f"列「{layout.municipality_column[0]}」が見つかりません。見出し行を様式どおりに戻してください。",
        )
    reading.record_columns = [
        _text(sheet.value(header_row, c)) for c in range(sheet.left, sheet.right)
    ]
    id_col = _column_in_row(sheet, header_row, layout.id_column)
    place_cols = _place_columns(sheet, header_row, layout)
    keys: Counter[str] = Counter()
    allowed = {normalize(s): s for s in layout.statuses} if layout.statuses else None
    width = sheet.right - sheet.left
    for row in range(header_row + 1, sheet.bottom):
        values = list(sheet.rows[row - sheet.top])
        values += [None] * (width - len(values))
        if all(_text(v) == "" for v in values):
            continue
        kind = _text(sheet.value(row, type_col))
        first = next((_text(v) for v in values if _text(v)), "")
        if _is_note(first):
            break
        if _is_total(kind) or _is_total(first):
            continue
        formulas = _record_formulas(
            sheet, department, layout, row, (type_col, muni_col, status_col)
        )
        if formulas:
            reading.problems.extend(formulas)
            continue
        where = f"{sheet.name}!{address(row, type_col)}"
        item = catalogue.match_label(kind) if kind else None
        if item is None:
            reading.problems.append(_unknown_kind(department, where, kind))
            continue
        name = _text(sheet.value(row, muni_col))
        municipality = _municipality(name, municipalities) if name else None
        if municipality is None:
            where_name = f"{sheet.name}!{address(row, muni_col)}"
            problem = _unknown_record_municipality(department, where_name, name, municipalities)
            _left_out_record(reading, problem, "".join(name.split()) or UNNAMED_ROW, item)
            continue
        status = _text(sheet.value(row, status_col)) if status_col is not None else ""
        if allowed is not None and status:
            canonical = allowed.get(normalize(status))
            if canonical is None:
                where_status = (
                    f"{sheet.name}!{address(row, type_col if status_col is None else status_col)}"
                )
                problem = _unknown_status(department, where_status, status, layout)
                _left_out_record(reading, problem, municipality, item)
                continue
            status = canonical
        status = status or NO_STATUS
        place = " ".join(t for c in place_cols if (t := _text(sheet.value(row, c))))
        number = str(_as_read(sheet.value(row, id_col))) if id_col is not None else ""
        key = f"No.{number}" if number else f"{item.label}|{municipality}|{place}"
        incident = Incident(key, item.code, item.label, municipality, place, status, where)
        _count_record(reading, keys, incident, values)
    return reading


def _left_out_record(reading: SheetReading, problem: CellProblem, label: str, item: Item) -> None:
    """An incident not counted: ``problem`` is the department's to fix, and its item's
    total says that it leaves something out in ``label`` (as a table's row does)."""
    reading.problems.append(problem)
    reading.unreadable.setdefault((label, item.code), problem)


def _place_columns(sheet: Sheet, header_row: int, layout: RecordsLayout) -> list[int]:
    """The columns whose header is one of the layout's place columns."""
    places = {normalize(label) for label in layout.place_columns}
    return [
        c
        for c in range(sheet.left, sheet.right)
        if isinstance(v := sheet.value(header_row, c), str) and normalize(v) in places
    ]


def _record_formulas(
    sheet: Sheet,
    department: str,
    layout: RecordsLayout,
    row: int,
    cols: tuple[int, int, int | None],
) -> list[CellProblem]:
    """A problem for each of the row's type, municipality and status cells that is a formula
    saved without its result (the row cannot be counted)."""
    type_col, muni_col, status_col = cols
    return [
        _formula_problem(department, f"{sheet.name}!{address(row, col)}", label, value)
        for col, label in (
            (type_col, layout.type_column[0]),
            (muni_col, layout.municipality_column[0]),
            (status_col, layout.status_column[0]),
        )
        if col is not None and isinstance(value := sheet.value(row, col), Uncalculated)
    ]


def _unknown_kind(department: str, where: str, kind: str) -> CellProblem:
    """A record whose damage type is blank or not in the catalogue."""
    return CellProblem(
        department,
        where,
        kind,
        (f"被害種別「{kind}」が項目一覧にありません。" if kind else "被害種別が空欄です。")
        + "この行は集計されません。道路・河川・橋りょう・崖くずれ などの種別を入力してください。",
    )


def _unknown_record_municipality(
    department: str, where: str, name: str, known: Mapping[str, str] | None = None
) -> CellProblem:
    """A record whose municipality is blank or not in the list."""
    return CellProblem(
        department,
        where,
        name,
        (f"市町村名「{name}」が市町村一覧にありません。" if name else "市町村名が空欄です。")
        + "この行は集計されません。"
        + _municipality_fix(name, known, "正しい市町村名を入力してください。"),
    )


MUNICIPALITY_SUFFIXES = ("市", "町", "村")
PLACE_PREFIX_ENDS = ("都", "道", "府", "県", "郡")  # 群馬県前橋市, 佐波郡玉村町


def _municipality_fix(name: str, known: Mapping[str, str] | None, default: str) -> str:
    """The fix for a municipality name not in the list: the listed spelling it is one step
    from (市/町/村 left off, or the prefecture or district written before it), when exactly
    one is; never guessed into the figures."""
    key = normalize("".join(name.split()))
    found = {
        listed
        for norm, listed in (known or {}).items()
        if any(key + suffix == norm for suffix in MUNICIPALITY_SUFFIXES)
        or (
            len(key) > len(norm)
            and key.endswith(norm)
            and key[: -len(norm)].endswith(PLACE_PREFIX_ENDS)
        )
    }
    if len(found) != 1:
        return default
    listed = found.pop()
    return f"「{listed}」のことであれば「{listed}」と入力してください。"


def _unknown_status(department: str, where: str, status: str, layout: RecordsLayout) -> CellProblem:
    """A record whose status is not one of the layout's statuses."""
    return CellProblem(
        department,
        where,
        status,
        f"状況「{status}」は選択肢にありません。この行は集計されません。"
        f"次のいずれかを入力してください: {'、'.join(layout.statuses or ())}",
    )


def _count_record(
    reading: SheetReading, keys: Counter[str], incident: Incident, values: list[object]
) -> None:
    """Count one record under its item, municipality and status, and keep the row as typed.

    The same incident number twice gets a suffix: both rows still count.
    """
    keys[incident.key] += 1
    if keys[incident.key] > 1:
        incident = replace(incident, key=f"{incident.key}#{keys[incident.key]}")
    reading.incidents.append(incident)
    key = (incident.municipality, incident.code)
    reading.amounts[key] = reading.amounts.get(key, Decimal(0)) + 1
    reading.statuses.setdefault(incident.code, Counter())[incident.status] += 1
    original = {h: _as_read(v) for h, v in zip(reading.record_columns, values, strict=False) if h}
    reading.rows.append(
        (
            incident.municipality,
            {"集計項目": incident.label, "集計状況": incident.status, **original},
        )
    )


def _column_in_row(sheet: Sheet, row: int, labels: tuple[str, ...]) -> int | None:
    wanted = {normalize(label) for label in labels}
    for col in range(sheet.left, sheet.right):
        value = sheet.value(row, col)
        if isinstance(value, str) and normalize(value) in wanted:
            return col
    return None


def municipality_index(names: tuple[str, ...] | None) -> Mapping[str, str] | None:
    """Map normalised municipality names to their canonical spelling."""
    return None if names is None else {normalize(name): name for name in names}


def _municipality(name: str, known: Mapping[str, str] | None) -> str | None:
    cleaned = "".join(name.split())
    return cleaned if known is None else known.get(normalize(cleaned))
