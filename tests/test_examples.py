"""The example configurations shipped in config/ stay valid."""

from __future__ import annotations

from pathlib import Path

from automation.config.loader import load_config

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
