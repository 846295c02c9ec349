"""Specs for the provisioned damage workbook: the reader reads it with zero problems, and
every input rule refuses what the reader would report as a problem."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from automation.cells import Amount, Blank, Problem, Unconfirmed, read_cell
from automation.config.models import DamageRollupParams, Department, Directory, RecordsLayout
from automation.damage.reading import municipality_index, read_matrix, read_records
from automation.damage.workbook import parse_workbook
from automation.errors import ConfigError
from automation.flows import damage_rollup
from automation.flows.damage_rollup import DamageInputs, DamageState, build_catalogue
from automation.flows.provision import (
    CHOICES_SHEET,
    INSTRUCTIONS_SHEET,
    WorkbookPlan,
    workbook_plan,
)
from automation.input_workbook import build_input_workbook
from automation.timeutil import JST

TOWNS = ("前橋市", "高崎市", "桐生市", "伊勢崎市", "太田市", "草津町", "嬬恋村")
MB = 1024 * 1024


def directory(*names: str) -> Directory:
    return Directory(departments=tuple(Department(name=n, sheet=n) for n in names))


def params(**extra: Any) -> DamageRollupParams:
    base: dict[str, Any] = {
        "disaster": "令和8年台風第10号",
        "workbook": "被害状況報告.xlsx",
        "report_to": [{"channel": "mail", "address": "bousai@example.jp"}],
        "municipalities": list(TOWNS),
    }
    return DamageRollupParams.model_validate({**base, **extra})


CONFIGS: dict[str, Callable[[], tuple[DamageRollupParams, Directory]]] = {
    "all FDMA items, one matrix sheet": lambda: (params(), directory("危機管理課")),
    "a few items, one category": lambda: (
        params(catalogue={"only": ["dead", "missing", "injured_minor"]}),
        directory("危機管理課", "健康福祉部"),
    ),
    "extra items with decimals": lambda: (
        params(
            catalogue={
                "only": ["paddy_flooded", "cost_crops"],
                "extra": [{"code": "trees", "label": "倒木", "unit": "本", "category": "林業"}],
            }
        ),
        directory("農政部"),
    ),
    "matrix and records with statuses": lambda: (
        params(
            layouts={
                "県土整備部": {"type": "records", "statuses": ["通行止め", "片側交互通行", "解除"]}
            }
        ),
        directory("危機管理課", "県土整備部"),
    ),
    "records without statuses, towns unlisted": lambda: (
        params(municipalities=None, default_layout={"type": "records"}),
        directory("県土整備部", "森林局"),
    ),
}


def build(config: str) -> tuple[DamageRollupParams, Directory, WorkbookPlan, bytes]:
    p, d = CONFIGS[config]()
    plan = workbook_plan(p, d)
    return p, d, plan, build_input_workbook(plan)


def read_back(p: DamageRollupParams, data: bytes, sheet_names: list[str]) -> list[Any]:
    book = parse_workbook(data, "被害状況報告.xlsx", max_bytes=25 * MB)
    catalogue = build_catalogue(p)
    towns = municipality_index(p.municipalities)
    readings = []
    for name in sheet_names:
        layout = p.layouts.get(name, p.default_layout)
        if isinstance(layout, RecordsLayout):
            readings.append(read_records(book.sheets[name], name, layout, catalogue, towns))
        else:
            readings.append(read_matrix(book.sheets[name], name, layout, catalogue, towns))
    return readings


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_generated_workbook_reads_with_zero_problems(config: str) -> None:
    """Each department's sheet is found, its table recognised, and nothing is a problem."""
    p, _, plan, data = build(config)

    readings = read_back(p, data, [s.name for s in plan.sheets])

    assert [(r.table_found, r.problems) for r in readings] == [(True, [])] * len(plan.sheets)
    for reading, sheet in zip(readings, plan.sheets, strict=True):
        if sheet.layout == "matrix":
            assert len(reading.columns) == len(build_catalogue(p))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_a_run_over_the_blank_workbook_reports_no_problem(config: str) -> None:
    """The whole flow reads the blank workbook: no problem, every department 未報告."""
    p, d, _, data = build(config)
    book = parse_workbook(data, "被害状況報告.xlsx", max_bytes=25 * MB)

    result = damage_rollup.plan(
        p, d, DamageInputs("v1", book), DamageState(), datetime_jst(), catalogue=None
    )

    assert result.report.problems == []
    assert {s.status for s in result.report.departments} == {"not_reported"}


