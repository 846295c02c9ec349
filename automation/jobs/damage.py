"""The damage_rollup job: fetch the workbook, plan, render; the merged workbook as a recipe."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from automation.config.loader import LoadedConfig
from automation.config.models import CpuConfig, DamageRollupFlow, DamageRollupParams, FileRef
from automation.damage.stored import StoredReading
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState, DepartmentState
from automation.jobs import Artefact, Prepared
from automation.parallel import Forked, processes_for
from automation.preload import Preload
from automation.record import damage_record
from automation.render import Rendered, environment, render
from automation.state import Fingerprint, Incident, SheetRecord, Store

if TYPE_CHECKING:
    from automation.damage.workbook import Workbook
    from automation.merged_workbook import BuildAhead
    from automation.plan import Message
    from automation.ports import Backend, FetchedWorkbook

MB = 1024 * 1024
# Sheets to read of less XML than this in all are read in one process: a helper process
# would cost more than it saves (about 0.1 s of reading on a 2-core host).
FORK_AT_BYTES = 2 * MB
# What a run loads once a new version of the workbook has arrived, in the order it first
# needs them (the executor it plans in, the parser, the readers, the writer it builds ahead
# with, the templates): loaded while the new version downloads (:mod:`automation.preload`).
# An unchanged poll loads none of them.
NEW_VERSION_MODULES = (
    "concurrent.futures.thread",
    "automation.damage.workbook",
    "python_calamine",
    "automation.damage.reading",
    "automation.merged_workbook",
    "ctypes",
    "jinja2",
    "automation.cards",
    "automation.fit",
    "ctypes.util",
)


async def prepare(
    loaded: LoadedConfig,
    flow: DamageRollupFlow,
    now: datetime,
    store: Store | None,
    backend: Backend,
) -> Prepared:
    """Run the damage flow up to (not including) recording and delivery.

    With incidents (``automation incident open``), the open incident's workbook is read and
    its reports are numbered from 第1報; once it is closed the flow stays idle.
    """
    current = store.current_incident(flow.id) if store is not None else None
    if current is not None and not current.is_open:
        return _idle(flow.id, current)
    params = params_in_use(flow, current)
    version, _ = store.flow_state(flow.id) if store is not None else (None, 0)
    preload = Preload(NEW_VERSION_MODULES)
    try:
        fetched = await backend.workbooks.fetch(params.workbook, version, arriving=preload.start)
    finally:
        preload.stop()
    # The previous report's per-sheet figures are needed only when there is something new.
    previous = _load_state(store, flow.id, figures=fetched.data is not None)
    if current is not None:
        previous = replace(previous, incident=current.name)
    final = current is not None and current.closing
    # Parsing, planning and rendering hold no I/O and can take seconds on a large workbook:
    # they run in a worker thread, so a daemon's lease renewal and /healthz keep answering.
    # Let go as the new state is saved: at 60 x 2,000 the previous report's figures and sums
    # are tens of MB, which writing the new report's (the run's peak) would otherwise stack
    # on; only its readings are compared with the new ones. Reached through ``held`` only
    # (the worker thread can hold its call's arguments a moment after it answered).
    held = [previous]
    plan, rendered, ahead = await asyncio.to_thread(
        lambda: _plan_and_render(loaded, params, fetched, held[0], now, final)
    )
    artefacts = []
    if plan.artefact:  # xlsxwriter loads only for a run that builds the workbook
        from automation.merged_workbook import MergedSource, build_merged_workbook  # noqa: PLC0415

        # Built by the runner once the report went out (or, with more than one core, by a
        # helper process meanwhile): the report does not wait for it. Its recipe holds what
        # the workbook shows, the readings in their stored form (packing it is CPU work too:
        # off the event loop, as the plan is).
        source = await asyncio.to_thread(MergedSource.of, plan.report)
        processes = processes_for(loaded.config.cpu.processes)
        artefacts = [Artefact(plan.artefact, build_merged_workbook, (source, processes))]

    def save(store: Store, run_id: int, now: datetime) -> None:
        _save_state(store, flow.id, plan, held.pop().readings, run_id, now)

    prepared = Prepared(
        status=plan.status,
        record=partial(
            damage_record, plan, fetched.version, {"name": fetched.name, "web_url": fetched.web_url}
        ),
        rendered=rendered,
        artefacts=artefacts,
        near=params.workbook,
        report_number=plan.report.number or None,
        save=save,
    )
    if ahead is not None:  # a new report (else _plan_and_render ended it): its source, then
        prepared.meanwhile, prepared.abandon = partial(ahead.give, source), ahead.cancel
    return prepared


def _plan_and_render(
    loaded: LoadedConfig,
    params: DamageRollupParams,
    fetched: FetchedWorkbook,
    previous: DamageState,
    now: datetime,
    final: bool,
) -> tuple[DamagePlan, list[tuple[Message, Rendered]], BuildAhead | None]:
    """The pure part of a run: parse what changed, plan, render (no state, no network); and,
    for a new report, its merged workbook being built ahead (see ``_build_ahead``)."""
    workbook = None
    if fetched.data is not None:
        from automation.damage.workbook import parse_workbook  # noqa: PLC0415  # changed only

        # Lazily: the plan parses only the sheets whose stored reading no longer holds.
        workbook = parse_workbook(
            fetched.data, fetched.name, max_bytes=int(params.max_workbook_mb * MB), lazy=True
        )
    directory, inputs = (
        loaded.config.directory,
        DamageInputs(fetched.version, workbook, final=final),
    )
    catalogue, mapper = damage_rollup.build_catalogue(params), sheet_mapper(loaded.config.cpu)
    read = damage_rollup.read_sheets(params, directory, inputs, previous, now, catalogue, mapper)
    ahead = _build_ahead(read, workbook, processes_for(loaded.config.cpu.processes))
    try:
        plan = damage_rollup.plan(
            params,
            directory,
            inputs,
            previous,
            now,
            catalogue=catalogue,
            mapper=mapper,
            workbook_read=read,
        )
        rendered = _rendered(loaded, params, plan)
    except BaseException:
        if ahead is not None:
            ahead.cancel()
        raise
    if ahead is not None and not plan.artefact:  # no new report: no workbook to build
        ahead.cancel()
        ahead = None
    return plan, rendered, ahead


def _rendered(
    loaded: LoadedConfig, params: DamageRollupParams, plan: DamagePlan
) -> list[tuple[Message, Rendered]]:
    """The plan's messages rendered (an unchanged poll has none: jinja2 is not even loaded)."""
    if not plan.messages:
        return []
    env = environment(loaded.resolve(params.templates) if params.templates else None)
    return [(message, render(env, message)) for message in plan.messages]


