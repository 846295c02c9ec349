"""Benchmark: the merged-workbook writer, per sheet, beside the command's headline.

The same generated workbook as ``bench/damage_rollup.py`` (60 sheets x 300 rows by default)
is parsed and planned in this process; the report's merged workbook is then written
``--repeat`` times (median) composing every sheet, ``--repeat`` times after one
department's save with the other 読取_ sheets kept from the build before, and once more
section by section, so the table says where the writer's time goes: the summary sheets,
the 読取_ sheets (per sheet: median and slowest), and the package (closing the workbook:
sheet XML, styles, comments, zip). The writer's own allocation peak is measured with
``tracemalloc`` in a separate pass (it slows the code down, so never in the timed passes).

With ``--command``, ``automation run`` is also run as a subprocess on the same workbook
(first report): its wall, CPU and peak RSS and the run record's own ``compute`` phase.

With ``--modes``, the 60 読取_ sheets are also written through XlsxWriter's per-cell API, in
memory and in its constant_memory mode, for their CPU and allocation peak.

Usage: python bench/writer.py [--sheets 60] [--rows 300] [--columns 12] [--repeat 3]
       [--command] [--modes] [--label NAME]
Prints a table and writes bench/results/writer_SxR.json.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import damage_rollup

NOW = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)


def report_of(folder: Path) -> Any:
    """Parse and plan the generated workbook in this process; return the report."""
    from automation.config.loader import load_config  # noqa: PLC0415
    from automation.config.models import DamageRollupFlow  # noqa: PLC0415
    from automation.damage.workbook import parse_workbook  # noqa: PLC0415
    from automation.flows import damage_rollup as flow  # noqa: PLC0415
    from automation.flows.damage_rollup import DamageInputs, DamageState  # noqa: PLC0415

    loaded = load_config(folder / "bench.yaml")
    rollup = loaded.config.flows[0]
    assert isinstance(rollup, DamageRollupFlow)
    data = (folder / "inputs" / "book.xlsx").read_bytes()
    book = parse_workbook(data, "book.xlsx", max_bytes=len(data) + 1)
    inputs = DamageInputs("v1", book)
    return flow.plan(rollup.params, loaded.config.directory, inputs, DamageState(), NOW).report


def whole(report: Any, repeat: int) -> dict[str, Any]:
    """``build_merged_workbook(report)`` end to end, ``repeat`` times."""
    from automation.merged_workbook import build_merged_workbook  # noqa: PLC0415

    walls, cpus, size = [], [], 0
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        size = len(build_merged_workbook(report, kept=None))
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return {
        "median_s": round(statistics.median(walls), 4),
        "median_cpu_s": round(statistics.median(cpus), 4),
        "runs_s": walls,
        "bytes": size,
    }


def one_saved(report: Any, repeat: int) -> dict[str, Any]:
    """A build after one department's save, the other sheets kept from the build before
    (``KeptSheets``, as in the daemon): each time another department's reading is
    replaced by a third's (a reading no build had), ``repeat`` times."""
    from automation.merged_workbook import (  # noqa: PLC0415
        KeptReadings,
        KeptSheets,
        MergedSource,
        build_merged_workbook,
    )

    source = MergedSource.of(report)
    departments, kept = list(source.readings), KeptSheets()
    build_merged_workbook(source, kept=kept)
    walls, cpus = [], []
    for n in range(repeat):
        stored = dict(source.readings.stored)
        saved, other = departments[n % len(departments)], departments[-1 - n % len(departments)]
        stored[saved] = source.readings.stored[other]
        edited = replace(source, readings=KeptReadings(stored, source.readings.catalogue))
        started, cpu = time.perf_counter(), time.process_time()
        build_merged_workbook(edited, kept=kept)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return {
        "median_s": round(statistics.median(walls), 4),
        "median_cpu_s": round(statistics.median(cpus), 4),
        "runs_s": walls,
        "kept_mb": round(kept.size / 1e6, 2),
    }


def sections(report: Any) -> dict[str, Any]:
    """One build, timed section by section (the writer's own steps, in its order)."""
    from automation import merged_workbook as mw  # noqa: PLC0415

    timed: dict[str, float] = {}
    per_sheet: list[float] = []

    def clock(label: str, started: float) -> None:
        timed[label] = timed.get(label, 0.0) + time.process_time() - started

    def on_sheet(_dept: str, seconds: float) -> None:
        per_sheet.append(seconds)

    started = time.process_time()
    steps = mw.build_steps(report, io.BytesIO(), on_sheet=on_sheet)
    for label, step in steps:
        begun = time.process_time()
        step()
        clock(label, begun)
    total = time.process_time() - started
    return {
        "total_cpu_s": round(total, 4),
        "sections_cpu_s": {k: round(v, 4) for k, v in timed.items()},
        "as_read_sheets": len(per_sheet),
        "as_read_sheet_median_s": round(statistics.median(per_sheet), 5) if per_sheet else 0,
        "as_read_sheet_max_s": round(max(per_sheet), 5) if per_sheet else 0,
    }


