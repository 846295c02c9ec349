"""Whether a damage workbook is what ``automation provision workbook`` would build: pure.

Compares a workbook's bytes with the plan (:func:`automation.flows.provision.workbook_plan`)
the way a run reads it. A **failure** is what the run cannot read: the file does not open,
a department's sheet is missing, or its table is not found. A **warning** is a difference
the run reads through but that provision would not have built: a planned column the reader
does not find, an input column without its data validation or with other choices than the
configuration's, a sheet left unprotected, no 記入方法 sheet. A workbook made by hand is
read as it is, so it gets warnings, never failures, for lacking the typing-time checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from automation.config.models import DamageRollupParams, RecordsLayout
from automation.damage.catalogue import Catalogue
from automation.damage.reading import municipality_index, read_matrix, read_records
from automation.damage.sheet_hints import hint_en, hinted_sheet
from automation.damage.sheet_reading import SheetReading
from automation.damage.sheet_rules import SheetRules, list_choices, sheet_rules
from automation.damage.text import normalize
from automation.damage.workbook import Sheet, Workbook, address, parse_workbook, worksheet_xml
from automation.errors import DataError
from automation.flows.damage_rollup import build_catalogue
from automation.flows.provision import INSTRUCTIONS_SHEET, Column, SheetPlan, WorkbookPlan

Level = Literal["fail", "warn"]
EXCEL_KIND = {"figure": "custom", "choice": "list", "number": "whole", "text": "textLength"}
HEADER_ROWS = 30  # where a column's header is looked for: the top of the sheet


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference from the plan: ``fail`` when the run cannot read, else ``warn``."""

    level: Level
    text: str


