"""Specs for the scheduler's job table in a pair: only the lease holder reads or writes it, so
a leader paused past its lease cannot, when it wakes, run a due job or write a stale trigger
or next run time over the new leader's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, text

from automation.daemon import JOBS_TABLE, job_store_url
from automation.job_store import FencedJobStore
from automation.state import Fence, FencedError, Store, set_fence
from tests.pg_server import PgServer

NOON = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def url(pg: PgServer) -> Iterator[str]:
    """A fresh pair database whose lease ``a`` holds (token 1); no fence left behind."""
    where = pg.new_database()
    with Store(where) as store:
        store.claim_lease("a", NOON, 10)
    yield where
    set_fence(None)


def scheduler_of(url: str) -> BackgroundScheduler:
    """A paused scheduler on the fenced job store, opened under the process's fence."""
    scheduler = BackgroundScheduler(
        jobstores={"default": FencedJobStore(job_store_url(url), JOBS_TABLE)}, timezone=UTC
    )
    scheduler.start(paused=True)
    return scheduler


def stored_triggers(url: str) -> dict[str, float]:
    """Each stored job's next run time, read past any fence."""
    engine = create_engine(job_store_url(url))
    with engine.begin() as db:
        rows = db.execute(text(f"SELECT id, next_run_time FROM {JOBS_TABLE}")).all()
    engine.dispose()
    return {str(row[0]): float(row[1]) for row in rows}


def test_the_lease_holder_writes_its_jobs(url: str) -> None:
    """While the fence holds, jobs are added to the shared table as before."""
    set_fence(Fence("a", 1))
    scheduler = scheduler_of(url)
    try:
        scheduler.add_job(
            "automation.daemon:scheduled_run",
            IntervalTrigger(minutes=10),
            id="f",
            kwargs={"flow_id": "f"},
        )
    finally:
        scheduler.shutdown(wait=False)
    assert list(stored_triggers(url)) == ["f"]


def test_a_replaced_leader_neither_writes_nor_reads_the_job_table(url: str) -> None:
    """A replaced leader's scheduler cannot reschedule, add or fetch due jobs."""
    # the table keeps what the new leader wrote
    set_fence(Fence("a", 1))
    scheduler = scheduler_of(url)
    try:
        scheduler.add_job(
            "automation.daemon:scheduled_run",
            IntervalTrigger(minutes=10),
            id="f",
            kwargs={"flow_id": "f"},
        )
        before = stored_triggers(url)
        with Store(url) as standby:
            standby.claim_lease("b", NOON + timedelta(seconds=10), 10)
        store = scheduler._lookup_jobstore("default")
        with pytest.raises(FencedError, match="b with token 2"):
            scheduler.reschedule_job("f", trigger=IntervalTrigger(minutes=1))
        with pytest.raises(FencedError):
            scheduler.add_job(
                "automation.daemon:scheduled_run",
                IntervalTrigger(minutes=1),
                kwargs={"flow_id": "g"},
            )
        with pytest.raises(FencedError):
            store.get_due_jobs(datetime.now(UTC) + timedelta(days=1))
    finally:
        scheduler.shutdown(wait=False)
    assert stored_triggers(url) == before


def test_a_busy_leader_whose_token_stands_still_writes_its_jobs(url: str) -> None:
    """A leader not replaced keeps writing its jobs though its local lease time ran out."""
    # the job table goes by the token in the database (a slow renewal is no takeover)
    set_fence(Fence("a", 1, valid_until=0.0))
    scheduler = scheduler_of(url)
    try:
        scheduler.add_job(
            "automation.daemon:scheduled_run",
            IntervalTrigger(minutes=10),
            id="f",
            kwargs={"flow_id": "f"},
        )
    finally:
        scheduler.shutdown(wait=False)
    assert list(stored_triggers(url)) == ["f"]
