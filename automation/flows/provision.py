"""What ``automation provision workbook`` builds for a damage flow: a pure plan.

The plan says which sheets the departments' workbook has, which header each column
carries and which values each input cell accepts, in the layouts the reader expects
(:mod:`automation.damage.reading`): a matrix sheet has the configured municipalities as
rows under a two-row header (category, then item with its unit); a records sheet has one
row per incident under the layout's own column names. Every rule accepts exactly what the
reader can count, so Excel refuses at typing time what the run would report as a problem.
Writing the .xlsx is :mod:`automation.input_workbook`'s job; this module reads no
file and no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from automation.config.models import (
    ChannelFile,
    DamageRollupParams,
    Deadlines,
    Directory,
    MatrixLayout,
    RecordsLayout,
    SiteFile,
)
from automation.damage.catalogue import Catalogue, Item
from automation.errors import ConfigError
from automation.flows.damage_rollup import build_catalogue, reporting_departments

INSTRUCTIONS_SHEET = "記入方法"
CHOICES_SHEET = "選択肢"
RESERVED_SHEETS = (INSTRUCTIONS_SHEET, CHOICES_SHEET)
UNCONFIRMED_CHOICES = ("未確認", "調査中")
ZERO_CHOICE = "-"
DEFAULT_NAME = "被害状況報告.xlsx"
DEFAULT_STATUSES = ("通行止め", "片側交互通行", "対応中", "調査中")
RECORD_ROWS = 300  # blank incident rows prepared with their rules on a records sheet
MAX_SHEET_NAME = 31  # Excel's limit
SHEET_NAME_FORBIDDEN = frozenset("[]:*?/\\")

RuleKind = Literal["figure", "choice", "number", "text"]
Loc = tuple[str | int, ...]


class UnbuildableError(ConfigError):
    """Configuration from which no readable workbook can be built, at ``loc`` (its path in
    the configuration, for FILE:LINE:COL)."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True, slots=True)
class Rule:
    """What an input cell accepts, with the Japanese input message and error alert.

    ``figure``: a number >= 0 (whole unless ``decimals``) or 未確認/調査中/-, as the reader
    counts it; ``choice``: one of ``choices``; ``number``: a whole number >= 1 (an incident's
    number); ``text``: at most 255 characters.
    """

    kind: RuleKind
    input_title: str
    input_message: str
    error_title: str
    error_message: str
    decimals: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a department's table: its header (under ``group`` when it has one)."""

    header: str
    rule: Rule | None
    group: str = ""
    width: int = 12


@dataclass(frozen=True, slots=True)
class SheetPlan:
    """One department's sheet."""

    name: str
    department: str
    layout: Literal["matrix", "records"]
    title: str
    note: str
    key_header: str  # matrix: the municipality column's header; records: ""
    columns: tuple[Column, ...]
    rows: tuple[str, ...] = ()  # matrix: the municipalities, one row each
    blank_rows: int = 0  # records: rows prepared for incidents


@dataclass(frozen=True, slots=True)
class WorkbookPlan:
    """The whole workbook: how to fill it in, then one sheet per department."""

    name: str
    disaster: str
    instructions: tuple[str, ...]
    sheets: tuple[SheetPlan, ...]
    password: str | None = field(default=None, repr=False)

    def describe(self) -> list[str]:
        """What would be created, one line per sheet and column (for --dry-run)."""
        lines = [
            f"{self.name}: {len(self.sheets) + 1} sheets, protected "
            f"{'with a password' if self.password else 'without a password'}",
            f"  {INSTRUCTIONS_SHEET}: {len(self.instructions)} lines",
        ]
        for sheet in self.sheets:
            size = (
                f"{len(sheet.rows)} municipalities"
                if sheet.layout == "matrix"
                else (f"{sheet.blank_rows} incident rows")
            )
            lines.append(f"  {sheet.name} ({sheet.department}, {sheet.layout}, {size})")
            for column in sheet.columns:
                lines.append(
                    f"    {column.group + ' / ' if column.group else ''}{column.header}: "
                    f"{describe_rule(column.rule)}"
                )
        return lines


def describe_rule(rule: Rule | None) -> str:
    """A rule in one line: ``number >= 0 (whole) or 未確認/調査中/-``."""
    if rule is None:
        return "free"
    if rule.kind == "figure":
        kind = "decimals allowed" if rule.decimals else "whole"
        return f"number >= 0 ({kind}) or {'/'.join((*UNCONFIRMED_CHOICES, ZERO_CHOICE))}"
    if rule.kind == "choice":
        shown = "、".join(rule.choices[:8]) + (" ..." if len(rule.choices) > 8 else "")
        return f"one of {len(rule.choices)}: {shown}"
    if rule.kind == "number":
        return "whole number >= 1"
    return "text up to 255 characters"


