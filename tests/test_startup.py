"""Commands that do not talk to Graph must not import it (msgraph/kiota/azure cost seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import asyncio, sys
from automation.config.loader import load_config
from automation.runner import run_flow
from automation.timeutil import parse_now
loaded = load_config(__import__("pathlib").Path(sys.argv[1]))
asyncio.run(run_flow(loaded, "dx_halfyear", parse_now("2026-10-14T09:00"), dry_run=True))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("msgraph", "msgraph_core", "kiota_http", "azure"))
print(",".join(heavy))
"""


def test_a_local_run_imports_no_graph_libraries() -> None:
    """Validating a configuration and a local dry run leave msgraph, kiota and azure unimported."""
    config = Path(__file__).parent.parent / "config" / "progress_halfyear.yaml"
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == ""
