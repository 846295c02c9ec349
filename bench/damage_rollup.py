"""Benchmark: ``automation run`` on a large generated damage workbook (60 sheets x 300 rows).

Every figure is the ``automation`` command as a user runs it, a subprocess with its imports,
measured from outside (``bench/process.py``: wall, CPU and peak RSS from ``os.wait4``):

- first report: a fresh state, the workbook as generated (第1報);
- changed report: every department's figures edited (the next 第N報), ``--repeat`` times
  alternating two versions, median by wall time;
- one department saved: the same workbook with one department's sheet edited, ``--repeat``
  times alternating edited and as before (each run sees one sheet changed), median by wall;
- unchanged poll: the same workbook again (one version check, no parsing), median of 5;
- first and changed report read in one process (``cpu.processes: 1``), once each, beside
  the default (``auto``: the sheets shared among the usable CPUs, at most 4).

The issue-18 floor beside them: python-calamine alone reading the same workbook's sheets to
Python (best of 3, fresh process), against the one-department run's compute.

Beside the headline, the run record's ``timings_s`` breaks the same run down (fetch, store,
deliver, compute). Inputs are generated in a child process, so this process stays small and
the measured command's peak RSS is its own.

Usage: python bench/damage_rollup.py [--sheets 60] [--rows 300] [--columns 12] [--repeat 3]
Prints a table and writes bench/results/damage_rollup_SxR.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import process

OUT = Path(__file__).parent / "out"
ITEM_HEADERS = [
    "死者",
    "行方不明者",
    "重傷者",
    "軽傷者",
    "全壊(棟)",
    "全壊(世帯)",
    "全壊(人)",
    "半壊(棟)",
    "半壊(世帯)",
    "半壊(人)",
    "一部破損(棟)",
    "一部破損(世帯)",
    "一部破損(人)",
    "床上浸水(棟)",
    "床上浸水(世帯)",
    "床上浸水(人)",
    "床下浸水(棟)",
    "床下浸水(世帯)",
    "床下浸水(人)",
    "避難所数",
    "避難者数",
    "道路",
    "河川",
    "水道(戸)",
    "停電(戸)",
]
CONFIG = """\
version: 1
state: {{path: state/bench.sqlite{state_url}}}
backend: {{type: local, root: inputs, artefacts: artefacts, deliveries: deliveries}}
directory:
  departments:
{departments}
flows:
  - id: bench
    kind: damage_rollup
    params:
      disaster: ベンチマーク災害
      workbook: book.xlsx
      report_to: [{{channel: mail, address: team@example.jp}}, {{channel: teams_webhook, address: https://example.invalid/h}}]
      max_workbook_mb: 200
"""


def cell(rng: random.Random) -> object:
    """A realistic mix: mostly numbers, some full-width, blanks, dashes, 未確認, a few errors."""
    roll = rng.random()
    if roll < 0.55:
        return rng.randint(0, 40)
    if roll < 0.65:
        return str(rng.randint(0, 40)).translate(
            str.maketrans("0123456789", "０１２３４５６７８９")
        )
    if roll < 0.85:
        return None
    if roll < 0.92:
        return "-"
    if roll < 0.99:
        return "未確認"
    return "多数"


def department_names(sheets: int) -> list[str]:
    """The generated departments (one sheet each): 部局001, 部局002, ..."""
    return [f"部局{s + 1:03d}" for s in range(sheets)]


def write_workbook(
    path: Path, sheets: int, rows: int, columns: int, seed: int = 1, *, edit_first: bool = False
) -> None:
    """A damage workbook: per department a title, a header, ``rows`` rows, a total and a note.

    Written as Excel writes one: text in a shared-strings table, numbered in the order the
    cells come (so a department's edit that adds a new text shifts the numbers of every
    sheet after it, as a save from Excel does). ``edit_first``: the first department's
    figures differ, every other sheet is as ``seed`` writes it (one department saved)."""
    import xlsxwriter  # noqa: PLC0415

    rng = random.Random(seed)
    edits = random.Random(seed + 1_000_000)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    for index, name in enumerate(department_names(sheets)):
        lines: list[list[object]] = [
            [f"{name} 被害状況報告"],
            [],
            ["市町村", *ITEM_HEADERS[:columns]],
        ]
        total = [0] * columns
        for r in range(rows):
            values = [cell(rng) for _ in range(columns)]  # drawn always: other sheets stay
            if edit_first and index == 0:
                values = [cell(edits) for _ in range(columns)]
            lines.append([f"地区{r + 1:04d}", *values])
            total = [
                t + (v if isinstance(v, int) else 0) for t, v in zip(total, values, strict=True)
            ]
        lines += [["計", *total], [], ["※ 注記"]]
        sheet = book.add_worksheet(name)
        for r, line in enumerate(lines):
            for c, value in enumerate(line):
                if value is not None:
                    sheet.write(r, c, value)
    book.close()


def generate(folder: Path, sheets: int, rows: int, columns: int, seed: int = 1) -> Path:
    """Write a workbook and configuration into ``folder``; return the configuration path."""
    write_workbook(folder / "inputs" / "book.xlsx", sheets, rows, columns, seed)
    return generate_config(folder, sheets)


def generate_config(folder: Path, sheets: int) -> Path:
    """Write the local-backend configuration for ``sheets`` departments into ``folder``."""
    departments = [
        f"    - {{name: {name}, sheet: {name}, contacts: [{{channel: mail, address: d{s}@example.jp}}]}}"
        for s, name in enumerate(department_names(sheets))
    ]
    config = folder / "bench.yaml"
    url = os.environ.get("BENCH_STATE_URL")
    state_url = f", url: '{url}'" if url else ""
    config.write_text(
        CONFIG.format(departments="\n".join(departments), state_url=state_url), encoding="utf-8"
    )
    return config


RESULTS = Path(__file__).parent / "results"
FIRST_AT, CHANGED_AT, POLL_AT = "2026-09-01T09:00", "2026-09-01T10:00", "2026-09-01T10:30"
ONE_SHEET_AT = "2026-09-01T10:15"
POLLS = 5


def generate_in_child(
    folder: Path, sheets: int, rows: int, columns: int, seed: int, *, edit_first: bool = False
) -> None:
    """Write the workbook (and configuration) from a child process: this one stays small."""
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--generate",
            str(folder),
            "--sheets",
            str(sheets),
            "--rows",
            str(rows),
            "--columns",
            str(columns),
            "--seed",
            str(seed),
            *(["--edit-first"] if edit_first else []),
        ],
        check=True,
    )


def run_once(config: Path, now: str, *, keep_composed: bool = False) -> dict[str, Any]:
    """``automation run bench -c CONFIG --now NOW --json``, measured from outside (with the
    sheets the run before composed kept on disk only when ``keep_composed``)."""
    measured = process.automation(
        "run", "bench", "-c", str(config), "--now", now, "--json", keep_composed=keep_composed
    )
    if measured.returncode not in (0, 1):
        raise RuntimeError(f"automation run failed ({measured.returncode}): {measured.stderr}")
    record = measured.record()
    return {
        **measured.figures(),
        "status": record["status"],
        "report_number": record.get("report_number"),
        "messages": len(record.get("deliveries", [])),
        "problems": record.get("problems_total", len(record.get("problems") or [])),
        "timings_s": record.get("timings_s"),
    }


def one_process_config(config: Path) -> Path:
    """``config`` with ``cpu.processes: 1``: every sheet read in the command's own process."""
    one = config.with_name("bench-one-process.yaml")
    text = config.read_text(encoding="utf-8").replace(
        "version: 1\n", "version: 1\ncpu: {processes: 1}\n", 1
    )
    one.write_text(text, encoding="utf-8")
    return one


def fresh_state(folder: Path) -> None:
    """Forget every report: the next run is a first report."""
    for name in ("state", "artefacts", "deliveries"):
        shutil.rmtree(folder / name, ignore_errors=True)


def one_process_runs(folder: Path, sheets: int, rows: int, columns: int) -> dict[str, Any]:
    """A first and a changed report read in one process (then the state is fresh again)."""
    one = one_process_config(folder / "bench.yaml")
    first = run_once(one, FIRST_AT)
    generate_in_child(folder, sheets, rows, columns, seed=2)
    changed = run_once(one, CHANGED_AT)
    fresh_state(folder)
    generate_in_child(folder, sheets, rows, columns, seed=1)
    return {"first": first, "changed": changed}


def measure(folder: Path, sheets: int, rows: int, columns: int, repeat: int) -> dict[str, Any]:
    """First report, changed reports and unchanged polls of one workbook size."""
    shutil.rmtree(folder, ignore_errors=True)
    generate_in_child(folder, sheets, rows, columns, seed=1)
    config = folder / "bench.yaml"
    one_process = one_process_runs(folder, sheets, rows, columns)
    first = run_once(config, FIRST_AT)
    changed = []
    for n in range(repeat):
        generate_in_child(folder, sheets, rows, columns, seed=2 + n % 2)
        changed.append(run_once(config, CHANGED_AT))
    last_seed = 2 + (repeat - 1) % 2
    one_sheet = []
    for n in range(repeat):
        generate_in_child(folder, sheets, rows, columns, seed=last_seed, edit_first=n % 2 == 0)
        one_sheet.append(run_once(config, ONE_SHEET_AT, keep_composed=True))
    polls = [run_once(config, POLL_AT) for _ in range(POLLS)]
    floor = process.calamine_read_s(folder / "inputs" / "book.xlsx")
    median_changed = _median(changed)
    median_poll = _median(polls)
    return {
        "sheets": sheets,
        "rows": rows,
        "columns": columns,
        "workbook_bytes": (folder / "inputs" / "book.xlsx").stat().st_size,
        "first": first,
        "changed": median_changed,
        "changed_runs": [{k: r[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")} for r in changed],
        "one_sheet_changed": _median(one_sheet),
        "one_sheet_runs": [
            {k: r[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")} for r in one_sheet
        ],
        "unchanged_poll": median_poll,
        "processes": processes(),
        "one_process": one_process,
        "calamine_read_s": floor,
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def main() -> int:
    """Generate, measure the command, print and save the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sheets", type=int, default=60)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--edit-first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="keep the state in a throwaway PostgreSQL (state.url) instead of SQLite",
    )
    args = parser.parse_args()
    if args.postgresql and not args.generate:
        return _on_postgresql(args)
    if args.generate:
        write_workbook(
            args.generate / "inputs" / "book.xlsx",
            args.sheets,
            args.rows,
            args.columns,
            args.seed,
            edit_first=args.edit_first,
        )
        config = args.generate / "bench.yaml"
        if not config.exists():
            generate_config(args.generate, args.sheets)
        return 0
    folder = OUT / f"damage_{args.sheets}x{args.rows}x{args.columns}"
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="minutes"),
        "machine": machine(),
        **measure(folder, args.sheets, args.rows, args.columns, args.repeat),
        "load_after": round(os.getloadavg()[0], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"damage_rollup_{args.sheets}x{args.rows}.json"
    target.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(result))
    return 0


def _on_postgresql(args: argparse.Namespace) -> int:
    """The same measurement with the state in a fresh database on a throwaway server."""
    from tests.pg_server import PASSWORD, pg_server  # noqa: PLC0415

    with pg_server() as pg:
        os.environ["BENCH_PGPASSWORD"] = PASSWORD
        os.environ["BENCH_STATE_URL"] = pg.new_database().replace(PASSWORD, "${BENCH_PGPASSWORD}")
        folder = OUT / f"damage_{args.sheets}x{args.rows}x{args.columns}_postgresql"
        result = {
            "machine": machine(),
            "state": "postgresql",
            **measure(folder, args.sheets, args.rows, args.columns, args.repeat),
        }
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"damage_rollup_{args.sheets}x{args.rows}_postgresql.json"
    target.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(result))
    return 0


def table(result: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    lines = [
        f"automation run, {result['sheets']} sheets x {result['rows']} rows x "
        f"{result['columns']} item columns ({result['workbook_bytes'] / 1e6:.1f} MB), "
        f"{result['first']['problems']} problem cells, {result['first']['messages']} messages",
        "",
        "| run | wall s | report by s | CPU s | peak RSS MB | status | download -> report s "
        "| in the run: fetch / compute / store / deliver s |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    shared = f"{result.get('processes', '?')} processes"
    one = result.get("one_process") or {}
    for label, r in (
        (f"first report ({shared})", result["first"]),
        ("first report (1 process)", one.get("first")),
        (f"changed report (median, {shared})", result["changed"]),
        ("changed report (1 process)", one.get("changed")),
        ("one department saved (median)", result["one_sheet_changed"]),
        ("unchanged poll (median)", result["unchanged_poll"]),
    ):
        if r is None:
            continue
        t = r.get("timings_s") or {}
        phases = " / ".join(f"{t.get(p, 0):.3f}" for p in ("fetch", "compute", "store", "deliver"))
        lines.append(
            f"| {label} | {r['wall_s']:.2f} | {_dash(report_by_s(r))} | {r['cpu_s']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r['status']} | {_dash(download_to_report_s(r))} | "
            f"{phases} |"
        )
    lines += [
        "",
        "*report by*: the process's start to the report delivered, at most (its wall time less "
        "what the run did after the report: the merged workbook, the other messages); "
        "*download -> report*: from the record's `timings_s` (report_delivered_s - fetched_s).",
    ]
    floor = result.get("calamine_read_s")
    one = download_to_report_s(result["one_sheet_changed"])
    if floor and one is not None:
        lines += [
            "",
            f"one department saved: download -> report {one:.3f} s = {one / floor:.1f} x "
            f"python-calamine's read of the same workbook ({floor:.3f} s, every sheet to "
            "Python, best of 3); the merged workbook is written after the report",
        ]
    return "\n".join(lines)


def _dash(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def download_to_report_s(run: dict[str, Any]) -> float | None:
    """Seconds from the workbook's download to the report delivered, from the run record."""
    t = run.get("timings_s") or {}
    if "report_delivered_s" not in t or "fetched_s" not in t:
        return None
    return float(t["report_delivered_s"] - t["fetched_s"])


def report_by_s(run: dict[str, Any]) -> float | None:
    """An upper bound on the process's start to the report delivered: the process's wall
    time less what the run did after the report (the run's total is its own clock)."""
    t = run.get("timings_s") or {}
    if "report_delivered_s" not in t or "total" not in t:
        return None
    return float(run["wall_s"] - (t["total"] - t["report_delivered_s"]))


def processes() -> int:
    """The processes ``cpu.processes: auto`` gives a run on this machine."""
    from automation.parallel import processes_for  # noqa: PLC0415

    return processes_for("auto")


def machine() -> str:
    """Where the figures were measured."""
    return (
        f"{platform.machine()} {os.cpu_count()} CPUs, python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
