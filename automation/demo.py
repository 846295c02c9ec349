"""The demo: a typhoon across Gunma's 35 municipalities, reported by seven departments.

``automation demo`` (re)creates a workspace folder with a configuration, a department
directory and the shared damage workbook, runs report 1, edits two sheets the way a
department would, runs report 2 just before the 12:00 deadline, and prints what happened.
Everything runs on the local backend; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from automation.timeutil import parse_now

if TYPE_CHECKING:
    from automation.config.loader import LoadedConfig

GUNMA_MUNICIPALITIES: tuple[str, ...] = (
    "前橋市",
    "高崎市",
    "桐生市",
    "伊勢崎市",
    "太田市",
    "沼田市",
    "館林市",
    "渋川市",
    "藤岡市",
    "富岡市",
    "安中市",
    "みどり市",
    "榛東村",
    "吉岡町",
    "上野村",
    "神流町",
    "下仁田町",
    "南牧村",
    "甘楽町",
    "中之条町",
    "長野原町",
    "嬬恋村",
    "草津町",
    "高山村",
    "東吾妻町",
    "片品村",
    "川場村",
    "昭和村",
    "みなかみ町",
    "玉村町",
    "板倉町",
    "明和町",
    "千代田町",
    "大泉町",
    "邑楽町",
)
DISASTER = "令和8年台風第10号"
WORKBOOK = "被害状況報告.xlsx"
ROUND_1 = "2026-09-01T09:10:00+09:00"
ROUND_2 = "2026-09-01T11:40:00+09:00"
HEAD = PatternFill("solid", fgColor="DDEBF7")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)

CONFIG = """\
# Demo configuration written by `automation demo`. See config/ for annotated examples.
version: 1
state:
  path: state/automation.sqlite
backend:
  type: local
  root: inputs
  artefacts: artefacts
  deliveries: deliveries
directory: directory.yaml
flows:
  - id: typhoon_damage
    kind: damage_rollup
    description: 台風第10号 被害状況の集約（3時間ごとの締切）
    schedule: {{cron: "* * * * *"}}          # automation serve: poll every minute
    params:
      disaster: {disaster}
      workbook: {workbook}
      report_to:
        - {{channel: teams_webhook, name: 防災総括班チャネル, address: "${{DEMO_TEAMS_WEBHOOK_URL:-https://example.invalid/workflows/demo-webhook}}"}}
        - {{channel: mail, address: bousai-soukatsu@pref.gunma.example.lg.jp}}
      layouts:
        県土整備部:
          type: records
          statuses: [通行止め, 片側交互通行, 規制解除, 対応中, 調査中]
      municipalities: [{municipalities}]
      deadlines:
        every_hours: 3
        remind_minutes_before: 30
        since: 2026-09-01T06:00:00+09:00
      catalogue:
        extra:
          - {{code: welfare_facilities, label: 社会福祉施設, unit: 箇所, category: その他}}

  - id: dx_progress
    kind: progress_collection
    description: DX推進計画 令和8年度上期の進捗報告の督促とまとめ
    schedule: {{cron: "0 9 * * *", business_days_only: true}}
    params:
      programme: 群馬県DX推進計画
      list: {progress_list}
      rounds:
        - {{deadline: 2026-10-15, period: 2026H1}}
      remind_business_days_before: [5, 3, 1]
      escalate_business_days_after: [1]
      required: [目標, 実績, 進捗状況, 次期予定]
      numeric: [KPI実績]
      issue_field: 課題
      secretariat:
        - {{channel: mail, address: dx-senryaku@pref.gunma.example.lg.jp, name: DX戦略課}}
      summary_to:
        - {{channel: mail, address: dx-honbu@pref.gunma.example.lg.jp, name: DX推進本部}}