def workbook_plan(
    params: DamageRollupParams,
    directory: Directory,
    *,
    password: str | None = None,
    at: Loc = ("params",),
) -> WorkbookPlan:
    """The departments' workbook of a damage flow, as the reader of that flow reads it.

    Raises :class:`UnbuildableError` when the configuration cannot give a sheet its table (no
    municipalities for a matrix sheet, a sheet name Excel refuses or this plan uses); ``at``
    is where ``params`` sits in the configuration (``("flows", 0, "params")``).
    """
    catalogue = build_catalogue(params)
    sheets = []
    for dept in reporting_departments(params, directory):
        name = dept.sheet or dept.name
        index = directory.departments.index(dept)
        _check_sheet_name(name, dept.name, ("directory", "departments", index, "sheet"))
        layout = params.layouts.get(dept.name, params.default_layout)
        if isinstance(layout, RecordsLayout):
            sheets.append(_records_sheet(name, dept.name, params, layout, catalogue, at))
        else:
            sheets.append(_matrix_sheet(name, dept.name, params, layout, catalogue, at))
    instructions = _instructions(params, sheets)
    return WorkbookPlan(
        workbook_name(params), params.disaster, instructions, tuple(sheets), password
    )


def workbook_name(params: DamageRollupParams) -> str:
    """The file name the workbook is created under (the configured path's last part)."""
    ref = params.workbook
    path = (
        ref if isinstance(ref, str) else ref.path if isinstance(ref, SiteFile | ChannelFile) else ""
    )
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name or DEFAULT_NAME


def figure_rule(item: Item) -> Rule:
    """The rule of a figure cell of ``item``: what ``read_cell`` counts, nothing else."""
    numbers = "0以上の数値（小数可）" if item.decimals else "0以上の整数"
    return Rule(
        "figure",
        f"{item.label}（{item.unit}）"[:32],
        f"{numbers}を{item.unit}単位で入力してください。被害なしは 0 または -、"
        "数が分からないときは「未確認」または「調査中」。空欄は未報告として扱います。",
        "入力できない値です",
        f"{item.label}（{item.unit}）には{numbers}、「-」、「未確認」、「調査中」のいずれかを"
        "入力してください。「約10」「多数」などの概数や単位違いは集計できません。"
        "概数であることは備考に書いてください。",
        decimals=item.decimals,
    )


def choice_rule(header: str, choices: Sequence[str], what: str) -> Rule:
    """A list rule: one of ``choices`` (``what`` names them in the messages)."""
    return Rule(
        "choice",
        header[:32],
        f"一覧から{what}を選んでください。",
        "一覧にない値です",
        f"{header}は一覧から選んでください。一覧にない値の行は集計されません。"
        "必要な選択肢がない場合は防災担当へ連絡してください。",
        choices=tuple(choices),
    )


def _matrix_sheet(
    name: str,
    department: str,
    params: DamageRollupParams,
    layout: MatrixLayout,
    catalogue: Catalogue,
    at: Loc,
) -> SheetPlan:
    towns = params.municipalities
    if not towns:
        raise UnbuildableError(
            (*at, "municipalities"),
            f"department {department!r} reports on a matrix sheet, whose rows are the "
            "municipalities, but params.municipalities is "
            f"{'empty' if towns is not None else 'not given'}; list them in params.municipalities "
            "(e.g. [前橋市, 高崎市]) or give the department a records layout",
        )
    groups = {item.category for item in catalogue}
    columns = tuple(
        Column(
            f"{item.label}（{item.unit}）",
            figure_rule(item),
            group=item.category if len(groups) > 1 or item.qualified else "",
            width=max(10, len(item.label) * 2 + 6),
        )
        for item in catalogue
    )
    return SheetPlan(
        name,
        department,
        "matrix",
        f"{department} 被害状況（{params.disaster}）",
        "白いセルに入力してください。数値は0以上、被害なしは 0 または -、"
        "不明は「未確認」。空欄は未報告です。",
        layout.key_headers[0],
        columns,
        rows=tuple(towns),
    )


def record_types(catalogue: Catalogue) -> tuple[str, ...]:
    """Item labels a records sheet offers as types: counted in 箇所 and read back as
    themselves (a label shared by several items, like その他, would not be)."""
    return tuple(
        item.label
        for item in catalogue
        if item.unit == "箇所" and catalogue.match_label(item.label) == item
    )


