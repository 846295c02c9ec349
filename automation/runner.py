"""Run a flow once: fetch inputs, plan (pure), render, store, then deliver via the outbox.

Order matters for "nothing lost, nothing sent twice":
1. everything that can fail on bad input (fetch, parse, plan, render, build artefact)
   happens before anything is recorded, so a failed run changes no state;
2. the artefact is stored under a name fixed by the report number (a rerun overwrites
   the same file);
3. state, the report snapshot and every planned message go into the database in one
   transaction, each message under its idempotency key (a known key is not queued again);
4. only then are queued messages delivered, each marked sent as it goes. Messages left
   pending by a crash or a failed send are delivered by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from automation.backends.local import LocalArtefactStore, LocalDeliverer, LocalWorkbookSource
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow
from automation.damage.merged import build_merged_workbook
from automation.damage.workbook import parse_workbook
from automation.errors import AutomationError, ConfigError, TransientError
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamagePlan, DamageState, DepartmentState
from automation.plan import Message
from automation.ports import ArtefactStore, Deliverer, WorkbookSource
from automation.record import failed_record, run_record
from automation.render import Rendered, environment, render
from automation.state import Fingerprint, OutboxEntry, Store
from automation.timeutil import JST

MB = 1024 * 1024


@dataclass
class Backend:
    """The ports a run uses."""

    workbooks: WorkbookSource
    artefacts: ArtefactStore
    deliverer: Deliverer


def local_backend(loaded: LoadedConfig) -> Backend:
    """The folder backend described by the configuration."""
    backend = loaded.config.backend
    root = loaded.resolve(backend.root)
    return Backend(
        LocalWorkbookSource(root),
        LocalArtefactStore(loaded.resolve(backend.artefacts)),
        LocalDeliverer(loaded.resolve(backend.deliveries)),
    )


@dataclass
class RunResult:
    """The outcome of one run: the JSON run record and, for display, the plan."""

    record: dict[str, Any]
    plan: DamagePlan | None = None
    rendered: list[tuple[Message, Rendered]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run succeeded (``ok`` or ``unchanged``)."""
        return bool(self.record["status"] != "failed")


def _wall_clock() -> datetime:
    return datetime.now(JST)


async def run_flow(
    loaded: LoadedConfig,
    flow_id: str,
    now: datetime,
    *,
    dry_run: bool = False,
    backend: Backend | None = None,
    clock: Callable[[], datetime] = _wall_clock,
) -> RunResult:
    """Run one flow at time ``now``; never raises for bad input, returns a failed record."""
    config = loaded.config
    flow = config.flow(flow_id)
    if flow is None:
        known = ", ".join(f.id for f in config.flows)
        raise ConfigError(f"no flow {flow_id!r} in {loaded.path}; configured flows: {known}")
    backend = backend or local_backend(loaded)
    state_path = loaded.resolve(config.state.path)
    if dry_run:
        store = _read_only_store(state_path)
        try:
            return await _run(loaded, flow, now, dry_run, backend, store, clock)
        finally:
            if store is not None:
                store.close()
    with flow_lock(state_path, flow.id), Store(state_path) as store:
        return await _run(loaded, flow, now, dry_run, backend, store, clock)