"""

PROGRESS_LIST = "進捗管理.csv"
PROGRESS_ROUND = "2026-10-14T09:00:00+09:00"

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("危機管理課", "kikikanri"),
    ("県土整備部", "kendo"),
    ("農政部", "nousei"),
    ("環境森林部", "kankyo"),
    ("健康福祉部", "kenkou"),
    ("教育委員会", "kyouiku"),
    ("産業経済部", "sangyou"),
    ("企業局", "kigyou"),
)


def _directory() -> str:
    lines = ["# Departments (部局) and where their messages go.", "departments:"]
    for name, slug in DEPARTMENTS:
        lines += [
            f"  - name: {name}",
            f"    sheet: {name}",
            "    contacts:",
            f"      - {{channel: mail, address: {slug}@pref.gunma.example.lg.jp}}",
            "    dx_leaders:",
            f"      - {{channel: mail, address: {slug}-dx@pref.gunma.example.lg.jp, name: {name}DX推進リーダー}}",
            "    escalation:",
            f"      - {{channel: mail, address: {slug}-head@pref.gunma.example.lg.jp, name: {name}長}}",
        ]
    return "\n".join(lines) + "\n"


def _title(ws: Worksheet, text: str) -> None:
    ws.append([text])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["報告日時: 2026年9月1日  担当: 各部局"])
    ws.append([])


def _matrix_header(ws: Worksheet, groups: list[tuple[str, list[str]]]) -> None:
    """Two header rows at row 4-5: a group title merged over its sub-columns."""
    ws.cell(row=4, column=1, value="市町村")
    ws.merge_cells(start_row=4, start_column=1, end_row=5, end_column=1)
    col = 2
    for title, subs in groups:
        if subs:
            ws.cell(row=4, column=col, value=title)
            ws.merge_cells(start_row=4, start_column=col, end_row=4, end_column=col + len(subs) - 1)
            for offset, sub in enumerate(subs):
                ws.cell(row=5, column=col + offset, value=sub)
            col += len(subs)
        else:
            ws.cell(row=4, column=col, value=title)
            ws.merge_cells(start_row=4, start_column=col, end_row=5, end_column=col)
            col += 1
    for row in ws.iter_rows(min_row=4, max_row=5, max_col=col - 1):
        for cell in row:
            cell.fill = HEAD
            cell.alignment = CENTER
    ws.column_dimensions["A"].width = 12


def _rows(
    ws: Worksheet, values: dict[str, list[object]], width: int, *, total: bool = True
) -> None:
    """One row per municipality from row 6 (below the two header rows), a total, a note."""
    sums = [0.0] * width
    row_number = 6
    for municipality in GUNMA_MUNICIPALITIES:
        row = values.get(municipality, [None] * width)
        for col, value in enumerate([municipality, *row], start=1):
            ws.cell(row=row_number, column=col, value=value)
        row_number += 1
        for i, v in enumerate(row):
            sums[i] += _as_counted(v)
    if total:
        line = ["計", *(int(s) if float(s).is_integer() else round(s, 1) for s in sums)]
        for col, value in enumerate(line, start=1):
            ws.cell(row=row_number, column=col, value=value)
        row_number += 1
    ws.cell(
        row=row_number + 1, column=1, value="※ 未確認・調査中の箇所は「未確認」と入力してください。"
    )


def _as_counted(value: object) -> float:
    """What a department's own 計 adds up for a cell: its number, ０．３ and ５棟 too."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().rstrip("棟世帯人箇所戸")
        try:
            return float(text)
        except ValueError:  # 未確認, 多数: not a number, left out as Excel's SUM would
            return 0.0
    return 0.0


def _refresh_total(ws: Worksheet) -> None:
    """Recompute the 計 row after an edit, as Excel recalculates the department's SUM."""
    rows = list(ws.iter_rows(min_row=6))
    total = next(r for r in rows if r[0].value == "計")
    above = [r for r in rows if r[0].row < total[0].row and r[0].value]
    for col in range(1, len(total)):
        value = sum(_as_counted(r[col].value) for r in above)
        total[col].value = int(value) if float(value).is_integer() else round(value, 1)


