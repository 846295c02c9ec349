"""Specs for handing a large run's memory back to the system (glibc's malloc_trim).

The daemon's idle memory after 60 x 300 and 60 x 2,000 runs is measured in
bench/serve_runs.py; here, the mechanism: freed heap pages go back when asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.memory import reexec_with_system_allocator, release_memory

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
    assert len(kept) == 200 * 64


def test_an_allocator_chosen_by_the_operator_is_kept() -> None:
    """PYTHONMALLOC already set (pymalloc too): serve starts as it is, no re-execution."""
    assert reexec_with_system_allocator({"PYTHONMALLOC": "pymalloc"}) is None
