"""Fault trials: ``automation serve`` under a fault at one kind of send, round after round.

Each trial changes the departments' workbook on the fake Graph, so the daemon issues a new
report (第N報): it uploads the merged workbook next to the workbook, then mails two
addresses and the department, posts to the response team's channel and to a Teams Workflows
webhook. The trial injects one fault (``serve_harness.FAULTS``: SIGKILL before the fake acts,
SIGKILL after it acted, or the reply lost after it acted) at the first request of one kind
of send (``serve_harness.SENDS``: mail, channel post, webhook, upload), restarts a killed
daemon, and waits until the round is complete. It then records what arrived:

* mail and channel posts: exactly once for each recipient (the rule: 0 duplicates, 0 losses);
* the webhook: at least once (it cannot be read back; a repeat is recognisable by 第N報 in
  the card title), duplicates counted;
* the merged workbook: stored once under its name (an upload is replaced, never doubled);
* the run record: every run ended with a record (a killed one is marked ``interrupted`` at
  the next start), none is left ``running``.

:func:`run_trials` runs them in a rotation over every fault and send, so any count covers the
table evenly; tests/test_serve.py runs one of each, bench/fault_trials.py 240.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import serve_harness as h
from tests.fake_graph import FakeGraph

ROUND_TIMEOUT = 90.0
# The messages of a report can arrive before the run that sent them writes its end (the
# merged workbook's upload may still be settling a lost reply): its record gets this long.
RECORD_TIMEOUT = 30.0


@dataclass
class Cell:
    """What happened in the trials of one fault at one kind of send."""

    trials: int = 0
    mail_once: int = 0  # trials whose report reached both mailboxes exactly once
    channel_once: int = 0
    webhook_at_least_once: int = 0
    webhook_repeats: int = 0  # extra cards (allowed for a webhook: at least once)
    upload_once: int = 0
    record_present: int = 0
    lost: list[str] = field(default_factory=list)  # rounds not complete in time
    duplicated: list[str] = field(default_factory=list)  # mail or channel copies beyond one

    def row(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "trials": self.trials,
            "mail_exactly_once": self.mail_once,
            "channel_exactly_once": self.channel_once,
            "webhook_at_least_once": self.webhook_at_least_once,
            "webhook_repeats": self.webhook_repeats,
            "upload_once": self.upload_once,
            "run_record_present": self.record_present,
            "lost": self.lost,
            "duplicated": self.duplicated,
        }


def complete(fake: FakeGraph, config: Path, number: int) -> bool:
    """Whether report ``number`` reached everyone and is stored, and the round has settled:
    every queued message sent, no run but the newest still running."""
    return (
        h.delivered(fake, number)
        and h.cards(fake, number) >= 1
        and h.artefact(fake, number)
        and h.settled(config)
    )


def run_trials(
    fake: FakeGraph,
    switch: h.KillSwitch,
    config: Path,
    log: Path,
    trials: int,
    progress: Callable[[int, str, str], None] | None = None,
) -> dict[tuple[str, str], Cell]:
    """Run ``trials`` rounds, each with one fault at one kind of send (in rotation)."""
    table = {(f, s): Cell() for f in h.FAULTS for s in h.SENDS}
    rotation = itertools.cycle(list(table))
    daemon = h.Daemon(config, log)
    if not h.wait_for(lambda: complete(fake, config, 1), ROUND_TIMEOUT):
        raise AssertionError(f"the first report was not delivered\n{log.read_text()[-3000:]}")
    for number in range(2, trials + 2):
        fault, send = next(rotation)
        if progress is not None:
            progress(number - 1, fault, send)
        switch.arm_on(daemon.pid, send, fault)
        fake.set_content(h.DRIVE, h.BOOK, h.workbook(number))
        if fault != "reply_lost" and h.wait_for(lambda d=daemon: not d.alive(), ROUND_TIMEOUT):
            daemon.reap()
            daemon = h.Daemon(config, log)
        done = h.wait_for(lambda n=number: complete(fake, config, n), ROUND_TIMEOUT)
        switch.disarm()
        _tally(table[(fault, send)], fake, config, number, done)
    if daemon.terminate() != 0:
        raise AssertionError(f"the daemon did not stop cleanly\n{log.read_text()[-3000:]}")
    return table


def _tally(cell: Cell, fake: FakeGraph, config: Path, number: int, done: bool) -> None:
    """Count what arrived of report ``number``."""
    marker = f"第{number}報"
    cell.trials += 1
    if not done:
        cell.lost.append(marker)
    mails = [h.mails(fake, r, marker) for r in h.REPORT_TO]
    cell.mail_once += mails == [1, 1]
    cell.channel_once += h.posts(fake, marker) == 1
    if max(mails) > 1 or h.posts(fake, marker) > 1:
        cell.duplicated.append(marker)
    cards = h.cards(fake, number)
    cell.webhook_at_least_once += cards >= 1
    cell.webhook_repeats += max(cards - 1, 0)
    cell.upload_once += h.artefact(fake, number)
    cell.record_present += h.wait_for(lambda: recorded(config, number), RECORD_TIMEOUT)


def recorded(config: Path, number: int) -> bool:
    """Whether the run that issued report ``number`` has ended its record, and no run but the
    newest is still running."""
    runs = h.runs(config)
    return any(n == number and status != "running" for status, n in runs) and not any(
        status == "running" for status, _ in runs[:-1]
    )


def markdown(table: dict[tuple[str, str], Cell]) -> str:
    """The table as Markdown: fault x send kind."""
    lines = [
        "| fault | send | trials | mail exactly once | channel exactly once | webhook at least "
        "once (repeats) | upload stored once | run record present | lost | duplicated |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (fault, send), cell in table.items():
        lines.append(
            f"| {fault} | {send} | {cell.trials} | {cell.mail_once} | {cell.channel_once} | "
            f"{cell.webhook_at_least_once} ({cell.webhook_repeats}) | {cell.upload_once} | "
            f"{cell.record_present} | {len(cell.lost)} | {len(cell.duplicated)} |"
        )
    return "\n".join(lines) + "\n"
