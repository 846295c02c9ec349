"""Specs for reporting deadlines and the reminder window (JST)."""

from __future__ import annotations

from datetime import datetime, time

from automation.config.models import Deadlines
from automation.damage.deadlines import last_deadline, next_deadline, reminder_due
from automation.timeutil import JST


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A September 2026 time in JST."""
    return datetime(2026, 9, day, hour, minute, tzinfo=JST)


def test_every_three_hours_counts_from_midnight() -> None:
    """every_hours: 3 means deadlines at 0, 3, 6, ... 21 o'clock."""
    rule = Deadlines(every_hours=3)
    assert (last_deadline(rule, at(1, 10, 5)), next_deadline(rule, at(1, 10, 5))) == (
        at(1, 9),
        at(1, 12),
    )


def test_a_deadline_is_the_last_one_at_its_own_minute() -> None:
    """At exactly 12:00 the 12:00 deadline is the last one, 15:00 the next."""
    rule = Deadlines(every_hours=3)
    assert (last_deadline(rule, at(1, 12)), next_deadline(rule, at(1, 12))) == (
        at(1, 12),
        at(1, 15),
    )


def test_fixed_times_roll_over_midnight() -> None:
    """After the last time of the day the next deadline is the first time tomorrow."""
    rule = Deadlines(times=(time(9), time(17)))
    assert next_deadline(rule, at(1, 18)) == at(2, 9)
    assert last_deadline(rule, at(2, 8)) == at(1, 17)


def test_no_deadline_before_since() -> None:
    """Deadlines before ``since`` do not exist: the last one is None, the next is after since."""
    rule = Deadlines(every_hours=3, since=at(1, 7))
    assert last_deadline(rule, at(1, 8)) is None
    assert next_deadline(rule, at(1, 5)) == at(1, 9)


def test_reminder_window_opens_minutes_before() -> None:
    """The reminder is due from remind_minutes_before up to the deadline."""
    rule = Deadlines(every_hours=3, remind_minutes_before=30)
    assert reminder_due(rule, at(1, 11, 29)) is None
    assert reminder_due(rule, at(1, 11, 30)) == at(1, 12)
    assert reminder_due(rule, at(1, 11, 59)) == at(1, 12)


def test_time_is_compared_in_jst() -> None:
    """A UTC time is converted to JST before finding deadlines."""
    rule = Deadlines(times=(time(9),))
    utc = datetime.fromisoformat("2026-09-01T00:30:00+00:00")  # 09:30 JST
    assert last_deadline(rule, utc) == at(1, 9)
