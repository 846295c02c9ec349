"""``automation provision``: build the inputs departments fill in, from the configuration.

``provision list`` plans a progress flow's list (:mod:`automation.flows.provision_list`) and
creates it (a SharePoint list through Graph; a CSV/xlsx template on the local backend), or
compares an existing one with the plan and adds the missing columns with ``--apply``.

``provision workbook`` plans the damage flow's workbook (:mod:`automation.flows.provision`),
writes it (:mod:`automation.input_workbook`) and puts it where it is needed: a local
file (``--output``, default the workbook's name in the current folder), or with ``--upload``
the configured place (the local backend's workbook folder, or the tenant through Graph).
Nothing existing is overwritten unless ``--replace`` is given, and then it is archived first.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from automation.backends import configured_list_provisioner, configured_provisioner
from automation.backends.local import atomic_write, replace_keeping_copy
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow, ListRef, ProgressCollectionFlow, SiteList
from automation.errors import ConfigError
from automation.flows.provision import UnbuildableError, workbook_plan
from automation.flows.provision_list import Difference, differences, list_plan
from automation.input_workbook import build_input_workbook
from automation.ports import CreatedFile, ExistingColumn, ListColumn, ListProvisioner


@dataclass(frozen=True)
class WorkbookRequest:
    """What the admin asked ``provision workbook`` for."""

    flow: str
    output: Path | None = None
    upload: bool = False
    replace: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class ListRequest:
    """What the admin asked ``provision list`` for."""

    flow: str
    apply: bool = False
    dry_run: bool = False


def damage_flow(loaded: LoadedConfig, flow_id: str) -> DamageRollupFlow:
    """The damage flow ``flow_id``, or a ConfigError naming the damage flows there are."""
    flow = loaded.config.flow(flow_id)
    if isinstance(flow, DamageRollupFlow):
        return flow
    known = [f.id for f in loaded.config.flows if isinstance(f, DamageRollupFlow)]
    found = f"is a {flow.kind} flow" if flow is not None else "is not in the configuration"
    raise ConfigError(
        f"{loaded.path}: flow {flow_id!r} {found}; a workbook is built for a damage_rollup "
        f"flow: use --flow with one of {', '.join(known) or '(none configured)'}"
    )


def archive_name(name: str, now: datetime) -> str:
    """The name an existing workbook is kept under when replaced: ``X_旧_20260901-0930.xlsx``."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem or suffix}_旧_{now:%Y%m%d-%H%M%S}{dot}{suffix if stem else ''}"


def provision_workbook(
    loaded: LoadedConfig, request: WorkbookRequest, now: datetime, out: TextIO | None = None
) -> int:
    """Plan, write and place the workbook; print what was (or would be) created to ``out``
    (default: standard output)."""
    out = out or sys.stdout
    flow = damage_flow(loaded, request.flow)
    at = ("flows", loaded.config.flows.index(flow), "params")
    try:
        plan = workbook_plan(
            flow.params, loaded.config.directory, password=flow.params.sheet_password, at=at
        )
    except UnbuildableError as problem:
        raise ConfigError(str(loaded.problem(problem.loc, problem.message))) from None
    where = _destination(loaded, flow, request, plan.name)
    if request.dry_run:
        print(f"would create {where}:", file=out)
        for line in plan.describe():
            print(line, file=out)
        return 0
    data = build_input_workbook(plan)
    created = _place(loaded, flow, request, plan.name, data, now)
    sheets = ", ".join(s.name for s in plan.sheets)
    print(f"created {created.location} ({len(data):,} bytes; sheets: {sheets})", file=out)
    if created.archived:
        print(f"the previous workbook was kept as {created.archived}", file=out)
    return 0


def _destination(
    loaded: LoadedConfig, flow: DamageRollupFlow, request: WorkbookRequest, name: str
) -> str:
    if not request.upload:
        return str(request.output or Path(name))
    return f"{flow.params.workbook} ({loaded.config.backend.type} backend)"


