"""Soak: the SIGKILL crash test of tests/test_serve.py with many more trials (default 200).

Each trial changes the workbook on the fake Graph, kills ``automation serve`` at a random
request of the round (before the fake acts, or after it acted and before the answer
arrives), restarts it, and waits until the report reached both mailboxes and the channel.
The test asserts no duplicate and nothing lost over all trials.

Usage: python bench/crash_soak.py [--trials 200]
Writes bench/out/crash_soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def main() -> int:
    """Run the soak and report its outcome."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_serve.py",
            "-k",
            "kill_nine",
        ],
        cwd=ROOT,
        env={**os.environ, "CRASH_TRIALS": str(args.trials)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    summary = {
        "trials": args.trials,
        "passed": result.returncode == 0,
        "seconds": round(seconds, 1),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "crash_soak.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))
    if result.returncode != 0:
        print(result.stdout[-5000:])
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
