"""Secrets in the configuration (webhook URLs) appear nowhere the service writes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from automation.config.loader import load_config
from automation.demo import ROUND_1, write_workspace
from automation.runner import run_flow
from automation.timeutil import parse_now

CANARY = (
    "https://prod-00.japaneast.logic.azure.com/workflows/CANARY-3f9a/invoke?sig=CANARY-SIG-7d1e"
)


def test_webhook_url_never_reaches_state_records_or_files(tmp_path: Path) -> None:
    """After a run, the canary webhook URL is in no file under the workspace but the config's env."""
    config = write_workspace(tmp_path / "ws")
    loaded = load_config(config, environ={**os.environ, "DEMO_TEAMS_WEBHOOK_URL": CANARY})
    record = asyncio.run(run_flow(loaded, "typhoon_damage", parse_now(ROUND_1))).record
    assert any(
        d["channel"] == "teams_webhook" and d["status"] == "sent" for d in record["deliveries"]
    )
    leaks = [p for p in (tmp_path / "ws").rglob("*") if p.is_file() and b"CANARY" in p.read_bytes()]
    assert leaks == []
    assert "CANARY" not in repr(record)
