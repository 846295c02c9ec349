"""Specs for an active/standby pair: two ``automation serve`` processes on one real (throwaway)
PostgreSQL and the fake Graph. Only the lease holder runs schedules and deliveries; a leader
paused past its lease (SIGSTOP) is replaced, and when it wakes (SIGCONT) it steps down
without writing or sending anything: every report reaches everyone exactly once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import serve_harness as h
from tests.failover_trials import ENV, lease_pid, pair_config, run_trials
from tests.fake_graph import FakeGraph
from tests.pg_server import PASSWORD, PgServer

pytestmark = pytest.mark.e2e
LEASE_SECONDS = 2
TRIALS = int(os.environ.get("FAILOVER_TRIALS", "4"))


@pytest.fixture
def fake() -> FakeGraph:
    """The fake tenant with the workbook, the mailbox and the channel."""
    return h.seeded_fake()


@pytest.fixture
def base_url(fake: FakeGraph) -> Iterator[str]:
    """The fake served on 127.0.0.1."""
    with fake.serve() as url:
        yield url


def test_a_paused_leader_is_replaced_and_steps_down_when_it_wakes(
    fake: FakeGraph, base_url: str, tmp_path: Path, pg: PgServer
) -> None:
    """A leader paused past its lease is replaced and stands by when it wakes; nothing doubles."""
    # SIGSTOP past the lease: the standby takes over and delivers; after SIGCONT the lease
    # stays with it
    url = pg.new_database()
    first = h.Daemon(
        pair_config(tmp_path / "a", base_url, url, LEASE_SECONDS), tmp_path / "a.log", env=ENV
    )
    assert h.wait_for(lambda: lease_pid(url) == first.pid, timeout=60)
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60), (tmp_path / "a.log").read_text()
    second = h.Daemon(
        pair_config(tmp_path / "b", base_url, url, LEASE_SECONDS), tmp_path / "b.log", env=ENV
    )
    assert second.ready()
    assert lease_pid(url) == first.pid  # a live leader keeps the lease
    os.kill(first.pid, signal.SIGSTOP)
    try:
        fake.set_content(h.DRIVE, h.BOOK, h.workbook(2))
        assert h.wait_for(lambda: lease_pid(url) == second.pid, timeout=30)
        assert h.wait_for(lambda: h.delivered(fake, 2), timeout=60), (
            tmp_path / "b.log"
        ).read_text()
    finally:
        os.kill(first.pid, signal.SIGCONT)
    log = tmp_path / "a.log"
    assert h.wait_for(lambda: '"stepped_down"' in log.read_text(encoding="utf-8"), timeout=30)
    assert lease_pid(url) == second.pid
    assert first.terminate() == 0
    assert second.terminate() == 0
    assert h.duplicates(fake, range(1, 3)) == []
    for name in ("a.log", "b.log"):  # the password never reaches a log line
        assert PASSWORD not in (tmp_path / name).read_text(encoding="utf-8")


def test_a_clean_stop_hands_the_lead_over_at_once(
    fake: FakeGraph, base_url: str, tmp_path: Path, pg: PgServer
) -> None:
    """SIGTERM releases the lease: the standby leads without waiting for it to expire."""
    url = pg.new_database()
    first = h.Daemon(
        pair_config(tmp_path / "a", base_url, url, lease=60), tmp_path / "a.log", env=ENV
    )
    assert h.wait_for(lambda: lease_pid(url) == first.pid, timeout=60)
    second = h.Daemon(
        pair_config(tmp_path / "b", base_url, url, lease=60), tmp_path / "b.log", env=ENV
    )
    assert second.ready()
    assert first.terminate() == 0
    assert h.wait_for(lambda: lease_pid(url) == second.pid, timeout=45)
    assert second.terminate() == 0


def test_failover_trials_lose_and_double_nothing(
    fake: FakeGraph, base_url: str, tmp_path: Path, pg: PgServer
) -> None:
    """Leaders killed or paused mid-round: the standby leads and each message arrives once."""
    # SIGKILL or SIGSTOP past the lease; bench/failover_trials.py measures how fast
    tally = run_trials(fake, base_url, pg.new_database(), tmp_path, TRIALS, LEASE_SECONDS)
    assert (tally.duplicated, tally.lost) == ([], [])
    assert tally.delivered == tally.expected == (TRIALS + 1) * 3
