"""Specs for the merged workbook built ahead (``BuildAhead`` in
``automation/merged_workbook.py``, started by the damage job): a helper process composes the
読取_ sheets from the moment the sheets are read and builds the workbook once given the
report's source; the build of that very source takes the helper's bytes. Whatever the helper
does (dies, is never given its source, is cancelled), the workbook is the one a build here
writes, and no helper outlives its run."""

from __future__ import annotations

import asyncio
import io
import os
import pickle
import threading
import zipfile
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation import merged_workbook, parallel, runner
from automation.config.loader import load_config
from automation.damage.sheet_reading import SheetReading
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageState
from automation.merged_workbook import (
    BuildAhead,
    KeptSheets,
    MergedSource,
    build_ahead,
    build_merged_workbook,
)
from automation.runner import run_flow
from automation.state import FencedError, Store
from tests.builders import xlsx_bytes
from tests.test_kept_sheets import saved_rounds
from tests.test_report_first import CONFIG as ONE_DEPARTMENT
from tests.test_report_first import at, ports
from tests.test_sheet_delta import DELTA, START, _book, run

PARENT = os.getpid()
SHEETS = merged_workbook.BUILD_AHEAD_AT  # the sheets' XML the specs' builds ahead are told


@pytest.fixture(autouse=True)
def no_helper_left() -> Any:
    """Every helper a spec started is ended and reaped by the time it returns."""
    yield
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.fixture
def ahead_for_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds ahead start for workbooks of any size (the specs' workbooks are small)."""
    monkeypatch.setattr(merged_workbook, "BUILD_AHEAD_AT", 0)


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper's build is waited for up to a minute before the workbook is built here: a
    bound reached only by a stuck helper (a loaded machine can keep a nice helper past the
    5 s a run gives it, and the spec would see the workbook built here)."""
    monkeypatch.setattr(parallel, "AHEAD_PATIENCE_S", 60.0)


def _parts(data: bytes) -> dict[str, bytes]:
    """The package's parts, but for its creation time."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


class BuiltHere:
    """``merged_workbook._build`` as it is, noting each build made in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._build = merged_workbook._build
        monkeypatch.setattr(merged_workbook, "_build", self)

    def __call__(self, report: Any, processes: int, kept: KeptSheets | None) -> bytes:
        if os.getpid() == PARENT:
            self.count += 1
        return self._build(report, processes, kept)


def _given(
    readings: Mapping[str, SheetReading], source: MergedSource, kept: KeptSheets | None = None
) -> BuildAhead:
    """A build ahead of ``readings`` started (on two processes) and given ``source``."""
    ahead = build_ahead(readings, 2, SHEETS, kept if kept is not None else KeptSheets())
    assert ahead is not None
    ahead.give(source)
    return ahead


def _source(first: int = 1) -> tuple[MergedSource, dict[str, SheetReading]]:
    """Two department tables' report, and the readings the run read."""
    plan = run(_book("openpyxl", first), DamageState(), START, f"v{first}")
    return MergedSource.of(plan.report), dict(plan.report.readings)


@pytest.mark.usefixtures("ahead_for_any_size", "patient")
def test_a_workbook_built_ahead_is_the_one_built_here_and_is_not_built_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build of the source given to a BuildAhead takes the helper's bytes: part for part
    a build here, and nothing built in this process."""
    source, readings = _source()
    expected = _parts(build_merged_workbook(source, kept=None))
    _given(readings, source)
    here = BuiltHere(monkeypatch)
    assert _parts(build_merged_workbook(source, kept=KeptSheets())) == expected
    assert here.count == 0


@pytest.mark.usefixtures("ahead_for_any_size")
def test_the_sheets_a_build_ahead_composed_are_kept_for_the_next_build() -> None:
    """A daemon's next build takes the 読取_ sheets the helper composed, as if composed here."""
    source, readings = _source()
    kept = KeptSheets()
    _given(readings, source, kept)
    build_merged_workbook(source, kept=kept)
    assert len(kept) == len(source.readings)


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_build_ahead_whose_helper_dies_is_built_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that dies (killed, out of memory): the workbook is built here, the same."""
    source, readings = _source()
    expected = _parts(build_merged_workbook(source, kept=None))
    real = merged_workbook._composed

    def dies_in_helper(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != PARENT:
            os._exit(9)
        return real(*args, **kwargs)

    monkeypatch.setattr(merged_workbook, "_composed", dies_in_helper)
    _given(readings, source)
    here = BuiltHere(monkeypatch)
    assert _parts(build_merged_workbook(source, kept=KeptSheets())) == expected
    assert here.count == 1


@pytest.mark.usefixtures("ahead_for_any_size", "patient")
def test_a_helper_forked_while_another_thread_uses_the_kept_sheets_builds_the_workbook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another thread holds the kept sheets' lock at the fork (a daemon's other flow
    building): the helper's copy is not held, it builds, and nothing is built here."""
    source, readings = _source()
    kept, fork = KeptSheets(), parallel._fork
    held, release = threading.Event(), threading.Event()

    def uses_kept() -> None:
        with kept._lock:
            held.set()
            release.wait()

    def fork_while_kept_is_in_use() -> tuple[int, set[int]]:
        other = threading.Thread(target=uses_kept)
        other.start()
        held.wait()
        try:
            return fork()
        finally:
            release.set()
            other.join()

    monkeypatch.setattr(parallel, "_fork", fork_while_kept_is_in_use)
    ahead = build_ahead(readings, 2, SHEETS, kept)
    monkeypatch.setattr(parallel, "_fork", fork)
    assert ahead is not None
    ahead.give(source)
    here = BuiltHere(monkeypatch)
    build_merged_workbook(source, kept=kept)
    assert here.count == 0


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_recipe_read_back_is_built_here_not_taken_from_a_helper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the very source given is taken: an equal one (a recipe read back after a crash)
    is built here, and the helper's build stays for its own source."""
    source, readings = _source()
    _given(readings, source)
    here = BuiltHere(monkeypatch)
    build_merged_workbook(pickle.loads(pickle.dumps(source)), kept=None)
    assert here.count == 1
    build_merged_workbook(source, kept=None)
    assert here.count == 1


@pytest.mark.usefixtures("ahead_for_any_size")
def test_builds_ahead_never_taken_are_ended_beyond_the_few_kept_waiting() -> None:
    """At most AHEAD_HELD builds wait for their build (a run that failed after giving its
    source never takes it); an older one's helper is ended, and its source built here."""
    sources = []
    for first in range(1, merged_workbook.AHEAD_HELD + 2):
        source, readings = _source(first)
        _given(readings, source)
        sources.append(source)
    assert len(merged_workbook._BUILT_AHEAD) == merged_workbook.AHEAD_HELD
    assert merged_workbook._taken_ahead(sources[0]) is None
    for source in sources[1:]:
        build_merged_workbook(source, kept=None)
    assert merged_workbook._BUILT_AHEAD == []


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_build_ahead_cancelled_before_its_source_comes_takes_none() -> None:
    """cancel() first (a run cancelled while its source was being handed over): the give()
    that comes after sends nothing and leaves nothing waiting; the source is built here."""
    source, readings = _source()
    ahead = build_ahead(readings, 2, SHEETS, KeptSheets())
    assert ahead is not None
    ahead.cancel()
    ahead.give(source)
    assert merged_workbook._BUILT_AHEAD == []


def test_one_process_or_a_workbook_outside_the_window_builds_nothing_ahead() -> None:
    """No helper starts with one process configured, nor for sheets under BUILD_AHEAD_AT of
    XML (the build after the report costs less than a fork) or over BUILD_AHEAD_UP_TO (the
    helper's copy of the run's memory would raise the run's peak); at either edge, one does."""
    _, readings = _source()
    low, high = merged_workbook.BUILD_AHEAD_AT, merged_workbook.BUILD_AHEAD_UP_TO
    assert build_ahead(readings, 1, low, KeptSheets()) is None
    assert build_ahead(readings, 2, low - 1, KeptSheets()) is None
    assert build_ahead(readings, 2, high + 1, KeptSheets()) is None
    for edge in (low, high):
        ahead = build_ahead(readings, 2, edge, KeptSheets())
        assert ahead is not None
        ahead.cancel()


@pytest.mark.usefixtures("ahead_for_any_size")
def test_after_any_saves_a_workbook_built_ahead_equals_one_built_here() -> None:
    """Over random saves, with sheets kept from the builds before (as a daemon keeps them),
    the workbook a helper built is part for part the one built here from nothing."""

    @DELTA
    @given(st.data())
    def rounds(data: st.DataObject) -> None:
        kept = KeptSheets()
        for plan in saved_rounds(data, 3):
            source = MergedSource.of(plan.report)
            _given(plan.report.readings, source, kept)
            built = build_merged_workbook(source, kept=kept)
            assert _parts(built) == _parts(build_merged_workbook(source, kept=None))

    rounds()


CONFIG = ONE_DEPARTMENT.replace("backend:", "cpu: {processes: 2}\nbackend:", 1)


def _workspace(tmp_path: Path) -> Path:
    """test_report_first's workspace (one department's workbook), run on two processes."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "inputs").mkdir(exist_ok=True)
    sheet = [["市町村", "死者"], ["前橋市", 1]]
    (tmp_path / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": sheet}))
    return tmp_path


def _flow_run(workspace: Path, minute: int, *, dry_run: bool = False) -> Coroutine[Any, Any, Any]:
    loaded = load_config(workspace / "automation.yaml")
    return run_flow(
        loaded,
        "damage",
        at(minute),
        dry_run=dry_run,
        backend=ports(workspace),
        clock=lambda: at(minute),
    )


def _run(workspace: Path, minute: int, *, dry_run: bool = False) -> dict[str, Any]:
    return asyncio.run(_flow_run(workspace, minute, dry_run=dry_run)).record


@pytest.mark.usefixtures("ahead_for_any_size", "patient")
def test_a_run_on_two_processes_stores_the_workbook_its_helper_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new report on two processes: the stored workbook was built by the helper (nothing
    built in the run's own process), and it is the report's."""
    here = BuiltHere(monkeypatch)
    record = _run(_workspace(tmp_path), 1)
    assert record["status"] == "ok" and here.count == 0
    stored = tmp_path / "out" / "被害状況集計_第1報.xlsx"
    with zipfile.ZipFile(stored) as package:
        assert any(name.startswith("xl/worksheets/") for name in package.namelist())


def test_a_run_on_a_workbook_over_the_window_builds_after_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job weighs the workbook's sheet XML: over BUILD_AHEAD_UP_TO the run builds the
    workbook itself, after the report, as it always did."""
    monkeypatch.setattr(merged_workbook, "BUILD_AHEAD_AT", 0)
    monkeypatch.setattr(merged_workbook, "BUILD_AHEAD_UP_TO", 1)  # this workbook's sheets: more
    here = BuiltHere(monkeypatch)
    record = _run(_workspace(tmp_path), 1)
    assert record["status"] == "ok" and here.count == 1


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_dry_run_ends_the_build_it_started_ahead(tmp_path: Path) -> None:
    """A dry run builds nothing: the helper it started is ended before the run returns."""
    record = _run(_workspace(tmp_path), 1, dry_run=True)
    assert record["dry_run"] and not (tmp_path / "out").exists()


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_save_that_changes_no_figure_builds_nothing_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet saved again with the same figures: no new report, no workbook; the helper
    started on the re-read sheet is ended."""
    workspace = _workspace(tmp_path)
    _run(workspace, 1)
    book = workspace / "inputs" / "book.xlsx"
    sheet = [["市町村", "死者"], ["前橋市", 1]]  # the same figures, two empty cells merged
    book.write_bytes(xlsx_bytes({"危機管理課": sheet}, {"危機管理課": ["D9:E9"]}))
    started: list[object] = []
    real = merged_workbook.build_ahead

    def noting(*args: Any, **kwargs: Any) -> Any:
        ahead = real(*args, **kwargs)
        started.append(ahead)
        return ahead

    monkeypatch.setattr(merged_workbook, "build_ahead", noting)
    record = _run(workspace, 2)
    assert record["status"] == "unchanged" and started and started[0] is not None
    assert merged_workbook._BUILT_AHEAD == []


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_run_that_fails_before_recording_ends_its_build_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state's transaction fails (a full disk): the run fails, and the helper started
    ahead is ended, not left waiting for a source that never comes."""

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OSError("No space left on device")

    monkeypatch.setattr(Store, "hold_artefact", full_disk)
    record = _run(_workspace(tmp_path), 1)
    assert record["status"] == "failed"
    assert merged_workbook._BUILT_AHEAD == []


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_run_cancelled_while_it_plans_leaves_no_helper_and_no_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cancelled (a daemon that lost its lease) while it plans, its build ahead
    started: the helper is ended and reaped, its descriptors closed, once the plan is let
    go; none is left waiting for a source that never comes."""
    workspace = _workspace(tmp_path)
    planning, go = threading.Event(), threading.Event()
    real = damage_rollup.plan

    def planned_once_cancelled(*args: Any, **kwargs: Any) -> Any:
        planning.set()
        go.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(damage_rollup, "plan", planned_once_cancelled)
    before = set(os.listdir("/proc/self/fd"))

    async def cancelled_while_planning() -> None:
        run = asyncio.ensure_future(_flow_run(workspace, 1))
        await asyncio.to_thread(planning.wait)
        run.cancel()
        go.set()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(cancelled_while_planning())
    assert set(os.listdir("/proc/self/fd")) == before


@pytest.mark.usefixtures("ahead_for_any_size")
def test_a_run_that_fails_after_handing_its_source_over_ends_its_build_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease is lost as the report goes out, after the helper was given its source: the
    run fails (the workbook is owed to the next run, built from its recipe), and its helper
    is reaped, its descriptors closed, nothing left waiting for a build that never comes."""

    async def lease_lost(*args: Any, **kwargs: Any) -> None:
        raise FencedError("this daemon no longer holds the leader lease")

    monkeypatch.setattr(runner, "deliver_pending", lease_lost)
    before = set(os.listdir("/proc/self/fd"))
    record = _run(_workspace(tmp_path), 1)
    assert record["status"] == "failed"
    assert merged_workbook._BUILT_AHEAD == []
    assert set(os.listdir("/proc/self/fd")) == before
