"""Benchmark: from a department's save to the consolidated report in the channel.

What the response team feels is the time from a save in the shared workbook to the next
第N報 arriving. This runs ``automation serve`` (a subprocess) on the Graph backend against
the fake Graph on 127.0.0.1 with ``--latency`` added per request, the damage flow polling
every ``--poll`` seconds. After the first report, it waits a random moment (uniform over
one poll interval), saves a changed workbook into the fake (a new eTag, as a save in Teams
makes), and waits for the first report send (a sendMail or webhook POST) that arrives after
the save. Per save it records:

- save -> posted: the report's arrival at the fake minus the moment of the save;
- download -> posted: the arrival minus the end of the workbook download the report came
  from (our own time between having the bytes and the report leaving).

Targets (issue: save-to-post latency): p95 save -> posted <= poll interval + 1 s at 60 x 300.

Usage: python bench/save_to_post.py [--rows 300] [--saves 30] [--poll 10] [--latency 0.05]
Writes bench/results/save_to_post_60xROWS.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from bench.damage_rollup import write_workbook
from bench.serve_idle import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SEND_PATHS = ("/sendMail", "/webhooks/")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def versions(folder: Path, sheets: int, rows: int) -> list[bytes]:
    """Three versions of the workbook; consecutive saves always change the figures."""
    found = []
    for seed in (11, 12, 13):
        path = folder / f"v{seed}.xlsx"
        write_workbook(path, sheets, rows, scenarios.ITEM_COLUMNS, seed=seed)
        found.append(path.read_bytes())
    return found


def first_send_after(fake: Any, moment: float, timeout: float) -> tuple[int, float] | None:
    """(index, arrival) of the first report send arriving after ``moment``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, (call, meter) in enumerate(
            zip(list(fake.calls), list(fake.meters), strict=False)
        ):
            sent = call.method == "POST" and any(p in call.path for p in SEND_PATHS)
            if sent and meter.started > moment:
                return index, meter.started
        time.sleep(0.01)
    return None


def download_before(fake: Any, index: int, after: float) -> float | None:
    """End of the last content download before call ``index`` and after ``after``."""
    ended = None
    for call, meter in zip(fake.calls[:index], fake.meters[:index], strict=False):
        downloading = call.path.startswith("/download/") or call.path.endswith("/content")
        if downloading and call.method == "GET" and meter.started > after and meter.finished:
            ended = meter.finished
    return ended


def measure(rows: int, saves: int, poll: int, latency: float, seed: int) -> dict[str, Any]:
    """Serve, save ``saves`` times at random moments, time each report's arrival."""
    from tests.fake_graph_workbook import WorkbookFakeGraph  # noqa: PLC0415

    work = ROOT / "bench" / "out" / f"save_to_post_{rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scenario = scenarios.rollup(60, rows)
    fake = WorkbookFakeGraph(token=scenarios.TOKEN)
    seeded = scenarios.seed(fake, scenario, work)
    books = versions(work, 60, rows)
    rng = random.Random(seed)
    results: list[dict[str, float]] = []
    with fake.serve() as base_url:
        fake.latency = latency
        config = scenarios.write_config(seeded, base_url)
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["flows"][0]["schedule"] = {"every_seconds": poll}
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        port = free_port()
        executable = Path(sys.executable).with_name("automation")
        command = [str(executable), "serve", "-c", str(config), "--health-port", str(port)]
        log = (work / "serve.log").open("wb")
        daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", daemon)
            if first_send_after(fake, 0.0, timeout=poll + 120) is None:
                raise RuntimeError(f"no first report; see {work / 'serve.log'}")
            time.sleep(2)  # let the first run's remaining sends finish
            for n in range(saves):
                time.sleep(rng.uniform(0, poll))
                saved = time.monotonic()
                fake.set_content(scenarios.DRIVE, scenarios.BOOK, books[n % len(books)])
                found = first_send_after(fake, saved, timeout=poll + 120)
                if found is None:
                    results.append({"save_to_post_s": float("inf")})
                    continue
                index, posted = found
                downloaded = download_before(fake, index, saved)
                results.append(
                    {
                        "save_to_post_s": posted - saved,
                        "download_to_post_s": posted - downloaded if downloaded else float("nan"),
                    }
                )
                print(
                    f"  save {n + 1:>3}: posted {posted - saved:6.2f} s after the save", flush=True
                )
                time.sleep(1.5)  # the run's other sends
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            log.close()
    latencies = [r["save_to_post_s"] for r in results]
    after_download = [r["download_to_post_s"] for r in results if "download_to_post_s" in r]
    return {
        "rows": rows,
        "saves": saves,
        "poll_s": poll,
        "latency_s": latency,
        "save_to_post_p50_s": statistics.median(latencies),
        "save_to_post_p95_s": percentile(latencies, 95),
        "download_to_post_p50_s": statistics.median(after_download),
        "download_to_post_p95_s": percentile(after_download, 95),
        "target_p95_s": poll + 1.0,
        "target_met": percentile(latencies, 95) <= poll + 1.0,
        "saves_detail": results,
    }


def main() -> int:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--poll", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = measure(args.rows, args.saves, args.poll, args.latency, args.seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"save_to_post_60x{args.rows}.json").write_text(
        json.dumps(result, indent=1), encoding="utf-8"
    )
    print(
        f"automation serve, 60 x {args.rows}, polling every {args.poll} s at "
        f"{args.latency * 1000:g} ms a request, {args.saves} saves:\n"
        f"  save -> posted     p50 {result['save_to_post_p50_s']:.2f} s, "
        f"p95 {result['save_to_post_p95_s']:.2f} s (target p95 <= {result['target_p95_s']:g} s: "
        f"{'met' if result['target_met'] else 'MISSED'})\n"
        f"  download -> posted p50 {result['download_to_post_p50_s']:.2f} s, "
        f"p95 {result['download_to_post_p95_s']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
