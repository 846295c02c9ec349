"""What the progress flow remembers of a round between runs, and what changed between two
HQ summaries.

The memory is plain data: the job loads it from the state database before planning and
stores the plan's new memory in the same transaction as the plan's messages, so what is
remembered is exactly what was queued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from automation.timeutil import JST, WEEKDAYS_JA


@dataclass(frozen=True)
class SummarySnapshot:
    """The figures an HQ summary showed, kept to say what changed in the next one."""

    as_of: datetime
    complete: int
    total: int
    departments: Mapping[str, tuple[int, int]]  # name -> (complete, total)
    delayed: tuple[str, ...]  # 部局「事業名」 of each delayed project
    budget_count: int
    budget_total: Decimal

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "as_of": self.as_of.isoformat(),
            "complete": self.complete,
            "total": self.total,
            "departments": {name: list(pair) for name, pair in self.departments.items()},
            "delayed": list(self.delayed),
            "budget_count": self.budget_count,
            "budget_total": str(self.budget_total),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SummarySnapshot:
        """Read ``as_json``'s form back; KeyError/ValueError/TypeError when it is damaged."""
        return cls(
            datetime.fromisoformat(str(data["as_of"])),
            int(data["complete"]),
            int(data["total"]),
            {str(k): (int(v[0]), int(v[1])) for k, v in dict(data["departments"]).items()},
            tuple(str(d) for d in data["delayed"]),
            int(data["budget_count"]),
            Decimal(str(data["budget_total"])),
        )


@dataclass(frozen=True)
class DepartmentChange:
    """One department's completion in the previous summary and now."""

    name: str
    before: tuple[int, int] | None  # (complete, total); None: not in the previous summary
    after: tuple[int, int] | None  # None: no longer expected or without entries

    @property
    def before_text(self) -> str:
        """``1/3`` (complete/total), or ``なし``."""
        return _pair(self.before)

    @property
    def after_text(self) -> str:
        """``3/3`` (complete/total), or ``なし``."""
        return _pair(self.after)


def _pair(pair: tuple[int, int] | None) -> str:
    return "なし" if pair is None else f"{pair[0]}/{pair[1]}"


@dataclass(frozen=True)
class SummaryChanges:
    """What changed between the previous HQ summary of the round and this one."""

    since: datetime
    complete: tuple[int, int]  # before, now
    total: tuple[int, int]
    departments: tuple[DepartmentChange, ...]
    newly_delayed: tuple[str, ...]
    no_longer_delayed: tuple[str, ...]
    budget_count: tuple[int, int]
    budget_total: tuple[Decimal, Decimal]

    @property
    def since_ja(self) -> str:
        """When the previous summary was made: ``10月1日(木) 09:00``."""
        when = self.since.astimezone(JST)
        return f"{when.month}月{when.day}日({WEEKDAYS_JA[when.weekday()]}) {when:%H:%M}"

    @property
    def budget_moved(self) -> bool:
        """The number or the total of budget requests changed."""
        return self.budget_count[0] != self.budget_count[1] or (
            self.budget_total[0] != self.budget_total[1]
        )

    @property
    def nothing(self) -> bool:
        """No figure moved since the previous summary."""
        return (
            self.complete[0] == self.complete[1]
            and self.total[0] == self.total[1]
            and not self.departments
            and not self.newly_delayed
            and not self.no_longer_delayed
            and not self.budget_moved
        )


def changes_between(before: SummarySnapshot, after: SummarySnapshot) -> SummaryChanges:
    """What moved from ``before`` to ``after`` (departments in ``after``'s order)."""
    names = list(after.departments) + [n for n in before.departments if n not in after.departments]
    departments = tuple(
        DepartmentChange(name, before.departments.get(name), after.departments.get(name))
        for name in names
        if before.departments.get(name) != after.departments.get(name)
    )
    return SummaryChanges(
        before.as_of,
        (before.complete, after.complete),
        (before.total, after.total),
        departments,
        tuple(d for d in after.delayed if d not in before.delayed),
        tuple(d for d in before.delayed if d not in after.delayed),
        (before.budget_count, after.budget_count),
        (before.budget_total, after.budget_total),
    )


@dataclass(frozen=True)
class ProgressMemory:
    """What the flow remembers of one round (one period)."""

    period: str  # the period key, e.g. 2026H1; memory of another period does not apply
    notified: frozenset[str] = field(default=frozenset())  # list-content notices already queued
    summary: SummarySnapshot | None = None  # the last HQ summary queued
    closed: bool = False  # the round's closing summary was queued

    def dumps(self) -> str:
        """The memory as JSON text."""
        return json.dumps(
            {
                "period": self.period,
                "notified": sorted(self.notified),
                "summary": None if self.summary is None else self.summary.as_json(),
                "closed": self.closed,
            },
            ensure_ascii=False,
        )

    @classmethod
    def loads(cls, text: str | None) -> ProgressMemory | None:
        """Read ``dumps``' text; None when there is none or it cannot be read (a damaged
        memory costs at most one repeated notice, never a failed run)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            summary = data.get("summary")
            return cls(
                str(data["period"]),
                frozenset(str(n) for n in data.get("notified", ())),
                None if summary is None else SummarySnapshot.from_json(summary),
                bool(data.get("closed", False)),
            )
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, InvalidOperation):
            return None