def datetime_jst() -> Any:
    from datetime import datetime  # noqa: PLC0415

    return datetime(2026, 9, 1, 9, 0, tzinfo=JST)


def test_figures_typed_into_the_matrix_are_read_at_their_town_and_item() -> None:
    """A number typed in a matrix input cell counts for that row's town and column's item."""
    p, _, _, data = build("a few items, one category")
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book["危機管理課"]
    ws["B5"], ws["C6"], ws["D7"] = 2, "未確認", "-"
    buffer = io.BytesIO()
    book.save(buffer)

    (reading, _) = read_back(p, buffer.getvalue(), ["危機管理課", "健康福祉部"])

    assert reading.problems == []
    assert reading.amounts == {("前橋市", "dead"): 2, ("桐生市", "injured_minor"): 0}
    assert reading.unconfirmed == {("高崎市", "missing")}


def test_incidents_typed_into_the_records_sheet_are_counted() -> None:
    """A row typed on the records sheet with listed values is one incident of its type."""
    p, _, _, data = build("matrix and records with statuses")
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book["県土整備部"]
    for col, value in zip("ABCDEF", [1, "道路", "高崎市", "国道18号", "通行止め", ""], strict=True):
        ws[f"{col}5"] = value or None
    buffer = io.BytesIO()
    book.save(buffer)

    (_, reading) = read_back(p, buffer.getvalue(), ["危機管理課", "県土整備部"])

    assert reading.problems == []
    assert [(i.key, i.code, i.municipality, i.place, i.status) for i in reading.incidents] == [
        ("No.1", "roads", "高崎市", "国道18号", "通行止め")
    ]


def test_the_workbook_opens_on_instructions_with_deadlines() -> None:
    """記入方法 comes first, names every department's sheet and states the deadlines."""
    p = params(deadlines={"times": ["09:00", "15:00"], "remind_minutes_before": 30})
    plan = workbook_plan(p, directory("危機管理課", "農政部"))
    book = openpyxl.load_workbook(io.BytesIO(build_input_workbook(plan)))

    text = "\n".join(str(c.value) for c in book[INSTRUCTIONS_SHEET]["A"] if c.value)

    assert book.sheetnames == [INSTRUCTIONS_SHEET, "危機管理課", "農政部", CHOICES_SHEET]
    assert book.active.title == INSTRUCTIONS_SHEET
    assert "毎日 09:00・15:00（日本時間）" in text
    assert "締切の30分前" in text
    assert "・農政部: シート「農政部」（市町村別の表）" in text
    assert book[CHOICES_SHEET].sheet_state == "hidden"


def test_headers_are_locked_inputs_unlocked_panes_frozen() -> None:
    """Sheets are protected; header cells locked, input cells not; panes frozen under the header."""
    _, _, _, data = build("matrix and records with statuses")
    book = openpyxl.load_workbook(io.BytesIO(data))
    matrix, records = book["危機管理課"], book["県土整備部"]

    assert matrix.protection.sheet and records.protection.sheet
    assert matrix.protection.password is None
    assert matrix["A4"].protection.locked and matrix["B5"].protection.locked
    assert not matrix["B6"].protection.locked and matrix["A6"].protection.locked
    assert matrix.freeze_panes == "B6"
    assert records["B4"].protection.locked and not records["B5"].protection.locked
    assert records.freeze_panes == "A5"
    assert not records.protection.insertRows  # False in openpyxl means "allowed"


def test_a_password_from_the_configuration_protects_every_sheet() -> None:
    """With a password every sheet's protection carries its hash, never the password."""
    plan = workbook_plan(params(), directory("危機管理課"), password="s3cret")
    data = build_input_workbook(plan)
    book = openpyxl.load_workbook(io.BytesIO(data))

    assert all(book[n].protection.password for n in book.sheetnames)
    assert b"s3cret" not in data


def test_no_municipalities_for_a_matrix_sheet_is_refused_with_the_fix() -> None:
    """A matrix sheet needs its rows: without municipalities the plan says what to add."""
    with pytest.raises(ConfigError) as caught:
        workbook_plan(params(municipalities=None), directory("危機管理課"))

    assert caught.value.message == (
        "department '危機管理課' reports on a matrix sheet, whose rows are the municipalities, "
        "but params.municipalities is not given; list them in params.municipalities "
        "(e.g. [前橋市, 高崎市]) or give the department a records layout"
    )


