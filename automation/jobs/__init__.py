"""Jobs: the I/O glue of each flow kind (fetch inputs, call the pure flow, build outputs).

A job returns a ``Prepared`` run; the runner stores and delivers it the same way for
every kind. Its artefacts are recipes, not bytes: the runner builds them after the report
went out (see :mod:`automation.owed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automation.memory import trim_heap
from automation.plan import Message
from automation.ports import Near
from automation.render import Rendered
from automation.state import Store


@dataclass(frozen=True)
class Artefact:
    """An artefact a run owes: ``build(*inputs)`` makes its bytes.

    ``build`` is a module-level function and ``inputs`` the run's own data, so the pair can
    be kept with the run's state and built again by the next run after a crash.
    """

    name: str
    build: Callable[..., bytes]
    inputs: tuple[Any, ...]

    def data(self) -> bytes:
        """The artefact's bytes. Built between two trims of the heap: what the plan freed
        goes back to the system before the build's peak, and what the build freed before
        the messages that wait for it (see :func:`automation.memory.trim_heap`)."""
        trim_heap()
        try:
            return self.build(*self.inputs)
        finally:
            trim_heap()


def _nothing() -> None:
    return None


@dataclass
class Prepared:
    """Everything a run decided, before anything is recorded or sent."""

    status: str  # "ok" or "unchanged"
    # The kind-specific part of the run record, or what makes it once the report went out
    # (a changed damage run's record repeats the report: making it need not delay the post).
    record: dict[str, Any] | Callable[[], dict[str, Any]]
    rendered: list[tuple[Message, Rendered]]
    artefacts: list[Artefact] = field(default_factory=list)
    near: Near = None  # where artefacts belong (next to the source)
    report_number: int | None = None
    save: Callable[[Store, int, datetime], None] = lambda store, run_id, now: None
    # CPU work for a worker thread while the report is delivered, nothing the report needs
    # (a damage run hands its merged workbook's source to the helper building it ahead); and
    # what ends that work unused, when the run records nothing (a dry run) or fails first.
    meanwhile: Callable[[], None] = _nothing
    abandon: Callable[[], None] = _nothing

    def details(self) -> dict[str, Any]:
        """The kind-specific part of the run record."""
        return self.record() if callable(self.record) else self.record
