"""Specs for comparing a damage workbook with what ``automation provision workbook`` would
build: what the run cannot read fails, what it reads through without typing-time checks warns."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest

from automation.config.models import DamageRollupParams
from automation.flows.provision import workbook_plan
from automation.flows.provision_check import Finding, check_workbook
from automation.input_workbook import build_input_workbook
from tests.test_provision_workbook import CONFIGS, directory, params

MB = 1024 * 1024
RECORDS = {"県土整備部": {"type": "records", "statuses": ["通行止め", "片側交互通行", "解除"]}}


def check(p: DamageRollupParams, data: bytes, *departments: str) -> list[Finding]:
    plan = workbook_plan(p, directory(*departments))
    return check_workbook(plan, p, data, "被害状況報告.xlsx", max_bytes=25 * MB)


def generated(p: DamageRollupParams, *departments: str) -> bytes:
    return build_input_workbook(workbook_plan(p, directory(*departments)))


def hand_made(**sheets: list[list[Any]]) -> bytes:
    """A workbook typed by hand: values only, no validation, no protection."""
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]  # the default sheet is replaced
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_a_generated_workbook_matches_its_own_plan(config: str) -> None:
    """What provision builds is found to be what provision would build: no finding."""
    p, d = CONFIGS[config]()
    plan = workbook_plan(p, d)

    found = check_workbook(
        plan, p, build_input_workbook(plan), "被害状況報告.xlsx", max_bytes=25 * MB
    )

    assert found == []


def test_a_readable_hand_made_workbook_only_warns() -> None:
    """A hand-made sheet the run reads gets warnings (no validation, unprotected), no failure."""
    p = params(municipalities=["前橋市", "高崎市"], catalogue={"only": ["dead", "missing"]})
    data = hand_made(
        危機管理課=[["市町村", "死者（人）", "行方不明者（人）"], ["前橋市", 0, None], ["高崎市"]]
    )

    found = check(p, data, "危機管理課")

    assert found == [
        Finding("warn", "no 記入方法 sheet (how to fill in)"),
        Finding("warn", "「危機管理課」: no data validation on 死者（人）、行方不明者（人）"),
        Finding("warn", "「危機管理課」: not protected (its headers can be edited)"),
    ]


def test_a_missing_department_sheet_fails() -> None:
    """A department whose sheet is not in the workbook is not read at all: a failure."""
    p = params(catalogue={"only": ["dead"]})
    data = generated(p, "危機管理課")

    found = check(p, data, "危機管理課", "健康福祉部")

    assert found[0] == Finding(
        "fail", "no sheet 「健康福祉部」 for 健康福祉部 (sheets: 記入方法、危機管理課、選択肢)"
    )


def test_a_missing_department_sheet_names_the_copy_that_looks_like_it() -> None:
    """The sheet copied and the original deleted: the failure names the copy and the fix."""
    p = params(catalogue={"only": ["dead"]})
    data = hand_made(危機管理課=[["市町村", "死者"]], **{"健康福祉部 (2)": [["市町村", "死者"]]})

    found = check(p, data, "危機管理課", "健康福祉部")

    assert found[0] == Finding(
        "fail",
        "no sheet 「健康福祉部」 for 健康福祉部 (sheets: 危機管理課、健康福祉部 (2)); "
        "'健康福祉部 (2)' looks like a copy of it: rename it to '健康福祉部'",
    )


def test_a_sheet_named_with_a_space_a_tab_does_not_show_is_checked_as_the_run_reads_it() -> None:
    """A sheet the run finds despite a trailing space is checked, with a warning to rename it."""
    p = params(municipalities=["前橋市"], catalogue={"only": ["dead"]})
    data = hand_made(**{"危機管理課\u3000": [["市町村", "死者（人）"], ["前橋市", 0]]})

    found = check(p, data, "危機管理課")

    assert [f.level for f in found].count("fail") == 0
    assert (
        Finding(
            "warn",
            r"「危機管理課」 for 危機管理課 is named '危機管理課\u3000' (spaces a tab does not show, "
            "or full- and half-width forms): runs read it; rename it to '危機管理課' to match the "
            "plan",
        )
        in found
    )


def test_a_missing_sheet_s_hint_never_names_a_sheet_another_directory_department_reads() -> None:
    """A sheet of a department this flow does not read is still that department's: no hint."""
    p = params(catalogue={"only": ["dead"]})
    data = hand_made(危機管理課=[["市町村", "死者"]], 企業局経理課=[["市町村", "死者"]])
    plan = workbook_plan(p, directory("危機管理課", "企業局"))
    sheets = {"危機管理課": "危機管理課", "企業局": "企業局", "企業局経理課": "企業局経理課"}

    found = check_workbook(plan, p, data, "被害状況報告.xlsx", max_bytes=25 * MB, sheets=sheets)

    assert found[0] == Finding(
        "fail", "no sheet 「企業局」 for 企業局 (sheets: 危機管理課、企業局経理課)"
    )


