"""Specs for what the progress flow remembers of a round, and what changed between summaries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from automation.flows.progress_memory import ProgressMemory, SummarySnapshot, changes_between
from automation.timeutil import JST

EARLIER = SummarySnapshot(
    datetime(2026, 10, 14, 9, tzinfo=JST),
    1,
    3,
    {"総務部": (0, 1), "農政部": (1, 2)},
    ("農政部「農地台帳」",),
    1,
    Decimal("1200"),
)


def test_the_memory_reads_back_what_it_wrote() -> None:
    """Period, notified problems, the last summary and the close survive the state database."""
    memory = ProgressMemory("2026H1", frozenset({"a1", "b2"}), EARLIER, closed=True)
    assert ProgressMemory.loads(memory.dumps()) == memory


@pytest.mark.parametrize("text", [None, "", "{", "[]", '{"period": "2026H1", "summary": {}}'])
def test_a_damaged_memory_is_none(text: str | None) -> None:
    """A memory that cannot be read costs one repeated notice, never a failed run."""
    assert ProgressMemory.loads(text) is None


def test_changes_name_what_moved_between_two_summaries() -> None:
    """Completion, departments, delays and budget requests are compared; equal ones are left out."""
    later = SummarySnapshot(
        datetime(2026, 10, 16, 9, tzinfo=JST),
        3,
        3,
        {"総務部": (1, 1), "農政部": (2, 2)},
        (),
        2,
        Decimal("1500.5"),
    )
    changes = changes_between(EARLIER, later)
    assert (changes.complete, changes.total) == ((1, 3), (3, 3))
    assert [(d.name, d.before_text, d.after_text) for d in changes.departments] == [
        ("総務部", "0/1", "1/1"),
        ("農政部", "1/2", "2/2"),
    ]
    assert (changes.newly_delayed, changes.no_longer_delayed) == ((), ("農政部「農地台帳」",))
    assert changes.budget_moved and not changes.nothing


def test_equal_summaries_have_nothing_to_say() -> None:
    """Two summaries with the same figures: nothing changed."""
    assert changes_between(EARLIER, EARLIER).nothing
