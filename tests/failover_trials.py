"""Failover trials: two ``automation serve`` on one PostgreSQL, the leader killed again and again.

Each trial changes the departments' workbook on the fake Graph (a new report 第N報 for two
mailboxes and the response team's channel), waits a random moment (often mid-round), then
either kills the leader with SIGKILL (it is started again as the new standby) or stops it
with SIGSTOP until the standby took the lease, then SIGCONT (it must wake as a standby and
write nothing). The trial ends when report N reached everyone. Counted over all trials:
messages expected, delivered once, duplicated and lost (the targets: 0 and 0), and the
takeover time: from the fault until the other daemon holds the lease (target: under the
lease plus one renewal).

tests/test_pair.py runs a few trials; bench/failover_trials.py runs 100 and more.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests import serve_harness as h
from tests.fake_graph import FakeGraph
from tests.pg_server import PASSWORD

ENV = {"PAIR_PGPASSWORD": PASSWORD}
FAULTS = ("kill", "stop")


@dataclass
class Tally:
    """What the trials delivered and how fast the standby took over."""

    trials: int = 0
    expected: int = 0
    delivered: int = 0
    duplicated: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    takeovers: list[float] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))

    def row(self) -> dict[str, Any]:
        """The figures as JSON."""
        ordered = sorted(self.takeovers)
        return {
            "trials": self.trials,
            "faults": self.faults,
            "messages_expected": self.expected,
            "delivered_once": self.delivered,
            "duplicated": len(self.duplicated),
            "lost": len(self.lost),
            "takeover_s_p50": round(statistics.median(ordered), 2) if ordered else None,
            "takeover_s_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2)
            if ordered
            else None,
            "takeover_s_max": round(ordered[-1], 2) if ordered else None,
        }


def pair_config(folder: Path, base_url: str, url: str, lease: float) -> Path:
    """The harness's daemon configuration with its state on PostgreSQL and ``lease``."""
    path = h.write_config(folder, base_url)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "state: {path: state/db.sqlite}",
        f"state: {{path: state/db.sqlite, url: '{url.replace(PASSWORD, '${PAIR_PGPASSWORD}')}'}}",
    )
    text = text.replace(
        "  shutdown_grace_seconds:", f"  lease_seconds: {lease}\n  shutdown_grace_seconds:"
    )
    path.write_text(text, encoding="utf-8")
    return path


def lease_pid(url: str) -> int | None:
    """The pid of the daemon holding the lease (None before anyone claimed it)."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(conninfo) as db:
            row = db.execute("SELECT holder FROM leader_lease WHERE name = 'serve'").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return int(str(row[0]).split(":")[1]) if row and row[0] else None


def _counts(fake: FakeGraph, number: int) -> list[tuple[str, int]]:
    marker = f"第{number}報"
    return [(f"{marker} {r}", h.mails(fake, r, marker)) for r in h.REPORT_TO] + [
        (f"{marker} channel", h.posts(fake, marker))
    ]


def run_trials(
    fake: FakeGraph,
    served: str,
    url: str,
    folder: Path,
    trials: int,
    lease: float,
    progress: Callable[[int, str, float], None] | None = None,
    seed: int = 16,
) -> Tally:
    """``trials`` failovers in a row (kill and stop alternating); the tally of them all."""
    rng = random.Random(seed)
    configs = [pair_config(folder / name, served, url, lease) for name in ("a", "b")]
    logs = [folder / "a.log", folder / "b.log"]
    daemons = [h.Daemon(configs[i], logs[i], env=ENV) for i in (0, 1)]
    tally = Tally()
    try:
        assert h.wait_for(lambda: lease_pid(url) in {d.pid for d in daemons}, timeout=60)
        assert h.wait_for(lambda: h.delivered(fake, 1), timeout=60)  # the first round is done
        for trial in range(1, trials + 1):
            number = trial + 1  # report 1 is the daemons' first round
            fake.set_content(h.DRIVE, h.BOOK, h.workbook(number))
            time.sleep(rng.uniform(0, 1.5))  # the fault lands at a random point of the round
            fault = FAULTS[trial % 2]
            taken = _fault(daemons, configs, logs, url, fault, lease)
            tally.takeovers.append(taken)
            tally.faults[fault] += 1
            tally.trials += 1
            # a round that never completes is counted as lost below
            h.wait_for(lambda n=number: h.delivered(fake, n), timeout=lease * 6 + 60)
            if progress is not None:
                progress(trial, fault, taken)
        h.wait_for(lambda: all(h.delivered(fake, n) for n in range(1, trials + 2)), timeout=30)
    finally:
        for daemon in daemons:
            if daemon.alive():
                os.kill(daemon.pid, signal.SIGCONT)
                daemon.terminate()
    for number in range(1, trials + 2):
        for who, count in _counts(fake, number):
            tally.expected += 1
            if count == 1:
                tally.delivered += 1
            elif count == 0:
                tally.lost.append(who)
            else:
                tally.duplicated.append(who)
    return tally


def _fault(
    daemons: list[h.Daemon],
    configs: list[Path],
    logs: list[Path],
    url: str,
    fault: str,
    lease: float,
) -> float:
    """Hit the leader with ``fault``; seconds until the other daemon holds the lease."""
    leader_pid = lease_pid(url)
    index = next(i for i, d in enumerate(daemons) if d.pid == leader_pid)
    other = daemons[1 - index]
    assert other.ready()
    began = time.monotonic()
    if fault == "kill":
        os.kill(daemons[index].pid, signal.SIGKILL)
        daemons[index].reap()
    else:
        os.kill(daemons[index].pid, signal.SIGSTOP)
    assert h.wait_for(lambda: lease_pid(url) == other.pid, timeout=lease * 4 + 30)
    taken = time.monotonic() - began
    if fault == "kill":
        daemons[index] = h.Daemon(configs[index], logs[index], env=ENV)
    else:
        os.kill(daemons[index].pid, signal.SIGCONT)
    return taken