def build_workbook(path: Path) -> None:
    """Write the shared damage workbook as departments have filled it by 9時."""
    book = Workbook()
    book.remove(book.active)
    _people_and_houses(book.create_sheet("危機管理課"))
    _public_works(book.create_sheet("県土整備部"))
    _agriculture(book.create_sheet("農政部"))
    _forestry(book.create_sheet("環境森林部"))
    _health(book.create_sheet("健康福祉部"))
    _education(book.create_sheet("教育委員会"))
    _commerce(book.create_sheet("産業経済部"))

    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def _people_and_houses(ws: Worksheet) -> None:
    """Human and housing damage: a wide two-row header, full-width digits, 未確認, a unit in a cell."""
    _title(ws, f"{DISASTER} 被害状況報告（人的・住家被害）")
    _matrix_header(
        ws,
        [
            ("人的被害", ["死者", "行方不明者", "重傷者", "軽傷者"]),
            ("全壊", ["棟", "世帯", "人"]),
            ("半壊", ["棟", "世帯", "人"]),
            ("一部破損", ["棟", "世帯", "人"]),
            ("床上浸水", ["棟", "世帯", "人"]),
            ("床下浸水", ["棟", "世帯", "人"]),
            ("避難所数", []),
            ("避難者数", []),
        ],
    )
    width = 21
    values: dict[str, list[object]] = {
        "前橋市": [0, 0, 1, 4, 0, 0, 0, 1, 1, 3, 12, 12, 30, 8, 8, 19, 35, 33, 80, 12, 640],
        "高崎市": [1, 0, 0, 6, 1, 1, 4, 2, 2, 5, 20, 19, 51, 15, 15, 37, 60, 58, 140, 15, 1210],
        "桐生市": [
            "０",
            "-",
            "２",
            "３",
            "-",
            "-",
            "-",
            "１",
            "１",
            "２",
            "１２",
            "１２",
            "２９",
            "未確認",
            "未確認",
            "未確認",
            "４０",
            "３９",
            "１００",
            "６",
            "３２０",
        ],
        "伊勢崎市": [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 5, 5, 11, 3, 3, 7, 22, 22, 50, 4, 150],
        "沼田市": [0, 1, 0, 1, 2, 2, 5, 1, 1, 2, 4, 4, 9, 0, 0, 0, 3, 3, 7, 3, 85],
        "渋川市": [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 7, 15, 2, 2, 4, 10, 10, 21, 5, 230],
        "みなかみ町": [
            0,
            0,
            0,
            2,
            1,
            1,
            3,
            "未確認",
            "未確認",
            "未確認",
            6,
            6,
            14,
            0,
            0,
            0,
            0,
            0,
            0,
            4,
            160,
        ],
        "嬬恋村": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 5, 0, 0, 0, "５棟", 5, 12, 2, 40],
    }
    _rows(ws, values, width)


def _public_works(ws: Worksheet) -> None:
    """Road and river incidents, one row each, with a note under the table."""
    _title(ws, f"{DISASTER} 公共土木施設 被害・規制状況")
    ws.append(["No", "被害種別", "路線・河川名", "市町村", "箇所", "状況", "復旧見込み"])
    for cell in ws[4]:
        cell.fill = HEAD
    incidents = [
        (1, "道路", "国道144号", "嬬恋村", "大前地内", "通行止め", "9月3日"),
        (2, "道路", "県道渋川松井田線", "渋川市", "伊香保町地内", "片側交互通行", "9月2日"),
        (3, "がけ崩れ", "県道沼田赤城線", "沼田市", "利根町地内", "通行止め", "未定"),
        (4, "河川", "利根川", "前橋市", "大渡橋上流", "対応中", ""),
        (5, "道路", "国道291号", "みなかみ町", "湯桧曽地内", "通行止め", "未定"),
        (6, "橋りょう", "県道高崎安中線", "高崎市", "鼻高橋", "調査中", ""),
        (7, "砂防", "利根川水系", "片品村", "東小川地内", "対応中", ""),
    ]
    for incident in incidents:
        ws.append(list(incident))
    ws.append([])
    ws.append(["※ 状況は 通行止め／片側交互通行／規制解除／対応中／調査中 から選択"])


def _agriculture(ws: Worksheet) -> None:
    """Farmland in hectares (decimals, a full-width decimal, an unreadable 多数)."""
    _title(ws, f"{DISASTER} 農業被害状況")
    _matrix_header(
        ws,
        [
            ("田", ["流失・埋没", "冠水"]),
            ("畑", ["流失・埋没", "冠水"]),
            ("農産被害（千円）", []),
            ("農林水産業施設（千円）", []),
        ],
    )
    _rows(
        ws,
        {
            "前橋市": [0.5, 12.3, 0.2, 4.1, 5200, 1800],
            "伊勢崎市": [0, 8.0, 0, 2.5, 3100, 0],
            "太田市": [0, 6.4, "０．３", 1.2, 2900, 600],
            "沼田市": ["多数", 3.1, 0.8, 2.2, 4800, 2500],
            "嬬恋村": [0, 0, 1.5, 9.8, 15600, 3200],
        },
        6,
    )


