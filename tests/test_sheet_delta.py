"""Specs for reading only what changed (issue 18): a save that changed one department's sheet
reads that sheet again and reuses the stored readings of the others, and the result is the
one a full re-read gives, whatever was edited (values, text, rows, a renamed, added or
removed sheet, a sheet renamed with a trailing space, a change that only moved the shared
strings)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from automation.config.models import Contact, Department, Directory
from automation.damage.catalogue import DEFAULT_CATALOGUE
from automation.damage.totals import Figures, _cell_changes, consolidate
from automation.damage.workbook import Sheet, Workbook, parse_workbook
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState
from automation.parallel import Forked, Mapper, delivered_by_helpers, serial
from automation.timeutil import JST
from tests.workbook_builders import (
    MATRIX_SHEET,
    RECORDS_SHEET,
    STATUSES,
    TOWNS,
    WRITERS,
    DrawnSheet,
    Layout,
    cell_values,
    fuzz_params,
    matrix_sheets,
    records_sheets,
    town_cells,
)

T = TypeVar("T")
R = TypeVar("R")
START = datetime(2026, 9, 1, 9, 0, tzinfo=JST)
THIRD, LATE = "農政部", "企業局"  # 企業局's sheet comes and goes
MEMO = "メモ"  # a sheet no department reads: its text moves only the shared strings
DIRECTORY = Directory(
    departments=tuple(
        Department(
            name=name, sheet=name, contacts=(Contact(channel="mail", address=f"{n}@example.jp"),)
        )
        for n, name in enumerate((MATRIX_SHEET, RECORDS_SHEET, THIRD, LATE))
    )
)
PARAMS = fuzz_params(STATUSES)
DELTA = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Book:
    """The workbook as the departments keep it: sheets by name, in order."""

    sheets: dict[str, DrawnSheet]
    writer: str

    def data(self) -> bytes:
        return WRITERS[self.writer](self.sheets)


@st.composite
def books(draw: st.DrawFn) -> Book:
    """Three department sheets (two tables, one incident list), a memo sheet after them."""
    sheets = {
        MATRIX_SHEET: draw(matrix_sheets()),
        RECORDS_SHEET: draw(records_sheets()),
        THIRD: draw(matrix_sheets()),
        MEMO: DrawnSheet([["覚え書き"]], [], layout=draw(matrix_sheets()).layout),
    }
    return Book(sheets, draw(st.sampled_from(sorted(WRITERS))))


def _free_rows(sheet: DrawnSheet) -> int:
    """The first row no merged range reaches (rows from there can move)."""
    return max((bottom + 1 for _, _, bottom, _ in sheet.merges), default=0)


@st.composite
def edits(draw: st.DrawFn, book: Book) -> str:
    """One save: an edit applied to ``book`` in place; returns what it did."""
    kind = draw(
        st.sampled_from(
            ["value", "value", "town", "add_row", "remove_row", "rename", "late", "memo"]
        )
    )
    names = [n for n in book.sheets if n != MEMO]
    name = draw(st.sampled_from(names))
    sheet = book.sheets[name]
    free = _free_rows(sheet)
    if kind in ("value", "town") and sheet.rows:
        r = draw(st.integers(0, len(sheet.rows) - 1))
        row = sheet.rows[r]
        c = draw(st.integers(0, len(row)))
        row.extend([None] * (c + 1 - len(row)))
        row[c] = draw(cell_values if kind == "value" else town_cells)
    elif kind == "add_row":
        width = max((len(r) for r in sheet.rows), default=2)
        values = draw(st.lists(cell_values, min_size=width - 1, max_size=width - 1))
        at = draw(st.integers(free, len(sheet.rows)))
        sheet.rows.insert(at, [draw(st.sampled_from(TOWNS)), *values])
    elif kind == "remove_row" and len(sheet.rows) > free:
        del sheet.rows[draw(st.integers(free, len(sheet.rows) - 1))]
    elif kind == "rename":  # away, or (with a space Excel's tab does not show) not away
        added = draw(st.sampled_from(["_", " ", "\u3000"]))
        renamed = name[:-1] if name.endswith(("_", " ", "\u3000")) else name + added
        book.sheets = {(renamed if n == name else n): s for n, s in book.sheets.items()}
    elif kind == "late":
        if LATE in book.sheets:
            del book.sheets[LATE]
        else:
            book.sheets = {**book.sheets, LATE: draw(matrix_sheets())}
            book.sheets[MEMO] = book.sheets.pop(MEMO)  # the memo stays the last sheet
    elif kind == "memo":
        book.sheets[MEMO].rows.append([draw(st.text("あいうえお備考", min_size=1, max_size=6))])
    return f"{kind} {name}"


def run(
    book: Book, previous: DamageState, now: datetime, version: str, mapper: Mapper = serial
) -> DamagePlan:
    """The flow on the workbook as it is now, lazily parsed as a run parses it."""
    workbook = parse_workbook(book.data(), "book.xlsx", max_bytes=10**8, lazy=True)
    inputs = DamageInputs(version, workbook)
    return damage_rollup.plan(PARAMS, DIRECTORY, inputs, previous, now, mapper=mapper)


def observed(plan: DamagePlan) -> dict[str, Any]:
    """Everything a run shows or keeps besides how it read: the report, what the merged
    workbook is made from, the messages and the state."""
    report = plan.report
    consolidated = report.consolidated
    return {
        "status": plan.status,
        "artefact": plan.artefact,
        "report": (report.number, report.new, report.as_of, report.previous_number),
        "totals": consolidated.totals,
        "by_municipality": consolidated.by_municipality,
        "by_department": consolidated.by_department,
        "statuses": consolidated.statuses,
        "figures": consolidated.figures,
        "changes": report.changes,
        "departments": report.departments,
        "problems": report.problems,
        "readings": dict(report.readings),
        "incidents": (report.incident_changes, report.open_incidents, report.carries),
        "messages": [
            (m.kind, m.occasion, m.audience, m.contact, m.template) for m in plan.messages
        ],
        "feedback": [m.context.get("reading") for m in plan.messages if m.kind == "feedback"],
        "snapshot": plan.state.snapshot,
        "state": (plan.state.version, plan.state.report_number, plan.state.departments),
    }


def test_reading_only_what_changed_gives_what_a_full_re_read_gives() -> None:
    """After any saves, reusing stored readings reports, sends and keeps what re-reading does."""
    # and some readings were reused (had none been, the two runs would agree trivially)
    reused: list[int] = []
    _incremental_runs_equal_full_runs(reused)
    assert any(reused)


def _incremental_runs_equal_full_runs(reused: list[int]) -> None:
    @DELTA
    @given(st.data())
    def rounds(data: st.DataObject) -> None:
        book = data.draw(books())
        state = DamageState()
        now = START
        for round_ in range(data.draw(st.integers(1, 4))):
            if round_:
                data.draw(edits(book), label=f"save {round_}")
            now += timedelta(hours=1)
            version = f"v{round_}"
            incremental = run(book, state, now, version)
            full = run(book, replace(state, readings={}), now, version)
            reused.append(len(full.report.reread) - len(incremental.report.reread))
            event(f"reused {reused[-1]}")
            assert observed(incremental) == observed(full)
            assert incremental.report.reading_keys == full.report.reading_keys
            state = incremental.state

    rounds()


def test_reading_in_helper_processes_gives_what_one_process_gives() -> None:
    """After any saves, helpers reading the sheets give what one process gives; helpers did read."""
    # (had every helper failed, this process would have read them all and the two agree)
    before = delivered_by_helpers()
    _forked_runs_equal_one_process_runs()
    assert delivered_by_helpers() > before


@settings(DELTA, max_examples=25)
@given(st.data())
def _forked_runs_equal_one_process_runs(data: st.DataObject) -> None:
    book = data.draw(books())
    state = DamageState()
    now = START
    for round_ in range(data.draw(st.integers(1, 3))):
        if round_:
            data.draw(edits(book), label=f"save {round_}")
        now += timedelta(hours=1)
        version = f"v{round_}"
        forked = run(book, state, now, version, Forked(3))
        alone = run(book, state, now, version)
        assert observed(forked) == observed(alone)
        assert forked.report.reread == alone.report.reread
        assert forked.state.readings == alone.state.readings
        state = alone.state


def _table(figure: int) -> DrawnSheet:
    """A one-row damage table whose 死者 figure is ``figure``."""
    return DrawnSheet([["市町村", "死者(人)", "備考"], ["前橋市", figure, "確認中"]], [], Layout(0))


def _book(writer: str, first: int = 1, note: str = "覚え書き", remark: str = "確認中") -> Book:
    """Two department tables and a memo; ``remark`` is a text of the first table only."""
    sheets = {MATRIX_SHEET: _table(first), THIRD: _table(2), MEMO: _table(0)}
    sheets[MATRIX_SHEET].rows[1][2] = remark
    sheets[MEMO].rows.append([note])
    return Book(sheets, writer)


def _part(book: Book, sheet: str) -> bytes:
    """The XML of ``sheet``'s part in the package as written."""
    with zipfile.ZipFile(io.BytesIO(book.data())) as archive:
        return archive.read(f"xl/worksheets/sheet{list(book.sheets).index(sheet) + 1}.xml")


