"""Logging for the daemon: readable lines on a terminal, one JSON object a line otherwise.

Log records name state transitions (a flow failed, recovered, a job added, a reload
refused), not every tick. Message bodies and secrets are never logged: records carry
flow ids, keys and counts; every line passes through the redaction of configured secrets.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from automation.redaction import REDACTOR, Redactor

# azure-core logs every request's URL and headers at INFO (and sets that level itself on its
# policy's logger); azure-identity logs each token request.
QUIET_BELOW_WARNING = (
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
)
EXTRA_FIELDS = ("event", "flow", "key", "status", "count", "seconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the known extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def _not_an_overlap(record: logging.LogRecord) -> bool:
    """Drop APScheduler's warning for each tick that fell inside a run still going: a poll
    every 10-30 s overlaps every run longer than that, once per tick (a tick, not a change
    of state); the run's own start and end are logged by the daemon."""
    return "maximum number of running instances reached" not in record.getMessage()


def setup(stream: TextIO | None = None, level: int = logging.INFO) -> Redactor:
    """Log to ``stream`` (stdout): JSON unless it is a terminal. Returns the redactor."""
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    if stream.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    redactor = REDACTOR
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every tick at INFO
    scheduler = logging.getLogger("apscheduler.scheduler")
    if _not_an_overlap not in scheduler.filters:
        scheduler.addFilter(_not_an_overlap)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry URLs
    for name in QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
