"""Side by side on one fake Graph: our flows, the Power Automate pattern, python-o365, the floor.

For each scenario (``bench/scenarios.py``) the fake Graph (``tests/fake_graph_workbook.py``:
the project's fake plus the Excel workbook API) is seeded and served on 127.0.0.1 with a
fixed latency per request (default 50 ms) and Graph-like page caps (200 list items; 1,000
table rows). Each contender then runs the same job in its own process, so its CPU time and
peak RSS are its own; requests, bytes and arrival times come from the fake's call log.

* ours - the ``automation run`` command as a subprocess, imports included (``bench/ours.py``);
* pattern - the Power Automate connector pattern, request for request (``bench/pa_pattern.py``),
  as measured (unthrottled) and as it would run under the Excel Online (Business) connector's
  documented 100 calls per connection per 60 s (see ``throttled_wall``);
* peer - a python-o365 script (``bench/peer_o365.py``);
* floor - the fewest requests the job needs x the latency + python-calamine's read of the
  workbook (the fastest library read of the same bytes); nothing of ours is in it.

Also measured: ``automation validate`` wall time over repeated subprocess runs (and that it
imports no Graph library), and, if ``automation serve`` exists, its idle cost
(``bench/serve_idle.py``).

Usage: python bench/compare.py [--quick] [--latency 0.05] [--only SUBSTRING]
Writes bench/results/compare.json, compare.md and compare.png (work files in bench/out/).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, scenarios
from bench.damage_rollup import write_workbook
from bench.process import calamine_read_s
from bench.scenarios import Scenario

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "out" / "compare"
RESULTS = ROOT / "bench" / "results"
CONTENDERS = ("ours", "pattern", "peer")
SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024  # driveitem-put-content.md, as the fake enforces
POLLS = 3  # unchanged polls per contender (separate processes); the median is reported
SEND_PATHS = ("/sendMail", "/webhooks/")
# Excel Online (Business) connector: "100 API calls per connection per 60 seconds"
# (learn.microsoft.com/connectors/excelonlinebusiness, Throttling limits)
EXCEL_CONNECTOR_CALLS, EXCEL_CONNECTOR_WINDOW_S = 100, 60.0


def default_scenarios(quick: bool) -> list[Scenario]:
    """The grid: S growth at R=300, R growth at S=60, N growth, D on each channel.

    120 webhook posts at 4/s (30 s per contender) are left out of the default to keep the
    run under ten minutes; ``deliveries(120, "teams_webhook")`` measures them.
    """
    if quick:
        return [
            scenarios.rollup(10, 300),
            scenarios.rollup(60, 300),
            scenarios.progress(2000),
            scenarios.progress(20000),
            scenarios.deliveries(20, "teams_webhook"),
            scenarios.deliveries(20, "mail", per_minute=300),
        ]
    return [
        scenarios.rollup(10, 300),
        scenarios.rollup(60, 50),
        scenarios.rollup(60, 300),
        scenarios.rollup(60, 2000),
        scenarios.rollup(200, 300),
        scenarios.progress(500),
        scenarios.progress(2000),
        scenarios.progress(20000),
        scenarios.deliveries(20, "teams_webhook"),
        scenarios.deliveries(20, "mail", per_minute=300),
        scenarios.deliveries(120, "mail", per_minute=600),
    ]


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def run_child(contender: str, mode: str, job_path: Path) -> dict[str, Any]:
    """Start the child and read its JSON line."""
    command = [sys.executable, str(ROOT / "bench" / "child.py"), contender, mode, str(job_path)]
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=1800, cwd=ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "error", "error": " / ".join(tail) or f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure(scenario: Scenario, latency: float, repeats: int = 1) -> dict[str, Any]:
    """Seed, serve, and run every contender on one scenario.

    A rollup is measured as the next report after a first one: ours runs once on the
    workbook as seeded (its first report, shown apart: as many requests as a changed
    report, the workbook's folder coming with its item read), then every contender runs on
    an edited workbook (``repeats`` times, alternating two versions; the median run by wall
    time is kept), then polls it unchanged ``POLLS`` times in separate processes (the
    median is kept).
    """
    from tests.fake_graph_workbook import WorkbookFakeGraph  # noqa: PLC0415

    folder = WORK / scenario.slug
    shutil.rmtree(folder, ignore_errors=True)
    fake = WorkbookFakeGraph(
        token=scenarios.TOKEN,
        list_page_cap=scenarios.LIST_PAGE_CAP,
        workbook_row_cap=scenarios.WORKBOOK_ROW_CAP,
    )
    seeded = scenarios.seed(fake, scenario, folder)
    if scenario.kind == "progress":
        fake.capture_bodies(r"/lists/[^/]+/items$")
    else:
        fake.book(scenarios.DRIVE, scenarios.BOOK)  # parse once, before anyone is timed
    fake.latency = latency
    out: dict[str, Any] = {
        "scenario": scenario.name,
        "kind": scenario.kind,
        "sheets": scenario.sheets,
        "rows": scenario.rows,
        "items": scenario.items,
        "recipients": scenario.recipients,
        "channel": scenario.channel if scenario.kind == "deliveries" else None,
        "interval_s": scenario.interval if scenario.kind == "deliveries" else None,
        "workbook_bytes": seeded.workbook_bytes,
        "contenders": {},
    }
    with fake.serve() as base_url:
        job = seeded.job(base_url, latency)
        job["config"] = str(scenarios.write_config(seeded, base_url))
        job_path = folder / "job.json"
        job_path.write_text(json.dumps(job, ensure_ascii=False, indent=1), encoding="utf-8")
        if scenario.kind == "progress":
            out["configured_fields"] = sorted(job["list_columns"][c] for c in job["read_columns"])
        contenders = out["contenders"]
        if scenario.kind != "rollup":
            for contender in CONTENDERS:
                if contender == "ours" and scenario.kind == "progress":
                    # the first read also looks up the list's columns, once per installation
                    contenders["ours_first"] = run_measured(
                        fake, scenario, "ours", "run", job_path, label="ours first"
                    )
                contenders[contender] = run_measured(fake, scenario, contender, "run", job_path)
        else:
            versions = [(folder / scenarios.BOOK_NAME).read_bytes(), edited_workbook(scenario)]
            published = 0
            for contender in CONTENDERS:
                if contender == "ours":
                    contenders["ours_first"] = run_measured(
                        fake, scenario, "ours", "run", job_path, label="ours first"
                    )
                runs = []
                for _ in range(repeats):
                    published += 1
                    fake.set_content(scenarios.DRIVE, scenarios.BOOK, versions[published % 2])
                    fake.book(scenarios.DRIVE, scenarios.BOOK)  # parsed before the clock starts
                    runs.append(run_measured(fake, scenario, contender, "run", job_path))
                contenders[contender] = median_run(runs)
                polls = [
                    run_measured(fake, scenario, contender, "poll", job_path) for _ in range(POLLS)
                ]
                contenders[f"{contender}_poll"] = median_run(polls)
    out["floor"] = floor(scenario, latency, out["contenders"])
    return out


def edited_workbook(scenario: Scenario) -> bytes:
    """The scenario's workbook as the departments edited it (other figures in every sheet)."""
    path = WORK / scenario.slug / "edited.xlsx"
    write_workbook(path, scenario.sheets, scenario.rows, scenarios.ITEM_COLUMNS, seed=2)
    return path.read_bytes()


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's requests and wall time."""
    chosen = dict(sorted(runs, key=lambda r: r.get("wall_s", 0))[len(runs) // 2])
    if len(runs) > 1:
        chosen["repeats"] = [
            {"requests": r.get("requests"), "wall_s": r.get("wall_s")} for r in runs
        ]
    return chosen


def run_measured(
    fake: Any,
    scenario: Scenario,
    contender: str,
    mode: str,
    job_path: Path,
    label: str | None = None,
) -> dict[str, Any]:
    """One child run with what the fake saw of it."""
    mark = len(fake.calls)
    result = run_child(contender, mode, job_path)
    result |= traffic(fake, mark, scenario)
    posted = report_posted_s(fake, mark, result.get("started_at"))
    if posted is not None:
        result["report_s"] = posted
    if contender == "pattern" and "wall_s" in result:
        delay = throttle_delay(fake.calls[mark:], fake.meters[mark:])
        result["throttled_wall_s"] = result["wall_s"] + delay
    if scenario.kind == "progress" and "items_read" not in result:
        # ours reads every page the fake serves (the run record counts only the period's items)
        result["items_read"] = result["items_served"]
        result["items_lost"] = max(0, scenario.items - result["items_served"])
    label = label or (contender if mode == "run" else f"{contender} poll")
    print(f"  {scenario.name:<28} {label:<13} {summary_line(result)}", flush=True)
    return result


def traffic(fake: Any, mark: int, scenario: Scenario) -> dict[str, Any]:
    """What the fake saw from one child: requests, bytes, send times, list fields."""
    calls, meters = fake.calls[mark:], fake.meters[mark:]
    result: dict[str, Any] = {
        "requests": len(calls),
        "response_bytes": sum(m.response_bytes for m in meters),
        "request_bytes": sum(len(c.body) for c in calls),
        "upload_bytes": sum(len(c.body) for c in calls if c.method == "PUT"),
        "by_kind": request_kinds(calls),
    }
    if meters:
        last = max(m.finished or m.started for m in meters)
        result["server_span_s"] = last - meters[0].started
        result["fake_service_s"] = sum(max(0.0, (m.seconds or 0.0) - fake.latency) for m in meters)
    sends = [m.started for c, m in zip(calls, meters, strict=True) if is_send(c)]
    if scenario.kind == "deliveries" and len(sends) > 1:
        gaps = [b - a for a, b in itertools.pairwise(sends)]
        result["sends"] = {
            "count": len(sends),
            "span_s": sends[-1] - sends[0],
            "min_gap_s": min(gaps),
            "median_gap_s": statistics.median(gaps),
            "max_per_second": max_in_window(sends, 1.0),
        }
    if scenario.kind == "progress":
        fields: set[str] = set()
        served = 0
        for c, m in zip(calls, meters, strict=True):
            if m.body and c.path.endswith("/items"):
                page = json.loads(m.body).get("value", [])
                served += len(page)
                for item in page:
                    fields.update(k for k in item.get("fields", {}) if not k.startswith("@"))
                m.body = None
        result["fields_transferred"] = sorted(fields - {"id"})
        result["items_served"] = served
        result["item_requests"] = sum(1 for c in calls if c.path.endswith("/items"))
    return result


def report_posted_s(fake: Any, mark: int, started_at: float | None) -> float | None:
    """When the first message was answered by the fake, in seconds since the contender
    started (its process for ours, its job for the peers): the report in the channel.

    Both clocks are the same (``time.monotonic``, system-wide on Linux)."""
    if started_at is None:
        return None
    for call, meter in zip(fake.calls[mark:], fake.meters[mark:], strict=False):
        if is_send(call):
            answered: float = meter.finished or meter.started
            return answered - started_at
    return None


def throttle_delay(calls: list[Any], meters: list[Any]) -> float:
    """Seconds the pattern would have waited had the Excel connector kept to its 100 calls
    per connection per 60 s: each workbook-API call (Get tables, List rows present in a
    table) starts no earlier than 60 s after the call 100 before it, and everything after it
    moves with it; every other request, duration and gap stays as measured. A lower bound:
    the real connector answers the 101st call with 429, and the flow's retry policy waits at
    least that long before trying again."""
    delay, excel_starts = 0.0, []
    for call, meter in zip(calls, meters, strict=True):
        if "/workbook/" not in call.path:
            continue
        start = meter.started + delay
        if len(excel_starts) >= EXCEL_CONNECTOR_CALLS:
            earliest = excel_starts[-EXCEL_CONNECTOR_CALLS] + EXCEL_CONNECTOR_WINDOW_S
            if start < earliest:
                delay += earliest - start
                start = earliest
        excel_starts.append(start)
    return delay


def is_send(call: Any) -> bool:
    """A message send (mail or webhook card)."""
    return call.method == "POST" and any(p in call.path for p in SEND_PATHS)


def request_kinds(calls: list[Any]) -> dict[str, int]:
    """Requests grouped by what they do, for the notes."""
    kinds: dict[str, int] = {}
    for call in calls:
        path = call.path
        if is_send(call):
            kind = "send"
        elif "/workbook/" in path:
            kind = "workbook api"
        elif path.startswith("/download/") or path.endswith("/content"):
            kind = "content"
        elif call.method == "PUT":
            kind = "upload"
        elif "/lists/" in path and path.endswith("/items"):
            kind = "list items"
        else:
            kind = "metadata"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def max_in_window(times: list[float], window: float) -> int:
    """The most sends that started within any ``window`` seconds."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def floor(scenario: Scenario, latency: float, contenders: dict[str, Any]) -> dict[str, Any]:
    """Physics: the fewest requests x latency, plus the fastest library read of the workbook;
    deliveries also wait for the allowed rate. Nothing of ours is in it."""
    ours = contenders.get("ours", {})
    requests = scenarios.floor_requests(scenario)
    if ours.get("upload_bytes", 0) > SIMPLE_UPLOAD_LIMIT:
        requests += 1  # above the simple-upload limit: an upload session and one fragment
    read = 0.0
    if scenario.kind != "progress":
        read = calamine_read_s(WORK / scenario.slug / scenarios.BOOK_NAME)
    wall = requests * latency + read
    if scenario.kind == "deliveries":
        sends = scenario.recipients
        wall = (requests - sends + 1) * latency + (sends - 1) * max(scenario.interval, latency)
    result = {"requests": requests, "wall_s": wall, "read_s": read}
    if scenario.kind == "rollup":
        result["report_s"] = scenarios.REPORT_FLOOR_REQUESTS * latency + read
    if contenders.get("ours_poll") is not None:
        result["poll_requests"] = 1
        result["poll_wall_s"] = latency
    return result


def summary_line(result: dict[str, Any]) -> str:
    """One line of progress output."""
    if result.get("status") == "error":
        return f"ERROR {result.get('error')}"
    return (
        f"{result.get('requests', 0):>5} req  {result.get('wall_s', 0):7.2f} s wall  "
        f"{result.get('cpu_s', 0):6.2f} s cpu  {result.get('peak_rss_mb', 0):5.0f} MB  "
        f"{result.get('status')}"
    )


# --------------------------------------------------------------------------------------------
# CLI start-up and the daemon
# --------------------------------------------------------------------------------------------

IMPORT_CHECK = """
import sys
from automation.cli import main
code = main(["validate", "-c", sys.argv[1]])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("msgraph", "msgraph_core", "kiota_http", "azure"))
print("HEAVY:" + ",".join(heavy))
"""


def cli_startup(config: Path, repeat: int) -> dict[str, Any]:
    """``automation validate`` wall time over repeated runs, and whether Graph is imported."""
    executable = Path(sys.executable).with_name("automation")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [str(executable), "validate", "-c", str(config)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        times.append(time.perf_counter() - start)
    check = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, str(config)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    heavy = check.stdout.split("HEAVY:")[-1].strip()
    return {
        "config": str(config.relative_to(ROOT)),
        "runs": repeat,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "graph_modules_imported": [m for m in heavy.split(",") if m],
    }


def serve_status() -> dict[str, Any]:
    """Whether ``automation serve`` exists yet; if so, measure it idle."""
    executable = Path(sys.executable).with_name("automation")
    usage = subprocess.run(
        [str(executable), "--help"], check=False, capture_output=True, text=True, cwd=ROOT
    ).stdout
    commands = usage.split("{", 1)[-1].split("}", 1)[0].split(",")
    if "serve" not in commands:
        return {"available": False, "note": "automation serve is not in the CLI yet"}
    idle = ROOT / "bench" / "serve_idle.py"
    if not idle.exists():
        return {"available": True, "note": "bench/serve_idle.py is not written yet"}
    done = subprocess.run(
        [sys.executable, str(idle), "--json"], check=False, capture_output=True, text=True, cwd=ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"available": True, "error": (done.stderr or done.stdout).strip()[-500:]}
    result: dict[str, Any] = {"available": True, **json.loads(lines[-1])}
    return result


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    from importlib.metadata import version  # noqa: PLC0415

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("O365", "httpx", "msgraph-core", "uvicorn")},
    }


def main() -> int:
    """Run the grid, evaluate the targets, write the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid (about 2 min)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--only", help="run scenarios whose name contains this")
    parser.add_argument("--cli-runs", type=int, default=15)
    parser.add_argument(
        "--repeats", type=int, default=3, help=f"changed runs of {report.HEADLINE} (median)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    grid = default_scenarios(args.quick)
    if args.only:
        grid = [s for s in grid if args.only in s.name]
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    results = []
    for scenario in grid:
        repeats = args.repeats if scenario.name == report.HEADLINE else 1
        results.append(measure(scenario, args.latency, repeats))
    cli_folder = WORK / "cli"
    cli_folder.mkdir(parents=True, exist_ok=True)
    headline = scenarios.Seeded(scenarios.rollup(60, 300), cli_folder)
    cli = cli_startup(scenarios.write_config(headline, "http://127.0.0.1:9/v1.0"), args.cli_runs)
    document = {
        "machine": machine() | {"load_average_at_start": load_at_start},
        "latency_s": args.latency,
        "list_page_cap": scenarios.LIST_PAGE_CAP,
        "workbook_row_cap": scenarios.WORKBOOK_ROW_CAP,
        "quick": args.quick,
        "scenarios": results,
        "cli_validate": cli,
        "serve_idle": serve_status(),
        "elapsed_s": time.perf_counter() - started,
    }
    document["targets"] = report.targets(document)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(
        json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    markdown = report.markdown(document)
    (args.out / "compare.md").write_text(markdown, encoding="utf-8")
    report.plot(document, args.out / "compare.png")
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