def _parsed(book: Book) -> tuple[Workbook, set[str]]:
    """The workbook lazily parsed, and the set that fills with the sheets parsed."""
    workbook = parse_workbook(book.data(), "book.xlsx", max_bytes=10**8, lazy=True)
    parsed: set[str] = set()
    sheets = workbook.sheets

    class Watched(dict[str, Sheet]):
        def __contains__(self, name: object) -> bool:
            return name in sheets

        def __getitem__(self, name: str) -> Sheet:
            parsed.add(name)
            return sheets[name]

    return replace(workbook, sheets=Watched()), parsed


def test_a_save_that_changed_one_sheet_reads_and_parses_that_sheet_only() -> None:
    """The sheets whose parts are unchanged in the package are neither parsed nor read."""
    first = run(_book("openpyxl"), DamageState(), START, "v1")
    workbook, parsed = _parsed(_book("openpyxl", first=5))
    second = damage_rollup.plan(
        PARAMS, DIRECTORY, DamageInputs("v2", workbook), first.state, START + timedelta(hours=1)
    )
    assert (second.report.reread, parsed) == ({MATRIX_SHEET}, {MATRIX_SHEET})
    assert second.report.new and second.report.consolidated.totals[0].value == 7


class CostsNoted:
    """A one-process mapper that notes the cost it was given for each item."""

    def __init__(self) -> None:
        self.costs: list[int] = []

    def __call__(
        self, function: Callable[[T], R], items: Sequence[T], costs: Sequence[int] | None = None
    ) -> list[R]:
        self.costs = list(costs or [])
        return serial(function, items)


