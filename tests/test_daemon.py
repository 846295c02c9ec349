"""Specs for the daemon's schedule: Tokyo time, business days, reconciling jobs, missed runs."""

from __future__ import annotations

import asyncio
import logging
import pickle
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from automation.config.models import Schedule
from automation.configuration import load_config
from automation.daemon import JOBS_TABLE, BusinessDays, Daemon, trigger_of
from automation.errors import ConfigError
from automation.health import answer
from automation.pair import Role
from automation.runner import RunResult
from automation.schedule import parse_cron
from automation.timeutil import JST
from tests.builders import fire_times

CONFIG = """\
version: 1
state: {{path: state/db.sqlite}}
backend: {{type: local, root: inputs, artefacts: out, deliveries: sent}}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{{channel: mail, address: kiki@example.jp}}]
flows:
  - id: damage
    kind: damage_rollup
{schedule}
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{{channel: mail, address: bousai@example.jp}}]
"""
EVERY_TEN = "    schedule: {cron: '*/10 * * * *', misfire_grace_minutes: 60}"


def fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of ``schedule`` after ``after``."""
    return fire_times(trigger_of(schedule), after, count)


def test_a_cron_schedule_fires_in_japan_time() -> None:
    """0 9 * * * is 09:00 in Tokyo every day (Japan has no daylight saving)."""
    days = fires(Schedule(cron=("0 9 * * *",)), datetime(2026, 3, 7, 10, tzinfo=JST), 3)
    assert [d.isoformat() for d in days] == [
        "2026-03-08T09:00:00+09:00",
        "2026-03-09T09:00:00+09:00",
        "2026-03-10T09:00:00+09:00",
    ]


def test_business_days_only_skips_weekends_and_holidays() -> None:
    """From Friday 2026-11-20: the weekend and 勤労感謝の日 (Mon 11/23) are skipped."""
    schedule = Schedule(cron=("0 9 * * *",), business_days_only=True)
    days = fires(schedule, datetime(2026, 11, 20, 8, tzinfo=JST), 3)
    assert [d.date().isoformat() for d in days] == ["2026-11-20", "2026-11-24", "2026-11-25"]


def test_business_days_only_skips_the_year_end_closure() -> None:
    """12/29 to 1/3 are closed: after 12/28 the next run is on 1/4."""
    schedule = Schedule(cron=("0 9 * * *",), business_days_only=True)
    days = fires(schedule, datetime(2026, 12, 28, 10, tzinfo=JST), 1)
    assert days[0].date().isoformat() == "2027-01-04"


def test_an_interval_on_business_days_resumes_on_the_next_business_day() -> None:
    """Every 30 minutes on business days: after Saturday 1/9 comes Tuesday (Monday is 成人の日)."""
    schedule = Schedule(every_seconds=1800, business_days_only=True)
    trigger = trigger_of(schedule)
    saturday = datetime(2027, 1, 9, 10, 0, tzinfo=JST)
    fire = trigger.get_next_fire_time(None, saturday)
    assert fire is not None and fire.date().isoformat() == "2027-01-12"


def test_a_damage_flow_schedule_without_a_rule_polls_every_30_seconds(workspace: Path) -> None:
    """schedule: {} on a damage flow polls its workbook every 30 s (one request when unchanged)."""
    loaded = load_config(write(workspace, "    schedule: {}"))
    schedule = loaded.config.flows[0].schedule
    assert schedule is not None
    trigger = trigger_of(schedule)
    assert isinstance(trigger, IntervalTrigger) and trigger.interval == timedelta(seconds=30)


def test_the_business_day_trigger_survives_the_job_store() -> None:
    """Jobs are pickled into the state database; the wrapped trigger comes back equal."""
    trigger = BusinessDays(CronTrigger(timezone=JST, **parse_cron("0 9 * * mon-fri").fields))
    restored = pickle.loads(pickle.dumps(trigger))
    assert str(restored) == str(trigger)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder for a configuration (no workbook needed: runs are counted, not made)."""
    (tmp_path / "inputs").mkdir()
    return tmp_path


def write(workspace: Path, schedule: str) -> Path:
    """Write the configuration with ``schedule`` under the flow."""
    path = workspace / "automation.yaml"
    path.write_text(CONFIG.format(schedule=schedule), encoding="utf-8")
    return path


