"""Specs: a run's CPU work (parsing, planning, rendering, building the merged workbook) does
not hold the event loop, so a daemon keeps renewing its lease and answering /healthz and the
console while a large workbook is read.

Each spec stalls the CPU work until a coroutine on the event loop has run: were the work on
the loop's own thread, that coroutine could not run and the work would give up waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from automation.config.loader import load_config
from automation.runner import RunResult, run_flow
from automation.timeutil import JST
from tests.builders import xlsx_bytes

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - {name: 危機管理課, sheet: 危機管理課, contacts: [{channel: mail, address: kiki@example.jp}]}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
"""
GIVE_UP_S = 20.0  # only reached when the work holds the loop (the spec then fails)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A configuration and a one-department workbook."""
    (tmp_path / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "inputs").mkdir()
    sheet = [["市町村", "死者"], ["前橋市", 1]]
    (tmp_path / "inputs" / "book.xlsx").write_bytes(xlsx_bytes({"危機管理課": sheet}))
    return tmp_path


class Stall:
    """Wraps a function: once called, it waits until the event loop has run a coroutine."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.started = threading.Event()
        self.loop_ran = threading.Event()
        self.saw_loop: list[bool] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Note whether the loop ran while this call waited, then do the real work."""
        self.started.set()
        self.saw_loop.append(self.loop_ran.wait(GIVE_UP_S))
        return self.real(*args, **kwargs)

    async def beat(self) -> None:
        """A coroutine standing for the lease renewal: runs once the work has started."""
        await asyncio.to_thread(self.started.wait, GIVE_UP_S)
        self.loop_ran.set()


def run_with(stall: Stall, workspace: Path) -> RunResult:
    """One run of the flow with a beat on the same event loop."""
    config = load_config(workspace / "automation.yaml")
    now = datetime(2026, 9, 1, 9, 0, tzinfo=JST)

    async def both() -> RunResult:
        beat = asyncio.create_task(stall.beat())
        result = await run_flow(config, "damage", now, clock=lambda: now)
        await beat
        return result

    return asyncio.run(both())


def test_planning_a_report_leaves_the_event_loop_free(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run parses and plans, other coroutines of the process run."""
    from automation.flows import damage_rollup  # noqa: PLC0415

    stall = Stall(damage_rollup.plan)
    monkeypatch.setattr(damage_rollup, "plan", stall)
    result = run_with(stall, workspace)
    assert (result.record["status"], stall.saw_loop) == ("ok", [True])


def test_building_the_merged_workbook_leaves_the_event_loop_free(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run builds the workbook its report owes, other coroutines of the process run."""
    from automation.jobs import Artefact  # noqa: PLC0415

    stall = Stall(Artefact.data)
    # a lambda, not the Stall itself: an instance is not bound as a method, so self would be lost
    monkeypatch.setattr(Artefact, "data", lambda self: stall(self))  # noqa: PLW0108
    result = run_with(stall, workspace)
    assert result.record["status"] == "ok"
    assert stall.saw_loop == [True]
    assert [Path(a["location"]).name for a in result.record["artefacts"]] == [
        "被害状況集計_第1報.xlsx"
    ]
