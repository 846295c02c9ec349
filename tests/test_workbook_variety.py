"""Specs for department workbooks as they really arrive: saved by Excel (shared strings with
rich text and furigana, formulas' text results, the 1904 date system, Strict Open XML), by
openpyxl or XlsxWriter, or by tools that name parts and prefix tags their own way. Each is
read right through a run on the local backend, or refused naming the sheet and the fix."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from automation.config.loader import load_config
from automation.runner import run_flow
from automation.timeutil import JST
from tests.workbook_builders import (
    MAIN_NS,
    PKG_REL_NS,
    REL_NS,
    ROOT_RELS,
    SHEET_NAME,
    XML_DECL,
    package,
    parts,
    sheet_xml,
    workbook_rels,
    workbook_xml,
)

CONFIG = f"""\
version: 1
state: {{path: state/db.sqlite}}
backend: {{type: local, root: inputs, artefacts: out, deliveries: sent}}
directory:
  departments:
    - {{name: {SHEET_NAME}, sheet: {SHEET_NAME}, contacts: [{{channel: mail, address: k@example.jp}}]}}
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{{channel: mail, address: bousai@example.jp}}]
      municipalities: [前橋市, 高崎市, 桐生市]
"""
# Shared strings 0-4 as Excel keeps them: 前橋市 in two rich-text runs, 高崎市 with its
# furigana (a phonetic run Excel stores beside the text: never part of the value).
STRINGS = (
    "<t>市町村</t>",
    "<t>死者</t>",
    "<t>軽傷者</t>",
    '<r><rPr><b/><sz val="11"/></rPr><t>前橋</t></r><r><t>市</t></r>',
    '<t>高崎市</t><rPh sb="0" eb="2"><t>タカサキ</t></rPh><phoneticPr fontId="1"/>',
)
HEADER = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>'
# 前橋市: 死者 1, 軽傷者 2; 高崎市: 死者 3, 軽傷者 4
ROWS = (
    '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2"><v>1</v></c><c r="C2"><v>2</v></c></row>'
    '<row r="3"><c r="A3" t="s"><v>4</v></c><c r="B3"><v>3</v></c><c r="C3"><v>4</v></c></row>'
)
STYLES = (
    XML_DECL + f'<styleSheet xmlns="{MAIN_NS}"><fonts count="1"><font/></fonts>'
    '<fills count="1"><fill/></fills><borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/>'
    '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>'
)
WITH_STYLES = workbook_rels(f'<Relationship Id="rId3" Type="{REL_NS}/styles" Target="styles.xml"/>')


def strings_xml(items: tuple[str, ...] = STRINGS, prefix: str = "") -> str:
    """xl/sharedStrings.xml holding ``items`` (each an ``<si>``'s inner XML)."""
    tag = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    body = "".join(f"<{tag}si>{item}</{tag}si>" for item in items)
    return XML_DECL + f'<{tag}sst {xmlns}="{MAIN_NS}">{body}</{tag}sst>'


def excel_book(rows: str = ROWS, **replace: str) -> bytes:
    """A workbook as Excel saves it: shared strings, the 危機管理課 table."""
    return package(parts(sheet=sheet_xml(HEADER + rows), strings=strings_xml(), **replace))


def run(folder: Path, data: bytes) -> dict[str, Any]:
    """The run record of a dry run of the damage flow on ``data``."""
    (folder / "automation.yaml").write_text(CONFIG, encoding="utf-8")
    (folder / "inputs").mkdir(exist_ok=True)
    (folder / "inputs" / "book.xlsx").write_bytes(data)
    now = datetime(2026, 9, 1, 10, 0, tzinfo=JST)
    config = load_config(folder / "automation.yaml")
    return asyncio.run(run_flow(config, "damage", now, dry_run=True)).record


def totals(record: dict[str, Any]) -> dict[str, Any]:
    """Each item's total, and how many cells it left out."""
    return {code: (t["value"], t["unreadable"]) for code, t in record["totals"].items()}


def problems(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Where, what and why of each problem in the run record."""
    return [(p["where"], p["value"], p["message"]) for p in record["problems"]]


def test_rich_text_and_furigana_read_as_the_text_the_cell_shows(tmp_path: Path) -> None:
    """A name in two formatted runs, or with its furigana stored beside it, is that name."""
    record = run(tmp_path, excel_book())
    assert problems(record) == []
    assert totals(record) == {"dead": (4, 0), "injured_minor": (6, 0)}


def test_a_formulas_text_result_is_read_and_an_empty_one_is_blank(tmp_path: Path) -> None:
    """=TEXT(...) saved as "3" reads 3; a formula whose saved text is "" is not reported."""
    rows = (
        '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="str"><f>TEXT(3,"0")</f><v>3</v></c>'
        '<c r="C2" t="str"><f>IF(B2="","","")</f><v></v></c></row>'
    )
    record = run(tmp_path, excel_book(rows))
    assert problems(record) == []
    assert totals(record) == {"dead": (3, 0)}


def test_a_shared_formulas_saved_results_are_read(tmp_path: Path) -> None:
    """Excel writes a filled-down formula once (t="shared"); every cell's saved result counts."""
    rows = (
        '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2"><v>1</v></c>'
        '<c r="C2"><f t="shared" ref="C2:C3" si="0">B2+1</f><v>2</v></c></row>'
        '<row r="3"><c r="A3" t="s"><v>4</v></c><c r="B3"><v>2</v></c>'
        '<c r="C3"><f t="shared" si="0"/><v>3</v></c></row>'
    )
    assert totals(run(tmp_path, excel_book(rows))) == {"dead": (3, 0), "injured_minor": (5, 0)}


def test_a_date_in_the_1904_system_is_a_problem_showing_the_date_excel_shows(
    tmp_path: Path,
) -> None:
    """A 死者 cell formatted as a date in a 1904-dated workbook names the date a user sees."""
    rows = '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" s="1"><v>45000</v></c></row>'
    book = workbook_xml().replace("<sheets>", '<workbookPr date1904="1"/><sheets>')
    record = run(
        tmp_path, excel_book(rows, book=book, rels=WITH_STYLES, **{"xl/styles.xml": STYLES})
    )
    assert problems(record) == [
        (
            f"{SHEET_NAME}!B2",
            "2027-03-16",
            "死者(人): 日付・時刻として入力されています。"
            "セルの表示形式を「標準」に戻してから数値を入力してください。",
        )
    ]


def test_tags_with_a_namespace_prefix_read_the_same(tmp_path: Path) -> None:
    """A writer that spells <x:c> and <x:si> for <c> and <si> gives the same figures."""
    body = HEADER + ROWS
    for tag in ("row", "c", "v"):
        body = body.replace(f"<{tag}", f"<x:{tag}").replace(f"</{tag}>", f"</x:{tag}>")
    sheet = (
        XML_DECL
        + f'<x:worksheet xmlns:x="{MAIN_NS}"><x:sheetData>{body}</x:sheetData></x:worksheet>'
    )
    items = tuple(i.replace("<t", "<x:t").replace("</t>", "</x:t>") for i in STRINGS[:3])
    items += ("<x:t>前橋市</x:t>", "<x:t>高崎市</x:t>")
    data = package(parts(sheet=sheet, strings=strings_xml(items, "x")))
    assert totals(run(tmp_path, data)) == {"dead": (4, 0), "injured_minor": (6, 0)}


def test_parts_named_and_targeted_otherwise_read_the_same(tmp_path: Path) -> None:
    """Absolute relationship targets and other part names (Sheet_A.xml, SharedStrings.xml)."""
    rels = (
        XML_DECL + f'<Relationships xmlns="{PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="/xl/worksheets/Sheet_A.xml"/>'
        f'<Relationship Id="rId2" Type="{REL_NS}/sharedStrings" Target="/xl/SharedStrings.xml"/>'
        "</Relationships>"
    )
    members = parts(rels=rels)
    del members["xl/worksheets/sheet1.xml"], members["xl/sharedStrings.xml"]
    members["xl/worksheets/Sheet_A.xml"] = sheet_xml(HEADER + ROWS)
    members["xl/SharedStrings.xml"] = strings_xml()
    assert totals(run(tmp_path, package(members))) == {"dead": (4, 0), "injured_minor": (6, 0)}


def test_strict_open_xml_reads_the_same(tmp_path: Path) -> None:
    """A workbook saved as "Strict Open XML Spreadsheet" (other namespaces) reads the same."""
    strict_main = "http://purl.oclc.org/ooxml/spreadsheetml/main"
    strict_rel = "http://purl.oclc.org/ooxml/officeDocument/relationships"
    data = package(
        parts(
            sheet=sheet_xml(HEADER + ROWS).replace(MAIN_NS, strict_main),
            strings=strings_xml().replace(MAIN_NS, strict_main),
            book=workbook_xml().replace(MAIN_NS, strict_main).replace(REL_NS, strict_rel),
            rels=workbook_rels().replace(REL_NS, strict_rel),
            **{"_rels/.rels": ROOT_RELS.replace(REL_NS, strict_rel)},
        )
    )
    assert totals(run(tmp_path, data)) == {"dead": (4, 0), "injured_minor": (6, 0)}


def test_a_sheet_the_parser_cannot_read_is_refused_naming_the_sheet(tmp_path: Path) -> None:
    """A cell calamine cannot parse fails the run with the file, the sheet and the fix."""
    rows = '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="n"><v> 4 </v></c></row>'
    error = run(tmp_path, excel_book(rows))["error"]
    assert error["kind"] == "data"
    assert error["message"] == (
        f"book.xlsx: シート「{SHEET_NAME}」が読めません（Parse float error: invalid float "
        "literal）。Excel でこのブックを開き、このシートを確認して［名前を付けて保存］で .xlsx "
        "形式に保存し直してください。"
    )


def xlsxwriter_book() -> bytes:
    """A department's form written by XlsxWriter: a title, a merged two-row header, rich
    text, a hidden row, a formula with its result, their own 計 row and a note."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = book.add_worksheet(SHEET_NAME)
    ws.write(0, 0, "令和8年台風第10号 被害状況（9月1日9時現在）")
    ws.merge_range(2, 0, 3, 0, "市町村")
    ws.merge_range(2, 1, 2, 2, "人的被害")
    ws.write_row(3, 1, ["死者", "軽傷者"])
    ws.write_rich_string(4, 0, book.add_format({"bold": True}), "前橋", "市")
    ws.write_row(4, 1, [1, 2])
    ws.write(5, 0, "高崎市")
    ws.write_formula(5, 1, "=1+2", None, 3)
    ws.write(5, 2, "１２")
    ws.set_row(6, None, None, {"hidden": True})
    ws.write_row(6, 0, ["桐生市", 4, 0])
    ws.write_row(7, 0, ["計", 8, 14])
    ws.write(8, 0, "※ 速報値")
    book.close()
    return buffer.getvalue()


def test_an_xlsxwriter_form_with_merged_header_hidden_row_and_total_is_read(
    tmp_path: Path,
) -> None:
    """Hidden rows still hold figures and count; the form's own 計 row agrees and is not."""
    record = run(tmp_path, xlsxwriter_book())
    assert problems(record) == []
    assert totals(record) == {"dead": (8, 0), "injured_minor": (14, 0)}
