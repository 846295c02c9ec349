"""A run's status from what it delivered, and the exit code of each status.

A run that read, planned and recorded everything is ``ok`` (or ``unchanged``) only when
every message it queued was delivered. When some were not, it is ``partial``; when none
were, ``undelivered``. Either way the run's state stands and the messages stay in the outbox,
which retries them; the status tells a scheduler, the console and the history that people
have not (all) been told.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DELIVERED = frozenset({"sent", "already-sent"})
UNDELIVERED_ACTION = (
    "check the channel's error in `automation outbox`; the messages stay queued and are "
    "retried after their backoff (`automation outbox --retry KEY` sends one now)"
)

NAMED = 5  # undelivered messages named in the run's error; all are in its deliveries

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_UNDELIVERED = 3
EXIT_PARTIAL = 4
EXIT_CODES = {
    "ok": EXIT_OK,
    "unchanged": EXIT_OK,
    "failed": EXIT_FAILED,
    "undelivered": EXIT_UNDELIVERED,
    "partial": EXIT_PARTIAL,
}


def delivery_outcome(
    status: str, deliveries: Iterable[Mapping[str, Any]]
) -> tuple[str, dict[str, Any] | None]:
    """The run's status given its deliveries, and what was not delivered (None: all were)."""
    deliveries = list(deliveries)
    missed = [d for d in deliveries if d.get("status") not in DELIVERED]
    if not missed:
        return status, None
    sent = len(deliveries) - len(missed)
    by_status: dict[str, int] = {}
    for delivery in missed:
        by_status[str(delivery.get("status"))] = by_status.get(str(delivery.get("status")), 0) + 1
    states = ", ".join(f"{count} {name}" for name, count in sorted(by_status.items()))
    named = "; ".join(
        f"{d.get('kind')} to {d.get('recipient')} ({d.get('channel')})" for d in missed[:NAMED]
    )
    more = f"; and {len(missed) - NAMED} more" if len(missed) > NAMED else ""
    message = f"{len(missed)} of {len(deliveries)} messages not delivered ({states}): {named}{more}"
    problem = {
        "delivered": sent,
        "not_delivered": len(missed),
        "message": message,
        "action": UNDELIVERED_ACTION,
    }
    return ("partial" if sent else "undelivered"), problem


def exit_code(status: str) -> int:
    """The exit code of ``automation run`` for a run's status."""
    return EXIT_CODES.get(status, EXIT_FAILED)
