"""Run a flow once: fetch inputs, plan (pure), render, record, deliver, then build artefacts.

Order matters for "nothing lost, nothing sent twice", and for the report arriving early:
1. everything that can fail on bad input (fetch, parse, plan, render) happens before
   anything is recorded, so a failed run changes no state and sends nothing;
2. state, the report snapshot, every message that does not carry an artefact and each
   artefact's recipe (with the messages that carry it) go into the database in one
   transaction, each message under its idempotency key (a known key is not queued again);
3. only then are queued messages delivered, the report first, each marked sent as it goes;
4. then each artefact is built and stored under a name fixed by the report number (a rerun
   overwrites the same file), and the messages that carry it are queued and delivered
   (:mod:`automation.owed`). Messages left pending by a crash or a failed send are delivered
   by the next run; an artefact left owed is stored by the next run before anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from automation import owed
from automation.alerts import ALERT_FLOW, Alerts
from automation.backends import configured_backend
from automation.config.loader import LoadedConfig
from automation.config.models import DamageRollupFlow, Flow, OutboxPolicy
from automation.errors import AutomationError, ConfigError, TransientError, UncertainError
from automation.jobs import Prepared
from automation.memory import collector_for_a_run, start_up_collector
from automation.outcome import UNDELIVERED_ACTION, delivery_outcome, exit_code
from automation.plan import Message
from automation.ports import Backend, Near
from automation.queueing import outbox_entry
from automation.record import failed_record, for_history, interrupted_record
from automation.render import Rendered
from automation.state import (
    EncodedItems,
    FencedError,
    OutboxEntry,
    RecordJSON,
    Store,
    record_json,
    record_json_with,
)
from automation.timeutil import JST
from automation.timings import PhaseTimer

LOG = logging.getLogger("automation.runs")
T = TypeVar("T")


@dataclass
class RunResult:
    """The outcome of one run: the JSON run record and, for ``--show``, each message as
    rendered (not the plan it came from: a large run lets that go before its artefacts'
    build, see :class:`_Issued`)."""

    record: dict[str, Any]
    rendered: list[tuple[Message, Rendered]] = field(default_factory=list)
    # The record as one line of JSON, scrubbed, when the run history keeps it as it is (the
    # text stored: printed as it is rather than encoded again).
    text: RecordJSON | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Short on purpose: the record of a large run is megabytes, and asyncio
        # builds the repr of a coroutine's result on its own (Python 3.11's asyncio.run does
        # so while restoring the SIGINT handler).
        record = self.record
        return (
            f"RunResult(flow={record.get('flow')!r}, status={record.get('status')!r}, "
            f"deliveries={len(record.get('deliveries') or ())}, rendered={len(self.rendered)})"
        )

    @property
    def ok(self) -> bool:
        """Whether the run succeeded (``ok`` or ``unchanged``: everything it queued went out)."""
        return self.record["status"] in ("ok", "unchanged")

    @property
    def exit_code(self) -> int:
        """The exit code of ``automation run`` for this run (see :mod:`automation.outcome`)."""
        return exit_code(str(self.record["status"]))


def _wall_clock() -> datetime:
    return datetime.now(JST)


async def run_flow(
    loaded: LoadedConfig,
    flow_id: str,
    now: datetime,
    *,
    dry_run: bool = False,
    summary: bool = False,
    backend: Backend | None = None,
    clock: Callable[[], datetime] = _wall_clock,
) -> RunResult:
    """Run one flow at time ``now``; never raises for bad input, returns a failed record.

    ``summary`` asks a progress flow for its HQ summary now (on demand).
    """
    config = loaded.config
    flow = config.flow(flow_id)
    if flow is None:
        known = ", ".join(f.id for f in config.flows)
        raise ConfigError(f"no flow {flow_id!r} in {loaded.path}; configured flows: {known}")
    if backend is None:  # a command's run: Graph's libraries load here, nothing to collect
        with start_up_collector():
            backend = configured_backend(loaded)
    timer = PhaseTimer()
    backend = _timed(backend, timer)
    state_path = loaded.resolve(config.state.path)
    with collector_for_a_run():  # a large run's millions of objects are not walked again
        if dry_run:
            store = _read_only_store(loaded.state_target)
            try:
                result = await _run(loaded, flow, now, dry_run, backend, store, clock, summary)
            finally:
                if store is not None:
                    store.close()
        else:
            with flow_lock(state_path, flow.id), Store(loaded.state_target) as store:
                await close_interrupted(loaded, store, backend, flow.id, clock)
                result = await _run(loaded, flow, now, dry_run, backend, store, clock, summary)
    timings = timer.as_record()
    if result.text is not None and "timings_s" not in result.record:
        result.text = record_json_with(result.text, "timings_s", timings)
    else:
        result.text = None
    result.record["timings_s"] = timings
    return result


def _timed(backend: Backend, timer: PhaseTimer) -> Backend:
    """The same ports, each awaited call timed into its phase of the run record."""
    return Backend(
        timer.wrap(backend.workbooks, "fetch"),
        timer.wrap(backend.artefacts, "store"),
        timer.wrap(backend.deliverer, "deliver"),
        timer.wrap(backend.lists, "fetch"),
    )


@contextmanager
def exclusive(lock_path: Path, busy: Callable[[], AutomationError]) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (mode 0600), or raise ``busy()`` at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy() from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def flow_lock(state_path: Path, flow_id: str) -> AbstractContextManager[None]:
    """Hold an exclusive lock for one flow, so overlapping runs never race each other."""
    lock_path = state_path.with_name(f"{state_path.name}.{flow_id}.lock")
    return exclusive(
        lock_path,
        lambda: TransientError(
            f"another run of flow {flow_id!r} is still in progress (lock {lock_path}); "
            "this run was skipped, the next one will catch up"
        ),
    )


def _read_only_store(target: Path | str) -> Store | None:
    if isinstance(target, Path) and not target.exists():
        return None
    try:
        return Store(target)
    except sqlite3.Error:
        return None


async def _run(
    loaded: LoadedConfig,
    flow: Flow,
    now: datetime,
    dry_run: bool,
    backend: Backend,
    store: Store | None,
    clock: Callable[[], datetime],
    summary: bool = False,
) -> RunResult:
    """One run, with a total boundary: whatever fails, the run ends with a record.

    A failure the service knows (config, auth, transient, data) says what to do; anything
    else is logged with its traceback and recorded as ``internal``. Either way the record
    is finished (never left ``running``) and counts toward the flow's failure streak.
    """
    started = clock()
    run_id = None if dry_run or store is None else store.start_run(flow.id, now, started)
    try:
        return await _complete(loaded, flow, now, dry_run, backend, store, run_id, clock, summary)
    except AutomationError as err:
        failure: BaseException = err
    except Exception as err:  # the run boundary is total: nothing escapes unrecorded
        LOG.exception(
            "flow %s: unexpected %s", flow.id, type(err).__name__, extra={"flow": flow.id}
        )
        failure = err
    record = {**failed_record(flow.id, now, failure, dry_run=dry_run), "run_id": run_id}
    if store is not None and run_id is not None:
        store.finish_run(run_id, "failed", clock(), record, error=record["error"]["message"])
        await _after_run(loaded, store, backend, flow.id, run_id, record, clock)
    return RunResult(record)


async def _complete(
    loaded: LoadedConfig,
    flow: Flow,
    now: datetime,
    dry_run: bool,
    backend: Backend,
    store: Store | None,
    run_id: int | None,
    clock: Callable[[], datetime],
    summary: bool,
) -> RunResult:
    """Prepare, queue and deliver the report, then build and store the artefacts it owes."""
    if dry_run or store is None or run_id is None:
        prepared = await _prepare(loaded, flow, now, store, backend, summary)
        prepared.abandon()  # nothing is built
        rendered = owed.fitted(flow.id, _as_rendered(prepared.rendered), None)
        deliveries = [_delivery(flow.id, m, r, "dry-run", None) for m, r in rendered]
        artefacts = [{"name": a.name, "location": None} for a in prepared.artefacts]
        details = prepared.details()
        record = _record(
            flow.id, prepared.status, details, deliveries, artefacts, run_id=None, undelivered=None
        )
        return RunResult(record, rendered)

    # What a crash or a failed upload left owed, once.
    leftover = (await store_owed(store, backend, flow.id, clock))[1]
    issued = await _issue(loaded, flow, now, backend, store, run_id, clock, summary)
    # The report is out: its body (a changed 60 x 300 report's, some 1.3 MB of JSON) is
    # encoded for the run record now, while a helper builds the workbook, not after the mail.
    ahead = EncodedItems(issued.details) if issued.artefacts else None
    try:
        policy, alerts = loaded.config.service.outbox, Alerts(loaded)

        # Two passes at once, each given the exact messages it may deliver, none in both: the
        # messages due now (the departments' feedback, what earlier runs left), and the mail
        # the artefacts' step queues once they are stored (this run's never among the former).
        mail = {message.key(flow.id) for message, _ in issued.waiting}
        beside = _due_keys(store, flow.id, clock) - mail

        async def artefacts_then_their_mail() -> tuple[dict[str, str], AutomationError | None]:
            stored, failure = await store_owed(store, backend, flow.id, clock, issued.made)
            if stored:  # not behind the feedback: queued just now, sent now
                queued = _due_keys(store, flow.id, clock) - beside
                await deliver_pending(
                    store, backend, flow.id, clock, issued.near, policy, alerts, queued
                )
            return stored, failure

        # The feedback (minutes at a mailbox's rate) goes out while the workbook is built and
        # stored, and the mail attaching it after that.
        stored, failure = await _alongside(
            deliver_pending(store, backend, flow.id, clock, issued.near, policy, alerts, beside),
            artefacts_then_their_mail,
        )
    finally:  # a build ahead the run did not take (it failed first) ends with it
        issued.abandon()
    artefacts = [{"name": name, "location": stored.get(name)} for name in issued.artefacts]
    rendered = issued.early + issued.waiting
    deliveries = [_delivery_of(store, flow.id, run_id, message, body) for message, body in rendered]
    status, undelivered = delivery_outcome(issued.status, deliveries)
    record = _record(
        flow.id,
        status,
        issued.details,
        deliveries,
        artefacts,
        run_id=run_id,
        undelivered=undelivered,
    )
    failure = failure or leftover
    owing = store.owed_artefacts(flow.id)
    if failure is not None and owing:
        record = _owing(record, failure, owing)
    history = for_history(record)
    text = record_json(history, ahead)
    store.finish_run(
        run_id,
        record["status"],
        clock(),
        text,
        report_number=issued.report_number,
        error=(record.get("undelivered") or {}).get("message"),
    )
    await _after_run(loaded, store, backend, flow.id, run_id, record, clock)
    return RunResult(record, rendered, text if history is record else None)


def _due_keys(store: Store, flow_id: str, clock: Callable[[], datetime]) -> set[str]:
    """The keys of the flow's messages due now."""
    return {entry.key for entry in store.due(flow_id, clock())}


