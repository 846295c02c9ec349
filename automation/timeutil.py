"""Japan Standard Time helpers: parsing ``--now`` and Japanese date formats."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
WEEKDAYS_JA = "月火水木金土日"


def parse_now(text: str, tz: ZoneInfo = JST) -> datetime:
    """Parse an ISO 8601 time; a time without an offset is taken as local (JST)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(tz)


def as_of_ja(moment: datetime) -> str:
    """Format a time as on a damage report: ``2026年9月1日9時05分現在`` (minutes in two
    digits, as Japanese reports write them)."""
    local = moment.astimezone(JST)
    return f"{local.year}年{local.month}月{local.day}日{clock_ja(local)}現在"


def clock_ja(moment: datetime) -> str:
    """A time of day as Japanese reports write it: ``9時00分``, ``10時05分`` (JST)."""
    local = moment.astimezone(JST)
    return f"{local.hour}時{local.minute:02d}分"


def time_ja(moment: datetime) -> str:
    """Format a time of day with its date for messages: ``9月1日(火)12時00分``."""
    local = moment.astimezone(JST)
    weekday = WEEKDAYS_JA[local.weekday()]
    return f"{local.month}月{local.day}日({weekday}){clock_ja(local)}"
