"""Benchmark: from the workbook's download to the report's delivery, in one changed run.

Runs ``automation run rollup`` (a subprocess, as cron runs it) on the Graph backend against
the fake Graph on 127.0.0.1 with ``--latency`` added per request: a changed 60 x ROWS
rollup reported by a Workflows webhook card and by a mail that attaches the merged
workbook (feedback off). After a first report, each run gets a changed workbook. Per run,
from the fake's log of requests (its arrival and answer times):

- download -> card: the card's POST arriving, minus the end of the workbook's download;
- download -> upload: the merged workbook's upload arriving, minus the same;
- download -> mail: the report mail's send arriving, minus the same;

and, when the code marks them, the run record's ``timings_s.report_delivered_s`` minus
``fetched_s``. Target (issue 18): the report posted <= 0.5 s after the download completes.

``--label`` names the result (``before``/``after`` a change); to measure another checkout,
run this file from this one with ``PYTHONPATH`` set to that checkout (its ``automation`` is
then the one imported).

Usage: python bench/report_first.py [--rows 300] [--runs 5] [--latency 0.05] [--label L]
Writes bench/results/report_first_60xROWS_LABEL.json (date, machine and its load).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import process, scenarios
from bench.damage_rollup import machine, write_workbook

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHEETS = 60
TARGET_S = 0.5


def versions(folder: Path, rows: int) -> list[bytes]:
    """Two versions of the workbook: consecutive runs always see changed figures."""
    found = []
    for seed in (21, 22):
        path = folder / f"v{seed}.xlsx"
        write_workbook(path, SHEETS, rows, scenarios.ITEM_COLUMNS, seed=seed)
        found.append(path.read_bytes())
    return found


def moments(fake: Any, first: int) -> dict[str, float | None]:
    """When, in the calls from index ``first`` on, the download ended and the card, the
    upload and the mail arrived (monotonic seconds; None: not in this run)."""
    found: dict[str, float | None] = dict.fromkeys(("downloaded", "card", "upload", "mail"))
    for call, meter in zip(fake.calls[first:], fake.meters[first:], strict=False):
        path, method = call.path, call.method
        if method == "GET" and (path.startswith("/download/") or path.endswith("/content")):
            found["downloaded"] = meter.finished
        elif method == "POST" and "/webhooks/" in path and found["card"] is None:
            found["card"] = meter.started
        elif (
            method in ("PUT", "POST")
            and found["upload"] is None
            and (path.endswith("/content") or path.endswith("/createUploadSession"))
        ):
            found["upload"] = meter.started
        elif method == "POST" and (path.endswith("/sendMail") or path.endswith("/send")):
            found["mail"] = found["mail"] or meter.started
    return found


def one_run(fake: Any, config: Path) -> dict[str, Any]:
    """One ``automation run``; what the fake saw of it and what its record says."""
    first = len(fake.calls)
    measured = process.automation("run", "rollup", "-c", str(config), "--json")
    if measured.returncode != 0:
        raise RuntimeError(f"automation run failed ({measured.returncode}): {measured.stderr}")
    record = measured.record()
    seen = moments(fake, first)
    downloaded = seen["downloaded"]
    if downloaded is None:
        raise RuntimeError("the run downloaded no workbook")
    timings = record.get("timings_s") or {}
    marked = None
    if "report_delivered_s" in timings and "fetched_s" in timings:
        marked = timings["report_delivered_s"] - timings["fetched_s"]
    return {
        "status": record["status"],
        "report_number": record.get("report_number"),
        "wall_s": measured.wall_s,
        "download_to_card_s": _since(seen["card"], downloaded),
        "download_to_upload_s": _since(seen["upload"], downloaded),
        "download_to_mail_s": _since(seen["mail"], downloaded),
        "record_fetched_to_report_s": marked,
        "timings_s": timings,
    }


def _since(moment: float | None, start: float) -> float | None:
    return None if moment is None else moment - start


def measure(rows: int, runs: int, latency: float) -> dict[str, Any]:
    """A first report, then ``runs`` changed runs, each measured."""
    from tests.fake_graph_workbook import WorkbookFakeGraph  # noqa: PLC0415

    work = ROOT / "bench" / "out" / f"report_first_{rows}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    fake = WorkbookFakeGraph(token=scenarios.TOKEN)
    seeded = scenarios.seed(fake, scenarios.rollup(SHEETS, rows), work)
    books = versions(work, rows)
    measured = []
    with fake.serve() as base_url:
        fake.latency = latency
        config = scenarios.write_config(seeded, base_url)
        one_run(fake, config)  # 第1報
        for n in range(runs):
            fake.set_content(scenarios.DRIVE, scenarios.BOOK, books[n % len(books)])
            measured.append(one_run(fake, config))
            print(
                f"  run {n + 1}: card {measured[-1]['download_to_card_s']:.3f} s after the "
                f"download, upload {measured[-1]['download_to_upload_s']:.3f} s",
                flush=True,
            )
            time.sleep(0.2)
    return {
        "rows": rows,
        "runs": runs,
        "latency_s": latency,
        **{
            f"{key}_median": statistics.median(r[key] for r in measured)
            for key in ("download_to_card_s", "download_to_upload_s", "download_to_mail_s")
        },
        "target_s": TARGET_S,
        "runs_detail": measured,
    }


def main() -> int:
    """Measure and write the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    result = measure(args.rows, args.runs, args.latency)
    result = {
        "date": started,
        "label": args.label,
        "machine": machine(),
        "load_at_start": round(load_before, 2),
        "code": "another checkout (PYTHONPATH)" if os.environ.get("PYTHONPATH") else "this one",
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"report_first_60x{args.rows}_{args.label}.json"
    target.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    card = result["download_to_card_s_median"]
    print(
        f"automation run, changed 60 x {args.rows}, {args.latency * 1000:g} ms a request, "
        f"median of {args.runs} ({args.label}):\n"
        f"  download -> card   {card:.3f} s (target <= {TARGET_S} s: "
        f"{'met' if card <= TARGET_S else 'MISSED'})\n"
        f"  download -> upload {result['download_to_upload_s_median']:.3f} s\n"
        f"  download -> mail   {result['download_to_mail_s_median']:.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