@dataclass(frozen=True)
class _Issued:
    """What a run recorded and sent before building its artefacts, and what that build and
    the run's record still need: not the plan it came from. A large run's plan (at 60 x
    2,000 its new figures, their texts and every moved cell, some 60 MB) is let go before
    the artefacts' build, the run's peak."""

    status: str
    details: dict[str, Any]  # the kind-specific part of the run record
    artefacts: list[str]  # the names of those owed, in order
    report_number: int | None
    near: Near
    made: owed.Made
    early: list[owed.Rendition]  # queued and delivered
    waiting: list[owed.Rendition]  # queued once their artefact is stored
    abandon: Callable[[], None]  # the work begun meanwhile, ended when the run is over


async def _issue(
    loaded: LoadedConfig,
    flow: Flow,
    now: datetime,
    backend: Backend,
    store: Store,
    run_id: int,
    clock: Callable[[], datetime],
    summary: bool,
) -> _Issued:
    """Prepare, record (state, messages, owed artefacts), deliver the report's messages that
    do not wait for an artefact, and make the record's details; the prepared run is dropped
    on return."""
    prepared = await _prepare(loaded, flow, now, store, backend, summary)
    try:
        rendered = _as_rendered(prepared.rendered)
        waiting = [r for r in rendered if owed.waits_for(r[0], prepared.artefacts)]
        early = owed.fitted(flow.id, [r for r in rendered if r not in waiting], None)
        with store.transaction():
            prepared.save(store, run_id, now)
            for message, body in early:
                store.enqueue(outbox_entry(flow.id, run_id, message, body), now)
            made = owed.owe(store, flow.id, run_id, prepared.artefacts, prepared.near, waiting, now)
        policy = loaded.config.service.outbox
        reports = {message.key(flow.id) for message, _ in early if message.kind == "report"}
        meanwhile = asyncio.to_thread(prepared.meanwhile)
        if reports:  # the report first, before anything competes with it but that work
            alerts = Alerts(loaded)
            await _alongside(
                meanwhile,
                lambda: deliver_pending(
                    store, backend, flow.id, clock, prepared.near, policy, alerts, reports
                ),
            )
        else:
            await meanwhile
    except BaseException:  # failed, lost its lease or cancelled: an owed artefact is built later
        prepared.abandon()
        raise
    return _Issued(
        prepared.status,
        prepared.details(),  # after the report went out: a changed run's record repeats it
        [a.name for a in prepared.artefacts],
        prepared.report_number,
        prepared.near,
        made,
        early,
        waiting,
        prepared.abandon,
    )


