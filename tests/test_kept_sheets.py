"""Specs for the 読取_ sheets kept between builds (``KeptSheets`` in
``automation/merged_workbook.py``): after a save, a build composes only the departments
whose reading changed, takes the others as composed before, and writes the workbook a build
that composes every sheet writes, part for part."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
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
from automation.sheet_files import SheetFiles
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
        _kept_builds_equal_full_builds(noted, taken, on_disk=False)
    assert any(taken)


def test_after_any_saves_a_cron_run_s_build_from_sheets_on_disk_equals_a_full_build() -> None:
    """Each run a new process (cron): the sheets an earlier run kept on disk are taken, and
    the workbook is the one a build composing every sheet writes."""
    taken: list[int] = []
    with pytest.MonkeyPatch.context() as patched:
        noted = ComposedNoted(patched)
        _kept_builds_equal_full_builds(noted, taken, on_disk=True)
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


def _kept_builds_equal_full_builds(
    noted: ComposedNoted, taken: list[int], *, on_disk: bool
) -> None:
    @DELTA
    @given(st.data())
    def rounds(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory() as folder:
            _rounds(data, noted, taken, SheetFiles(Path(folder)) if on_disk else None)

    def _rounds(
        data: st.DataObject, noted: ComposedNoted, taken: list[int], files: SheetFiles | None
    ) -> None:
        kept = KeptSheets()
        seen: set[bytes] = set()  # every reading built before, as stored
        for plan in saved_rounds(data, 4):
            source = MergedSource.of(plan.report)
            if files is not None:  # a new process: nothing in memory, the files as left
                kept = KeptSheets(disk=files)
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


def test_a_later_process_takes_the_sheets_an_earlier_one_kept_on_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Sheets kept on disk by one process's build are taken by the next process's build."""
    source = _source()
    build_merged_workbook(source, kept=KeptSheets(disk=SheetFiles(tmp_path)))
    noted = ComposedNoted(monkeypatch)
    again = build_merged_workbook(source, kept=KeptSheets(disk=SheetFiles(tmp_path)))
    assert noted.departments == []
    assert _parts(again) == _parts(build_merged_workbook(source, kept=None))


def test_sheets_kept_by_other_code_are_composed_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A sheet on disk is named by the composing code's digest too: after an edit or an
    upgrade of the package every sheet is composed again."""
    source = _source()
    build_merged_workbook(source, kept=KeptSheets(disk=SheetFiles(tmp_path)))
    monkeypatch.setattr(merged_workbook, "_code_digest", lambda: b"other code")
    noted = ComposedNoted(monkeypatch)
    build_merged_workbook(source, kept=KeptSheets(disk=SheetFiles(tmp_path)))
    assert sorted(noted.departments) == sorted(source.readings.stored)


def test_a_file_that_is_no_composed_sheet_is_composed_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A kept file whose bytes are whole but do not load as a sheet: composed again, and the
    workbook is the same."""
    source = _source()
    files = SheetFiles(tmp_path)
    build_merged_workbook(source, kept=KeptSheets(disk=files))
    for name in os.listdir(tmp_path):
        files.write(name, pickle.dumps("not a sheet"))
    noted = ComposedNoted(monkeypatch)
    again = build_merged_workbook(source, kept=KeptSheets(disk=files))
    assert sorted(noted.departments) == sorted(source.readings.stored)
    assert _parts(again) == _parts(build_merged_workbook(source, kept=None))


def test_a_forked_process_neither_reads_nor_writes_the_sheets_on_disk(tmp_path: Path) -> None:
    """A helper (a forked copy) keeps what it composes in memory only, and takes nothing
    from disk: it touches no file of this process's."""
    sheet = _Packed("x" * 10, RenderedNotes.of([]), b"y")
    kept = KeptSheets(disk=SheetFiles(tmp_path))
    kept.put(b"on disk", sheet)
    forgotten = KeptSheets(disk=SheetFiles(tmp_path))
    pid = os.fork()
    if pid == 0:  # pragma: no cover  # the forked copy
        forgotten.put(b"in the copy", sheet)
        os._exit(0 if forgotten.get(b"on disk") is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(os.listdir(tmp_path)) == 1


def test_by_default_sheets_are_kept_in_the_user_s_cache_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """This process's KeptSheets keeps its files in $XDG_CACHE_HOME/m365-automation/composed,
    owner-only."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kept = KeptSheets(disk=merged_workbook._user_sheet_files)
    kept.put(b"key", _Packed("x", RenderedNotes.of([]), b"y"))
    folder = tmp_path / "m365-automation" / "composed"
    (found,) = folder.iterdir()
    assert (folder.stat().st_mode & 0o777, found.stat().st_mode & 0o777) == (0o700, 0o600)


def test_a_sheet_found_on_disk_is_held_in_memory_for_a_process_forked_next(
    tmp_path: Path,
) -> None:
    """holds() reads a sheet kept on disk into memory: a build ahead's helper, forked next
    (and reading no file), has it."""
    sheet = _Packed("x" * 10, RenderedNotes.of([]), b"y")
    KeptSheets(disk=SheetFiles(tmp_path)).put(b"key", sheet)
    kept = KeptSheets(disk=SheetFiles(tmp_path))
    assert kept.holds(b"key")
    pid = os.fork()
    if pid == 0:  # pragma: no cover  # the forked copy
        os._exit(0 if kept.get(b"key") == sheet else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_clear_forgets_the_sheets_on_disk_too(tmp_path: Path) -> None:
    """After clear() no later process takes a sheet kept before."""
    kept = KeptSheets(disk=SheetFiles(tmp_path))
    kept.put(b"key", _Packed("x", RenderedNotes.of([]), b"y"))
    kept.clear()
    assert KeptSheets(disk=SheetFiles(tmp_path)).get(b"key") is None