def _forestry(ws: Worksheet) -> None:
    """Forestry and environmental facilities; water supply still 調査中."""
    _title(ws, f"{DISASTER} 林業・環境施設被害")
    _matrix_header(ws, [("林産被害(千円)", []), ("清掃施設(箇所)", []), ("水道(戸)", [])])
    _rows(
        ws,
        {"沼田市": [8200, 0, 120], "みなかみ町": [12500, 1, 340], "片品村": [6100, 0, "調査中"]},
        3,
    )


def _health(ws: Worksheet) -> None:
    """Hospitals and welfare facilities, without a total row."""
    _title(ws, f"{DISASTER} 医療・福祉施設被害")
    _matrix_header(ws, [("病院", []), ("社会福祉施設", [])])
    _rows(ws, {"前橋市": [0, 1], "渋川市": [1, 0], "桐生市": [0, 2]}, 2, total=False)


def _education(ws: Worksheet) -> None:
    """School facilities and their cost, one still 未確認."""
    _title(ws, f"{DISASTER} 文教施設被害")
    _matrix_header(ws, [("文教施設(箇所)", []), ("公立文教施設 被害額(千円)", [])])
    _rows(ws, {"高崎市": [2, 1500], "沼田市": [1, 800], "みなかみ町": [1, "未確認"]}, 2)


def _commerce(ws: Worksheet) -> None:
    """Commerce: not yet reported, the template as sent out."""
    _title(ws, f"{DISASTER} 商工業被害")
    _matrix_header(ws, [("商工被害(千円)", [])])
    _rows(ws, {}, 1, total=False)  # not yet reported: the template as sent out


def edit_workbook(path: Path) -> None:
    """Round 2: 危機管理課 and 県土整備部 update their sheets before 12時."""
    book = load_workbook(path)
    ws = book["危機管理課"]
    for row in ws.iter_rows(min_row=6):
        if row[0].value == "高崎市":
            row[1].value = 2  # 死者 1 -> 2
            row[4].value = 9  # 軽傷者 6 -> 9
        if row[0].value == "みなかみ町":
            row[8].value, row[9].value, row[10].value = 3, 3, 8  # 半壊 未確認 -> 3棟
        if row[0].value == "嬬恋村":
            row[17].value = 5  # fixes the cell written as 5棟 in the 棟 column? it was valid; keep
        if row[0].value == "前橋市":
            row[21].value = 700  # 避難者数 640 -> 700
    _refresh_total(ws)
    ws = book["県土整備部"]
    for row in ws.iter_rows(min_row=5):
        if row[0].value == 2:
            row[5].value = "規制解除"
    # a new road closure reported below the last incident, above the notes
    last = max(r[0].row for r in ws.iter_rows(min_row=5) if isinstance(r[0].value, int))
    ws.insert_rows(last + 1)
    for col, value in enumerate(
        [8, "道路", "県道前橋赤城線", "前橋市", "富士見町地内", "通行止め", "9月2日"], start=1
    ):
        ws.cell(row=last + 1, column=col, value=value)
    book.save(path)


def write_workspace(workspace: Path) -> Path:
    """Create the demo workspace; return the configuration file path."""
    if workspace.exists():
        shutil.rmtree(workspace)
    (workspace / "inputs").mkdir(parents=True)
    municipalities = ", ".join(GUNMA_MUNICIPALITIES)
    config = workspace / "automation.yaml"
    config.write_text(
        CONFIG.format(
            disaster=DISASTER,
            workbook=WORKBOOK,
            municipalities=municipalities,
            progress_list=PROGRESS_LIST,
        ),
        encoding="utf-8",
    )
    (workspace / "directory.yaml").write_text(_directory(), encoding="utf-8")
    build_workbook(workspace / "inputs" / WORKBOOK)
    write_progress_list(workspace / "inputs" / PROGRESS_LIST)
    return config


PROJECTS: dict[str, list[str]] = {
    "危機管理課": ["防災情報システム更新", "避難所DX"],
    "県土整備部": ["道路情報のオープンデータ化", "河川監視カメラ増設", "電子入札の拡充"],
    "農政部": ["スマート農業実証"],
    "環境森林部": ["森林資源のデジタル管理"],
    "健康福祉部": ["オンライン診療支援", "介護記録の電子化"],
    "教育委員会": ["1人1台端末の活用"],
    "産業経済部": ["中小企業DX補助"],
    "企業局": ["水道スマートメーター"],
}


