"""What ``automation provision list`` builds for a progress flow: a pure plan of the list.

Each column the progress flow reads (:func:`automation.jobs.progress.list_columns` names the
same ones) gets the type that refuses what the flow would report: the period and the
status are choices of the configured values, the department a choice of the directory's
departments, amounts and ``numeric`` fields numbers (amounts >= 0), ``required`` fields
required. The period column is indexed, since the reader filters on it. Comparing the plan
with an existing list gives the differences an admin must see (:func:`differences`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from automation.config.models import Directory, ProgressCollectionParams
from automation.flows.progress_collection import round_period
from automation.ports import ExistingColumn, ListColumn


@dataclass(frozen=True, slots=True)
class ListPlan:
    """The list: its name and its columns, in the order the flow names them."""

    name: str
    columns: tuple[ListColumn, ...]

    def describe(self) -> list[str]:
        """What would be created, one line per column (for --dry-run)."""
        return [f"list {self.name}: {len(self.columns)} columns"] + [
            f"  {c.describe()}" for c in self.columns
        ]


@dataclass(frozen=True, slots=True)
class Difference:
    """Something the existing list lacks or has beyond the configuration, with the fix."""

    column: str
    found: str
    expected: str
    fix: str
    missing_column: bool = False
    add_choices: tuple[str, ...] = ()  # choices --apply adds to the column

    def __str__(self) -> str:
        return f"{self.column}: found {self.found}; expected {self.expected}; {self.fix}"


def list_plan(params: ProgressCollectionParams, directory: Directory, name: str) -> ListPlan:
    """The list a progress flow reads, named ``name``."""
    fields = params.fields
    required = set(params.required)
    periods = tuple(dict.fromkeys(round_period(params, r).label_ja for r in params.rounds))
    departments = params.departments or tuple(d.name for d in directory.departments)
    special: dict[str, ListColumn] = {
        fields.period: ListColumn(
            fields.period, "choice", True, True, periods, extra_choices_ok=True
        ),
        fields.department: ListColumn(fields.department, "choice", True, False, departments),
        params.status_field: ListColumn(
            params.status_field, "choice", params.status_field in required, False, params.statuses
        ),
    }
    for column in params.numeric:
        special.setdefault(column, ListColumn(column, "number", column in required))
    if params.budget is not None:
        amount = params.budget.amount
        special[amount] = ListColumn(amount, "number", amount in required, minimum=0)
    names = [fields.period, fields.department, fields.project, *params.required]
    names += [params.status_field, *params.numeric]
    if params.issue_field:
        names.append(params.issue_field)
    if params.budget:
        names += [params.budget.content or "", params.budget.amount]
    columns = [
        special.get(n) or ListColumn(n, "text", n in required or n == fields.project)
        for n in dict.fromkeys(n for n in names if n)
    ]
    return ListPlan(name, tuple(columns))


def differences(plan: ListPlan, existing: Sequence[ExistingColumn]) -> list[Difference]:
    """What an existing list lacks (a column, a choice) or has beyond the plan (a choice the
    flow would refuse), each with the fix; an empty list means it matches."""
    found: Mapping[str, ExistingColumn] = {c.name: c for c in existing}
    problems = []
    for column in plan.columns:
        have = found.get(column.name)
        if have is None:
            problems.append(
                Difference(
                    column.name,
                    "no such column",
                    column.describe(),
                    "run again with --apply to add it",
                    missing_column=True,
                )
            )
            continue
        if not have.kind:  # a local list's header says nothing of types or choices
            continue
        if column.kind not in ("text", have.kind):
            problems.append(
                Difference(
                    column.name,
                    f"a {have.kind} column",
                    f"a {column.kind} column",
                    "change its type in the list settings (existing values may need retyping)",
                )
            )
            continue
        problems += _choice_differences(column, have)
    return problems


def _choice_differences(column: ListColumn, have: ExistingColumn) -> list[Difference]:
    if column.kind != "choice":
        return []
    problems = []
    lacking = [c for c in column.choices if c not in have.choices]
    extra = [c for c in have.choices if c not in column.choices]
    if lacking:
        problems.append(
            Difference(
                column.name,
                f"choices {'、'.join(have.choices) or '(none)'}",
                f"also {'、'.join(lacking)}",
                "run again with --apply to add them (or add them in the list settings)",
                add_choices=tuple(lacking),
            )
        )
    if extra and not column.extra_choices_ok:
        problems.append(
            Difference(
                column.name,
                f"extra choices {'、'.join(extra)}",
                f"only {'、'.join(column.choices)}",
                "entries with them are reported as problems: remove them from the column, "
                "or add them to the configuration",
            )
        )
    return problems