async def _alongside(background: Awaitable[None], foreground: Callable[[], Awaitable[T]]) -> T:
    """``foreground()``'s outcome, ``background`` running meanwhile; both have ended when this
    returns or raises.

    - The foreground's error is the one raised: the background is let finish first (its
      messages are not cut off mid-send); an error of the background's is logged and noted
      on the foreground's, never raised in its place.
    - A cancellation cancels both and is raised as such, whatever the background met.
    - The foreground done, the background's error is raised (a lost lease, a failed store):
      the run must not be recorded as done without it.

    Nothing here settles a message: one cut off mid-send stays ``sending`` and the outbox
    reconciles it before any resend."""
    task = asyncio.ensure_future(background)
    try:
        result = await foreground()
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _failure_of(task)
        raise
    except BaseException as err:
        failed = await _failure_of(task)  # a cancellation meanwhile is raised instead
        if failed is not None:
            err.add_note(f"the deliveries alongside it failed too: {failed!r}")
        raise
    await task
    return result


async def _failure_of(task: asyncio.Future[None]) -> Exception | None:
    """Wait for ``task`` to end; the error it ended with (logged here), or None."""
    try:
        await task
    except Exception as err:  # the caller raises its own error, not this one
        LOG.error(
            "the deliveries alongside a failed or cancelled step failed: %s",
            err,
            exc_info=err,
            extra={"event": "deliveries_failed"},
        )
        return err
    return None


