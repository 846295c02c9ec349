"""Specs for the 読取_ sheets kept between builds (``KeptSheets`` in
``automation/merged_workbook.py``): after a save, a build composes only the departments
whose reading changed, takes the others as composed before, and writes the workbook a build
that composes every sheet writes, part for part."""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from automation import merged_workbook
from automation.damage.catalogue import Catalogue
from automation.flows.damage_rollup import DamagePlan, DamageState
from automation.merged_workbook import (
    KeptReadings,
    KeptSheets,
    MergedSource,
    _Packed,
    _sheet_keys,
    build_merged_workbook,
)
from automation.xlsx_package import RenderedNotes
from tests.test_sheet_delta import DELTA, START, _book, books, edits, run


def _parts(data: bytes) -> dict[str, bytes]:
    """The package's parts, but for its creation time."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


class ComposedNoted:
    """``_composed`` as it is, noting each department it composes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.departments: list[str] = []
        self._composed = merged_workbook._composed
        monkeypatch.setattr(merged_workbook, "_composed", self)

    def __call__(self, readings: Any, styles: Any, department: str, **options: Any) -> Any:
        self.departments.append(department)
        return self._composed(readings, styles, department, **options)


def test_after_any_saves_a_build_from_kept_sheets_equals_a_build_composing_every_sheet() -> None:
    """A build that takes unchanged sheets from KeptSheets writes what a full build writes."""
    # and it composed only the departments whose stored reading no build had before (an
    # incident list, written cell by cell, is never kept); some were taken (else both agree
    # trivially)
    taken: list[int] = []
    with pytest.MonkeyPatch.context() as patched:
        noted = ComposedNoted(patched)
        _kept_builds_equal_full_builds(noted, taken)
    assert any(taken)


def saved_rounds(data: st.DataObject, most: int) -> Iterator[DamagePlan]:
    """A drawn workbook's runs, an hour apart, 1 to ``most`` of them, a drawn save before
    each but the first; each run's plan, its state carried to the next."""
    book = data.draw(books())
    state, now = DamageState(), START
    for round_ in range(data.draw(st.integers(1, most))):
        if round_:
            data.draw(edits(book), label=f"save {round_}")
        now += timedelta(hours=1)
        plan = run(book, state, now, f"v{round_}")
        yield plan
        state = plan.state


def _kept_builds_equal_full_builds(noted: ComposedNoted, taken: list[int]) -> None:
    @DELTA
    @given(st.data())
    def rounds(data: st.DataObject) -> None:
        kept = KeptSheets()
        seen: set[bytes] = set()  # every reading built before, as stored
        for plan in saved_rounds(data, 4):
            source = MergedSource.of(plan.report)
            noted.departments.clear()
            reused = build_merged_workbook(source, kept=kept)
            composed = set(noted.departments)
            assert _parts(reused) == _parts(build_merged_workbook(source, kept=None))
            stored = source.readings.stored
            tables = {d for d in stored if source.readings[d].layout != "records"}
            changed = {d for d in stored if stored[d].head + stored[d].body not in seen}
            assert composed == changed | (set(stored) - tables)
            taken.append(len(tables - changed))
            event(f"taken {taken[-1]}")
            seen.update(r.head + r.body for r in stored.values())

    rounds()


def _source() -> MergedSource:
    """Two department tables' report."""
    return MergedSource.of(run(_book("openpyxl"), DamageState(), START, "v1").report)


def test_a_build_from_a_recipe_read_back_takes_the_sheets_the_run_composed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sheets are keyed by the readings as stored: an unpickled recipe's build takes them too."""
    source, kept = _source(), KeptSheets()
    build_merged_workbook(source, kept=kept)
    noted = ComposedNoted(monkeypatch)
    again = build_merged_workbook(pickle.loads(pickle.dumps(source)), kept=kept)
    assert noted.departments == [] and len(kept) == 2
    assert _parts(again) == _parts(build_merged_workbook(source, kept=None))


def test_a_sheet_is_composed_again_when_a_title_or_a_style_it_shows_changed() -> None:
    """A department's key changes with the catalogue's titles and with the formats' styles."""
    readings = _source().readings
    keys = _sheet_keys(readings, (1, 2, 3))
    assert _sheet_keys(readings, (1, 2, 4)).keys() == keys.keys()
    assert all(_sheet_keys(readings, (1, 2, 4))[d] != keys[d] for d in keys)
    first = next(iter(readings.catalogue))
    renamed = Catalogue([replace(first, label=first.label + "等"), *list(readings.catalogue)[1:]])
    retitled = KeptReadings(readings.stored, renamed)
    assert all(_sheet_keys(retitled, (1, 2, 3))[d] != keys[d] for d in keys)


def test_sheets_beyond_the_limit_are_dropped_least_recently_used_first() -> None:
    """KeptSheets holds at most its limit in bytes, dropping the sheet used longest ago."""
    notes = RenderedNotes.of([])
    sheet = _Packed("x" * 10, notes, b"y" * 10)
    kept = KeptSheets(limit=3 * sheet.size)
    for key in (b"a", b"b", b"c"):
        kept.put(key, sheet)
    assert kept.get(b"a") is not None  # used: now the most recent
    kept.put(b"d", sheet)
    assert [k for k in (b"a", b"b", b"c", b"d") if kept.get(k)] == [b"a", b"c", b"d"]
    assert kept.size == 3 * sheet.size
    kept.put(b"e", _Packed("x" * kept.limit, notes, b""))  # larger than the limit: not kept
    assert kept.get(b"e") is None and len(kept) == 3