HANDED_OUT = EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR
WAIT_AT_MOST = 30.0  # seconds: a bound on a wait for an event, never a timing assertion


class CountingDaemon(Daemon):
    """A daemon whose scheduled runs are only counted, and whose scheduler's hand-outs
    (a job run, missed or failed) can be awaited."""

    runs: list[str]
    handed_out: dict[str, asyncio.Event]

    async def run(self, flow_id: str) -> str:
        """Count the run instead of making it."""
        self.runs.append(flow_id)
        return "ok"

    async def _lead(self) -> None:
        """Lead as the daemon does, and listen for each job the scheduler hands out."""
        await super()._lead()
        assert self.scheduler is not None
        self.scheduler.add_listener(self._handed, HANDED_OUT)

    def _handed(self, event: JobExecutionEvent) -> None:
        self.was_handed(event.job_id).set()

    def was_handed(self, job_id: str) -> asyncio.Event:
        """Set once the scheduler has run, missed or failed ``job_id``."""
        return self.handed_out.setdefault(job_id, asyncio.Event())


async def start(daemon: CountingDaemon, job_id: str = "_outbox") -> asyncio.Task[int]:
    """Start serving and return once the scheduler has handed out ``job_id`` (by default
    its first outbox pass, which is due at start: every due job was looked at by then)."""
    daemon.runs = []
    daemon.handed_out = {}
    task = asyncio.create_task(daemon.serve())
    handed = asyncio.create_task(daemon.was_handed(job_id).wait())
    await asyncio.wait({task, handed}, timeout=WAIT_AT_MOST, return_when=asyncio.FIRST_COMPLETED)
    if not handed.done():
        handed.cancel()
        if task.done():
            task.result()  # serve ended first: its error is the failure
        raise AssertionError(f"the scheduler did not hand out {job_id} within {WAIT_AT_MOST} s")
    return task


async def serve_until(daemon: CountingDaemon, job_id: str = "_outbox") -> None:
    """Serve until the scheduler has handed out ``job_id``, then stop as SIGTERM would."""
    task = await start(daemon, job_id)
    daemon.stopping.set()
    assert await task == 0


def stored_next_run(workspace: Path, job_id: str) -> float:
    """The next run time of a job as stored in the state database (POSIX seconds)."""
    with sqlite3.connect(workspace / "state" / "db.sqlite") as db:
        row = db.execute(f"SELECT next_run_time FROM {JOBS_TABLE} WHERE id = ?", (job_id,))
        return float(row.fetchone()[0])


def move_next_run(workspace: Path, job_id: str, when: datetime) -> None:
    """Pretend the daemon was down since before ``when``: its job was due then."""
    with sqlite3.connect(workspace / "state" / "db.sqlite") as db:
        (state,) = db.execute(
            f"SELECT job_state FROM {JOBS_TABLE} WHERE id = ?", (job_id,)
        ).fetchone()
        job = pickle.loads(state)
        job["next_run_time"] = when
        db.execute(
            f"UPDATE {JOBS_TABLE} SET next_run_time = ?, job_state = ? WHERE id = ?",
            (when.timestamp(), pickle.dumps(job, pickle.HIGHEST_PROTOCOL), job_id),
        )


@pytest.fixture
def quiet() -> Iterator[None]:
    """Keep the daemon's start/stop lines out of the test output."""
    logger = logging.getLogger("automation.daemon")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def test_a_scheduled_flow_becomes_a_stored_job(workspace: Path, quiet: None) -> None:
    """serve adds a job per scheduled flow to the state database."""
    # due at the first ten-minute tick after the job was added, some time while it served
    # (a tick may pass meanwhile, so the clock is read before and after)
    began = datetime.now(JST).timestamp()
    asyncio.run(serve_until(CountingDaemon(write(workspace, EVERY_TEN))))
    ended = datetime.now(JST).timestamp()
    assert began < stored_next_run(workspace, "damage") <= ended + 600


