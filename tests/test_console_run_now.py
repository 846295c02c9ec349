"""今すぐ実行 in the daemon: the same run as a scheduled one, under the flow's lock, with
messages queued in the outbox once."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from automation.daemon import Daemon
from automation.demo import ROUND_1, write_workspace
from automation.runner import flow_lock
from automation.state import Store

FLOW = "typhoon_damage"
NOW = datetime.fromisoformat(ROUND_1)


def _daemon(tmp_path: Path) -> Daemon:
    config = write_workspace(tmp_path / "ws")
    return Daemon(config, clock=lambda: NOW)


def test_run_now_while_the_flow_runs_is_busy_and_runs_nothing(tmp_path: Path) -> None:
    """A run asked for while the flow's lock is held says busy and records no run."""
    daemon = _daemon(tmp_path)
    Store(daemon.state_path).close()
    with flow_lock(daemon.state_path, FLOW):
        outcome = asyncio.run(daemon.run(FLOW))
    assert outcome.startswith("busy: another run of flow 'typhoon_damage' is still in progress")
    with Store(daemon.state_path) as store:
        assert store.runs(FLOW) == []


def test_run_now_twice_issues_one_report_and_queues_each_message_once(tmp_path: Path) -> None:
    """Two runs asked for in a row on the same workbook: 第1報 once, then unchanged."""
    daemon = _daemon(tmp_path)
    first = asyncio.run(daemon.run(FLOW))
    with Store(daemon.state_path) as store:
        queued = len(store.outbox(FLOW))
    second = asyncio.run(daemon.run(FLOW))
    with Store(daemon.state_path) as store:
        assert (first, second) == ("ok", "unchanged")
        assert len(store.outbox(FLOW)) == queued > 0
        assert [r["number"] for r in store.reports(FLOW)] == [1]
