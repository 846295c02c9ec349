"""Failover trials at scale: two ``automation serve`` on one throwaway PostgreSQL and the fake
Graph; the leader is killed (SIGKILL, then restarted as the standby) or paused past its lease
(SIGSTOP, then SIGCONT) at a random point of each report round.

Targets: every message delivered exactly once (0 duplicated, 0 lost); takeover (from the
fault until the other daemon holds the lease) under the lease plus one renewal.

Usage: python bench/failover_trials.py [--trials 100] [--lease 10]
Writes bench/results/failover_trials_lease{N}.json.
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
from tests import failover_trials  # noqa: E402
from tests import serve_harness as h  # noqa: E402
from tests.pg_server import pg_server  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    """Run the trials, print and write the figures; exit 1 if a target was missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--lease", type=float, default=10, help="service.lease_seconds")
    args = parser.parse_args()
    fake = h.seeded_fake()
    started = time.monotonic()
    began_at, load_before = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.getloadavg()[0]
    folder = tempfile.mkdtemp(prefix="failover-")  # kept: the daemons' logs, to read a miss
    print(f"daemon logs in {folder}", flush=True)
    with pg_server() as pg, fake.serve() as served:

        def progress(trial: int, fault: str, taken: float) -> None:
            if trial % 10 == 0:
                print(f"trial {trial}/{args.trials}: {fault}, takeover {taken:.2f} s", flush=True)

        tally = failover_trials.run_trials(
            fake, served, pg.new_database(), Path(folder), args.trials, args.lease, progress
        )
    row = tally.row()
    summary = {
        "measured": f"{began_at}-{time.strftime('%H:%M', time.gmtime())} UTC",
        "load_average_1min": f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} (shared with other work)",
        "lease_seconds": args.lease,
        "renew_every_seconds": args.lease / 4,
        **row,
        "duplicated_messages": tally.duplicated,
        "lost_messages": tally.lost,
        "seconds": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"failover_trials_lease{args.lease:g}.json"
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    bound = args.lease + args.lease / 4
    missed = tally.duplicated or tally.lost or (row["takeover_s_p95"] or 0) > bound
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
