"""The daemon killed with SIGKILL at varied points, restarted, again and again: nothing is lost
and nothing is delivered twice (mail and Teams channel posts, which can be checked).

Each trial changes the departments' workbook on the fake Graph, so the daemon issues a new
report (第N報) for two mailboxes and the response team's channel, then kills the daemon at a
random request of that round: before the fake acts on it, or after the fake acted but before
the daemon hears the answer (a mail in Sent Items whose outbox entry still says 'sending').
The daemon is started again and the round must complete with exactly one copy for everyone.
``CRASH_TRIALS`` sets the number of trials (30 by default; bench/crash_soak.py runs 200+).
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import serve_harness as h
from tests.fake_graph import FakeGraph

pytestmark = pytest.mark.e2e
TRIALS = int(os.environ.get("CRASH_TRIALS", "30"))


@pytest.fixture
def fake() -> FakeGraph:
    """The fake tenant with the workbook, the mailbox and the channel."""
    return h.seeded_fake()


@pytest.fixture
def switch(fake: FakeGraph) -> h.KillSwitch:
    """The kill switch in front of the fake."""
    switch = h.KillSwitch(fake.app)
    fake.app = switch
    return switch


@pytest.fixture
def config(tmp_path: Path, fake: FakeGraph, switch: h.KillSwitch) -> Iterator[Path]:
    """The daemon's configuration, with the fake served on 127.0.0.1."""
    with fake.serve() as base_url:
        yield h.write_config(tmp_path / "daemon", base_url)


def outbox_statuses(config: Path) -> dict[str, int]:
    """How many messages are in each outbox status."""
    with sqlite3.connect(config.parent / "state" / "db.sqlite") as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())


def test_kill_nine_at_any_point_loses_nothing_and_sends_nothing_twice(
    fake: FakeGraph, switch: h.KillSwitch, config: Path, tmp_path: Path
) -> None:
    """After every SIGKILL and restart, each report reaches each recipient exactly once."""
    rng = random.Random(20260901)
    log = tmp_path / "daemon.log"
    daemon = h.Daemon(config, log)
    assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60), log.read_text()
    for number in range(2, TRIALS + 2):
        switch.arm(daemon.pid, nth=rng.randint(1, 9), after_acting=rng.random() < 0.7)
        fake.set_content(h.DRIVE, h.BOOK, h.workbook(number))
        if h.wait_for(lambda d=daemon: not d.alive(), timeout=8):
            daemon.reap()
            daemon = h.Daemon(config, log)
        switch.disarm()
        assert h.wait_for(lambda n=number: h.delivered(fake, n), timeout=60), (
            f"第{number}報 was not delivered\n{log.read_text()[-3000:]}"
        )
    assert daemon.terminate() == 0
    assert len(switch.kills) >= TRIALS // 2, switch.kills  # the kills really happened
    assert h.duplicates(fake, range(1, TRIALS + 2)) == []
    assert set(outbox_statuses(config)) == {"sent"}
