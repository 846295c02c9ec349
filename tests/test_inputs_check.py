"""Specs for ``automation validate --check-inputs``: what the flows read exists and opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.cli import main
from automation.config.loader import load_config
from automation.doctor.rows import Row
from automation.inputs_check import check_inputs
from tests.builders import xlsx_bytes

CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kiki@example.jp}]
    - name: 県土整備部
      sheet: 県土整備部
      contacts: [{channel: mail, address: kendo@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
      municipalities: [前橋市, 高崎市]
"""
TABLE = [["市町村", "死者"], ["前橋市", 1]]
INCIDENTS = [["No", "被害種別", "市町村", "状況"], [1, "道路", "前橋市", "通行止め"]]


def workspace(tmp_path: Path, sheets: dict[str, list[list[object]]] | None) -> Path:
    """A configuration and, unless ``sheets`` is None, its workbook; returns the config path."""
    (tmp_path / "inputs").mkdir()
    if sheets is not None:
        (tmp_path / "inputs" / "book.xlsx").write_bytes(xlsx_bytes(sheets))
    path = tmp_path / "automation.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def rows(path: Path) -> list[Row]:
    """The rows of --check-inputs for the configuration at ``path``."""
    return check_inputs(load_config(path))


def test_a_missing_workbook_fails_with_its_path(tmp_path: Path) -> None:
    """A configuration that validates but whose workbook is not there is not passed."""
    (row,) = rows(workspace(tmp_path, None))
    assert (row.check, row.result) == ("workbook", "FAIL")
    assert row.detail.startswith("book.xlsx: 報告用ブックが見つかりません")


def test_each_department_sheet_is_found_and_read(tmp_path: Path) -> None:
    """The workbook opens and each department's table is recognised with its layout."""
    result = rows(workspace(tmp_path, {"危機管理課": TABLE, "県土整備部": TABLE}))
    assert [(r.check, r.target, r.result) for r in result] == [
        ("workbook", "damage: book.xlsx", "OK"),
        ("sheet", "シート「危機管理課」", "OK"),
        ("sheet", "シート「県土整備部」", "OK"),
    ]


def test_a_sheet_named_with_a_trailing_space_is_found_and_says_its_name(tmp_path: Path) -> None:
    """「危機管理課 」 is 危機管理課's sheet, as a run reads it; the check says how it is named."""
    sheet = rows(workspace(tmp_path, {"危機管理課 ": TABLE, "県土整備部": TABLE}))[1]
    assert (sheet.target, sheet.result, sheet.detail) == (
        "シート「危機管理課」",
        "OK",
        "matrix table found (the sheet is named '危機管理課 ')",
    )


def test_a_missing_sheet_fails_naming_the_sheets_there(tmp_path: Path) -> None:
    """A department whose sheet is absent fails with the sheets the workbook has."""
    sheet = rows(workspace(tmp_path, {"危機管理課": TABLE}))[-1]
    assert (sheet.result, sheet.detail) == (
        "FAIL",
        "no sheet named '県土整備部'; sheets: 危機管理課",
    )


def test_a_missing_sheet_names_the_copy_that_looks_like_it(tmp_path: Path) -> None:
    """A sheet copied (Excel's 「県土整備部 (2)」) and the original deleted: the row names the
    copy and the name to give it."""
    sheet = rows(workspace(tmp_path, {"危機管理課": TABLE, "県土整備部 (2)": TABLE}))[-1]
    assert (sheet.result, sheet.detail) == (
        "FAIL",
        "no sheet named '県土整備部'; sheets: 危機管理課, 県土整備部 (2); "
        "'県土整備部 (2)' looks like a copy of it: rename it to '県土整備部'",
    )


def test_an_incident_list_without_type_records_fails_with_the_line_to_add(tmp_path: Path) -> None:
    """No./種別/市町村/状況 read as a table is reported to the admin with the config line."""
    sheet = rows(workspace(tmp_path, {"危機管理課": TABLE, "県土整備部": INCIDENTS}))[-1]
    assert sheet.result == "FAIL"
    assert "params.layouts に「県土整備部: {type: records}」を加えてください" in sheet.detail


def test_the_command_exits_1_when_an_input_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate --check-inputs` prints the table and exits 1; plain `validate` still passes."""
    path = workspace(tmp_path, {"危機管理課": TABLE})
    assert main(["validate", "-c", str(path)]) == 0
    assert main(["validate", "-c", str(path), "--check-inputs"]) == 1
    out = capsys.readouterr().out
    assert "fix the failures and run `automation validate --check-inputs` again" in out
