"""Where a run's wall time went: reading inputs, storing artefacts, delivering, computing.

A run wraps its ports in :class:`PhaseTimer` proxies; every awaited port call adds its
duration to its phase, and what is left of the run's wall time is ``compute`` (parsing,
reading, planning, rendering, the merged workbook, state). The run record carries the
result as ``timings_s``, so ``automation run --json`` shows the breakdown of the very run
it reports (the benchmarks read it from there).

Two moments are marked too, in seconds since the run started: ``fetched_s``, when the last
input download ended, and ``report_delivered_s``, when the first message of kind ``report``
was delivered (the report goes out before the merged workbook is built: the difference is
what the response team waits for once the workbook is read).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

PHASES = ("fetch", "store", "deliver")
# Moments marked by a port call's return: (phase, method) -> (mark, whether the first counts).
MARKS = {("fetch", "fetch"): ("fetched", False)}


class PhaseTimer:
    """Seconds per phase since the timer was made."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.marks: dict[str, float] = {}

    def mark(self, name: str, *, first: bool = True) -> None:
        """Note that ``name`` happened now (``first``: only its first time counts)."""
        if not (first and name in self.marks):
            self.marks[name] = time.perf_counter() - self.started

    def wrap(self, port: Any, phase: str) -> Any:
        """``port`` with each coroutine method timed into ``phase``."""
        return _Timed(port, self, phase)

    def as_record(self) -> dict[str, float]:
        """The phases, ``compute`` (the rest) and ``total``, rounded to 0.1 ms."""
        total = time.perf_counter() - self.started
        spent = sum(self.seconds.values())
        return {
            **{phase: round(s, 4) for phase, s in self.seconds.items()},
            "compute": round(max(0.0, total - spent), 4),
            "total": round(total, 4),
            **{f"{name}_s": round(s, 4) for name, s in self.marks.items()},
        }


class _Timed:
    """A port whose coroutine methods add their duration to one phase; the rest passes through."""

    def __init__(self, port: Any, timer: PhaseTimer, phase: str) -> None:
        self._port = port
        self._timer = timer
        self._phase = phase

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._port, name)
        if not inspect.iscoroutinefunction(value):
            return value
        return self._timed(value, MARKS.get((self._phase, name)))

    def _timed(
        self, method: Callable[..., Awaitable[Any]], mark: tuple[str, bool] | None
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = await method(*args, **kwargs)
            finally:
                self._timer.seconds[self._phase] += time.perf_counter() - start
            if mark is not None:
                self._timer.mark(mark[0], first=mark[1])
            if self._phase == "deliver" and getattr(args[0] if args else None, "kind", "") == (
                "report"
            ):
                self._timer.mark("report_delivered")
            return result

        return timed
