"""The example configurations shipped in config/ stay valid."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from automation.config.loader import load_config
from automation.runner import run_flow
from automation.timeutil import parse_now

CONFIG_DIR = Path(__file__).parent.parent / "config"


def test_damage_rollup_example_is_valid() -> None:
    """config/damage_rollup.yaml validates with its webhook variable set."""
    loaded = load_config(
        CONFIG_DIR / "damage_rollup.yaml",
        environ={"BOUSAI_TEAMS_WEBHOOK_URL": "https://x.invalid/h"},
    )
    assert [f.id for f in loaded.config.flows] == ["typhoon_damage"]
    assert len(loaded.config.directory.departments) == 8


def test_damage_rollup_example_needs_its_webhook_secret() -> None:
    """The example reads the webhook URL from the environment, never from the file."""
    text = (CONFIG_DIR / "damage_rollup.yaml").read_text(encoding="utf-8")
    assert "${BOUSAI_TEAMS_WEBHOOK_URL}" in text
    assert "https://" not in text


@pytest.mark.parametrize(
    ("name", "flow"), [("progress_halfyear", "dx_halfyear"), ("progress_city_wg", "wg_halfyear")]
)
def test_progress_examples_run_on_their_sample_lists(name: str, flow: str) -> None:
    """Both progress examples validate, remind on the deadline and summarise at the close."""
    loaded = load_config(CONFIG_DIR / f"{name}.yaml")
    deadline = asyncio.run(run_flow(loaded, flow, parse_now("2026-10-15T09:00"), dry_run=True))
    closing = asyncio.run(run_flow(loaded, flow, parse_now("2026-10-16T09:00"), dry_run=True))
    assert (deadline.record["status"], deadline.record["phase"]) == ("ok", "deadline")
    assert "reminder" in {d["kind"] for d in deadline.record["deliveries"]}
    assert (closing.record["status"], closing.record["summary"]) == ("ok", True)
    assert "summary" in {d["kind"] for d in closing.record["deliveries"]}