def test_after_downtime_a_flow_runs_once_to_catch_up(workspace: Path, quiet: None) -> None:
    """Three missed ten-minute ticks within the grace give one run, not three."""
    config = write(workspace, EVERY_TEN)
    asyncio.run(serve_until(CountingDaemon(config)))
    move_next_run(workspace, "damage", datetime.now(JST) - timedelta(minutes=35))
    daemon = CountingDaemon(config)
    asyncio.run(serve_until(daemon, "damage"))
    assert daemon.runs == ["damage"]


def test_a_run_missed_beyond_the_grace_is_skipped(workspace: Path, quiet: None) -> None:
    """A tick missed by more than misfire_grace_minutes is not made up."""
    config = write(workspace, "    schedule: {cron: '0 9 1 1 *', misfire_grace_minutes: 60}")
    asyncio.run(serve_until(CountingDaemon(config)))
    move_next_run(workspace, "damage", datetime(2026, 1, 1, 9, tzinfo=JST))
    daemon = CountingDaemon(config)
    asyncio.run(serve_until(daemon, "damage"))
    assert daemon.runs == []


def test_an_unchanged_job_keeps_its_missed_run_across_a_restart(
    workspace: Path, quiet: None
) -> None:
    """Reconciling at start does not replace a job whose schedule did not change."""
    config = write(workspace, EVERY_TEN)
    asyncio.run(serve_until(CountingDaemon(config)))
    past = datetime.now(JST) - timedelta(minutes=5)
    move_next_run(workspace, "damage", past)
    daemon = CountingDaemon(config)
    asyncio.run(serve_until(daemon, "damage"))
    assert daemon.runs == ["damage"]


def test_a_changed_schedule_replaces_the_job(workspace: Path, quiet: None) -> None:
    """A new cron expression gives the job the new trigger."""
    asyncio.run(serve_until(CountingDaemon(write(workspace, EVERY_TEN))))
    daemon = CountingDaemon(write(workspace, "    schedule: {cron: '0 9 * * *'}"))
    asyncio.run(serve_until(daemon))
    fire = datetime.fromtimestamp(stored_next_run(workspace, "damage"), JST)
    assert (fire.hour, fire.minute) == (9, 0)


def test_a_flow_without_a_schedule_loses_its_job(workspace: Path, quiet: None) -> None:
    """Removing the schedule removes the stored job."""
    asyncio.run(serve_until(CountingDaemon(write(workspace, EVERY_TEN))))
    asyncio.run(serve_until(CountingDaemon(write(workspace, ""))))
    with sqlite3.connect(workspace / "state" / "db.sqlite") as db:
        assert db.execute(f"SELECT COUNT(*) FROM {JOBS_TABLE}").fetchone()[0] == 0


