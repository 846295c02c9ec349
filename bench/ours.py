"""Our contender: the ``automation run`` command, as a user or a scheduler runs it.

The configuration written by ``scenarios.write_config`` points the Graph backend at the
fake (``access_token`` auth). The command runs as a subprocess of ``bench/child.py`` and is
measured from outside (``bench/process.py``): its wall time, CPU time and peak RSS include
the interpreter's start, every import and the configuration's validation. The run record's
``timings_s`` gives the breakdown of the same run: ``fetch`` (workbook download or list
read, network included), ``store`` (artefact upload), ``deliver`` (sends, pacing included)
and ``compute`` (parse, read, plan, render, the merged workbook, state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import process


def warm_up() -> None:
    """Nothing to warm: the command's own start-up is part of what is measured."""


def run(job: dict[str, Any], state_dir: Path, *, poll: bool = False) -> dict[str, Any]:
    """One ``automation run`` of the configured flow (a dry run for the progress read)."""
    argv = ["run", job["flow"], "-c", job["config"], "--now", job["now"], "--json"]
    if job["kind"] == "progress":
        argv.append("--dry-run")  # a read and its plan: nothing is sent
    measured = process.automation(*argv)
    try:
        record = measured.record()
    except ValueError:
        tail = " / ".join(measured.stderr.strip().splitlines()[-3:])
        return {"status": "error", "error": tail, "process": measured.figures()}
    deliveries = record.get("deliveries", [])
    timings = record.get("timings_s") or {}
    outcome: dict[str, Any] = {
        "status": record["status"],
        "process": measured.figures(),
        "phases": {k: timings[k] for k in ("fetch", "store", "deliver", "compute") if k in timings},
        "messages_sent": sum(1 for d in deliveries if d.get("status") == "sent"),
        "messages_planned": len(deliveries),
        "problems": record.get("problems_total", len(record.get("problems", []) or [])),
    }
    if job["kind"] == "progress":
        outcome["plan_render_s"] = round(timings.get("total", 0) - timings.get("fetch", 0), 4)
    elif record["status"] == "failed":
        outcome["error"] = record.get("error")
    return outcome
