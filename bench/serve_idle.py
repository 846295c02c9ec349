"""Benchmark: what ``automation serve`` costs while it waits (target: CPU < 1 %, RSS < 200 MB).

Configures the 60-sheet x 300-row damage rollup of ``bench/compare.py`` on the Graph
backend against the fake Graph (served from this process; ``--backend local`` uses the
local backend instead), its flow scheduled for 1 January 00:00 so that nothing runs during
the measurement; starts ``automation serve`` with its health endpoint, waits until
``/healthz`` answers, lets it settle, then reads the process's CPU time from
``/proc/PID/stat`` at the start and the end of the window. RSS is ``VmRSS`` at the end and
``VmHWM`` (peak) from ``/proc/PID/status``. The daemon is stopped with SIGTERM.

With ``--poll SECONDS`` the flow polls on that interval instead (after its first report,
every poll finds the workbook unchanged: one conditional request), which is what the
daemon costs while it watches a workbook nobody is editing.

Usage: python bench/serve_idle.py [--seconds 30] [--settle 3] [--backend graph|local]
       [--poll SECONDS] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from bench.damage_rollup import generate

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "out" / "serve_idle"
NEVER_DURING_THE_RUN = "0 0 1 1 *"
CPU_LIMIT_PERCENT = 1.0
RSS_LIMIT_MB = 200.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def workspace(base_url: str | None, poll: int | None = None) -> Path:
    """A configuration whose flow is scheduled outside the window, or every ``poll``
    seconds (Graph if ``base_url``)."""
    if base_url is None:
        config = generate(WORK, 60, 300, 12)
    else:
        seeded = scenarios.Seeded(scenarios.rollup(60, 300), WORK)
        config = scenarios.write_config(seeded, base_url)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for flow in data["flows"]:
        flow["schedule"] = {"every_seconds": poll} if poll else {"cron": NEVER_DURING_THE_RUN}
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """Seconds until ``url`` answers 200."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"automation serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def measure(seconds: float, settle: float, backend: str, poll: int | None = None) -> dict[str, Any]:
    """Start the daemon (with the fake Graph for a Graph backend), measure it idle, stop it."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    if backend == "local":
        return {"backend": "local", "poll_s": poll, **idle(workspace(None, poll), seconds, settle)}
    from tests.fake_graph_workbook import WorkbookFakeGraph  # noqa: PLC0415

    fake = WorkbookFakeGraph(token=scenarios.TOKEN)
    scenarios.seed(fake, scenarios.rollup(60, 300), WORK)
    with fake.serve() as base_url:
        config = workspace(base_url, poll)
        if poll:  # the first report is not idle: wait for it before the window opens
            settle += poll + 30
        mark = len(fake.calls)
        result = idle(config, seconds, settle)
    return {"backend": "graph", "poll_s": poll, "requests": len(fake.calls) - mark, **result}


def idle(config: Path, seconds: float, settle: float) -> dict[str, Any]:
    """Run ``automation serve`` on ``config`` and measure it between runs."""
    port = free_port()
    executable = Path(sys.executable).with_name("automation")
    command = [str(executable), "serve", "-c", str(config), "--health-port", str(port)]
    log = (WORK / "serve.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=WORK)
    try:
        ready = wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        time.sleep(settle)
        cpu0, wall0 = cpu_seconds(process.pid), time.perf_counter()
        time.sleep(seconds)
        cpu1, wall1 = cpu_seconds(process.pid), time.perf_counter()
        memory = memory_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    cpu_percent = (cpu1 - cpu0) / (wall1 - wall0) * 100
    return {
        "seconds": wall1 - wall0,
        "startup_s": ready,
        "cpu_percent": cpu_percent,
        "rss_mb": memory.get("VmRSS", 0.0),
        "peak_rss_mb": memory.get("VmHWM", 0.0),
        "exit_code": process.returncode,
        "target_met": cpu_percent < CPU_LIMIT_PERCENT and memory.get("VmRSS", 0) < RSS_LIMIT_MB,
    }


def main() -> int:
    """Measure and print (or print JSON for bench/compare.py)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--settle", type=float, default=3)
    parser.add_argument("--backend", choices=("graph", "local"), default="graph")
    parser.add_argument("--poll", type=int, help="poll every SECONDS instead of idling")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.seconds, args.settle, args.backend, args.poll)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"automation serve ({result['backend']} backend) "
        + (f"polling every {args.poll} s" if args.poll else "idle")
        + f" over {result['seconds']:.0f} s: "
        f"CPU {result['cpu_percent']:.2f} % "
        f"(target < {CPU_LIMIT_PERCENT:g} %), RSS {result['rss_mb']:.0f} MB, peak "
        f"{result['peak_rss_mb']:.0f} MB (target < {RSS_LIMIT_MB:g} MB); healthy after "
        f"{result['startup_s']:.1f} s; exit code {result['exit_code']} after SIGTERM"
    )
    print(f"TARGET {'met' if result['target_met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
