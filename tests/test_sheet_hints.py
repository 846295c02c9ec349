"""Specs for the hint on a missing department sheet: which sheet looks like it (never read)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from automation.config.loader import load_config
from automation.damage.sheet_hints import brief_ja, hint_en, hint_ja, is_copy, likely_sheet
from automation.runner import run_flow
from automation.state import Store
from automation.timeutil import JST
from tests.builders import xlsx_bytes

COPIES = [
    "危機管理課 (2)",
    "危機管理課（２）",
    "危機管理課_2",
    "危機管理課 のコピー",
    "Copy of 危機管理課",
]


@pytest.mark.parametrize("copy", COPIES)
def test_a_copy_by_any_spreadsheet_program_is_the_likely_sheet(copy: str) -> None:
    """Excel's 「X (2)」, LibreOffice's 「X_2」 and Google Sheets' copy names point to X."""
    sheets = ["記入方法", copy, "県土整備部"]
    assert likely_sheet("危機管理課", sheets, ["県土整備部"]) == copy
    assert is_copy("危機管理課", copy)


@pytest.mark.parametrize("renamed", ["危機管理課（報告）", "危機管理課R8", "【済】危機管理課"])
def test_a_tab_renamed_around_the_name_is_the_likely_sheet(renamed: str) -> None:
    """A sheet whose name holds the department's sheet name is likely it, but not a copy."""
    assert likely_sheet("危機管理課", ["記入方法", renamed], []) == renamed
    assert not is_copy("危機管理課", renamed)


def test_two_candidates_give_no_hint() -> None:
    """With two sheets that could be it, neither is named: a hint is never a guess."""
    assert likely_sheet("危機管理課", ["危機管理課 (2)", "危機管理課 (3)"], []) is None
    assert likely_sheet("危機管理課", ["危機管理課 (2)", "危機管理課（旧）"], []) is None


def test_a_sheet_another_department_reads_is_never_named() -> None:
    """企業局経理課's sheet holds 「企業局」 but is that department's, not 企業局's."""
    assert likely_sheet("企業局", ["企業局経理課"], ["企業局経理課", "危機管理課"]) is None


def test_a_copy_of_a_sheet_of_a_longer_named_department_is_never_named() -> None:
    """「危機管理課分室 (2)」 is the copy of 危機管理課分室's sheet, not of 危機管理課's."""
    sheets = ["危機管理課分室 (2)"]
    assert likely_sheet("危機管理課", sheets, ["危機管理課分室"]) is None
    assert likely_sheet("危機管理課分室", sheets, ["危機管理課"]) == "危機管理課分室 (2)"


def test_a_one_character_name_is_pointed_to_by_a_copy_mark_only() -> None:
    """「A」 is in too many names to say which holds it; 「A (2)」 is its copy all the same."""
    assert likely_sheet("A", ["DATA"], []) is None
    assert likely_sheet("A", ["DATA", "A (2)"], []) == "A (2)"


def test_the_department_is_told_which_sheet_is_its_copy_and_the_name_to_give_it() -> None:
    """The reminder's hint names the copy, then the fix: rename it to the configured name."""
    assert hint_ja("危機管理課", "危機管理課 (2)") == (
        "「危機管理課 (2)」がこの部局のシートのコピーのようです。"
        "シート名を「危機管理課」に変更してください。"
    )


def test_a_renamed_tab_is_not_called_a_copy() -> None:
    """A sheet renamed around the name is the department's sheet, to be renamed back."""
    assert hint_ja("危機管理課", "危機管理課R8") == (
        "「危機管理課R8」がこの部局のシートのようです。シート名を「危機管理課」に変更してください。"
    )


def test_the_report_says_the_hint_in_a_few_words() -> None:
    """The report's list of who is behind names the copy or the similar sheet briefly."""
    assert brief_ja("危機管理課", "危機管理課 (2)") == "コピー「危機管理課 (2)」あり"
    assert brief_ja("危機管理課", "危機管理課R8") == "似た名前の「危機管理課R8」あり"


def test_the_set_up_checks_say_the_hint_with_the_fix() -> None:
    """doctor and --check-inputs name the sheet, what it looks like, and the new name."""
    assert hint_en("危機管理課", "危機管理課 (2)") == (
        "'危機管理課 (2)' looks like a copy of it: rename it to '危機管理課'"
    )
    assert hint_en("危機管理課", "危機管理課R8") == (
        "'危機管理課R8' looks like it under another name: rename it to '危機管理課'"
    )


RUN_CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend: {type: local, root: inputs, artefacts: out, deliveries: sent}
directory:
  departments:
    - name: 危機管理課
      sheet: 危機管理課
      contacts: [{channel: mail, address: kiki@example.jp}]
    - name: 企業局
      sheet: 企業局
      contacts: [{channel: mail, address: kigyou@example.jp}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: book.xlsx
      report_to: [{channel: mail, address: bousai@example.jp}]
      deadlines: {every_hours: 3, remind_minutes_before: 30}
"""


def test_a_run_on_the_unchanged_workbook_reminds_with_the_sheet_found_before(
    tmp_path: Path,
) -> None:
    """The copy seen when the workbook was read is named by the reminder of a later run that
    does not read it (its version unchanged): the hint is kept in the state database."""
    (tmp_path / "automation.yaml").write_text(RUN_CONFIG, encoding="utf-8")
    (tmp_path / "inputs").mkdir()
    table = [["市町村", "死者"], ["前橋市", 1]]
    book = xlsx_bytes({"危機管理課": table, "企業局 (2)": table})
    (tmp_path / "inputs" / "book.xlsx").write_bytes(book)
    loaded = load_config(tmp_path / "automation.yaml")
    for hour, minute in ((9, 10), (11, 40)):
        now = datetime(2026, 9, 1, hour, minute, tzinfo=JST)
        asyncio.run(run_flow(loaded, "damage", now, clock=lambda now=now: now))
    with Store(loaded.resolve(loaded.config.state.path)) as store:
        (reminder,) = [e for e in store.outbox("damage") if e.recipient == "kigyou@example.jp"]
    assert "「企業局 (2)」がこの部局のシートのコピーのようです。" in reminder.bodies["txt"]