def write_progress_list(path: Path) -> None:
    """The secretariat's list as a CSV export (UTF-8 with BOM, as Excel writes it)."""
    header = [
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
        "リンク",
        "更新日時",
    ]
    periods = ["2026上期", "R8上期", "令和8年度上期", "2026H1"]
    rows: list[list[object]] = []
    number = 100
    for dept, projects in PROJECTS.items():
        for project in projects:
            number += 1
            link = f"https://pref.gunma.example.lg.jp/sites/dx/Lists/progress/DispForm.aspx?ID={number}"
            rows.append(
                [
                    number,
                    periods[number % 4],
                    dept,
                    project,
                    "計画どおり実施",
                    "実施済み",
                    80,
                    "順調",
                    "下期も継続",
                    "",
                    link,
                    "2026-10-01 10:00",
                ]
            )
    incomplete = {
        102: {"実績": "", "KPI実績": ""},  # 避難所DX: not yet written
        104: {"進捗状況": "遅れ", "課題": "機器調達の遅延（半導体不足）"},
        105: {"次期予定": "", "進捗状況": "遅延"},  # not an allowed status
        107: {"進捗状況": "やや遅れ", "課題": "実証圃場の被災により一部延期"},
        109: {"実績": "", "次期予定": "", "KPI実績": "多数"},
        113: {"実績": ""},
    }
    for row in rows:
        for field_name, value in incomplete.get(int(str(row[0])), {}).items():
            row[header.index(field_name)] = value
    rows.append([199, "2026上期", "DX課", "庁内チャット導入", "x", "x", 1, "順調", "x", "", "", ""])
    rows.append([200, "2026年上", "企業局", "工業用水の遠隔監視", "x", "", "", "", "", "", "", ""])
    rows.append(
        [201, "2026H1", "健康福祉部", "オンライン診療支援", "x", "x", 1, "順調", "x", "", "", ""]
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")


def _command() -> str:
    """How this program was started, for hints the user can paste."""
    program = Path(sys.argv[0])
    if program.name == "automation" and program.exists():
        return os.path.relpath(program)
    return "automation"


async def _round(loaded: LoadedConfig, flow: str, now: str, max_problems: int = 15) -> bool:
    """Run one flow and print its summary; only whether it succeeded comes back (a run's
    result is large, and asyncio.run builds the repr of what its coroutine returns)."""
    from automation.runner import run_flow  # noqa: PLC0415
    from automation.summary import format_summary  # noqa: PLC0415

    result = await run_flow(loaded, flow, parse_now(now))
    print(format_summary(result.record, max_problems=max_problems))
    return result.ok


def run_demo(workspace: Path) -> int:
    """Generate the workspace, run two rounds, print summaries. Returns an exit code."""
    from automation.configuration import load_config  # noqa: PLC0415

    config_path = write_workspace(workspace)
    loaded = load_config(config_path, today=parse_now(ROUND_2).date())  # the scenario's day
    print(f"デモ用ワークスペースを作成しました: {workspace}/")
    print(f"  設定: {config_path}  報告用ブック: {workspace / 'inputs' / WORKBOOK}\n")

    print(f"=== 1回目の集約（{ROUND_1}）===")
    first = asyncio.run(_round(loaded, "typhoon_damage", ROUND_1, max_problems=5))

    edit_workbook(workspace / "inputs" / WORKBOOK)
    print("\n--- 危機管理課と県土整備部がシートを更新しました ---\n")

    print(f"=== 2回目の集約（{ROUND_2}、12時の締切の20分前）===")
    second = asyncio.run(_round(loaded, "typhoon_damage", ROUND_2))

    print(f"\n=== DX推進計画 進捗報告（{PROGRESS_ROUND}、締切 10月15日(木) の1営業日前）===")
    progress = asyncio.run(_round(loaded, "dx_progress", PROGRESS_ROUND))
    print(
        "\n送信内容はファイルに書き出しています（ローカルバックエンド）:\n"
        f"  {workspace / 'deliveries'}/  (*.envelope.json と本文 *.txt / *.html / *.card.json)\n"
        f"  集計ブック: {workspace / 'artefacts'}/\n"
        f"もう一度実行: {_command()} run typhoon_damage -c {config_path} --now {ROUND_2} --dry-run"
    )
    return 0 if first and second and progress else 1