def test_a_bad_configuration_on_reload_keeps_the_running_one(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid edit is refused with its problems; the daemon keeps what it had."""
    config = write(workspace, EVERY_TEN)
    daemon = CountingDaemon(config)
    before = daemon.loaded
    config.write_text(config.read_text(encoding="utf-8").replace("*/10", "61"), encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="automation.daemon"):
        assert asyncio.run(daemon.reload("test")) is False
    assert daemon.loaded is before
    assert "still running the previous configuration" in caplog.text
    assert "minute 61 is outside 0-59" in caplog.text


def test_a_valid_edit_is_picked_up_by_the_file_check(workspace: Path, quiet: None) -> None:
    """Editing the file is noticed by the periodic check and reloaded."""
    config = write(workspace, EVERY_TEN)

    async def edit_while_serving() -> Daemon:
        daemon = CountingDaemon(config)
        task = await start(daemon)
        config.write_text(
            CONFIG.format(schedule="    schedule: {cron: '0 9 * * *'}"), encoding="utf-8"
        )
        await daemon.check_config()
        daemon.stopping.set()
        await task
        return daemon

    daemon = asyncio.run(edit_while_serving())
    assert daemon.loaded.config.flows[0].schedule == Schedule(cron=("0 9 * * *",))


def test_health_reports_the_scheduler_and_the_outbox(workspace: Path, quiet: None) -> None:
    """/healthz says whether the scheduler runs, each flow's next run and the backlog."""

    async def probe() -> tuple[int, bytes, int, bytes]:
        daemon = CountingDaemon(write(workspace, EVERY_TEN))
        task = await start(daemon)
        status, _, body = answer(daemon, "GET", "/healthz")
        metrics_status, _, metrics = answer(daemon, "GET", "/metrics")
        daemon.stopping.set()
        await task
        return status, body, metrics_status, metrics

    status, body, metrics_status, metrics = asyncio.run(probe())
    assert status == 200 and b'"scheduler": "running"' in body and b'"backlog": 0' in body
    assert metrics_status == 200 and b"automation_up 1" in metrics


def test_a_second_daemon_on_the_same_state_is_refused(workspace: Path, quiet: None) -> None:
    """Two daemons on one state database would run each job twice: the second one stops."""
    config = write(workspace, EVERY_TEN)

    async def two() -> str:
        first = CountingDaemon(config)
        task = await start(first)
        try:
            await CountingDaemon(config).serve()
        except ConfigError as err:
            return err.message
        finally:
            first.stopping.set()
            await task
        return ""

    assert asyncio.run(two()).startswith("another automation serve already uses the state database")


def test_the_configurations_warnings_are_logged_at_start(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A round whose period misses its deadline is valid; serve logs validate's warning."""
    config = workspace / "automation.yaml"
    config.write_text(
        CONFIG.format(schedule="")
        + """\
  - id: progress
    kind: progress_collection
    params:
      programme: DX推進計画
      list: list.csv
      required: [実績]
      secretariat: [{channel: mail, address: dx@example.jp}]
      rounds: [{deadline: 2026-09-30, period: 2025H2}]
""",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="automation.daemon"):
        CountingDaemon(config)
    assert "flows[1].params.rounds[0].period: warning: period '2025H2'" in caplog.text


def test_an_exception_before_a_run_starts_is_logged_once_not_every_tick(
    workspace: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure before a run starts never reaches the scheduler; logged once, not every tick."""
    # (with its traceback)
    import automation.daemon as daemon_module  # noqa: PLC0415

    async def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    daemon = Daemon(write(workspace, EVERY_TEN))
    monkeypatch.setattr(daemon_module, "run_flow", broken)
    with caplog.at_level(logging.ERROR, logger="automation.daemon"):
        for _ in range(3):
            asyncio.run(daemon.run("damage"))
    assert caplog.text.count("cannot run damage: OperationalError") == 1
    assert "Traceback" in caplog.text


def runs_handing_memory_back(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, status: str
) -> list[str]:
    """The runs after which the daemon handed its memory back, over one run whose record
    has ``status``."""
    import automation.daemon as daemon_module  # noqa: PLC0415

    async def ran(*args: object, **kwargs: object) -> RunResult:
        return RunResult({"status": status})

    handed: list[str] = []
    monkeypatch.setattr(daemon_module, "run_flow", ran)
    monkeypatch.setattr(daemon_module, "release_memory", lambda: handed.append(status) or True)
    assert asyncio.run(Daemon(write(workspace, EVERY_TEN)).run("damage")) == status
    return handed


def test_an_unchanged_poll_hands_no_memory_back(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged poll skips the full collection and trim that follow a run that worked."""
    assert runs_handing_memory_back(workspace, monkeypatch, "unchanged") == []


def test_a_run_that_reported_hands_its_memory_back(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that read, reported or failed is followed by a collection and a trim."""
    assert runs_handing_memory_back(workspace, monkeypatch, "ok") == ["ok"]
    assert runs_handing_memory_back(workspace, monkeypatch, "failed") == ["failed"]


@dataclass
class LostLead:
    """Stands in for a pair's lease keeper whose daemon stands by (another host leads)."""

    role: Role = field(default_factory=lambda: Role(leader=False, holder="host-b:42:c0ffee"))


def test_a_standby_refuses_a_console_retry(workspace: Path) -> None:
    """A standby's console retry sends nothing: only the leader's outbox delivers."""
    daemon = Daemon(write(workspace, EVERY_TEN))
    daemon._pair = LostLead()  # type: ignore[assignment]  # the keeper's role is all it reads
    called: list[str] = []

    async def retry(key: str) -> str:
        called.append(key)
        return "sent"

    answer = asyncio.run(daemon.retry("damage:report:1", retry))
    assert answer == "refused: this daemon is the standby; host-b:42:c0ffee leads"
    assert called == []
