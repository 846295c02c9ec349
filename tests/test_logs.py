"""Specs for the service's logging set-up: state transitions, not ticks."""

from __future__ import annotations

import io
import logging

from automation import logs


def test_a_tick_skipped_while_a_run_goes_on_is_not_logged() -> None:
    """APScheduler's "maximum number of running instances" is dropped; other warnings stay."""
    # it comes once per tick that overlaps a run
    stream = io.StringIO()
    logs.setup(stream=stream)
    scheduler = logging.getLogger("apscheduler.scheduler")
    scheduler.warning(
        'Execution of job "scheduled_run" skipped: maximum number of running instances reached (1)'
    )
    scheduler.warning("Run time of job was missed by 0:00:05")
    text = stream.getvalue()
    assert "maximum number of running instances" not in text
    assert "was missed by 0:00:05" in text
