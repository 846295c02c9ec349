"""Benchmark: ``automation run`` on a 5,000-item progress list across 80 departments.

Generates (seeded, so every run sees the same data) a directory of departments with DX
leaders and escalation contacts, and one half-year's progress list: mostly complete
entries, some incomplete ones, a few delays, budget requests with amounts, and at a low
rate unreadable periods, unknown departments and duplicates. The items are built in
memory and also written as the CSV an Excel export would be, so reading the list is
timed on its own.

The headline is the command a user or a scheduler runs: ``automation run progress --dry-run
--json`` on the local backend, as a subprocess measured from outside (``bench/process.py``:
wall, CPU and peak RSS, interpreter start and imports included), on the reminder day and on
the closing day. Beside it, a breakdown measured in-process, in one fresh process per
repetition so peak RSS is the run's own:
(a) reading the CSV with LocalListSource;
(b) ``progress_collection.plan`` on a reminder day (10/14);
(c) rendering every planned message;
(d) plan + render on the closing day (10/16 09:00: escalations, non-submitters and the HQ
    summary, the busiest run of a round);
(e) ``build_progress_workbook``, the HQ export of the closing-day report.

Target: plan + render < 1 s, on the reminder day and on the closing day (breakdown).

Usage: python bench/progress_collection.py [--items 5000] [--departments 80] [--repeat 3]
Prints a table and writes bench/results/progress_collection.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import process
from bench.child import peak_rss_mb  # VmHWM: ru_maxrss also counts the parent at fork

if TYPE_CHECKING:
    from automation.config.models import Directory, ProgressCollectionParams
    from automation.ports import ListItem

OUT = Path(__file__).parent / "out"
RESULTS = Path(__file__).parent / "results"
LIST_NAME = "進捗管理.csv"
TARGET_S = 1.0
DEADLINE = date(2026, 10, 15)  # Thursday
REMINDER_AT = "2026-10-14T09:00:00+09:00"  # 1 business day before the deadline
DEADLINE_AT = "2026-10-16T09:00:00+09:00"  # the round closes: the HQ summary is due
HEADER = [
    "ID",
    "対象期間",
    "部局",
    "事業名",
    "目標",
    "実績",
    "KPI実績",
    "進捗状況",
    "次期予定",
    "課題",
    "予算要求内容",
    "予算要求額",
    "リンク",
    "更新日時",
]
REQUIRED = ("目標", "実績", "進捗状況", "次期予定")
BUREAUS = (
    "総務部",
    "地域創生部",
    "生活こども部",
    "健康福祉部",
    "環境森林部",
    "農政部",
    "産業経済部",
    "県土整備部",
    "危機管理部",
    "教育委員会",
)
SECTIONS = ("総務課", "企画課", "DX推進室", "管理課", "振興課", "整備課", "調整課", "指導課")
THEMES = (
    "電子申請",
    "ペーパーレス化",
    "オープンデータ",
    "RPA導入",
    "AI-OCR活用",
    "窓口のオンライン化",
    "データ連携基盤",
    "テレワーク環境",
    "キャッシュレス決済",
    "センサー監視",
    "業務システム更新",
    "デジタル人材育成",
)
PERIOD_SPELLINGS = ("2026上期", "R8上期", "令和8年度上期", "2026H1", "２０２６上期")
STATUSES = ("順調", "完了", "未着手", "やや遅れ", "遅れ")
STATUS_WEIGHTS = (77, 10, 8, 4, 1)  # a few delays
ISSUES = ("機器調達の遅延", "入札不調", "担当者の異動", "仕様の見直し", "災害対応による中断")
BUDGETS = ("サーバ更新", "ライセンス追加", "委託費", "機器購入", "研修費")


def department_names(count: int) -> list[str]:
    """``count`` distinct department names such as 健康福祉部DX推進室."""
    names = []
    for i in range(count):
        name = f"{BUREAUS[i % len(BUREAUS)]}{SECTIONS[i // len(BUREAUS) % len(SECTIONS)]}"
        cycle = i // (len(BUREAUS) * len(SECTIONS))
        names.append(f"{name}{cycle + 1}" if cycle else name)
    return names


def build_directory(count: int) -> Directory:
    """Departments with DX leaders (some on Teams, some shared) and escalation contacts."""
    from automation.config.models import Contact, Department, Directory  # noqa: PLC0415

    departments = []
    for i, name in enumerate(department_names(count)):
        leaders = [Contact(channel="mail", address=f"dept{i:03d}-dx@pref.example.lg.jp")]
        if i % 10 == 9:  # one leader also leads the previous department
            leaders.append(
                Contact(channel="mail", address=f"dept{i - 1:03d}-dx@pref.example.lg.jp")
            )
        if i % 4 == 0:
            leaders.append(
                Contact(
                    channel="teams_webhook",
                    address=f"https://example.invalid/webhook/{i}",
                    name=f"{name}チャネル",
                )
            )
        departments.append(
            Department(
                name=name,
                dx_leaders=tuple(leaders),
                escalation=(
                    Contact(
                        channel="mail",
                        address=f"dept{i:03d}-head@pref.example.lg.jp",
                        name=f"{name}長",
                    ),
                ),
            )
        )
    return Directory(departments=tuple(departments))


def build_params() -> ProgressCollectionParams:
    """The dx_progress flow of the demo, with budget requests and two HQ channels."""
    from automation.config.models import (  # noqa: PLC0415
        Budget,
        Contact,
        ProgressCollectionParams,
        Round,
    )

    return ProgressCollectionParams(
        programme="DX推進計画",
        list=LIST_NAME,
        rounds=(Round(deadline=DEADLINE, period="2026H1"),),
        remind_business_days_before=(5, 3, 1),
        escalate_business_days_after=(1,),
        required=REQUIRED,
        numeric=("KPI実績",),
        issue_field="課題",
        budget=Budget(content="予算要求内容", amount="予算要求額"),
        secretariat=(
            Contact(channel="mail", address="dx-senryaku@pref.example.lg.jp", name="DX戦略課"),
            Contact(
                channel="teams_channel",
                address="00000000-0000-0000-0000-00000000d001/19:0000000000000000000000000000d001@thread.tacv2",
                name="DX戦略課",
            ),
        ),
        summary_to=(
            Contact(channel="mail", address="dx-honbu@pref.example.lg.jp", name="DX推進本部"),
            Contact(channel="teams_webhook", address="https://example.invalid/hq", name="本部"),
        ),
    )


def generate_rows(count: int, departments: int, seed: int = 1) -> list[dict[str, object]]:
    """The list as rows of values by header (numbers as numbers, blanks as None)."""
    rng = random.Random(seed)
    names = department_names(departments)
    rows: list[dict[str, object]] = []
    for i in range(count):
        number = 1000 + i
        dept = names[i % departments]
        project = f"{THEMES[rng.randrange(len(THEMES))]}（{i // departments + 1:03d}）"
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        row: dict[str, object] = {
            "ID": number,
            "対象期間": rng.choice(PERIOD_SPELLINGS),
            "部局": dept,
            "事業名": project,
            "目標": "計画どおり実施",
            "実績": f"{rng.randint(1, 12)}件実施",
            "KPI実績": rng.randint(0, 100),
            "進捗状況": status,
            "次期予定": "下期も継続",
            "課題": rng.choice(ISSUES) if status in ("やや遅れ", "遅れ") else None,
            "予算要求内容": None,
            "予算要求額": None,
            "リンク": f"https://pref.example.lg.jp/sites/dx/Lists/progress/DispForm.aspx?ID={number}",
            "更新日時": f"2026-10-{rng.randint(1, 13):02d} {rng.randint(8, 18):02d}:00",
        }
        roll = rng.random()
        if roll < 0.22:  # incomplete: one or two required fields left blank
            for name in rng.sample(REQUIRED, rng.choice((1, 1, 2))):
                row[name] = None
        elif roll < 0.24:
            row["進捗状況"] = "遅延"  # not one of the choices
        elif roll < 0.25:
            row["KPI実績"] = "多数"  # not a number
        if rng.random() < 0.15:
            row["予算要求内容"] = rng.choice(BUDGETS)
            row["予算要求額"] = rng.choice(
                (rng.randint(100, 9000), f"{rng.randint(1, 9)},{rng.randint(0, 999):03d}", "４５０")
            )
        anomaly = rng.random()
        if anomaly < 0.004:
            row["対象期間"] = rng.choice(("2026年上", "上期", None))  # unreadable or blank
        elif anomaly < 0.008:
            row["部局"] = f"DX課{rng.randint(1, 9)}"  # not in the directory
        elif anomaly < 0.012 and rows:
            earlier = rows[rng.randrange(len(rows))]  # the same project entered twice
            row["部局"], row["事業名"] = earlier["部局"], earlier["事業名"]
        elif anomaly < 0.03:
            row["対象期間"] = "2025下期"  # last round's entry, not collected now
        rows.append(row)
    return rows


def to_items(rows: list[dict[str, object]]) -> list[ListItem]:
    """The rows as ListItems, as a list source returns them."""
    from automation.ports import ListItem  # noqa: PLC0415

    columns = [h for h in HEADER if h not in ("ID", "リンク", "更新日時")]
    return [
        ListItem(
            id=str(row["ID"]),
            link=str(row["リンク"]),
            modified=datetime.fromisoformat(str(row["更新日時"])),
            fields={name: row[name] for name in columns},
        )
        for row in rows
    ]


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    """The list as Excel's 「CSV UTF-8」 export (with BOM)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(["" if row[h] is None else row[h] for h in HEADER])