def _as_rendered(rendered: list[owed.Rendition]) -> list[owed.Rendition]:
    """Each message as rendered, without the context its template was rendered from (a
    damage run's whole report, each feedback with its department's reading)."""
    return [(replace(message, context={}), body) for message, body in rendered]


async def store_owed(
    store: Store,
    backend: Backend,
    flow_id: str,
    clock: Callable[[], datetime],
    made: owed.Made | None = None,
) -> tuple[dict[str, str], AutomationError | None]:
    """Build and store what the flow owes (name -> location), the recipes this run ``made``
    from memory; a known failure (an upload refused or timed out) leaves that artefact owed
    to the next run, which stores it first."""
    stored, failures = await owed.settle(store, backend, flow_id, clock, made)
    for err in failures:
        LOG.warning(
            "flow %s: an artefact could not be stored; the next run stores it: %s",
            flow_id,
            err,
            extra={"flow": flow_id, "event": "artefact_owed"},
        )
    return {str(a["name"]): str(a["location"]) for a in stored}, next(iter(failures), None)


def _owing(record: dict[str, Any], failure: AutomationError, names: list[str]) -> dict[str, Any]:
    """The record of a run after which artefacts are still owed (a report went out, its
    workbook did not): never ``ok``, so ``automation run`` and the console say so."""
    owed_names = "、".join(dict.fromkeys(names))
    message = f"{owed_names} not stored ({failure}); the next run stores it, then sends what waits"
    undelivered = record.get("undelivered") or {}
    return {
        **record,
        "status": "partial",
        "undelivered": {
            **undelivered,
            "message": "; ".join(m for m in (undelivered.get("message"), message) if m),
            "action": undelivered.get("action") or UNDELIVERED_ACTION,
        },
    }


def _delivery_of(
    store: Store, flow_id: str, run_id: int, message: Message, body: Rendered
) -> dict[str, Any]:
    """A message's delivery as the outbox has it (``waiting``: its artefact is owed)."""
    entry = store.get_entry(message.key(flow_id))
    status = entry.status if entry else "waiting"
    if entry is not None and entry.run_id != run_id and status == "sent":
        status = "already-sent"
    return _delivery(flow_id, message, body, status, entry.location if entry else None)


