"""Specs for handing a large run's memory back to the system (glibc's malloc_trim).

The daemon's idle memory after 60 x 300 and 60 x 2,000 runs is measured in
bench/serve_runs.py; here, the mechanism: freed heap pages go back when asked.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from automation.memory import (
    RUN_THRESHOLDS,
    collector_for_a_run,
    reexec_with_system_allocator,
    release_memory,
    start_up_collector,
    trim_heap,
)

MB = 1024 * 1024


def resident_mb() -> float:
    """This process's resident set, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_pages_freed_between_live_objects_go_back_to_the_system() -> None:
    """200 MB in 1 KB blocks, every 16th kept: release_memory returns the freed pages."""
    blocks = [bytearray(1024) for _ in range(200 * 1024)]
    kept = blocks[::16]  # pins one block in every 16 KB: the heap cannot shrink from its top
    del blocks
    before = resident_mb()
    assert release_memory(), "not glibc: nothing to trim"
    assert resident_mb() < before - 100
    del kept  # held until measured


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_trimming_the_heap_alone_returns_freed_pages_and_collects_nothing() -> None:
    """trim_heap hands freed pages back as release_memory does, leaving cycles alone."""
    blocks = [bytearray(1024) for _ in range(200 * 1024)]
    kept = blocks[::16]
    del blocks
    cycle = Node()
    alive = weakref.ref(cycle)
    del cycle
    gc.disable()
    try:
        before = resident_mb()
        assert trim_heap(), "not glibc: nothing to trim"
        assert resident_mb() < before - 100
        assert alive() is not None  # no collection ran
    finally:
        gc.enable()
    del kept  # held until measured


def test_an_allocator_chosen_by_the_operator_is_kept() -> None:
    """PYTHONMALLOC already set (pymalloc too): serve starts as it is, no re-execution."""
    assert reexec_with_system_allocator({"PYTHONMALLOC": "pymalloc"}) is None


class Node:
    """An object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: object = self


def test_a_run_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    """A run freezes what exists and raises the thresholds; after it both are as before."""
    before = gc.get_threshold()
    with collector_for_a_run():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == RUN_THRESHOLDS
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_overlapping_runs_put_the_collector_back_when_the_last_one_ends() -> None:
    """Two runs in progress share the collector: the first to end leaves it tuned."""
    before = gc.get_threshold()
    first, second = collector_for_a_run(), collector_for_a_run()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == RUN_THRESHOLDS
    second.__exit__(None, None, None)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)


def test_a_cycle_left_by_a_run_is_collected_after_it() -> None:
    """A cycle made before the run (frozen) or during it is freed by release_memory after."""
    old = Node()
    with collector_for_a_run():
        young = Node()
        gone = [weakref.ref(old), weakref.ref(young)]
        del old, young
    release_memory()
    assert [ref() for ref in gone] == [None, None]


def test_start_up_collects_nothing_and_freezes_what_it_built() -> None:
    """Start-up runs with the collector off; after it, collection is on and its objects frozen."""
    # so no later collection walks what start-up built
    try:
        with start_up_collector():
            assert not gc.isenabled()
            built = Node()
        assert gc.isenabled()
        assert not any(tracked is built for tracked in gc.get_objects())
    finally:
        gc.unfreeze()


def test_start_up_leaves_a_collector_its_caller_switched_off_off() -> None:
    """A caller that turned the collector off finds it off after a start-up inside."""
    gc.disable()
    try:
        with start_up_collector():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