def measure(folder: Path, count: int, departments: int) -> dict[str, Any]:
    """One repetition in this process: phase timings (s), counts and peak RSS (MB)."""
    from automation.backends.local import LocalListSource  # noqa: PLC0415
    from automation.flows import progress_collection  # noqa: PLC0415
    from automation.jobs.progress import list_columns  # noqa: PLC0415
    from automation.progress.export import build_progress_workbook  # noqa: PLC0415
    from automation.render import environment, render  # noqa: PLC0415
    from automation.timeutil import parse_now  # noqa: PLC0415

    params = build_params()
    directory = build_directory(departments)
    items = to_items(generate_rows(count, departments))
    columns = list_columns(params)
    f = params.fields
    reminder_at, deadline_at = parse_now(REMINDER_AT), parse_now(DEADLINE_AT)

    t0 = time.perf_counter()
    read = asyncio.run(
        LocalListSource(folder).items(
            LIST_NAME, columns, id_column=f.id, link_column=f.link, modified_column=f.modified
        )
    )
    t1 = time.perf_counter()
    reminder = progress_collection.plan(params, directory, items, reminder_at)
    t2 = time.perf_counter()
    env = environment()
    reminder_rendered = [render(env, message) for message in reminder.messages]
    t3 = time.perf_counter()
    deadline = progress_collection.plan(params, directory, items, deadline_at)
    t4 = time.perf_counter()
    env = environment()  # a fresh environment, as in a separate scheduled run
    deadline_rendered = [render(env, message) for message in deadline.messages]
    t5 = time.perf_counter()
    export_columns = [c for c in columns if c not in (f.department, f.project)]
    workbook = build_progress_workbook(deadline.report, export_columns)
    t6 = time.perf_counter()

    assert len(read) == len(items), "the CSV must hold exactly the generated items"
    assert deadline.summary_due, "the HQ summary must be due when the round closes"
    report = deadline.report
    body_chars = sum(
        len(json.dumps(r.card, ensure_ascii=False)) if r.card else len(r.text or r.html or "")
        for r in (*reminder_rendered, *deadline_rendered)
    )
    return {
        "csv_read_s": t1 - t0,
        "plan_reminder_s": t2 - t1,
        "render_reminder_s": t3 - t2,
        "reminder_total_s": t3 - t1,
        "plan_deadline_s": t4 - t3,
        "render_deadline_s": t5 - t4,
        "deadline_total_s": t5 - t3,
        "export_s": t6 - t5,
        "peak_rss_mb": peak_rss_mb(),
        "reminder_messages": len(reminder_rendered),
        "deadline_messages": len(deadline_rendered),
        "body_chars": body_chars,
        "checked": len(report.checks),
        "incomplete": len(report.incomplete),
        "delayed": len(report.delayed),
        "budget_requests": len(report.budget),
        "problems": len(report.problems),
        "export_bytes": len(workbook),
    }