def test_a_sheet_name_the_workbook_uses_itself_is_refused() -> None:
    """A department whose sheet is 記入方法 would collide with the instructions sheet."""
    with pytest.raises(ConfigError, match="another sheet name in the directory"):
        workbook_plan(params(), directory(INSTRUCTIONS_SHEET))


# --- the rules, evaluated as Excel would -------------------------------------------------


COMPARISONS = ("=", ">=", "<=", "<", ">", "<>")


class ExcelError(str):
    """An Excel error value (#VALUE!): passed on by comparisons, AND and OR."""


class Excel:
    """A tiny evaluator of the custom rules' formulas (IF, OR, AND, ISNUMBER, INT and
    comparisons) with Excel's semantics: text compares greater than any number and
    case-insensitively, INT of a text is #VALUE!, and an error passes through comparisons,
    AND and OR (a rule whose formula ends in an error refuses the value)."""

    TOKEN = re.compile(
        r'\s*(?:(\d+(?:\.\d+)?(?:E\+\d+)?)|"([^"]*)"|([A-Z]+\d+)|([A-Z]+)\(|(>=|<=|<>|[=<>,)]))'
    )

    def __init__(self, formula: str, cell: str, value: object) -> None:
        self.tokens = [m.groups() for m in self.TOKEN.finditer(formula.lstrip("="))]
        self.cell, self.value, self.pos = cell, value, 0

    def run(self) -> bool:
        result = self.comparison()
        assert self.pos == len(self.tokens)
        return result is True

    def comparison(self) -> object:
        left = self.atom()
        if self.pos < len(self.tokens) and self.tokens[self.pos][4] in COMPARISONS:
            op = self.tokens[self.pos][4]
            self.pos += 1
            return self.compare(left, op, self.atom())
        return left

    def atom(self) -> object:
        number, text, ref, func, _ = self.tokens[self.pos]
        self.pos += 1
        if number is not None:
            return float(number)
        if text is not None:
            return text
        if ref is not None:
            assert ref == self.cell
            return self.value
        args: list[object] = []
        while self.tokens[self.pos][4] != ")":
            args.append(self.comparison())
            if self.tokens[self.pos][4] == ",":
                self.pos += 1
        self.pos += 1
        return self.call(func, args)

    @staticmethod
    def call(func: str, args: list[object]) -> object:
        first = args[0]
        if func == "IF":  # both branches were evaluated; only the chosen one is returned
            return first if isinstance(first, ExcelError) else args[1 if first else 2]
        if func in ("OR", "AND"):
            errors = [a for a in args if isinstance(a, ExcelError)]
            if errors:
                return errors[0]
            return any(args) if func == "OR" else all(args)
        if func == "ISNUMBER":
            return isinstance(first, float) and not isinstance(first, ExcelError)
        assert func == "INT", func
        return float(int(first // 1)) if isinstance(first, float) else ExcelError("#VALUE!")

    @staticmethod
    def compare(a: object, op: str, b: object) -> object:
        for value in (a, b):
            if isinstance(value, ExcelError):
                return value

        def key(v: object) -> tuple[int, Any]:
            return (1, str(v).lower()) if isinstance(v, str) else (0, v)

        ka, kb = key(a), key(b)
        return {
            "=": ka == kb,
            "<>": ka != kb,
            ">=": ka >= kb,
            "<=": ka <= kb,
            "<": ka < kb,
            ">": ka > kb,
        }[op]


# What a department may type, as Excel stores it: numbers as numbers, the rest as text.
TYPED: list[object] = [
    0.0,
    1.0,
    12.0,
    2.5,
    0.01,
    -1.0,
    -0.5,
    1e12,
    999999999999.0,
    "未確認",
    "調査中",
    "-",
    "多数",
    "約10",
    "1.5棟",
    "12人",
    "△3",
    "なし",
    "#DIV/0!",
    "TRUE",
    "未確認 3",
    "ー",
]


def validations(ws: Any) -> dict[str, Any]:
    """Data validations by the first cell of their range."""
    return {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}


@pytest.mark.parametrize("decimals", [False, True])
def test_every_figure_rule_refuses_what_the_reader_reports_as_a_problem(decimals: bool) -> None:
    """Each figure column accepts exactly what the reader counts and refuses what it reports."""
    # counted: a number, 未確認/調査中, or zero
    p = params(catalogue={"only": ["dead", "paddy_flooded"]})
    book = openpyxl.load_workbook(
        io.BytesIO(build_input_workbook(workbook_plan(p, directory("農政部"))))
    )
    ws = book["農政部"]
    column = "C" if decimals else "B"  # 死者 (人) then 田 冠水 (ha)
    unit = "ha" if decimals else "人"
    rule = validations(ws)[f"{column}6"]

    assert (
        rule.type == "custom" and rule.errorStyle in (None, "stop") and rule.allow_blank
    )  # absent: stop
    assert rule.prompt and rule.error and rule.showErrorMessage and rule.showInputMessage
    for value in TYPED:
        allowed = Excel(rule.formula1, f"{column}6", value).run()
        read = read_cell(value, unit, decimals)
        counted = isinstance(read, Amount | Unconfirmed)
        if allowed:
            assert counted, f"{value!r} passes the rule but the reader reports {read}"
        if isinstance(read, Problem):
            assert not allowed, f"{value!r} is a problem to the reader yet passes the rule"
    for value in (0.0, 12.0, "未確認", "調査中", "-", *((2.5,) if decimals else ())):
        assert Excel(rule.formula1, f"{column}6", value).run(), f"{value!r} is refused"


def test_list_rules_offer_exactly_what_the_records_reader_accepts() -> None:
    """Types, towns and statuses lists hold only values the records reader counts."""
    p, _, _, data = build("matrix and records with statuses")
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws, choices = book["県土整備部"], book[CHOICES_SHEET]
    rules = validations(ws)
    catalogue = build_catalogue(p)

    def listed(cell: str) -> list[str]:
        rule = rules[cell]
        assert rule.type == "list" and rule.errorStyle in (None, "stop")
        col = re.search(r"\$([A-Z]+)\$1:", rule.formula1)
        assert col is not None
        return [c.value for c in choices[col.group(1)] if c.value is not None]

    types, towns, statuses = listed("B5"), listed("C5"), listed("E5")
    assert all(catalogue.match_label(t) is not None for t in types) and "道路" in types
    assert towns == list(TOWNS)
    assert statuses == ["通行止め", "片側交互通行", "解除"]
    assert rules["A5"].type == "whole" and rules["F5"].type == "textLength"


def test_plain_numbers_and_blanks_agree_with_the_reader() -> None:
    """The evaluator itself: 0 counts, an error inside OR refuses, IF picks one branch."""
    assert isinstance(read_cell(None, "人", False), Blank)
    assert Excel('=OR(AND(ISNUMBER(B6),B6>=0),B6="-")', "B6", 0.0).run()
    assert not Excel('=OR(AND(ISNUMBER(B6),B6>=0),B6="-")', "B6", "多数").run()
    # An error inside OR refuses even a listed word: why the rules use IF.
    assert not Excel('=OR(AND(B6=INT(B6)),B6="未確認")', "B6", "未確認").run()
    assert Excel('=IF(ISNUMBER(B6),B6=INT(B6),B6="未確認")', "B6", "未確認").run()


def test_every_matrix_header_matches_its_own_item() -> None:
    """Every matrix header the plan writes matches exactly its own item in the catalogue."""
    p = params()
    plan = workbook_plan(p, directory("危機管理課"))
    catalogue = build_catalogue(p)

    matched = [
        catalogue.match_header([c.group, c.header] if c.group else [c.header]).item
        for c in plan.sheets[0].columns
    ]

    assert [i.code if i else None for i in matched] == [i.code for i in catalogue]


def test_dry_run_description_names_sheets_columns_and_rules() -> None:
    """The plan's description lists every sheet, column and rule, and no password."""
    plan = workbook_plan(
        params(catalogue={"only": ["dead"]}), directory("危機管理課"), password="x"
    )

    assert plan.describe() == [
        "被害状況報告.xlsx: 2 sheets, protected with a password",
        f"  {INSTRUCTIONS_SHEET}: {len(plan.instructions)} lines",
        "  危機管理課 (危機管理課, matrix, 7 municipalities)",
        "    死者（人）: number >= 0 (whole) or 未確認/調査中/-",
    ]
