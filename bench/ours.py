"""Our contender: ``run_flow`` on the Graph backend, as ``automation run`` does it.

The configuration written by ``scenarios.write_config`` points the Graph backend at the
fake (``access_token`` auth). The ports are wrapped so the time spent in each is known:
``fetch`` (workbook download or list read, network included), ``store`` (artefact upload)
and ``deliver`` (sends, pacing included); ``compute`` is the rest (parse, read, plan,
render, build the merged workbook, state).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

WARM = (
    "kiota_http.middleware.options",
    "msgraph_core",
    "automation.backends.graph.backend",
    "automation.damage.merged",
    "automation.jobs.damage",
    "automation.jobs.progress",
    "automation.progress.export",
    "automation.runner",
)


def warm_up() -> None:
    """Import everything a run imports lazily, before the clock starts."""
    for name in WARM:
        importlib.import_module(name)


class Timed:
    """A port whose coroutine methods add their duration to ``phases[name]``."""

    def __init__(self, port: Any, phases: dict[str, float], name: str) -> None:
        self._port = port
        self._phases = phases
        self._name = name
        self.last_result: Any = None

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._port, attr)
        if not inspect.iscoroutinefunction(value):
            return value
        return self._timed(value)

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                self.last_result = await method(*args, **kwargs)
                return self.last_result
            finally:
                self._phases[self._name] += time.perf_counter() - start

        return timed


def run(job: dict[str, Any], state_dir: Path, *, poll: bool = False) -> dict[str, Any]:
    """One run of the configured flow (a dry run for the progress read)."""
    return asyncio.run(_run(job, poll=poll))


async def _run(job: dict[str, Any], *, poll: bool) -> dict[str, Any]:
    from automation.backends.graph.backend import graph_backend  # noqa: PLC0415
    from automation.config.loader import load_config  # noqa: PLC0415
    from automation.config.models import GraphBackend  # noqa: PLC0415
    from automation.runner import Backend, run_flow  # noqa: PLC0415
    from automation.timeutil import parse_now  # noqa: PLC0415

    started = time.perf_counter()
    loaded = load_config(Path(job["config"]))
    assert isinstance(loaded.config.backend, GraphBackend)
    ports = graph_backend(loaded, loaded.config.backend)
    phases: dict[str, float] = defaultdict(float)
    lists = Timed(ports.lists, phases, "fetch")
    backend = Backend(
        Timed(ports.workbooks, phases, "fetch"),
        Timed(ports.artefacts, phases, "store"),
        Timed(ports.deliverer, phases, "deliver"),
        lists,
    )
    dry_run = job["kind"] == "progress"
    if dry_run:  # a dry run records nothing, but remembers lookups in an existing state
        from automation.state import Store  # noqa: PLC0415

        Store(loaded.resolve(loaded.config.state.path)).close()
    try:
        result = await run_flow(
            loaded, job["flow"], parse_now(job["now"]), dry_run=dry_run, backend=backend
        )
    finally:
        await ports.workbooks.gateway.aclose()  # type: ignore[attr-defined]
    total = time.perf_counter() - started
    record = result.record
    deliveries = record.get("deliveries", [])
    outcome: dict[str, Any] = {
        "status": record["status"],
        "phases": {
            **{k: round(v, 4) for k, v in phases.items()},
            "compute": round(total - sum(phases.values()), 4),
        },
        "messages_sent": sum(1 for d in deliveries if d.get("status") == "sent"),
        "messages_planned": len(deliveries),
        "problems": len(record.get("problems", []) or []),
    }
    if job["kind"] == "progress":
        outcome["items_read"] = len(lists.last_result or [])
        outcome["items_lost"] = max(0, job["items"] - outcome["items_read"])
        outcome["plan_render_s"] = round(total - phases["fetch"], 4)
    elif record["status"] == "failed":
        outcome["error"] = record.get("error")
    return outcome
