"""Jobs: the I/O glue of each flow kind (fetch inputs, call the pure flow, build outputs).

A job returns a ``Prepared`` run; the runner stores and delivers it the same way for
every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automation.plan import Message
from automation.ports import Near
from automation.render import Rendered
from automation.state import Store


@dataclass
class Prepared:
    """Everything a run decided, before anything is recorded or sent."""

    status: str  # "ok" or "unchanged"
    record: dict[str, Any]  # the kind-specific part of the run record
    rendered: list[tuple[Message, Rendered]]
    artefacts: list[tuple[str, bytes]] = field(default_factory=list)
    near: Near = None  # where artefacts belong (next to the source)
    report_number: int | None = None
    save: Callable[[Store, int, datetime], None] = lambda store, run_id, now: None
    plan: object = None  # the flow's plan, for display
