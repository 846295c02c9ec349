"""Fault trials at scale: SIGKILL before/after Graph acts, or a lost reply, at each kind of send.

Runs tests/fault_trials.py's rounds against ``automation serve`` (a subprocess) and the fake
Graph over loopback: each round a new report goes to two mailboxes, the department's mailbox,
a Teams channel and a Workflows webhook, after its merged workbook is uploaded; one fault is
injected at the first request of one kind of send (in rotation over every pair). Targets:
mail and channel posts exactly once (0 duplicates, 0 losses); the webhook at least once (it
cannot be read back; repeats are counted); the merged workbook stored once; every run ended
with a record.

Usage: python bench/fault_trials.py [--trials 240]
Writes bench/results/fault_trials.json and bench/results/fault_trials.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import fault_trials  # noqa: E402
from tests import serve_harness as h  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    """Run the trials, print and write the table; exit 1 if a target was missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=240)
    args = parser.parse_args()
    fake = h.seeded_fake()
    switch = h.KillSwitch(fake.app)
    fake.app = switch
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, fake.serve() as base_url:
        config = h.write_config(Path(folder) / "daemon", base_url)

        def progress(trial: int, fault: str, send: str) -> None:
            if trial % 24 == 0:
                print(f"trial {trial}/{args.trials} ({fault} at {send})", flush=True)

        table = fault_trials.run_trials(
            fake, switch, config, Path(folder) / "daemon.log", args.trials, progress
        )
    cells = list(table.values())
    totals = {
        "trials": sum(c.trials for c in cells),
        "mail_duplicates": sum(len(c.duplicated) for c in cells),
        "losses": sum(len(c.lost) for c in cells),
        "webhook_repeats": sum(c.webhook_repeats for c in cells),
        "runs_without_record": sum(c.trials - c.record_present for c in cells),
        "kills": len(switch.kills),
        "replies_lost": len(switch.lost),
        "seconds": round(time.monotonic() - started, 1),
    }
    summary = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} (shared with other work)",
        "totals": totals,
        "table": {f"{fault} x {send}": cell.row() for (fault, send), cell in table.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fault_trials.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    text = fault_trials.markdown(table)
    (RESULTS / "fault_trials.md").write_text(
        f"# Fault trials ({totals['trials']} trials, {summary['machine']})\n\n{text}\n"
        f"Totals: {json.dumps(totals)}\n",
        encoding="utf-8",
    )
    print(text)
    print(json.dumps(totals, indent=2))
    missed = (
        totals["mail_duplicates"] or totals["losses"] or totals["runs_without_record"]
    ) or any(c.mail_once != c.trials or c.channel_once != c.trials for c in cells)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