def test_a_save_that_changed_one_sheet_gives_the_others_no_cost_to_share() -> None:
    """Sheets whose stored readings hold cost nothing: one sheet's save is not worth a helper."""
    # automation.parallel weighs by cost
    first = run(_book("openpyxl"), DamageState(), START, "v1")
    noted = CostsNoted()
    run(_book("openpyxl", first=5), first.state, START + timedelta(hours=1), "v2", noted)
    changed = [cost for cost in noted.costs if cost]
    assert len(noted.costs) == 2 and len(changed) == 1 and changed[0] > 100


def test_a_sheet_whose_shared_strings_were_only_renumbered_is_neither_parsed_nor_read() -> None:
    """Sheets whose shared strings were only renumbered are neither parsed nor read again."""
    # a new text in the first sheet renumbers the strings after it (first use, as Excel and
    # XlsxWriter do): their parts' bytes change, their values do not
    before, after = _book("xlsxwriter"), _book("xlsxwriter", remark="新たな備考")
    assert _part(before, THIRD) != _part(after, THIRD)
    first = run(before, DamageState(), START, "v1")
    workbook, parsed = _parsed(after)
    second = damage_rollup.plan(
        PARAMS, DIRECTORY, DamageInputs("v2", workbook), first.state, START + timedelta(hours=1)
    )
    assert (parsed, second.report.reread) == ({MATRIX_SHEET}, {MATRIX_SHEET})