@contextmanager
def flow_lock(state_path: Path, flow_id: str) -> Iterator[None]:
    """Hold an exclusive lock for one flow, so overlapping runs never race each other."""
    lock_path = state_path.with_name(f"{state_path.name}.{flow_id}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TransientError(
                f"another run of flow {flow_id!r} is still in progress (lock {lock_path}); "
                "this run was skipped, the next one will catch up"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_only_store(path: Path) -> Store | None:
    if not path.exists():
        return None
    try:
        return Store(path)
    except sqlite3.Error:
        return None


async def _run(
    loaded: LoadedConfig,
    flow: DamageRollupFlow,
    now: datetime,
    dry_run: bool,
    backend: Backend,
    store: Store | None,
    clock: Callable[[], datetime],
) -> RunResult:
    started = clock()
    run_id = None if dry_run or store is None else store.start_run(flow.id, now, started)
    params = flow.params
    previous = _load_state(store, flow.id)
    try:
        fetched = await backend.workbooks.fetch(params.workbook, previous.version)
        workbook = None
        if fetched.data is not None:
            workbook = parse_workbook(
                fetched.data, fetched.name, max_bytes=int(params.max_workbook_mb * MB)
            )
        catalogue = damage_rollup.build_catalogue(params)
        plan = damage_rollup.plan(
            params,
            loaded.config.directory,
            DamageInputs(fetched.version, workbook),
            previous,
            now,
            catalogue=catalogue,
        )
        env = environment(loaded.resolve(params.templates) if params.templates else None)
        rendered = [(message, render(env, message)) for message in plan.messages]
        artefact_bytes = build_merged_workbook(plan.report) if plan.artefact else None
    except AutomationError as err:
        record = failed_record(flow.id, now, err, dry_run=dry_run)
        if store is not None and run_id is not None:
            store.finish_run(run_id, "failed", clock(), record, error=err.message)
        return RunResult(record)

    if dry_run or store is None or run_id is None:
        deliveries = [_delivery(flow.id, m, r, "dry-run", None) for m, r in rendered]
        artefacts = [{"name": plan.artefact, "location": None}] if plan.artefact else []
        record = run_record(flow.id, plan, fetched.version, deliveries, artefacts, dry_run=True)
        return RunResult(record, plan, rendered)

    artefacts = []
    if plan.artefact and artefact_bytes is not None:
        location = await backend.artefacts.put(plan.artefact, artefact_bytes, near=params.workbook)
        artefacts.append({"name": plan.artefact, "location": location})
    with store.transaction():
        _save_state(store, flow.id, plan, run_id, now)
        for message, body in rendered:
            store.enqueue(_entry(flow.id, run_id, message, body), now)
    keys = [message.key(flow.id) for message, _ in rendered]
    await deliver_pending(store, backend, flow.id, clock, near=params.workbook)
    deliveries = []
    for (message, body), key in zip(rendered, keys, strict=True):
        entry = store.get_entry(key)
        status = entry.status if entry else "unknown"
        if entry is not None and entry.run_id != run_id and status == "sent":
            status = "already-sent"
        deliveries.append(
            _delivery(flow.id, message, body, status, entry.location if entry else None)
        )
    record = run_record(
        flow.id, plan, fetched.version, deliveries, artefacts, dry_run=False, run_id=run_id
    )
    store.finish_run(
        run_id, record["status"], clock(), record, report_number=plan.report.number or None
    )
    return RunResult(record, plan, rendered)


async def deliver_pending(
    store: Store,
    backend: Backend,
    flow_id: str,
    clock: Callable[[], datetime],
    near: str | None = None,
) -> None:
    """Deliver every queued message of a flow (new ones and those a crash left behind)."""
    for entry in store.outbox(flow_id, ("pending", "sending", "failed")):
        store.mark(entry.key, "sending", clock())
        try:
            attachments = {
                name: await backend.artefacts.get(name, near) for name in entry.attachments
            }
            location = await backend.deliverer.deliver(entry, attachments)
        except (AutomationError, OSError) as err:
            store.mark(entry.key, "failed", clock(), error=str(err), attempt=True)
            continue
        store.mark(entry.key, "sent", clock(), location=location, attempt=True)


def _load_state(store: Store | None, flow_id: str) -> DamageState:
    if store is None:
        return DamageState()
    version, number = store.flow_state(flow_id)
    departments = {
        p.department: DepartmentState(p.fingerprint, p.changed_at, p.problems, p.table_found)
        for p in store.fingerprints(flow_id)
    }
    return DamageState(version, number, store.latest_report(flow_id), departments)


def _save_state(store: Store, flow_id: str, plan: DamagePlan, run_id: int, now: datetime) -> None:
    state = plan.state
    store.save_flow_state(flow_id, state.version, state.report_number, now)
    if plan.report.new and state.snapshot is not None:
        store.save_report(flow_id, state.snapshot, run_id)
    store.save_fingerprints(
        flow_id,
        [
            Fingerprint(name, s.fingerprint, s.changed_at, s.problems, s.table_found)
            for name, s in state.departments.items()
        ],
    )


def _entry(flow_id: str, run_id: int, message: Message, body: Rendered) -> OutboxEntry:
    bodies = body.bodies()
    digest = hashlib.sha256("\x1f".join([body.subject, *bodies.values()]).encode()).hexdigest()
    return OutboxEntry(
        key=message.key(flow_id),
        flow=flow_id,
        run_id=run_id,
        kind=message.kind,
        audience=message.audience,
        channel=message.contact.channel,
        recipient=message.contact.address,
        recipient_label=message.contact.label,
        subject=body.subject,
        bodies=bodies,
        attachments=message.attachments,
        digest=digest,
    )


def _delivery(
    flow_id: str, message: Message, body: Rendered, status: str, location: str | None
) -> dict[str, Any]:
    return {
        "kind": message.kind,
        "audience": message.audience,
        "channel": message.contact.channel,
        "recipient": message.contact.label,
        "subject": body.subject,
        "key": message.key(flow_id),
        "status": status,
        "location": location,
    }
