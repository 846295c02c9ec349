"""``automation serve``: the headless daemon.

APScheduler 3.x's AsyncIOScheduler runs each flow on its schedule (crontab or an interval,
Asia/Tokyo, optionally business days only). Jobs live in the state database, so after
downtime a missed run is made up once (coalesce) if it is no later than the flow's
misfire grace; jobs are reconciled with the configuration at start and on reload without
dropping missed runs (an unchanged job keeps its stored next run time). In a pair only
the lease holder runs a scheduler, and its job store checks the fence in every
transaction (:mod:`automation.job_store`).

An outbox worker delivers what runs left queued (retries after backoff, messages
interrupted by a crash) under the same per-flow lock as runs. SIGTERM/SIGINT stop new
runs and give the running one ``service.shutdown_grace_seconds`` to finish; a send still
in flight then is abandoned safely (it stays ``sending`` and is reconciled on the next
start). SIGHUP, or a change to the configuration files, reloads after validating; an
invalid configuration keeps the running one and logs why.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from automation import owed
from automation.alerts import ALERT_FLOW, Alerts
from automation.backends import configured_backend
from automation.config.loader import LoadedConfig
from automation.config.models import Flow, OutboxPolicy, Schedule
from automation.configuration import load_config
from automation.errors import AutomationError, ConfigError, TransientError
from automation.fiscal import is_business_day
from automation.job_store import FencedJobStore
from automation.memory import release_memory
from automation.metrics import METRICS
from automation.pair import LeaseKeeper
from automation.ports import Backend
from automation.runner import (
    close_interrupted,
    deliver_pending,
    exclusive,
    flow_lock,
    run_flow,
    store_owed,
)
from automation.schedule import parse_cron
from automation.state import Lease, Store
from automation.timeutil import JST

LOG = logging.getLogger("automation.daemon")
JOBS_TABLE = "apscheduler_jobs"
OUTBOX_EVERY_SECONDS = 15
_CURRENT: Daemon | None = None
METRICS_PAIR = {"moves": 0}  # leadership moves this daemon saw (it took over)


async def scheduled_run(flow_id: str) -> None:
    """The job every flow schedule runs (a module-level function, so the store can keep it)."""
    if _CURRENT is not None:
        await _CURRENT.run(flow_id)


class BusinessDays(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """Fires as ``inner`` does, but only on business days (no weekends, holidays, 12/29-1/3)."""

    def __init__(self, inner: BaseTrigger) -> None:
        self.inner = inner

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        """The inner trigger's next time, moved to the next business day where needed."""
        fire: datetime | None = self.inner.get_next_fire_time(previous, now)
        for _ in range(400):  # a year and more of closed days cannot happen
            if fire is None or is_business_day(fire.astimezone(JST).date()):
                return fire
            day: date = fire.astimezone(JST).date() + timedelta(days=1)
            fire = self.inner.get_next_fire_time(None, datetime.combine(day, time(0), JST))
        return None

    def __str__(self) -> str:
        return f"business days: {self.inner}"

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "inner": self.inner}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.inner = state["inner"]