async def close_interrupted(
    loaded: LoadedConfig,
    store: Store,
    backend: Backend,
    flow_id: str,
    clock: Callable[[], datetime],
) -> None:
    """Mark runs a crash left ``running`` as ``interrupted``; each counts as a failed run."""
    for run_id in store.running(flow_id):
        number = store.report_of_run(run_id)  # saved before its deliveries were cut short
        record = {**interrupted_record(flow_id, run_id, clock()), "report_number": number}
        store.finish_run(
            run_id,
            "interrupted",
            clock(),
            record,
            report_number=number,
            error=record["error"]["message"],
        )
        LOG.warning(
            "flow %s: run %d was interrupted (the process stopped during it)",
            flow_id,
            run_id,
            extra={"flow": flow_id, "event": "run_interrupted"},
        )
        await _after_run(loaded, store, backend, flow_id, run_id, record, clock)


async def _after_run(
    loaded: LoadedConfig,
    store: Store,
    backend: Backend,
    flow_id: str,
    run_id: int,
    record: dict[str, Any],
    clock: Callable[[], datetime],
) -> None:
    """Track the failure streak, log its transitions, and send admin alerts it raised."""
    alerts = Alerts(loaded)
    with store.transaction():
        _, transition = alerts.run_finished(store, flow_id, run_id, record, clock())
    if transition == "failed":
        LOG.error(
            "flow %s failed: %s",
            flow_id,
            (record.get("error") or {}).get("message", ""),
            extra={"flow": flow_id, "event": "flow_failed"},
        )
    elif transition == "recovered":
        LOG.info("flow %s recovered", flow_id, extra={"flow": flow_id, "event": "flow_recovered"})
    if alerts.contacts:
        await deliver_pending(
            store, backend, ALERT_FLOW, clock, None, loaded.config.service.outbox, None
        )


async def _prepare(
    loaded: LoadedConfig,
    flow: Flow,
    now: datetime,
    store: Store | None,
    backend: Backend,
    summary: bool,
) -> Prepared:
    """Dispatch to the job of the flow's kind (imported lazily: each pulls its own domain)."""
    if isinstance(flow, DamageRollupFlow):
        from automation.jobs import damage  # noqa: PLC0415

        return await damage.prepare(loaded, flow, now, store, backend)
    from automation.jobs import progress  # noqa: PLC0415

    return await progress.prepare(loaded, flow, now, store, backend, summary=summary)


def _record(
    flow_id: str,
    status: str,
    details: dict[str, Any],
    deliveries: list[dict[str, Any]],
    artefacts: list[dict[str, Any]],
    *,
    run_id: int | None,
    undelivered: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "flow": flow_id,
        "run_id": run_id,
        "status": status,
        "dry_run": run_id is None,
        **details,
        "deliveries": deliveries,
        "undelivered": undelivered,
        "artefacts": artefacts,
    }


class DeadLetters(Protocol):
    """Told when a message is given up, so admins hear of it once."""

    def dead(self, store: Store, entry: OutboxEntry, now: datetime) -> None:
        """Queue the admins' alert about ``entry``."""
        ...


async def deliver_pending(
    store: Store,
    backend: Backend,
    flow_id: str,
    clock: Callable[[], datetime],
    near: Near = None,
    policy: OutboxPolicy | None = None,
    dead_letters: DeadLetters | None = None,
    only: Collection[str] | None = None,
) -> None:
    """Deliver every queued message of a flow whose backoff has passed (``only``: those of
    these keys).

    States: pending -> sending -> sent; a failed send is ``failed`` until its next try
    (waits from ``policy.backoff_seconds``, at least what Graph's Retry-After asked) and
    ``dead`` after ``policy.max_attempts`` tries, when admins are told once. A message
    found ``sending`` was interrupted mid-send, and a send that got no definite answer (the
    connection broke after the request left, or a 500/502/504) is ``uncertain``: either is
    reconciled before anything is sent again. Mail is looked for in Sent Items by its key, a Teams
    channel post among the channel's newest messages by its reference, a local delivery by
    its envelope; a webhook offers no way to look, so ``policy.webhook_uncertain`` decides
    (``resend``: at least once; ``give_up``: at most once, admins told). After a transient
    failure the rest of that channel's messages wait for the next pass (backoff per channel).

    In a pair, each message is claimed (one transaction with the fencing-token check) and,
    right before it is sent, the lease is checked again; a leader that lost it meanwhile
    (paused past its lease) stops with FencedError and sends nothing: the entry stays
    ``sending`` and the new leader reconciles it as interrupted.
    """
    policy = policy or OutboxPolicy()
    backing_off: set[str] = set()
    for due in store.due(flow_id, clock()):
        if due.channel in backing_off or (only is not None and due.key not in only):
            continue
        interrupted = due.status in ("sending", "uncertain")
        if interrupted and not await _reconciled_to_send(
            store, backend, due, clock, policy, dead_letters
        ):
            continue
        entry = store.claim(due.key, clock())
        if entry is None:  # another transaction holds it, or it was settled meanwhile
            continue
        try:
            attachments = {
                name: await backend.artefacts.get(name, near) for name in entry.attachments
            }
            store.check_sending()  # a leader paused since the claim stops here, sends nothing
            location = await backend.deliverer.deliver(entry, attachments)
        except FencedError as err:  # left `sending`: the new leader reconciles it
            LOG.warning(
                "stopped delivering %s: %s",
                flow_id,
                err,
                extra={"event": "fenced", "flow": flow_id},
            )
            raise
        except UncertainError as err:  # it may have arrived: looked for before any resend
            backing_off.add(entry.channel)
            _failed(
                store,
                entry,
                str(err),
                clock(),
                policy,
                dead_letters,
                err.retry_after,
                status="uncertain",
            )
            continue
        except TransientError as err:
            backing_off.add(entry.channel)
            _failed(store, entry, str(err), clock(), policy, dead_letters, err.retry_after)
            continue
        except (AutomationError, OSError) as err:
            _failed(store, entry, str(err), clock(), policy, dead_letters)
            continue
        store.mark(entry.key, "sent", clock(), location=location, attempt=True)