def write_config(folder: Path, departments: int) -> Path:
    """The local-backend configuration of the generated list, for ``automation run``."""
    import yaml  # noqa: PLC0415

    config = {
        "version": 1,
        "state": {"path": "state/bench.sqlite"},
        "backend": {
            "type": "local",
            "root": "inputs",
            "artefacts": "artefacts",
            "deliveries": "deliveries",
        },
        "directory": build_directory(departments).model_dump(
            mode="json", exclude_none=True, exclude_defaults=True
        ),
        "flows": [
            {
                "id": "progress",
                "kind": "progress_collection",
                "params": build_params().model_dump(
                    mode="json", exclude_none=True, exclude_defaults=True
                ),
            }
        ],
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def measure_command(config: Path, now: str, repeat: int) -> dict[str, Any]:
    """``automation run progress --dry-run --json`` at ``now``: the median run by wall time."""
    runs = []
    for _ in range(repeat):
        measured = process.automation(
            "run", "progress", "-c", str(config), "--now", now, "--dry-run", "--json"
        )
        record = measured.record()
        runs.append(
            {
                **measured.figures(),
                "status": record["status"],
                "messages": len(record.get("deliveries", [])),
                "timings_s": record.get("timings_s"),
            }
        )
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


TIMINGS = (
    ("csv_read_s", "(a) CSV read (LocalListSource)"),
    ("plan_reminder_s", "(b) plan, reminder day 10/14"),
    ("render_reminder_s", "(c) render reminder-day messages"),
    ("reminder_total_s", "    plan+render, reminder day"),
    ("plan_deadline_s", "(d) plan, closing day 10/16"),
    ("render_deadline_s", "    render closing-day messages"),
    ("deadline_total_s", "(d) plan+render, closing day"),
    ("export_s", "(e) build_progress_workbook"),
)


def main() -> int:
    """Generate, measure in fresh processes, print and save the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--departments", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.items < 1 or args.departments < 1 or args.repeat < 1:
        parser.error("--items, --departments and --repeat must be at least 1")
    if args.child:
        print(json.dumps(measure(args.child, args.items, args.departments)))
        return 0
    workspace = OUT / f"progress_{args.items}x{args.departments}"
    folder = workspace / "inputs"
    write_csv(folder / LIST_NAME, generate_rows(args.items, args.departments))
    config = write_config(workspace, args.departments)
    headline = {
        "reminder_day": measure_command(config, REMINDER_AT, args.repeat),
        "closing_day": measure_command(config, DEADLINE_AT, args.repeat),
    }
    command = [sys.executable, __file__, "--child", str(folder)]
    command += ["--items", str(args.items), "--departments", str(args.departments)]
    runs = [
        json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        for _ in range(args.repeat)
    ]
    median = {key: statistics.median(r[key] for r in runs) for key, _ in TIMINGS}
    first = runs[0]
    worst_plan_render = max(median["reminder_total_s"], median["deadline_total_s"])
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "items": args.items,
        "departments": args.departments,
        "repeat": args.repeat,
        "csv_bytes": (folder / LIST_NAME).stat().st_size,
        "target": f"plan+render < {TARGET_S:g} s on the reminder and the closing day",
        "target_met": worst_plan_render < TARGET_S,
        "command": headline,
        "median": median,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "counts": {k: v for k, v in first.items() if not k.endswith(("_s", "_mb"))},
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "progress_collection.json").write_text(
        json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8"
    )

    _print_figures(result, worst_plan_render)
    return 0


def _print_figures(result: dict[str, Any], worst_plan_render: float) -> None:
    """The figures of one measurement, for a reader at a terminal."""
    runs, median, headline = result["runs"], result["median"], result["command"]
    first = runs[0]
    print(
        f"list: {result['items']:,} items, {result['departments']} departments "
        f"(CSV {result['csv_bytes'] / 1e6:.1f} MB); {first['checked']:,} checked, "
        f"{first['incomplete']:,} incomplete, {first['delayed']} delayed, "
        f"{first['budget_requests']} budget requests, {first['problems']} input problems"
    )
    print(
        f"messages: {first['reminder_messages']} on the reminder day, "
        f"{first['deadline_messages']} on the closing day (HQ summary included); "
        f"export {first['export_bytes'] / 1e3:.0f} kB"
    )
    print("automation run progress --dry-run --json (the command, measured from outside):")
    for day, run in headline.items():
        print(
            f"  {day:<14} {run['wall_s']:6.2f} s wall {run['cpu_s']:6.2f} s CPU "
            f"{run['peak_rss_mb']:5.0f} MB peak RSS  {run['messages']} messages  "
            f"(in the run: fetch {run['timings_s']['fetch']:.3f} s, "
            f"compute {run['timings_s']['compute']:.3f} s)"
        )
    print("breakdown, in-process:")
    print(f"  {'phase':<36} {'median':>9} {'min':>9} {'max':>9}   (over {result['repeat']} runs)")
    for key, label in TIMINGS:
        values = [r[key] for r in runs]
        line = f"  {label:<36} {median[key]:>7.3f} s {min(values):>7.3f} s {max(values):>7.3f} s"
        if key in ("reminder_total_s", "deadline_total_s"):
            line += f"   target < {TARGET_S:g} s: {'OK' if median[key] < TARGET_S else 'MISSED'}"
        print(line)
    print(f"  {'peak RSS':<36} {result['peak_rss_mb']:>7.0f} MB")
    print(
        f"TARGET plan+render < {TARGET_S:g} s: "
        f"{'met' if result['target_met'] else 'MISSED'} (worst median {worst_plan_render:.3f} s)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
