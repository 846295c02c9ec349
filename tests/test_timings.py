"""The run record says where the run's wall time went."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from automation.config.loader import load_config
from automation.demo import ROUND_1, write_workspace
from automation.runner import run_flow
from automation.timeutil import parse_now
from automation.timings import PhaseTimer


class Port:
    """A port with one coroutine method, one plain method and one attribute."""

    label = "slow"

    async def fetch(self) -> str:
        return "fetched"

    def plain(self) -> str:
        return "plain"


def test_a_timed_port_behaves_like_the_port() -> None:
    """Wrapping a port changes no result and no attribute, only what the timer counts."""
    timer = PhaseTimer()
    port = timer.wrap(Port(), "fetch")
    assert asyncio.run(port.fetch()) == "fetched"
    assert (port.plain(), port.label) == ("plain", "slow")
    assert timer.seconds["fetch"] > 0


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_the_run_record_carries_its_phases(tmp_path: Path, dry_run: bool) -> None:
    """timings_s has fetch, store, deliver and compute, which add up to the total."""
    write_workspace(tmp_path / "ws")
    loaded = load_config(tmp_path / "ws" / "automation.yaml")
    result = asyncio.run(run_flow(loaded, "typhoon_damage", parse_now(ROUND_1), dry_run=dry_run))
    timings = result.record["timings_s"]
    marks = {"fetched_s", "report_delivered_s"}
    assert set(timings) - marks == {"fetch", "store", "deliver", "compute", "total"}
    parts = timings["fetch"] + timings["store"] + timings["deliver"] + timings["compute"]
    assert abs(parts - timings["total"]) <= 0.0005  # each part is rounded to 0.1 ms
    assert timings["compute"] > 0
    assert (timings["store"] > 0) is not dry_run  # a dry run stores no artefact
