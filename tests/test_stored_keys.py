"""Specs for keeping a sheet's stored package key (issue 18): while the zip directory entries
of the parts a sheet's package key is computed from are those its stored reading was keyed
with, the stored key holds and nothing is unpacked or hashed; the run that does so reads,
reports and keeps exactly what a run computing every key does. Readings stored before the
entries were kept are keyed as before."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from automation.damage.stored import PackageKey, StoredReading
from automation.damage.workbook import Workbook, parse_workbook
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState
from tests.test_sheet_delta import (
    DELTA,
    DIRECTORY,
    MATRIX_SHEET,
    PARAMS,
    START,
    THIRD,
    Book,
    _book,
    books,
    edits,
    observed,
)

HOUR = timedelta(hours=1)


class Watched(Mapping[str, str]):
    """A workbook's package keys, noting which sheets' keys were looked up."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = keys
        self.looked: set[str] = set()

    def __getitem__(self, sheet: str) -> str:
        self.looked.add(sheet)
        return self.keys[sheet]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


def parsed(book: Book) -> Workbook:
    """The workbook lazily parsed, as a run parses it."""
    return parse_workbook(book.data(), "book.xlsx", max_bytes=10**8, lazy=True)


def plan(workbook: Workbook, previous: DamageState, now: datetime, version: str) -> DamagePlan:
    return damage_rollup.plan(PARAMS, DIRECTORY, DamageInputs(version, workbook), previous, now)


def watched(book: Book, previous: DamageState, now: datetime) -> tuple[DamagePlan, set[str]]:
    """A run on ``book``, and the sheets whose package keys it looked up."""
    workbook = parsed(book)
    keys = Watched(workbook.packages)
    return plan(replace(workbook, packages=keys), previous, now, now.isoformat()), keys.looked


def kept(plan: DamagePlan) -> dict[str, tuple[Any, ...]]:
    """Per department, the reading kept for the next run and its package key (the entries
    it was computed from aside: a run computing every key keeps none)."""
    return {
        d: (r.keys.key, r.content, r.fingerprint, r.head, r.body)
        for d, r in plan.state.readings.items()
    }


def test_keeping_stored_keys_reads_and_keeps_what_computing_every_key_does() -> None:
    """After any saves, keeping stored package keys reads, reports and keeps what computing does."""
    # renumbered shared strings, renamed and added sheets included; a key is kept where its
    # sheet's directory entries are unchanged, and some were kept (had none been, the two
    # runs would agree trivially)
    kept_keys: list[int] = []
    _kept_keys_runs_equal_computed_runs(kept_keys)
    assert any(kept_keys)


def _kept_keys_runs_equal_computed_runs(kept_keys: list[int]) -> None:
    @DELTA
    @given(st.data())
    def rounds(data: st.DataObject) -> None:
        book = data.draw(books())
        state = DamageState()
        now = START
        for round_ in range(data.draw(st.integers(1, 4))):
            if round_:
                data.draw(edits(book), label=f"save {round_}")
            now += HOUR
            workbook = parsed(book)  # each run parses its own: a sheet's checks are made once
            keys = Watched(workbook.packages)
            shortcut = plan(replace(workbook, packages=keys), state, now, f"v{round_}")
            computed = plan(replace(parsed(book), entries={}), state, now, f"v{round_}")
            if round_:
                kept_keys.append(len(set(state.readings) - keys.looked))
                event(f"stored keys kept: {kept_keys[-1]}")
            assert shortcut.report.reread == computed.report.reread
            assert observed(shortcut) == observed(computed)
            assert shortcut.report.reading_keys == computed.report.reading_keys
            assert kept(shortcut) == kept(computed)
            state = shortcut.state

    rounds()


def test_a_sheet_whose_parts_are_unchanged_has_no_key_computed() -> None:
    """A save that changed one sheet's figures computes that sheet's package key only."""
    # the others' parts and the shared strings are the entries their stored keys came from
    first = plan(parsed(_book("xlsxwriter")), DamageState(), START, "v1")
    second, looked = watched(_book("xlsxwriter", first=5), first.state, START + HOUR)
    assert (looked, second.report.reread) == ({MATRIX_SHEET}, {MATRIX_SHEET})
    assert second.report.consolidated.totals[0].value == 7


def test_a_sheet_whose_strings_were_renumbered_is_keyed_again_then_kept() -> None:
    """Renumbered shared strings get every key computed and stored with the new entries."""
    # the sheets after the new text keep their keys and are not read; the next run keeps them
    before, after = _book("xlsxwriter"), _book("xlsxwriter", remark="新たな備考")
    first = plan(parsed(before), DamageState(), START, "v1")
    second, looked = watched(after, first.state, START + HOUR)
    assert (looked, second.report.reread) == ({MATRIX_SHEET, THIRD}, {MATRIX_SHEET})
    third, looked = watched(after, second.state, START + 2 * HOUR)
    assert (looked, third.report.reread) == (set(), frozenset())


def test_a_reading_stored_before_the_entries_were_kept_is_keyed_as_before() -> None:
    """A reading stored with its package key alone holds while the computed key is the same."""
    # (the stored form before the entries were kept); it is kept with its entries from then
    first = plan(parsed(_book("xlsxwriter")), DamageState(), START, "v1")
    older = {
        d: StoredReading(r.keys.key, r.content, r.fingerprint, r.head, r.body)
        for d, r in first.state.readings.items()
    }
    assert all(r.keys == PackageKey(r.package) for r in older.values())
    second, looked = watched(_book("xlsxwriter"), replace(first.state, readings=older), START)
    assert (looked, second.report.reread) == ({MATRIX_SHEET, THIRD}, frozenset())
    assert second.state.readings == first.state.readings
    _, looked = watched(_book("xlsxwriter"), second.state, START + HOUR)
    assert looked == set()