def _build_ahead(
    read: damage_rollup.WorkbookRead, workbook: Workbook | None, processes: int
) -> BuildAhead | None:
    """When sheets were read again (a new report likely), the merged workbook built in a
    helper process from now on (``merged_workbook.BuildAhead``): its 読取_ sheets composed
    while this process adds up and plans, the rest once the report is planned, while this
    process records and sends it. Built after the report as always when not."""
    if processes <= 1 or workbook is None or not read.sheets.reread:
        return None
    from automation.merged_workbook import build_ahead  # noqa: PLC0415  # xlsxwriter: see prepare

    return build_ahead(read.sheets.readings, processes, sum(workbook.sizes.values()))


def sheet_mapper(cpu: CpuConfig) -> Forked:
    """How a run reads a changed workbook's sheets: shared among ``cpu.processes``
    processes (:mod:`automation.parallel`) once there is enough to read."""
    return Forked(processes_for(cpu.processes), min_weight=FORK_AT_BYTES)


def params_in_use(flow: DamageRollupFlow, current: Incident | None) -> DamageRollupParams:
    """The flow's parameters as a run uses them: with the open incident's workbook and name
    (``automation incident open``), else as configured."""
    if current is None or not current.is_open:
        return flow.params
    from automation.flows import incident  # noqa: PLC0415  # only a flow with incidents needs it

    ref = incident.load_ref(current.workbook)
    return incident.incident_params(flow.params, current.name, ref)


def workbook_in_use(loaded: LoadedConfig, flow: DamageRollupFlow) -> FileRef:
    """The workbook a run of ``flow`` reads now (for the input checks): the open incident's,
    else ``params.workbook``. Without a state database there is no incident."""
    target = loaded.state_target
    if isinstance(target, Path) and not target.exists():
        return flow.params.workbook
    with Store(target) as store:
        return params_in_use(flow, store.current_incident(flow.id)).workbook


def _idle(flow_id: str, closed: Incident) -> Prepared:
    """A run between incidents: nothing read, reported or reminded."""
    note = (
        f"incident {closed.name!r} was closed; nothing is read or sent until the next "
        f"incident is opened (automation incident open -c FILE --flow {flow_id} --name ...)"
    )
    record = {"kind": "damage_rollup", "report_number": None, "new_report": False, "idle": note}
    return Prepared(status="unchanged", record=record, rendered=[])


def _load_state(store: Store | None, flow_id: str, *, figures: bool) -> DamageState:
    """The previous run's state; the per-sheet readings only when the workbook changed."""
    if store is None:
        return DamageState()
    version, number = store.flow_state(flow_id)
    departments = {
        p.department: DepartmentState(
            p.fingerprint, p.changed_at, p.problems, p.table_found, p.likely_sheet
        )
        for p in store.fingerprints(flow_id)
    }
    readings = (
        {
            r.department: StoredReading(r.package, r.content, r.fingerprint, r.head, r.body)
            for r in store.sheet_readings(flow_id)
        }
        if figures
        else {}
    )
    if figures:
        snapshot, sums = store.latest_report_and_sums(flow_id)
    else:
        snapshot, sums = store.latest_report(flow_id, figures=False), None
    return DamageState(version, number, snapshot, departments, readings=readings, sums=sums)


def _save_state(
    store: Store,
    flow_id: str,
    plan: DamagePlan,
    previous: Mapping[str, StoredReading],
    run_id: int,
    now: datetime,
) -> None:
    """Save the plan's state; ``previous``: the readings the run started from."""
    state = plan.state
    store.save_flow_state(flow_id, state.version, state.report_number, now)
    if plan.report.new and state.snapshot is not None:
        store.save_report(flow_id, state.snapshot, run_id, state.sums)
    store.save_fingerprints(
        flow_id,
        [
            Fingerprint(
                name, s.fingerprint, s.changed_at, s.problems, s.table_found, s.likely_sheet
            )
            for name, s in state.departments.items()
        ],
    )
    if state.readings is previous:
        return  # nothing was read (the workbook is unchanged): the stored readings stand
    # Only the readings that changed are written; the others stay as stored.
    changed = [
        SheetRecord(dept, r.package, r.content, r.fingerprint, r.head, r.body)
        for dept, r in state.readings.items()
        if previous.get(dept) != r
    ]
    unchanged = frozenset(state.readings) - {r.department for r in changed}
    store.save_sheet_readings(flow_id, changed, keep=unchanged)
