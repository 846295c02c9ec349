"""Specs for building an owed artefact (``automation.jobs.Artefact``): its bytes are made
between two trims of the heap, so the plan's freed memory is not under the build's peak."""

from __future__ import annotations

import pytest

from automation import jobs
from automation.jobs import Artefact


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    events: list[str] = []

    def trim() -> bool:
        events.append("trim")
        return True

    monkeypatch.setattr(jobs, "trim_heap", trim)
    return events


def _build(events: list[str], fail: bool) -> bytes:
    events.append("build")
    if fail:
        raise ValueError("no workbook")
    return b"xlsx"


def test_an_artefact_is_built_between_two_trims_of_the_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heap is trimmed before the build and after it; the bytes are the build's."""
    events = _recorded(monkeypatch)
    assert Artefact("book.xlsx", _build, (events, False)).data() == b"xlsx"
    assert events == ["trim", "build", "trim"]


def test_a_failed_build_still_trims_the_heap_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that raises hands back what it freed too, and its error is raised as it was."""
    events = _recorded(monkeypatch)
    with pytest.raises(ValueError, match="no workbook"):
        Artefact("book.xlsx", _build, (events, True)).data()
    assert events == ["trim", "build", "trim"]