def _records_sheet(
    name: str,
    department: str,
    params: DamageRollupParams,
    layout: RecordsLayout,
    catalogue: Catalogue,
    at: Loc,
) -> SheetPlan:
    types = record_types(catalogue)
    if not types:
        raise UnbuildableError(
            (*at, "catalogue"),
            f"department {department!r} reports incidents on a records sheet, but the flow's "
            "catalogue has no item counted in 箇所 to offer as a type; keep such items "
            "(roads, rivers, ...) in params.catalogue or add one under catalogue.extra",
        )
    statuses = layout.statuses or (*DEFAULT_STATUSES, *layout.closed_statuses)
    type_header = layout.type_column[0]
    town_header = layout.municipality_column[0]
    status_header = layout.status_column[0]
    place_header = layout.place_columns[0]
    towns = params.municipalities
    columns = (
        Column(layout.id_column[0], _number_rule(layout.id_column[0]), width=6),
        Column(type_header, choice_rule(type_header, types, "被害の種別"), width=14),
        Column(
            town_header,
            choice_rule(town_header, towns, "市町村") if towns else _text_rule(town_header),
            width=12,
        ),
        Column(place_header, _text_rule(place_header), width=24),
        Column(status_header, choice_rule(status_header, statuses, "現在の状況"), width=14),
        Column("備考", _text_rule("備考"), width=30),
    )
    return SheetPlan(
        name,
        department,
        "records",
        f"{department} 被害箇所一覧（{params.disaster}）",
        "1箇所1行で入力してください。種別・市町村・状況は一覧から選びます。"
        "状況が変わったら同じ行を書き換えてください（番号は変えない）。",
        "",
        columns,
        blank_rows=RECORD_ROWS,
    )


def _number_rule(header: str) -> Rule:
    return Rule(
        "number",
        header[:32],
        "箇所の番号（1以上の整数）。報告のたびに同じ箇所は同じ番号のままにしてください。",
        "番号は整数です",
        f"{header}には1以上の整数を入力してください。",
    )


def _text_rule(header: str) -> Rule:
    return Rule(
        "text",
        header[:32],
        f"{header}を入力してください（255文字まで）。",
        "長すぎます",
        f"{header}は255文字以内で入力してください。",
    )


def _check_sheet_name(name: str, department: str, loc: Loc) -> None:
    """A sheet name Excel accepts and this plan does not use for its own sheets."""
    bad = sorted(SHEET_NAME_FORBIDDEN & set(name))
    if len(name) > MAX_SHEET_NAME or bad or name.startswith("'") or name.endswith("'"):
        raise UnbuildableError(
            loc,
            f"department {department!r} has the sheet name {name!r}, which Excel refuses "
            f"(at most {MAX_SHEET_NAME} characters, none of [ ] : * ? / \\, no quote at either "
            "end); give it a shorter name without those characters in the directory",
        )
    if name in RESERVED_SHEETS:
        raise UnbuildableError(
            loc,
            f"department {department!r} has the sheet name {name!r}, which the workbook uses "
            f"for its own {name} sheet; give the department another sheet name in the directory",
        )


def _instructions(params: DamageRollupParams, sheets: Sequence[SheetPlan]) -> tuple[str, ...]:
    """The 記入方法 sheet in plain Japanese: what to type where, and by when."""
    lines = [
        f"{params.disaster} 被害状況報告 記入方法",
        "",
        "1. 自分の部局のシート（下の一覧）を開き、白いセルにだけ入力してください。"
        "見出しは保護されていて変更できません。",
        "2. 数値は0以上で入力します（全角・半角どちらでも可）。単位は見出しのとおりです。"
        "小数は ha・千円 などの項目だけ入力できます。",
        "3. 被害がない場合は 0 または -（ハイフン）、数がまだ分からない場合は「未確認」"
        "または「調査中」と入力してください。空欄は「未報告」として扱います。",
        "4. 「約10」「多数」「10以上」などの概数や、単位の違う数は集計できないため"
        "入力できません。概数であることは備考に書いてください。",
        "5. 被害箇所一覧のシートは1箇所1行です。種別・市町村・状況は一覧から選び、"
        "状況が変わったら同じ行を書き換えてください（番号は変えないでください）。",
        "6. 入力したら保存してください。保存された内容を定期的に集計し、"
        "第N報として報告します。読み取れないセルがあれば部局あてにお知らせします。",
        "",
        *_deadline_lines(params.deadlines),
        "",
        "部局とシート:",
        *(
            f"・{s.department}: シート「{s.name}」（"
            f"{'市町村別の表' if s.layout == 'matrix' else '被害箇所の一覧'}）"
            for s in sheets
        ),
    ]
    return tuple(lines)


def _deadline_lines(rule: Deadlines | None) -> list[str]:
    if rule is None:
        return [
            "報告の締切: 特に定めていません。被害が分かり次第入力し、変化があれば更新してください。"
        ]
    if rule.every_hours is not None:
        times = f"0時から{rule.every_hours}時間ごと"
    else:
        times = "毎日 " + "・".join(t.strftime("%H:%M") for t in sorted(rule.times))
    since = f"（{rule.since:%m月%d日 %H:%M}から）" if rule.since else ""
    return [
        f"報告の締切: {times}（日本時間）{since}。",
        "締切ごとに、前の締切以降に更新してください（変化がなくても保存し直してください）。",
        f"締切の{rule.remind_minutes_before}分前までに更新がない部局には督促が届きます。",
    ]


def deadline_lines(rule: Deadlines | None) -> list[str]:
    """The reporting deadlines in plain Japanese, as 記入方法 states them (the incident
    announcement repeats them)."""
    return _deadline_lines(rule)
