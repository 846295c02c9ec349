"""Benchmark: the damage rollup on a large generated workbook (issue: 60 sheets x 300 rows).

Measures, in one process per measurement so peak RSS is the run's own:
- full round: parse the workbook, read and aggregate every sheet, render every message,
  build the merged workbook (everything a run does except writing files);
- unchanged poll: fetch with the known version tag on the local backend (no parsing).

Usage: python bench/damage_rollup.py [--sheets 60] [--rows 300] [--columns 12] [--repeat 3]
Prints a table and writes bench/out/damage_rollup.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.child import peak_rss_mb  # VmHWM: ru_maxrss also counts the parent at fork

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
state: {{path: state/bench.sqlite}}
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


def write_workbook(path: Path, sheets: int, rows: int, columns: int, seed: int = 1) -> None:
    """A damage workbook: per department a title, a header, ``rows`` rows, a total and a note."""
    from openpyxl import Workbook  # noqa: PLC0415

    rng = random.Random(seed)
    book = Workbook(write_only=True)
    for name in department_names(sheets):
        ws = book.create_sheet(name)
        ws.append([f"{name} 被害状況報告"])
        ws.append([])
        ws.append(["市町村", *ITEM_HEADERS[:columns]])
        total = [0] * columns
        for r in range(rows):
            values = [cell(rng) for _ in range(columns)]
            ws.append([f"地区{r + 1:04d}", *values])
            total = [
                t + (v if isinstance(v, int) else 0) for t, v in zip(total, values, strict=True)
            ]
        ws.append(["計", *total])
        ws.append([])
        ws.append(["※ 注記"])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def generate(folder: Path, sheets: int, rows: int, columns: int, seed: int = 1) -> Path:
    """Write a workbook and configuration into ``folder``; return the configuration path."""
    write_workbook(folder / "inputs" / "book.xlsx", sheets, rows, columns, seed)
    departments = [
        f"    - {{name: {name}, sheet: {name}, contacts: [{{channel: mail, address: d{s}@example.jp}}]}}"
        for s, name in enumerate(department_names(sheets))
    ]
    config = folder / "bench.yaml"
    config.write_text(CONFIG.format(departments="\n".join(departments)), encoding="utf-8")
    return config


def measure_round(config_path: Path) -> dict[str, float]:
    """One full round in this process; returns phase timings (s) and peak RSS (MB)."""
    from automation.config.loader import load_config  # noqa: PLC0415
    from automation.damage.merged import build_merged_workbook  # noqa: PLC0415
    from automation.damage.workbook import parse_workbook  # noqa: PLC0415
    from automation.flows import damage_rollup  # noqa: PLC0415
    from automation.render import environment, render  # noqa: PLC0415
    from automation.timeutil import parse_now  # noqa: PLC0415

    loaded = load_config(config_path)
    flow = loaded.config.flows[0]
    data = (config_path.parent / "inputs" / "book.xlsx").read_bytes()
    t0 = time.perf_counter()
    book = parse_workbook(data, "book.xlsx", max_bytes=10**9)
    t1 = time.perf_counter()
    plan = damage_rollup.plan(
        flow.params,
        loaded.config.directory,
        damage_rollup.DamageInputs("v1", book),
        damage_rollup.DamageState(),
        parse_now("2026-09-01T09:00"),
    )
    t2 = time.perf_counter()
    env = environment()
    rendered = [render(env, message) for message in plan.messages]
    t3 = time.perf_counter()
    merged = build_merged_workbook(plan.report)
    t4 = time.perf_counter()
    peak = peak_rss_mb()
    return {
        "parse_s": t1 - t0,
        "read_aggregate_s": t2 - t1,
        "render_s": t3 - t2,
        "merged_workbook_s": t4 - t3,
        "total_s": t4 - t0,
        "peak_rss_mb": peak,
        "messages": len(rendered),
        "merged_bytes": len(merged),
        "problems": len(plan.report.problems),
        "workbook_bytes": len(data),
    }


def measure_unchanged(config_path: Path, repeat: int = 20) -> dict[str, float]:
    """Poll an unchanged workbook: fetch with the known version, no parsing."""
    from automation.backends.local import LocalWorkbookSource  # noqa: PLC0415

    source = LocalWorkbookSource(config_path.parent / "inputs")
    known = asyncio.run(source.fetch("book.xlsx", None)).version
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fetched = asyncio.run(source.fetch("book.xlsx", known))
        times.append(time.perf_counter() - t0)
        assert fetched.data is None
    return {"unchanged_median_s": statistics.median(times), "unchanged_max_s": max(times)}


def main() -> int:
    """Generate, measure in fresh processes, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=int, default=60)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_round(args.child)))
        return 0
    folder = OUT / f"damage_{args.sheets}x{args.rows}x{args.columns}"
    config = generate(folder, args.sheets, args.rows, args.columns)
    runs = []
    for _ in range(args.repeat):
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(child.stdout))
    best = min(runs, key=lambda r: r["total_s"])
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "sheets": args.sheets,
        "rows": args.rows,
        "columns": args.columns,
        "round_median_s": statistics.median(r["total_s"] for r in runs),
        "best": best,
        **measure_unchanged(config),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "damage_rollup.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"workbook: {args.sheets} sheets x {args.rows} rows x {args.columns} item columns "
        f"({best['workbook_bytes'] / 1e6:.1f} MB), {best['problems']} problem cells, {best['messages']} messages"
    )
    for key in ("parse_s", "read_aggregate_s", "render_s", "merged_workbook_s", "total_s"):
        print(f"  {key:<20} {best[key]:.3f} s")
    print(
        f"  round median         {result['round_median_s']:.3f} s over {args.repeat} runs (target < 2 s)"
    )
    print(f"  peak RSS             {best['peak_rss_mb']:.0f} MB (target < 300 MB)")
    print(
        f"  unchanged poll       {result['unchanged_median_s'] * 1000:.1f} ms median, "
        f"{result['unchanged_max_s'] * 1000:.1f} ms max (target < 50 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
