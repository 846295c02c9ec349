"""Run one contender on one job and print its measurements as one JSON line.

Kept apart from ``compare.py`` so a contender's process imports only what that contender
needs: its peak RSS and CPU time are its own. Ours runs the ``automation`` command as a
subprocess of this small process and reports that command's figures.

Usage: python bench/child.py {ours|pattern|peer} {run|poll} JOB.json
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODULES = {"ours": "bench.ours", "pattern": "bench.pa_pattern", "peer": "bench.peer_o365"}


def main(argv: list[str]) -> int:
    """Warm up, then time the job: wall and CPU seconds, and the process's peak RSS."""
    contender, mode, job_path = argv[0], argv[1], Path(argv[2])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    module = importlib.import_module(MODULES[contender])
    module.warm_up()
    state_dir = job_path.parent / contender
    started_at, wall0, cpu0 = time.monotonic(), time.perf_counter(), time.process_time()
    try:
        outcome = module.run(job, state_dir, poll=mode == "poll")
    except Exception as exc:  # report, do not hide: the table shows the error
        outcome = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    measured = {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "started_at": started_at,  # monotonic: the fake's arrival times are on the same clock
    }
    # A contender that runs a command reports that process's own figures (bench/process.py)
    measured |= {k: v for k, v in outcome.pop("process", {}).items() if k in measured}
    print(json.dumps({**measured, **outcome}))
    return 0


def peak_rss_mb() -> float:
    """The process's peak resident set (VmHWM: of this program only; ``ru_maxrss`` would
    also count the parent's memory at the time of the fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