def check_workbook(
    plan: WorkbookPlan,
    params: DamageRollupParams,
    data: bytes,
    name: str,
    *,
    max_bytes: int,
    sheets: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every difference between the workbook ``data`` and ``plan``, failures first.
    ``sheets``: every department's sheet in the directory, by department (a missing
    sheet's hint never names one of them); the plan's departments' when not given."""
    try:
        book = parse_workbook(data, name, max_bytes=max_bytes)
        xml = worksheet_xml(data, name)
    except DataError as err:
        return [Finding("fail", err.message)]
    catalogue = build_catalogue(params)
    found: list[Finding] = []
    if INSTRUCTIONS_SHEET not in book.sheets:
        found.append(Finding("warn", f"no {INSTRUCTIONS_SHEET} sheet (how to fill in)"))
    for sheet_plan in plan.sheets:
        # Found as a run finds it: 「危機管理課　」 (a space Excel's tab does not show) is its.
        named = book.sheet_named(sheet_plan.name)
        sheet = book.sheets[named] if named is not None else None
        if sheet is None:
            configured = sheets or {p.department: p.name for p in plan.sheets}
            like = hinted_sheet(sheet_plan.department, sheet_plan.name, book.sheets, configured)
            found.append(
                Finding(
                    "fail",
                    f"no sheet 「{sheet_plan.name}」 for {sheet_plan.department} "
                    f"(sheets: {'、'.join(book.sheets) or 'none'})"
                    + (f"; {hint_en(sheet_plan.name, like)}" if like is not None else ""),
                )
            )
            continue
        if named != sheet_plan.name:
            found.append(
                Finding(
                    "warn",
                    f"「{sheet_plan.name}」 for {sheet_plan.department} is named {named!r} "
                    "(spaces a tab does not show, or full- and half-width forms): runs read it; "
                    f"rename it to {sheet_plan.name!r} to match the plan",
                )
            )
        rules = sheet_rules(xml.get(named or "", b""))
        found += _sheet_findings(sheet_plan, sheet, rules, book, params, catalogue)
    return sorted(found, key=lambda f: f.level != "fail")


def _sheet_findings(
    plan: SheetPlan,
    sheet: Sheet,
    rules: SheetRules,
    book: Workbook,
    params: DamageRollupParams,
    catalogue: Catalogue,
) -> list[Finding]:
    """One department's sheet: readable, its columns, their validation, its protection."""
    reading = _read(plan, sheet, params, catalogue)
    where = f"「{plan.name}」"
    if not reading.table_found:
        said = reading.problems[0].message if reading.problems else "no table"
        return [Finding("fail", f"{where}: the run finds no {plan.layout} table: {said}")]
    found = []
    names = _names(plan, params)
    present = _present_headers(plan, reading, catalogue, names)
    missing = [c.header for c in plan.columns if c.header not in present]
    if missing:
        found.append(Finding("warn", f"{where}: no column {_some(missing)}"))
    unchecked = []
    cells = _header_cells(sheet, catalogue, plan.layout)
    codes = _codes(plan, catalogue)
    for column in plan.columns:
        if column.rule is None or column.header not in present:
            continue
        cell = _first_input(sheet, cells, names[column.header], codes.get(column.header))
        problem = _rule_problem(column, cell, rules, book) if cell else None
        if problem == "none":
            unchecked.append(column.header)
        elif problem:
            found.append(Finding("warn", f"{where}: {problem}"))
    if unchecked:
        found.append(Finding("warn", f"{where}: no data validation on {_some(unchecked)}"))
    if not rules.protected:
        found.append(Finding("warn", f"{where}: not protected (its headers can be edited)"))
    return found


def _read(
    plan: SheetPlan, sheet: Sheet, params: DamageRollupParams, catalogue: Catalogue
) -> SheetReading:
    layout = params.layouts.get(plan.department, params.default_layout)
    towns = municipality_index(params.municipalities)
    if isinstance(layout, RecordsLayout):
        return read_records(sheet, plan.department, layout, catalogue, towns)
    return read_matrix(sheet, plan.department, layout, catalogue, towns)


def _names(plan: SheetPlan, params: DamageRollupParams) -> dict[str, frozenset[str]]:
    """Each planned header -> the header texts (normalised) the reader takes for it."""
    names = {c.header: frozenset({normalize(c.header)}) for c in plan.columns}
    layout = params.layouts.get(plan.department, params.default_layout)
    if isinstance(layout, RecordsLayout):
        for aliases in (
            layout.id_column,
            layout.type_column,
            layout.municipality_column,
            layout.place_columns,
            layout.status_column,
        ):
            if aliases and aliases[0] in names:
                names[aliases[0]] = frozenset(normalize(a) for a in aliases)
    return names


def _codes(plan: SheetPlan, catalogue: Catalogue) -> dict[str, str]:
    """A matrix sheet's planned headers -> their items' codes (columns follow the catalogue)."""
    if plan.layout != "matrix":
        return {}
    return {c.header: item.code for c, item in zip(plan.columns, catalogue, strict=False)}


def _present_headers(
    plan: SheetPlan,
    reading: SheetReading,
    catalogue: Catalogue,
    names: Mapping[str, frozenset[str]],
) -> set[str]:
    """The planned headers whose columns the reader found."""
    if plan.layout == "records":
        seen = {normalize(h) for h in reading.record_columns if h}
        return {header for header, aliases in names.items() if aliases & seen}
    codes = {item.code for item in reading.columns}
    return {
        column.header
        for column, item in zip(plan.columns, catalogue, strict=False)
        if item.code in codes
    }


@dataclass(frozen=True, slots=True)
class _HeaderCell:
    """A text cell near the top of a sheet: where it is, its text, the item it names."""

    row: int
    col: int
    text: str
    code: str | None


def _header_cells(sheet: Sheet, catalogue: Catalogue, layout: str) -> list[_HeaderCell]:
    """The text cells of the sheet's top rows (headers live there), each matched once."""
    cells = []
    for row in range(sheet.top, min(sheet.bottom, sheet.top + HEADER_ROWS)):
        for col, value in enumerate(sheet.row(row)):  # padded from column A
            if not isinstance(value, str) or not value.strip():
                continue
            item = catalogue.match_header([value]).item if layout == "matrix" else None
            cells.append(_HeaderCell(row, col, normalize(value), item.code if item else None))
    return cells


def _first_input(
    sheet: Sheet, cells: list[_HeaderCell], names: frozenset[str], code: str | None
) -> tuple[int, int] | None:
    """The first input cell under the header cell bearing one of ``names`` or naming the
    item ``code`` (below a merged header cell), or None when no header cell does."""
    for cell in cells:
        if cell.text in names or (code is not None and cell.code == code):
            merge = sheet.merge_at(cell.row, cell.col)
            return (merge.bottom if merge else cell.row) + 1, cell.col
    return None


def _rule_problem(
    column: Column, cell: tuple[int, int], rules: SheetRules, book: Workbook
) -> str | None:
    """What is wrong with the validation of ``column``'s first input cell: "none" when it
    has none, a sentence when it differs from the plan, None when it is as planned."""
    assert column.rule is not None
    validation = rules.at(*cell)
    if validation is None:
        return "none"
    expected = EXCEL_KIND[column.rule.kind]
    at = address(*cell)
    if validation.kind != expected:
        return (
            f"{column.header} ({at}) has a {validation.kind} validation, provision builds "
            f"{expected}"
        )
    if column.rule.kind != "choice":
        return None
    offered = list_choices(validation.formula, book.sheets)
    if offered is None:
        return None  # a named range or another form: not compared
    return _choice_problem(column.header, at, column.rule.choices, offered)


def _choice_problem(
    header: str, at: str, planned: tuple[str, ...], offered: tuple[str, ...]
) -> str | None:
    norm: Mapping[str, str] = {normalize(c): c for c in offered}
    lacking = [c for c in planned if normalize(c) not in norm]
    wanted = {normalize(c) for c in planned}
    extra = [c for key, c in norm.items() if key not in wanted]
    if not lacking and not extra:
        return None
    parts = []
    if lacking:
        parts.append(f"lacks {'、'.join(lacking)} (in the configuration)")
    if extra:
        parts.append(f"offers {'、'.join(extra)} (not in the configuration)")
    return f"the list of {header} ({at}) {' and '.join(parts)}"


def _some(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` names, and how many more."""
    more = f" (and {len(names) - shown} more)" if len(names) > shown else ""
    return "、".join(names[:shown]) + more
