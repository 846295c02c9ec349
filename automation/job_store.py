"""The scheduler's job table (APScheduler's SQLAlchemy job store) under the leader's fence.

The job table lives in the state database, so a missed run is made up after downtime. In a
pair both daemons could reach it, and APScheduler writes it on its own (each job's next run
time after it fires, the pickled trigger on every reconcile): a leader paused past its
lease would, when it wakes, write a stale trigger or next run time over the new leader's.
Here every transaction of the job store first checks the fence the store was opened under,
like every write of :class:`~automation.state.Store` (by the token in the database; the
local clock is left to the state writes and sends): once another daemon holds the lease
this daemon's scheduler can neither read nor write the table (APScheduler logs the
refusal and retries; the daemon shuts that scheduler down as it steps down).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from automation.state import Fence, check_fence, current_fence


class FencedEngine:
    """An SQLAlchemy engine whose every ``begin()`` checks a fence in the transaction it
    opens (share-locking the lease row on PostgreSQL, so no takeover commits meanwhile)."""

    def __init__(self, engine: Engine, fence: Fence) -> None:
        self.inner = engine
        self.fence = fence
        # By the token in the database, not the local clock: a busy leader whose local lease
        # time ran out but whose token still stands has not been replaced, and a refused
        # write here would stop its scheduler for good (APScheduler does not retry it).
        self._lock = " FOR SHARE" if engine.dialect.name == "postgresql" else ""

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction that raises FencedError first when the lease is no longer ours."""
        with self.inner.begin() as connection:

            def stored(name: str) -> tuple[str, int] | None:
                row = connection.execute(
                    text(f"SELECT holder, token FROM leader_lease WHERE name = :name{self._lock}"),
                    {"name": name},
                ).first()
                return None if row is None else (str(row[0]), int(row[1]))

            check_fence(self.fence, stored, by_clock=False)
            yield connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # url, dispose, dialect: the engine's own


class FencedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # APScheduler 3 has no types
    """APScheduler's SQLAlchemy job store whose transactions check the leader's fence (the
    process's fence when the store is created; none on SQLite, where one daemon runs)."""

    def __init__(self, url: str, tablename: str) -> None:
        super().__init__(url=url, tablename=tablename)
        self.fence = current_fence()

    def start(self, scheduler: Any, alias: str) -> None:
        """Create the table if needed (idempotent), then fence every later transaction."""
        super().start(scheduler, alias)
        if self.fence is not None:
            engine: Engine = getattr(self, "engine")  # noqa: B009  # APScheduler sets it untyped
            self.engine = FencedEngine(engine, self.fence)