def test_a_new_text_in_a_sheet_no_department_reads_parses_no_sheet() -> None:
    """A new text in the memo sheet parses no department's sheet; the report is unchanged."""
    # it changes the shared strings only
    first = run(_book("xlsxwriter"), DamageState(), START, "v1")
    workbook, parsed = _parsed(_book("xlsxwriter", note="別の覚え書き"))
    second = damage_rollup.plan(
        PARAMS, DIRECTORY, DamageInputs("v2", workbook), first.state, START + timedelta(hours=1)
    )
    assert parsed == set() and second.report.reread == frozenset()
    assert second.status == "unchanged"


def test_a_changed_reading_configuration_reads_every_sheet_again() -> None:
    """Stored readings hold for the layout and catalogue they were read with only."""
    first = run(_book("openpyxl"), DamageState(), START, "v1")
    params = PARAMS.model_copy(update={"municipalities": (*TOWNS, "草津町")})
    workbook = parse_workbook(_book("openpyxl").data(), "book.xlsx", max_bytes=10**8, lazy=True)
    second = damage_rollup.plan(params, DIRECTORY, DamageInputs("v2", workbook), first.state, START)
    assert second.report.reread == {MATRIX_SHEET, THIRD}


def test_a_stored_reading_that_cannot_be_decoded_is_read_again() -> None:
    """A damaged stored reading is never trusted: the sheet is read as if new."""
    first = run(_book("openpyxl"), DamageState(), START, "v1")
    damaged = {d: replace(r, head=b"not zlib") for d, r in first.state.readings.items()}
    state = replace(first.state, readings=damaged)
    second = run(_book("openpyxl"), state, START + timedelta(hours=1), "v2")
    assert second.report.reread == {MATRIX_SHEET, THIRD}
    assert observed(second) == observed(
        run(_book("openpyxl"), replace(state, readings={}), START + timedelta(hours=1), "v2")
    )


decimals = st.sampled_from([Decimal(0), Decimal(1), Decimal(3), Decimal("1.50"), Decimal(-2)])
cells = st.tuples(st.sampled_from(TOWNS[:3]), st.sampled_from(["dead", "injured"]))


@st.composite
def department_figures(draw: st.DrawFn) -> dict[str, Figures]:
    """Up to four departments' figures over three towns and two items, zeros included."""
    figures = {}
    for dept in draw(st.sets(st.sampled_from(["a", "b", "c", "d"]))):
        figures[dept] = Figures(
            draw(st.dictionaries(cells, decimals)),
            draw(st.sets(cells)),
            unreadable=draw(st.sets(cells)),
        )
    return figures


@DELTA
@given(department_figures(), department_figures(), st.data())
def test_the_diff_from_the_consolidated_sums_is_the_diff_summed_cell_by_cell(
    before: dict[str, Figures], after: dict[str, Figures], data: st.DataObject
) -> None:
    """A diff built on the consolidated sums equals the diff that adds every figure up again."""
    # (the unchanged departments' part of a cell, from the sums or added up afresh)
    for dept in data.draw(st.sets(st.sampled_from(sorted(before)))) if before else ():
        after[dept] = before[dept]  # unchanged departments: the very same figures
    sums = consolidate(after, DEFAULT_CATALOGUE).by_municipality
    assert _cell_changes(before, after, TOWNS, sums) == _cell_changes(before, after, TOWNS)