def _place(
    loaded: LoadedConfig,
    flow: DamageRollupFlow,
    request: WorkbookRequest,
    name: str,
    data: bytes,
    now: datetime,
) -> CreatedFile:
    if request.upload:
        provisioner = configured_provisioner(loaded)
        return asyncio.run(
            provisioner.create_workbook(
                flow.params.workbook,
                name,
                data,
                replace=request.replace,
                archive_name=archive_name(name, now),
            )
        )
    path = request.output or Path(name)
    if path.exists() and not request.replace:
        raise ConfigError(
            f"{path} already exists; nothing was changed. Pass --replace to overwrite it, or "
            "--output with another file name"
        )
    if path.exists():
        archive = path.with_name(archive_name(path.name, now))
        replace_keeping_copy(path, data, archive)
        return CreatedFile(str(path), str(archive))
    atomic_write(path, data)
    return CreatedFile(str(path))


def progress_flow(loaded: LoadedConfig, flow_id: str) -> ProgressCollectionFlow:
    """The progress flow ``flow_id``, or a ConfigError naming the progress flows there are."""
    flow = loaded.config.flow(flow_id)
    if isinstance(flow, ProgressCollectionFlow):
        return flow
    known = [f.id for f in loaded.config.flows if isinstance(f, ProgressCollectionFlow)]
    found = f"is a {flow.kind} flow" if flow is not None else "is not in the configuration"
    raise ConfigError(
        f"{loaded.path}: flow {flow_id!r} {found}; a list is built for a progress_collection "
        f"flow: use --flow with one of {', '.join(known) or '(none configured)'}"
    )


def provision_list(
    loaded: LoadedConfig,
    request: ListRequest,
    out: TextIO | None = None,
    provisioner: ListProvisioner | None = None,
) -> int:
    """Create the flow's list, or compare an existing one (adding missing columns with
    ``apply``); 0 when the list is (now) what the flow needs, 1 when differences remain."""
    out = out or sys.stdout
    flow = progress_flow(loaded, request.flow)
    params = flow.params
    ref = params.list
    name = ref.list_id if isinstance(ref, SiteList) else Path(ref).stem
    plan = list_plan(params, loaded.config.directory, name)
    provisioner = provisioner or configured_list_provisioner(loaded, params.fields.id)
    existing = asyncio.run(provisioner.list_columns(ref))
    if existing is None:
        if request.dry_run:
            print(f"would create {ref}:", file=out)
            print("\n".join(plan.describe()), file=out)
            return 0
        where = asyncio.run(provisioner.create_list(ref, plan.columns))
        print(f"created {where}", file=out)
        print("\n".join(plan.describe()), file=out)
        if isinstance(ref, SiteList):
            print(_after_creating(ref), file=out)
        return 0
    found = differences(plan, existing)
    if not found:
        print(f"{ref}: matches what provision would build ({len(plan.columns)} columns)", file=out)
        return 0
    for difference in found:
        print(f"{ref}: {difference}", file=out)
    fixable = [d for d in found if d.missing_column or d.add_choices]
    if not fixable:
        return 1
    if not request.apply or request.dry_run:
        verb = "would add" if request.apply else "add with --apply"
        print(f"{verb}: {', '.join(_fix_names(fixable))}", file=out)
        return 1
    _apply(provisioner, ref, plan.columns, existing, fixable, out)
    return 0 if len(fixable) == len(found) else 1


def _fix_names(fixable: list[Difference]) -> list[str]:
    return [
        d.column if d.missing_column else f"{d.column} ({'、'.join(d.add_choices)})"
        for d in fixable
    ]


def _apply(
    provisioner: ListProvisioner,
    ref: ListRef,
    planned: Sequence[ListColumn],
    existing: Sequence[ExistingColumn],
    fixable: list[Difference],
    out: TextIO,
) -> None:
    """Add the missing columns, then the missing choices (existing ones kept, in order)."""
    wanted = {d.column for d in fixable if d.missing_column}
    columns = [c for c in planned if c.name in wanted]
    if columns:
        asyncio.run(provisioner.add_columns(ref, columns))
        print(f"added {len(columns)} columns: {', '.join(c.name for c in columns)}", file=out)
    by_name = {c.name: c for c in existing}
    for difference in (d for d in fixable if d.add_choices):
        column = by_name[difference.column]
        choices = [*column.choices, *difference.add_choices]
        asyncio.run(provisioner.set_choices(ref, column, choices))
        print(f"added to {column.name}: {'、'.join(difference.add_choices)}", file=out)


def _after_creating(ref: SiteList) -> str:
    return (
        f"next: if {ref.list_id!r} is not the list's id, set params.list.list_id to the id "
        "above, and set params.list.period_indexed: true (the period column is indexed)"
    )