def test_a_sheet_whose_table_the_run_cannot_find_fails() -> None:
    """A sheet without the header the reader looks for fails with the reader's own words."""
    p = params(catalogue={"only": ["dead"]})
    data = hand_made(危機管理課=[["メモ"], ["前橋市", 1]])

    found = check(p, data, "危機管理課")

    assert found[0].level == "fail"
    assert found[0].text.startswith("「危機管理課」: the run finds no matrix table: 表の見出し")


def test_statuses_changed_after_provisioning_are_named() -> None:
    """A list whose choices differ from the configuration's names what is lacking and extra."""
    before = params(layouts=RECORDS)
    data = generated(before, "県土整備部")
    after = params(
        layouts={
            "県土整備部": {"type": "records", "statuses": ["通行止め", "全面通行止め", "解除"]}
        }
    )

    found = check(after, data, "県土整備部")

    assert found == [
        Finding(
            "warn",
            "「県土整備部」: the list of 状況 (E5) lacks 全面通行止め (in the configuration) and "
            "offers 片側交互通行 (not in the configuration)",
        )
    ]


def test_a_column_added_to_the_catalogue_later_is_named() -> None:
    """An item gained after provisioning is named as a missing column (a warning)."""
    # the run reads the other columns
    data = generated(params(catalogue={"only": ["dead"]}), "危機管理課")

    found = check(params(catalogue={"only": ["dead", "missing"]}), data, "危機管理課")

    assert found == [Finding("warn", "「危機管理課」: no column 行方不明者（人）")]


def test_a_file_that_is_not_a_workbook_fails_with_the_readers_message() -> None:
    """Bytes the run cannot open fail with the reader's message and fix."""
    found = check(params(), b"not a workbook", "危機管理課")

    assert [f.level for f in found] == ["fail"]
    assert "Excel ブック" in found[0].text


def test_validations_excel_keeps_in_its_2010_extension_are_read() -> None:
    """A list validation Excel keeps in its 2010 extension counts: its range and source are read."""
    # source on another sheet, as Excel saves it (x14:dataValidation with xm:sqref)
    from automation.damage.sheet_rules import sheet_rules  # noqa: PLC0415

    xml = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main" '
        'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
        '<sheetProtection sheet="1"/><extLst><ext><x14:dataValidations count="1">'
        '<x14:dataValidation type="list"><x14:formula1><xm:f>選択肢!$A$1:$A$4</xm:f>'
        "</x14:formula1><xm:sqref>E5:E304</xm:sqref></x14:dataValidation>"
        "</x14:dataValidations></ext></extLst></worksheet>"
    ).encode()

    rules = sheet_rules(xml)

    found = rules.at(4, 4)
    assert rules.protected
    assert found is not None and (found.kind, found.formula) == ("list", "選択肢!$A$1:$A$4")
    assert rules.at(3, 4) is None
