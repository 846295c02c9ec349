"""Benchmark: ``automation serve`` through changed rollups in a row: does its memory grow?

Writes the 60-sheet damage workbook (``--rows`` per sheet) and two edited versions of it from
a child process, configures the local backend with the flow on an interval trigger
(``--interval`` seconds), and starts ``automation serve`` as a subprocess. Before each run
the next version of the workbook is put in place (an atomic rename, as a save would), so
every run is a changed rollup that issues a new 第N報. After each finished run (read from
the state database's run history) the daemon's resident set (``VmRSS`` from
``/proc/PID/status``, the daemon and any children it runs flows in) is recorded; after the
last one the workbook stays as it is (the runs that follow are unchanged polls, as between
two reports), the daemon idles ``--settle`` seconds and is measured again, then stopped
with SIGTERM. ``--allocator pymalloc`` starts the daemon on CPython's own allocator (what
it ran on before ``serve`` chose the system allocator), for comparison.

Pass: RSS after the last run is not above RSS after the second run by more than 10 %
(no growth run over run), and idle RSS after the runs is reported beside it.

Usage: python bench/serve_runs.py [--runs 10] [--rows 300] [--interval 6] [--settle 20]
       [--allocator default|pymalloc] [--json]
Writes bench/results/serve_runs_60xROWS.json (``_pymalloc`` added for that allocator).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import process
from bench.serve_idle import free_port, memory_mb, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GROWTH_LIMIT = 1.10


def prepare(work: Path, rows: int, interval: int) -> tuple[Path, list[Path]]:
    """The configuration and three workbook versions (written by a child process)."""
    shutil.rmtree(work, ignore_errors=True)
    versions = []
    for seed in (1, 2, 3):
        folder = work / f"v{seed}"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "damage_rollup.py"),
                "--generate",
                str(folder),
                "--rows",
                str(rows),
                "--seed",
                str(seed),
            ],
            check=True,
        )
        versions.append(folder / "inputs" / "book.xlsx")
    (work / "inputs").mkdir(parents=True)
    shutil.copy(versions[0], work / "inputs" / "book.xlsx")
    config = yaml.safe_load((work / "v1" / "bench.yaml").read_text(encoding="utf-8"))
    for flow in config["flows"]:
        flow["schedule"] = {"every_seconds": interval}
    path = work / "bench.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, versions


def finished_runs(state: Path) -> list[tuple[int, str]]:
    """(id, status) of every finished run so far."""
    if not state.exists():
        return []
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute(
                "SELECT id, status FROM runs WHERE finished_at IS NOT NULL ORDER BY id"
            ).fetchall()
    except sqlite3.Error:
        return []
    return [(int(i), str(s)) for i, s in rows]


def tree_rss_mb(pid: int) -> float:
    """VmRSS of a process and its children (a daemon may run flows in child processes)."""
    total = memory_mb(pid).get("VmRSS", 0.0)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            with contextlib.suppress(OSError):  # it may have ended since
                total += memory_mb(int(child)).get("VmRSS", 0.0)
    return total


def measure(
    rows: int, runs: int, interval: int, settle: float, allocator: str = "default"
) -> dict[str, Any]:
    """Serve, drive ``runs`` changed rollups, record RSS after each, then idle, then stop."""
    work = ROOT / "bench" / "out" / f"serve_runs_{rows}"
    config, versions = prepare(work, rows, interval)
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("automation")),
        "serve",
        "-c",
        str(config),
        "--health-port",
        str(port),
    ]
    log = (work / "serve.log").open("wb")
    env = dict(os.environ)
    env.pop("PYTHONMALLOC", None)
    if allocator != "default":
        env["PYTHONMALLOC"] = allocator
    process.forget_composed()  # its first build composes every sheet, as a new host's
    daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=env)
    state = work / "state" / "bench.sqlite"
    after: list[dict[str, Any]] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", daemon)
        seen = 0
        deadline = time.monotonic() + runs * (interval + 120)
        while len(after) < runs and time.monotonic() < deadline:
            done = finished_runs(state)
            if len(done) > seen:
                seen = len(done)
                after.append(
                    {"run": seen, "status": done[-1][1], "rss_mb": tree_rss_mb(daemon.pid)}
                )
                if seen < runs:
                    staged = work / "inputs" / ".book.xlsx"
                    shutil.copy(versions[seen % len(versions)], staged)
                    os.replace(staged, work / "inputs" / "book.xlsx")  # the next run: a change
            time.sleep(0.1)
        time.sleep(settle)
        idle = tree_rss_mb(daemon.pid)
        peak = memory_mb(daemon.pid).get("VmHWM", 0.0)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
    second, last = after[1]["rss_mb"] if len(after) > 1 else 0.0, after[-1]["rss_mb"]
    return {
        "rows": rows,
        "allocator": allocator,
        "runs": after,
        "statuses": sorted({a["status"] for a in after}),
        "rss_after_second_mb": round(second, 1),
        "rss_after_last_mb": round(last, 1),
        "idle_rss_after_runs_mb": round(idle, 1),
        "daemon_peak_rss_mb": round(peak, 1),
        "grows": bool(second and last > second * GROWTH_LIMIT),
        "completed_runs": len(after),
    }


def main() -> int:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--interval", type=int, default=6)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--allocator", choices=["default", "pymalloc"], default="default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.rows, args.runs, args.interval, args.settle, args.allocator)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.allocator == "default" else f"_{args.allocator}"
    (RESULTS / f"serve_runs_60x{args.rows}{suffix}.json").write_text(
        json.dumps(result, indent=1), encoding="utf-8"
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"automation serve ({args.allocator} allocator), 60 x {args.rows}, "
        f"{result['completed_runs']} changed rollups in a row"
    )
    print("  RSS after each run (MB): " + ", ".join(f"{a['rss_mb']:.0f}" for a in result["runs"]))
    print(f"  statuses: {', '.join(result['statuses'])}")
    print(
        f"  after run 2: {result['rss_after_second_mb']:.0f} MB, after the last: "
        f"{result['rss_after_last_mb']:.0f} MB -> {'GROWS' if result['grows'] else 'no growth'}"
    )
    print(
        f"  idle after the runs: {result['idle_rss_after_runs_mb']:.0f} MB; daemon peak "
        f"{result['daemon_peak_rss_mb']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
