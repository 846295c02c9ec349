"""Reporting deadlines: fixed times of day or every N hours, in Japan Standard Time."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from automation.config.models import Deadlines
from automation.timeutil import JST


def _times(rule: Deadlines) -> list[time]:
    if rule.every_hours is not None:
        return [time(hour) for hour in range(0, 24, rule.every_hours)]
    return sorted(rule.times)


def _since(rule: Deadlines) -> datetime | None:
    if rule.since is None:
        return None
    since = rule.since if rule.since.tzinfo else rule.since.replace(tzinfo=JST)
    return since.astimezone(JST)


def _candidates(rule: Deadlines, now: datetime) -> list[datetime]:
    local = now.astimezone(JST)
    days = [local.date() + timedelta(days=offset) for offset in (-1, 0, 1)]
    return [datetime.combine(day, t, tzinfo=JST) for day in days for t in _times(rule)]


def last_deadline(rule: Deadlines, now: datetime) -> datetime | None:
    """The latest deadline at or before ``now`` (None before the first one)."""
    since = _since(rule)
    past = [d for d in _candidates(rule, now) if d <= now and (since is None or d >= since)]
    return max(past, default=None)


def next_deadline(rule: Deadlines, now: datetime) -> datetime:
    """The first deadline after ``now`` (and not before ``since``)."""
    since = _since(rule)
    pivot = since if since is not None and since > now else now
    return min(d for d in _candidates(rule, pivot) if d > now and (since is None or d >= since))


def reminder_due(rule: Deadlines, now: datetime) -> datetime | None:
    """The upcoming deadline if ``now`` is inside its reminder window, else None."""
    upcoming = next_deadline(rule, now)
    if upcoming - timedelta(minutes=rule.remind_minutes_before) <= now:
        return upcoming
    return None
