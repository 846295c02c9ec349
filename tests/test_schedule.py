"""Specs for crontab expressions in flow schedules (standard crontab: 0 and 7 are Sunday)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger

from automation.schedule import parse_cron
from automation.timeutil import JST
from tests.builders import fire_times

TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=JST)


def fires(expression: str, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times of ``expression`` after Tuesday 2026-12-01 10:00 JST."""
    trigger = CronTrigger(timezone=JST, **parse_cron(expression).fields)
    return fire_times(trigger, TUESDAY_10, count)


@pytest.mark.parametrize("expression", ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun"])
def test_weekday_zero_and_seven_are_sunday(expression: str) -> None:
    """Crontab counts Sunday as 0 or 7, unlike APScheduler 3's Monday = 0."""
    assert [t.strftime("%a %H:%M") for t in fires(expression, 1)] == ["Sun 09:00"]


def test_weekday_numbers_one_to_five_are_monday_to_friday() -> None:
    """1-5 fires on the working week only."""
    days = {t.strftime("%a") for t in fires("0 9 * * 1-5", 10)}
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}


def test_a_range_ending_on_seven_ends_on_sunday() -> None:
    """5-7 is Friday to Sunday."""
    days = [t.strftime("%a") for t in fires("0 9 * * 5-7", 3)]
    assert days == ["Fri", "Sat", "Sun"]


def test_times_are_japan_standard_time() -> None:
    """0 9 * * * is 09:00 JST, which is 00:00 UTC."""
    first = fires("0 9 * * *", 1)[0]
    assert (first.isoformat(), first.utcoffset()) == (
        "2026-12-02T09:00:00+09:00",
        timedelta(hours=9),
    )


def test_steps_and_lists_are_read() -> None:
    """*/20 and lists of hours are standard crontab."""
    assert [t.strftime("%H:%M") for t in fires("*/20 8,12 * * *", 4)] == [
        "12:00",
        "12:20",
        "12:40",
        "08:00",
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "cron '* * * *' has 4 fields; expected 5: minute hour day month weekday"),
        ("61 * * * *", "cron '61 * * * *': minute 61 is outside 0-59"),
        ("0 24 * * *", "cron '0 24 * * *': hour 24 is outside 0-23"),
        ("0 9 * * 8", "cron '0 9 * * 8': weekday 8 is outside 0-7"),
        ("0 9 * * fri-mon", "cron '0 9 * * fri-mon': weekday range 'fri-mon' runs backwards"),
        ("*/0 * * * *", "cron '*/0 * * * *': minute step /0 must be at least 1"),
        ("0 9 31-1 * *", "cron '0 9 31-1 * *': day range '31-1' runs backwards"),
        ("0 nine * * *", "cron '0 nine * * *': hour 'nine' is not a number"),
        (
            "0 9 * * fry",
            "cron '0 9 * * fry': weekday 'fry' is neither a number nor one of sun, mon, tue",
        ),
    ],
)
def test_an_unreadable_expression_says_what_and_how(expression: str, message: str) -> None:
    """Each mistake is named with the field and the rule it breaks."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_cron(expression)