def trigger_of(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger of a flow's schedule (Asia/Tokyo)."""
    inner: BaseTrigger
    if schedule.every_seconds is not None:
        inner = IntervalTrigger(seconds=schedule.every_seconds, timezone=JST)
    else:
        crons = [CronTrigger(timezone=JST, **parse_cron(c).fields) for c in schedule.cron]
        if len(crons) == 1:
            inner = crons[0]
        else:
            from apscheduler.triggers.combining import OrTrigger  # noqa: PLC0415

            inner = OrTrigger(crons)
    return BusinessDays(inner) if schedule.business_days_only else inner


def job_store_url(target: Path | str) -> str:
    """The SQLAlchemy URL of the scheduler's job store: the state database itself."""
    if isinstance(target, Path):
        return f"sqlite:///{target}"
    scheme, rest = target.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else target


def serve_lock(state_path: Path) -> contextlib.AbstractContextManager[None]:
    """One daemon per state database: a second one would run every job twice."""
    lock_path = state_path.with_name(f"{state_path.name}.serve.lock")
    return exclusive(
        lock_path,
        lambda: ConfigError(
            f"another automation serve already uses the state database {state_path} "
            f"(lock {lock_path}); stop it first, or give this configuration its own state.path"
        ),
    )


def _fingerprint(loaded: LoadedConfig) -> str:
    """A digest of the configuration files, to notice edits.

    The configuration, every YAML file beside it (the directory file may have any name) and
    every template override folder of its flows.
    """
    digest = hashlib.sha256()
    folder = loaded.path.parent
    paths = {loaded.path, *folder.glob("*.yaml"), *folder.glob("*.yml")}
    for flow in loaded.config.flows:
        if flow.params.templates is not None:
            paths.update(loaded.resolve(flow.params.templates).glob("*.j2"))
    for path in sorted(paths):
        with contextlib.suppress(OSError):
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class Daemon:
    """The scheduler, the outbox worker, reloads, signals and the health endpoint."""

    def __init__(
        self,
        config_path: Path,
        *,
        health_port: int | None = None,
        health_host: str = "127.0.0.1",
        ui_port: int | None = None,
        ui_host: str = "127.0.0.1",
        ui_secure_cookies: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(JST),
        backend_factory: Callable[[LoadedConfig], Backend] = configured_backend,
    ) -> None:
        self.config_path = config_path
        self.loaded = load_config(config_path)
        _log_warnings(self.loaded)
        self.health_port = health_port
        self.health_host = health_host
        self.ui = (ui_host, ui_port, ui_secure_cookies) if ui_port is not None else None
        self._ui_server: Any = None
        self.clock = clock
        self.backend_factory = backend_factory
        self.backend = backend_factory(self.loaded)
        self.scheduler: AsyncIOScheduler | None = None
        self.stopping = asyncio.Event()
        self.running: set[asyncio.Task[Any]] = set()
        self.last: dict[str, dict[str, Any]] = {}
        self._run_errors: dict[str, str] = {}  # the last error that kept a run from starting
        self._owed_tries: dict[str, int] = {}  # owed-artefact tries between runs, per flow
        self._fingerprint = _fingerprint(self.loaded)
        self._health_server: asyncio.base_events.Server | None = None
        self._pair: LeaseKeeper | None = None
        self._invalid: str | None = None  # the error of configuration files not adopted

    @property
    def state_path(self) -> Path:
        """The state file (with a PostgreSQL ``state.url``: where the local locks live)."""
        return self.loaded.resolve(self.loaded.config.state.path)

    @property
    def state_target(self) -> Path | str:
        """The state database: the file, or ``state.url``."""
        return self.loaded.state_target

    def _has_state(self) -> bool:
        """Whether there is a state database to read (a file not yet made: none)."""
        target = self.state_target
        return not isinstance(target, Path) or target.exists()

    # ---- lifecycle ---------------------------------------------------------------------
    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        global _CURRENT  # noqa: PLW0603  # the job store can only keep module-level callables
        _CURRENT = self
        Store(self.state_target).close()  # create or migrate the database first
        if self.pair is not None:  # PostgreSQL: the lease decides, not a local lock
            return await self._serve()
        with serve_lock(self.state_path):
            return await self._serve()

    @property
    def pair(self) -> LeaseKeeper | None:
        """The lease keeper when the state is on PostgreSQL (several daemons may share it)."""
        target = self.state_target
        if self._pair is None and isinstance(target, str):
            self._pair = LeaseKeeper(
                target,
                self.loaded.config.service.lease_seconds,
                self.clock,
                self._gained,
                self._lost,
                self.lead_refusal,
            )
        return self._pair

    async def _lead(self) -> None:
        """Start the scheduler on the shared job store (paused until the caller resumes it)."""
        self.scheduler = AsyncIOScheduler(
            jobstores={
                "default": FencedJobStore(job_store_url(self.state_target), JOBS_TABLE),
                "internal": MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=JST,
        )
        self.scheduler.start(paused=True)
        await self.close_interrupted()
        self.reconcile()
        self.scheduler.add_job(
            self.outbox_pass,
            IntervalTrigger(seconds=OUTBOX_EVERY_SECONDS, timezone=JST),
            id="_outbox",
            jobstore="internal",
            next_run_time=datetime.now(JST),
            misfire_grace_time=None,
        )
        self.scheduler.add_job(
            self.check_config,
            IntervalTrigger(seconds=self.loaded.config.service.reload_check_seconds, timezone=JST),
            id="_reload",
            jobstore="internal",
            misfire_grace_time=None,
        )

    async def _gained(self, lease: Lease, previous: str | None) -> bool:
        """This daemon leads now: run schedules and deliveries; say so when the lead moved.
        False when it cannot (the lease keeper then gives the lease up)."""
        try:
            await self._lead()
        except AutomationError as err:
            LOG.error("cannot lead: %s", err.message, extra={"event": "lead_failed"})
            await self._stop_scheduler()
            return False
        if previous and previous != lease.holder:
            METRICS_PAIR["moves"] += 1
            with contextlib.suppress(AutomationError), Store(self.state_target) as store:
                Alerts(self.loaded).leadership_moved(store, previous, lease, self.clock())
        if self.scheduler is not None:
            self.scheduler.resume()
        return True

    async def _lost(self, why: str) -> None:
        """Another daemon leads: stop schedules and deliveries at once (writes are fenced)."""
        await self._stop_scheduler()
        for task in set(self.running):
            task.cancel()

    async def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            with contextlib.suppress(Exception):
                self.scheduler.shutdown(wait=False)
            self.scheduler = None

    async def _serve(self) -> int:
        if self.pair is None:
            await self._lead()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("SIGHUP")))
        if self.health_port is not None:
            from automation.health import start_health_server  # noqa: PLC0415

            self._health_server = await start_health_server(
                self, self.health_host, self.health_port
            )
        if self.ui is not None:
            self._ui_server = self._start_console(*self.ui)
        lease_task = None
        if self.pair is not None:
            lease_task = asyncio.create_task(self.pair.run(self.stopping))
        else:
            assert self.scheduler is not None
            self.scheduler.resume()
        LOG.info(
            "serving %d scheduled flows from %s",
            len(self.scheduled_flows()),
            self.config_path,
            extra={"event": "started", "count": len(self.scheduled_flows())},
        )
        await self.stopping.wait()
        code = await self.shutdown()
        if lease_task is not None:
            await lease_task  # releases the lease, so the standby takes over at once
        return code

    def _start_console(self, host: str, port: int, secure_cookies: bool) -> Any:
        """The web console on this loop; its retries use the daemon's backend."""
        from automation.console.oidc import entra_of  # noqa: PLC0415
        from automation.console.reports import artefacts_folder, schedules  # noqa: PLC0415
        from automation.console.server import outbox_retry, start_console  # noqa: PLC0415

        retry = outbox_retry(
            self.state_target,
            self.state_path,
            lambda: self.backend,
            self.clock,
            self.loaded.config.service.outbox,
        )
        server, _ = start_console(
            self.state_target,
            host,
            port,
            retry=lambda key: self.retry(key, retry),
            clock=self.clock,
            secure_cookies=secure_cookies,
            health=self,
            run_now=self.run,
            flows=lambda: schedules(self.loaded),
            artefacts=artefacts_folder(self.loaded),
            entra=entra_of(self.loaded.config.console, self.clock),
        )
        LOG.info("console on %s:%d", host, port, extra={"event": "console_started"})
        return server

    async def shutdown(self) -> int:
        """Stop taking runs; let the running one finish within the grace time."""
        if self._ui_server is not None:
            self._ui_server.should_exit = True
        LOG.info("stopping: no new runs", extra={"event": "stopping"})
        if self.scheduler is not None:
            self.scheduler.pause()
        grace = self.loaded.config.service.shutdown_grace_seconds
        if self.running:
            _, pending = await asyncio.wait(set(self.running), timeout=grace)
            for task in pending:
                task.cancel()  # an interrupted send stays 'sending' and is reconciled at start
            if pending:
                LOG.warning(
                    "abandoned %d run(s) after %.0f s; they are reconciled at the next start",
                    len(pending),
                    grace,
                    extra={"event": "abandoned", "count": len(pending)},
                )
                await asyncio.gather(*pending, return_exceptions=True)
        await self._stop_scheduler()
        if self._health_server is not None:
            self._health_server.close()
        LOG.info("stopped", extra={"event": "stopped"})
        return 0

    async def close_interrupted(self) -> None:
        """Mark runs a crash left ``running`` as ``interrupted``, and store the artefacts they
        still owe (queueing the messages that wait for them), before anything else runs.

        Under each flow's lock: a flow held by a cron ``automation run`` right now is left to
        that run (its next run closes what is stale). An artefact that cannot be stored now
        stays owed to the flow's next run.
        """
        with Store(self.state_target) as store:
            for flow in self.loaded.config.flows:
                try:
                    with flow_lock(self.state_path, flow.id):
                        await close_interrupted(
                            self.loaded, store, self.backend, flow.id, self.clock
                        )
                        await store_owed(store, self.backend, flow.id, self.clock)
                except TransientError:
                    continue

    # ---- jobs --------------------------------------------------------------------------
    def scheduled_flows(self) -> list[Flow]:
        """Flows that have a schedule."""
        return [f for f in self.loaded.config.flows if f.schedule is not None]

    def reconcile(self) -> None:
        """Make the stored jobs match the configuration: add, update, remove.

        An unchanged job is left alone, so a run missed while the daemon was down is still
        due; a job whose schedule changed gets the new trigger (its next run is recomputed).
        """
        if self.scheduler is None:
            return  # not serving yet: serve() reconciles when it starts
        wanted = {f.id: f for f in self.scheduled_flows()}
        for job in self.scheduler.get_jobs(jobstore="default"):
            if job.id not in wanted:
                self.scheduler.remove_job(job.id, jobstore="default")
                LOG.info("removed job %s", job.id, extra={"event": "job_removed", "flow": job.id})
        for flow_id, flow in wanted.items():
            assert flow.schedule is not None
            trigger = trigger_of(flow.schedule)
            grace = flow.schedule.misfire_grace_minutes * 60 or None
            job = self.scheduler.get_job(flow_id, jobstore="default")
            if job is None:
                self.scheduler.add_job(
                    scheduled_run,
                    trigger,
                    id=flow_id,
                    kwargs={"flow_id": flow_id},
                    jobstore="default",
                    misfire_grace_time=grace,
                    coalesce=True,
                    max_instances=1,
                )
                LOG.info(
                    "added job %s (%s)",
                    flow_id,
                    trigger,
                    extra={"event": "job_added", "flow": flow_id},
                )
                continue
            if str(job.trigger) != str(trigger):
                self.scheduler.reschedule_job(flow_id, jobstore="default", trigger=trigger)
                LOG.info(
                    "rescheduled %s (%s)",
                    flow_id,
                    trigger,
                    extra={"event": "job_changed", "flow": flow_id},
                )
            if job.misfire_grace_time != grace:
                self.scheduler.modify_job(flow_id, jobstore="default", misfire_grace_time=grace)

    def standby_refusal(self) -> str | None:
        """Why this daemon must not run or deliver now (it stands by in a pair), or None."""
        if self.pair is not None and not self.pair.role.leader:
            return f"refused: this daemon is the standby; {self.pair.role.holder} leads"
        return None

    async def retry(self, key: str, retry: Callable[[str], Awaitable[str]]) -> str:
        """A console retry, only where this daemon leads: a standby's delivery could meet the
        leader's (the flow locks are files on each host)."""
        refused = self.standby_refusal()
        return refused if refused is not None else await retry(key)

    async def run(self, flow_id: str) -> str:
        """One run, scheduled or asked for on the console, then its memory handed back (the
        daemon idles small after a large run). Returns how it ended, for the audit log.

        Not after an unchanged poll: it allocated next to nothing, and the full collection
        over the daemon's heap took about 0.1 s of CPU a poll (1 % of a core at 10 s)."""
        outcome = ""
        try:
            outcome = await self._run(flow_id)
            return outcome
        finally:
            if outcome != "unchanged":
                release_memory()

    async def _run(self, flow_id: str) -> str:
        """One run; failures are recorded by the runner and never stop the daemon."""
        if self.stopping.is_set():
            return "refused: the daemon is stopping"
        refused = self.standby_refusal()
        if refused is not None:
            return refused
        task = asyncio.current_task()
        if task is not None:
            self.running.add(task)
        try:
            result = await run_flow(
                self.loaded, flow_id, self.clock(), backend=self.backend, clock=self.clock
            )
        except TransientError as err:
            LOG.info(
                "skipped %s: %s", flow_id, err.message, extra={"event": "skipped", "flow": flow_id}
            )
            return f"busy: {err.message}"
        except AutomationError as err:  # e.g. the flow vanished in a reload
            LOG.error(
                "cannot run %s: %s",
                flow_id,
                err.message,
                extra={"event": "run_error", "flow": flow_id},
            )
            return f"error: {err.message}"
        except Exception as err:  # before a run could start (the state database): logged once
            said = f"{type(err).__name__}: {err}"
            if self._run_errors.get(flow_id) != said:
                self._run_errors[flow_id] = said
                LOG.exception(
                    "cannot run %s: %s",
                    flow_id,
                    said,
                    extra={"event": "run_error", "flow": flow_id},
                )
            return f"error: {said}"
        finally:
            if task is not None:
                self.running.discard(task)
        self._run_errors.pop(flow_id, None)
        record = result.record
        METRICS.runs[(flow_id, record["status"])] += 1
        for delivery in record.get("deliveries", []):
            METRICS.deliveries[(delivery["channel"], delivery["status"])] += 1
        self.last[flow_id] = {
            "status": record["status"],
            "at": self.clock().isoformat(),
            "report_number": record.get("report_number"),
        }
        LOG.debug("ran %s: %s", flow_id, record["status"], extra={"event": "ran", "flow": flow_id})
        return str(record["status"])

    async def outbox_pass(self) -> None:
        """Deliver what is due in every flow's outbox (and the admins' alerts)."""
        if self.stopping.is_set() or not self._has_state():
            return
        if self.pair is not None and not self.pair.role.leader:
            return
        with Store(self.state_target) as store:
            flows = store.flows_with_undelivered()
            policy = self.loaded.config.service.outbox
            for flow_id in flows:
                try:
                    with flow_lock(self.state_path, flow_id):
                        dead = None if flow_id == ALERT_FLOW else Alerts(self.loaded)
                        await deliver_pending(
                            store, self.backend, flow_id, self.clock, None, policy, dead
                        )
                except TransientError:
                    continue  # a run of that flow is delivering right now
            await self._store_owed(store, policy)

    async def _store_owed(self, store: Store, policy: OutboxPolicy) -> None:
        """Store what a run could not (its upload failed) and deliver the messages that
        waited for it, so a flow that runs rarely (a half-year round) does not hold them
        until its next run. Tries back off as the outbox's sends do (30 s, 60 s, ... by
        default); a failure that repeats is logged at debug (the run logged the first)."""
        for flow_id, tried in store.artefacts_last_tried().items():
            tries = self._owed_tries.get(flow_id, 0)
            wait = policy.backoff_seconds[min(tries, len(policy.backoff_seconds) - 1)]
            if self.clock() - tried < timedelta(seconds=wait):
                continue
            try:
                with flow_lock(self.state_path, flow_id):
                    stored, failures = await owed.settle(store, self.backend, flow_id, self.clock)
                    if stored:
                        await deliver_pending(
                            store,
                            self.backend,
                            flow_id,
                            self.clock,
                            None,
                            policy,
                            Alerts(self.loaded),
                        )
            except TransientError:
                continue  # a run of that flow holds it: the run stores it first
            self._owed_tries[flow_id] = tries + 1 if failures else 0
            for err in failures:
                LOG.debug("flow %s: an owed artefact is still not stored: %s", flow_id, err)

    # ---- reloads -----------------------------------------------------------------------
    def lead_refusal(self) -> str | None:
        """Asked by a standby before it claims the lease: load the configuration as deployed
        now (a change made on this host while it stood by is honoured from the first run it
        leads); None when it is valid, else why this daemon must not lead. Files are read
        again only when they changed; an invalid version is logged once."""
        if _fingerprint(self.loaded) == self._fingerprint:
            return self._invalid
        try:
            loaded = load_config(self.config_path)
        except ConfigError as err:
            self._fingerprint = _fingerprint(self.loaded)
            self._invalid = _invalid(err)
            LOG.error("will not lead: %s", self._invalid, extra={"event": "lead_refused"})
            return self._invalid
        self._adopt(loaded)
        LOG.info("reloaded before leading", extra={"event": "reloaded"})
        _log_warnings(loaded)
        return None

    def _adopt(self, loaded: LoadedConfig) -> None:
        """Run ``loaded`` from now on (validated already)."""
        self.loaded = loaded
        self._fingerprint = _fingerprint(loaded)
        self._invalid = None
        self.backend = self.backend_factory(loaded)

    async def check_config(self) -> None:
        """Reload when the configuration files changed."""
        if _fingerprint(self.loaded) != self._fingerprint:
            await self.reload("the configuration changed")

    async def reload(self, why: str) -> bool:
        """Validate the configuration again; switch to it only when it is valid."""
        try:
            loaded = load_config(self.config_path)
        except ConfigError as err:
            self._fingerprint = _fingerprint(self.loaded)
            self._invalid = _invalid(err)
            LOG.error(
                "reload (%s) refused; still running the previous configuration:\n%s",
                why,
                err.message,
                extra={"event": "reload_refused"},
            )
            return False
        self._adopt(loaded)
        self.reconcile()
        LOG.info("reloaded (%s)", why, extra={"event": "reloaded"})
        _log_warnings(loaded)
        return True

    # ---- health ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """What /healthz reports."""
        alive = self.scheduler is not None and self.scheduler.running and not self.stopping.is_set()
        if self.pair is not None and not self.pair.role.leader:
            alive = not self.stopping.is_set()  # a healthy standby runs no scheduler
        flows: dict[str, Any] = {}
        outbox: dict[str, int] = {}
        if self._has_state():
            with Store(self.state_target) as store:
                outbox = store.outbox_counts()
                stored = store.last_runs()
        else:
            stored = {}
        for flow in self.scheduled_flows():
            job = None
            if self.scheduler is not None:  # a leader losing its lease may read it no more
                with contextlib.suppress(AutomationError):
                    job = self.scheduler.get_job(flow.id)
            last = stored.get(flow.id) or {}
            flows[flow.id] = {
                "last_status": last.get("status"),
                "last_run": last.get("finished_at"),
                "report_number": last.get("report_number"),
                "next_run": job.next_run_time.isoformat() if job and job.next_run_time else None,
            }
        backlog = sum(outbox.get(s, 0) for s in ("pending", "sending", "failed", "uncertain"))
        return {
            "status": "ok" if alive else "stopping",
            "scheduler": "running" if alive else "stopped",
            "flows": flows,
            "outbox": {**outbox, "backlog": backlog},
            **({"pair": self.pair.role.as_dict()} if self.pair is not None else {}),
        }

    def metrics_text(self) -> str:
        """What /metrics reports."""
        outbox: dict[str, int] = {}
        if self._has_state():
            with Store(self.state_target) as store:
                outbox = store.outbox_counts()
        alive = self.scheduler is not None and self.scheduler.running
        text = METRICS.render(outbox, alive)
        if self.pair is None:
            return text
        return text + "".join(
            (
                "# HELP automation_leader Whether this daemon holds the pair's leader lease.\n",
                "# TYPE automation_leader gauge\n",
                f"automation_leader {int(self.pair.role.leader)}\n",
                "# HELP automation_leadership_changes_total Times this daemon gained or lost the lead.\n",
                "# TYPE automation_leadership_changes_total counter\n",
                f"automation_leadership_changes_total {self.pair.role.changes}\n",
            )
        )


def _invalid(err: ConfigError) -> str:
    """Why a daemon whose configuration files are invalid must not lead, and the fix."""
    return (
        "the configuration is invalid; this daemon stays standby until it is fixed "
        f"(it checks again when the files change):\n{err.message}"
    )


def _log_warnings(loaded: LoadedConfig) -> None:
    """What ``validate`` warns of, in the log of every start and reload."""
    for warning in loaded.warnings:
        LOG.warning("configuration: %s", warning, extra={"event": "config_warning"})