def per_cell(report: Any, constant_memory: bool) -> None:
    """The 60 読取_ sheets through XlsxWriter's per-cell API (the writer before its XML rows),
    in memory or in XlsxWriter's constant_memory mode (rows to temporary files, inline
    strings), into a workbook of their own."""
    import tempfile  # noqa: PLC0415

    import xlsxwriter  # noqa: PLC0415

    from automation.merged_workbook import SAFE_STRINGS, _comment  # noqa: PLC0415

    mode = {"constant_memory": True, "tmpdir": tempfile.gettempdir()}
    book = xlsxwriter.Workbook(
        io.BytesIO(), {**(mode if constant_memory else {"in_memory": True}), **SAFE_STRINGS}
    )
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    problem = book.add_format({"bg_color": "#FCE4D6"})
    flag = book.add_format({"bg_color": "#FFF2CC"})
    for dept, reading in report.readings.items():
        ws = book.add_worksheet(f"読取_{dept}"[:31])
        ws.write_row(0, 0, ["市町村", *(item.title for item in reading.columns)], head)
        codes = [item.code for item in reading.columns]
        for row, (municipality, values) in enumerate(reading.rows, start=1):
            ws.write_string(row, 0, municipality)
            for col, code in enumerate(codes, start=1):
                shown = values.get(code)
                if isinstance(shown, str):
                    cell = reading.unreadable.get((municipality, code))
                    ws.write_string(row, col, shown, problem if cell else flag)
                    if cell is not None:
                        ws.write_comment(row, col, _comment([cell]))
                elif shown is not None:
                    ws.write_number(row, col, shown)
    book.close()


def modes(report: Any) -> dict[str, Any]:
    """Option (b): XlsxWriter's per-cell API in memory vs constant_memory, CPU and allocations."""
    figures: dict[str, Any] = {}
    for label, constant in (("per_cell_in_memory", False), ("per_cell_constant_memory", True)):
        cpu = time.process_time()
        per_cell(report, constant)
        spent = time.process_time() - cpu
        tracemalloc.start()
        per_cell(report, constant)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures[label] = {"cpu_s": round(spent, 3), "allocation_peak_mb": round(peak / 1e6, 1)}
    return figures


def allocation_peak(report: Any) -> float:
    """The writer's peak of Python allocations (MB) while it builds once."""
    from automation.merged_workbook import build_merged_workbook  # noqa: PLC0415

    tracemalloc.start()
    size = len(build_merged_workbook(report, kept=None))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del size
    return round(peak / 1e6, 1)


def main() -> int:
    """Generate, measure the writer (and optionally the command), print and save."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sheets", type=int, default=60)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--command", action="store_true", help="also run automation run")
    parser.add_argument("--label", default="", help="a suffix for the results file")
    parser.add_argument(
        "--modes",
        action="store_true",
        help="also the 読取_ sheets per cell, constant_memory or not",
    )
    args = parser.parse_args()
    folder = damage_rollup.OUT / f"writer_{args.sheets}x{args.rows}x{args.columns}"
    shutil.rmtree(folder, ignore_errors=True)
    damage_rollup.generate_in_child(folder, args.sheets, args.rows, args.columns, seed=1)
    command = None
    if args.command:  # first, while this process is still small (see bench/process.py)
        command = damage_rollup.run_once(folder / "bench.yaml", damage_rollup.FIRST_AT)
    report = report_of(folder)
    result = {
        "machine": damage_rollup.machine(),
        "sheets": args.sheets,
        "rows": args.rows,
        "columns": args.columns,
        "problems": len(report.problems),
        "whole": whole(report, args.repeat),
        "one_saved": one_saved(report, args.repeat),
        "by_section": sections(report),
        "allocation_peak_mb": allocation_peak(report),
        "command_first_report": command,
        "as_read_per_cell_modes": modes(report) if args.modes else None,
    }
    damage_rollup.RESULTS.mkdir(exist_ok=True)
    suffix = f"_{args.label}" if args.label else ""
    target = damage_rollup.RESULTS / f"writer_{args.sheets}x{args.rows}{suffix}.json"
    target.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(result))
    return 0


def table(result: dict[str, Any]) -> str:
    """The figures as Markdown."""
    w, s, o = result["whole"], result["by_section"], result["one_saved"]
    load = result["machine"].split("load ")[-1]
    lines = [
        f"merged workbook, {result['sheets']} x {result['rows']} x {result['columns']}, "
        f"{result['problems']} problem cells ({result['machine']})",
        "",
        f"build_merged_workbook: {w['median_s']:.3f} s wall, {w['median_cpu_s']:.3f} s CPU "
        f"(median of {len(w['runs_s'])}; load {load}), {w['bytes'] / 1e6:.1f} MB; "
        f"allocation peak {result['allocation_peak_mb']} MB",
        f"one department saved, the other sheets kept: {o['median_s']:.3f} s wall, "
        f"{o['median_cpu_s']:.3f} s CPU ({o['kept_mb']} MB kept)",
        f"読取_ sheets: {s['as_read_sheets']}, median {s['as_read_sheet_median_s'] * 1e3:.1f} ms, "
        f"slowest {s['as_read_sheet_max_s'] * 1e3:.1f} ms (wall)",
        "",
        "| section | CPU s |",
        "|---|---:|",
        *(f"| {k} | {v:.3f} |" for k, v in s["sections_cpu_s"].items()),
        f"| total | {s['total_cpu_s']:.3f} |",
    ]
    for label, figures in (result.get("as_read_per_cell_modes") or {}).items():
        lines.append(
            f"{label}: 読取_ sheets alone {figures['cpu_s']:.2f} s CPU, "
            f"allocation peak {figures['allocation_peak_mb']} MB"
        )
    command = result.get("command_first_report")
    if command:
        t = command.get("timings_s") or {}
        lines += [
            "",
            f"automation run, first report: wall {command['wall_s']:.2f} s, CPU "
            f"{command['cpu_s']:.2f} s, peak RSS {command['peak_rss_mb']:.0f} MB, "
            f"compute {t.get('compute', 0):.2f} s",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