async def _reconciled_to_send(
    store: Store,
    backend: Backend,
    entry: OutboxEntry,
    clock: Callable[[], datetime],
    policy: OutboxPolicy,
    dead_letters: DeadLetters | None,
) -> bool:
    """Settle a message whose last send was interrupted; True when it must be sent again.

    A mail on a deliverer whose sends are processed after they are accepted (its
    ``settling`` channels: Graph's sendMail) is looked for again later while its send is
    younger than ``policy.mail_settle_seconds``: not found yet is not found."""
    began = entry.updated_at  # the send's claim (sending), or when its answer was lost
    if entry.status == "sending":  # uncertain since the send began
        store.mark(entry.key, "uncertain", began or clock(), error="interrupted mid-send")
    confirm = getattr(backend.deliverer, "confirm", None)
    try:
        delivered = await confirm(entry) if confirm is not None else None
    except AutomationError as err:
        _failed(
            store,
            entry,
            f"could not check whether it arrived: {err}",
            clock(),
            policy,
            dead_letters,
            status="uncertain",
        )
        return False
    if delivered:
        store.mark(entry.key, "sent", clock(), location="confirmed after restart")
        return False
    settling = entry.channel == "mail" and "mail" in getattr(backend.deliverer, "settling", ())
    settle = policy.mail_settle_seconds if settling else 0.0
    if (
        delivered is False
        and began is not None
        and clock() < (settled := began + timedelta(seconds=settle))
    ):
        LOG.info(
            "%s: not found where it would be once sent; looked for again at %s before any "
            "resend (the send may still be processed)",
            entry.key,
            settled.isoformat(timespec="seconds"),
            extra={"event": "reconcile_later", "flow": entry.flow, "key": entry.key},
        )
        store.defer(entry.key, settled)
        return False
    if (
        delivered is None
        and entry.channel == "teams_webhook"
        and policy.webhook_uncertain == "give_up"
    ):
        store.mark(
            entry.key,
            "dead",
            clock(),
            error="interrupted mid-send; a webhook cannot be checked and the policy is give_up",
        )
        if dead_letters is not None:
            dead_letters.dead(store, entry, clock())
        return False
    return True


def _failed(
    store: Store,
    entry: OutboxEntry,
    error: str,
    now: datetime,
    policy: OutboxPolicy,
    dead_letters: DeadLetters | None,
    retry_after: float | None = None,
    status: str = "failed",
) -> None:
    """Count a failed try: wait before the next one, or give up after the last."""
    attempts = entry.attempts + 1
    if attempts >= policy.max_attempts:
        store.mark(entry.key, "dead", now, error=error, attempt=True)
        if dead_letters is not None:
            dead_letters.dead(store, entry, now)
        return
    store.mark(entry.key, status, now, error=error, attempt=True)
    waits = policy.backoff_seconds
    wait = max(waits[min(attempts, len(waits)) - 1], retry_after or 0.0)
    store.defer(entry.key, now + timedelta(seconds=wait))


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
