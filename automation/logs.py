"""Logging for the daemon: readable lines on a terminal, one JSON object a line otherwise.

Log records name state transitions (a flow failed, recovered, a job added, a reload
refused), not every tick. Message bodies and secrets are never logged: records carry
flow ids, keys and counts; every line passes through the redaction of configured secrets.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

EXTRA_FIELDS = ("event", "flow", "key", "status", "count", "seconds")


class Redactor(logging.Filter):
    """Replaces every configured secret (tokens, webhook URLs) by a placeholder."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Use a new set of secrets (after a reload); longest first, short ones ignored."""
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the rendered message (and the exception) of ``record``."""
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrub(formatted)
            record.exc_info = None
        return True


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


def setup(stream: TextIO | None = None, level: int = logging.INFO) -> Redactor:
    """Log to ``stream`` (stdout): JSON unless it is a terminal. Returns the redactor."""
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    if stream.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    redactor = Redactor()
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every tick at INFO
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry URLs
    return redactor
