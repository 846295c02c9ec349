"""Crontab expressions as admins write them, checked without importing the scheduler.

Admins write standard five-field crontab (``minute hour day month weekday``) where weekday 0
and 7 are Sunday. APScheduler 3.x counts weekdays from Monday = 0 (a known mismatch it keeps
for compatibility), so every weekday number is translated to a name before it reaches the
scheduler. Checking here keeps ``automation validate`` fast: the scheduler is imported only by
``automation serve``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIELDS = ("minute", "hour", "day", "month", "day_of_week")
RANGES = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12)}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab order: 0 = Sunday
EXAMPLE = "e.g. '*/5 * * * *' (every 5 minutes) or '0 9 * * mon-fri' (09:00 on weekdays)"
_TERM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


@dataclass(frozen=True)
class Cron:
    """A checked crontab expression, as keyword arguments for APScheduler's CronTrigger."""

    expression: str
    fields: dict[str, str]


def parse_cron(expression: str) -> Cron:
    """Check ``expression``; raise ValueError saying what is wrong and how to write it."""
    values = expression.split()
    if len(values) != len(FIELDS):
        raise ValueError(
            f"cron {expression!r} has {len(values)} fields; expected 5: "
            f"minute hour day month weekday, {EXAMPLE}"
        )
    fields = {}
    for name, value in zip(FIELDS, values, strict=True):
        terms = [_term(name, term.lower(), expression) for term in value.split(",")]
        fields[name] = ",".join(terms)
    return Cron(expression, fields)


def _term(field: str, term: str, expression: str) -> str:
    shown = "weekday" if field == "day_of_week" else field
    match = _TERM.match(term)
    if match is None:
        raise ValueError(f"cron {expression!r}: {shown} {term!r} is not readable; {EXAMPLE}")
    step = match["step"]
    if step is not None and int(step) < 1:
        raise ValueError(f"cron {expression!r}: {shown} step /{step} must be at least 1")
    bounds = match["range"]
    if bounds == "*":
        return term
    parts = bounds.split("-")
    numbers = [_number(field, part, expression) for part in parts]
    if len(numbers) == 2 and numbers[0] > numbers[1] and field != "day_of_week":
        raise ValueError(
            f"cron {expression!r}: {shown} range {bounds!r} runs backwards; write the smaller first"
        )
    if field == "day_of_week":
        names = [WEEKDAYS[n % 7] for n in numbers]
        if len(names) == 2 and numbers[1] == 7:
            names[1] = "sun"
        rendered = "-".join(names)
        if len(numbers) == 2 and numbers[0] % 7 > numbers[1] % 7 and numbers[1] != 7:
            raise ValueError(
                f"cron {expression!r}: weekday range {bounds!r} runs backwards; write e.g. mon-fri"
            )
        if len(numbers) == 2 and numbers[1] == 7 and numbers[0] != 0:
            rendered = f"{names[0]}-sat,sun"  # 'N-7' ends on Sunday, which APScheduler puts first
    else:
        rendered = "-".join(str(n) for n in numbers)
    return rendered + (f"/{step}" if step is not None else "")


def _number(field: str, part: str, expression: str) -> int:
    shown = "weekday" if field == "day_of_week" else field
    if field == "month" and part in MONTHS:
        return MONTHS.index(part) + 1
    if field == "day_of_week" and part in WEEKDAYS:
        return WEEKDAYS.index(part)
    if not part.isdigit():
        names = {"month": MONTHS, "day_of_week": WEEKDAYS}.get(field)
        if names is not None:
            raise ValueError(
                f"cron {expression!r}: {shown} {part!r} is neither a number nor one of "
                f"{', '.join(names)}; {EXAMPLE}"
            )
        raise ValueError(f"cron {expression!r}: {shown} {part!r} is not a number; {EXAMPLE}")
    value = int(part)
    low, high = RANGES.get(field, (0, 7))
    if not low <= value <= high:
        raise ValueError(f"cron {expression!r}: {shown} {value} is outside {low}-{high}")
    return value
