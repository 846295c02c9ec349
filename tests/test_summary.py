"""Specs for the terminal summary of a damage run (``automation run --show``)."""

from __future__ import annotations

import unicodedata
from typing import Any

from automation.summary import format_summary


def _total(category: str, label: str, value: int, unit: str) -> dict[str, Any]:
    return {
        "label": label,
        "unit": unit,
        "category": category,
        "value": value,
        "unconfirmed": 0,
        "unconfirmed_where": [],
    }


def damage_record(**overrides: Any) -> dict[str, Any]:
    """A completed damage run's record with two totals and nothing else to say."""
    record: dict[str, Any] = {
        "flow": "typhoon",
        "status": "ok",
        "kind": "damage_rollup",
        "dry_run": False,
        "report_number": 1,
        "new_report": True,
        "as_of_ja": "2026年9月1日9時05分現在",
        "totals": {
            "dead": _total("人的被害", "死者", 1, "人"),
            "paddy": _total("その他", "田 流失・埋没", 12, "ha"),
        },
        "statuses": {},
        "changes": [],
        "departments": {},
        "not_reported": [],
        "problems": [],
        "artefacts": [],
        "deliveries": [],
    }
    record.update(overrides)
    return record


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_total_columns_line_up_by_display_width() -> None:
    """Full-width labels are padded by terminal columns, so the figures line up."""
    lines = format_summary(damage_record()).splitlines()
    rows = [line for line in lines if line.endswith(("人", "ha"))]
    figure_ends = {_width(line.rstrip("人ha").rstrip()) for line in rows}
    assert len(rows) == 2
    assert len(figure_ends) == 1, rows


def test_a_problem_is_listed_by_municipality_and_item_first() -> None:
    """A problem line starts with whose figure it is, as the record's headline says."""
    problem = {
        "department": "農政部",
        "where": "農政部!C9",
        "value": "若干",
        "message": "重傷者(人): 「若干」は数値として読めません。",
        "municipality": "館林市",
        "item": "重傷者",
        "headline": "館林市の重傷者: 若干（読めず） 農政部!C9",
    }
    text = format_summary(damage_record(problems=[problem]))
    assert "    館林市の重傷者: 若干（読めず） 農政部!C9" in text.splitlines()


def test_a_total_leaving_out_an_unreadable_cell_is_marked_in_the_summary() -> None:
    """The terminal line of a total carries the same marker as the report."""
    total = {
        **_total("人的被害", "軽傷者", 12, "人"),
        "unreadable": 1,
        "unreadable_where": ["館林市"],
    }
    text = format_summary(damage_record(totals={"injured_minor": total}))
    assert text.splitlines()[2].endswith("12 人（ほかに読めないセル 1件: 館林市）")


def test_departments_show_who_is_behind_and_each_last_change() -> None:
    """The summary lists who is behind and why, then each department's status and last change."""
    departments = {
        "危機管理課": {
            "status": "current",
            "changed_at": "2026-09-01T09:10:00+09:00",
            "behind_ja": None,
        },
        "産業経済部": {"status": "not_reported", "changed_at": None, "behind_ja": "未報告"},
    }
    lines = format_summary(
        damage_record(departments=departments, not_reported=["産業経済部"])
    ).splitlines()
    assert "  未報告・未更新: 産業経済部(未報告)" in lines
    assert "    危機管理課       報告済み   9月1日(火)9時10分" in lines
    assert "    産業経済部       未報告     更新なし" in lines


def test_a_missing_sheet_is_listed_with_the_copy_that_looks_like_it() -> None:
    """Who is behind shows the hint the report gave beside シートなし."""
    departments = {
        "企業局": {
            "status": "missing",
            "changed_at": None,
            "behind_ja": "シートなし",
            "likely_sheet_ja": "コピー「企業局 (2)」あり",
        },
    }
    lines = format_summary(damage_record(departments=departments, not_reported=["企業局"]))
    assert "  未報告・未更新: 企業局(シートなし、コピー「企業局 (2)」あり)" in lines.splitlines()


def test_an_unchanged_summary_says_whose_content_it_shows() -> None:
    """An unchanged run's summary says it shows the current report (or that there is none)."""
    stored = format_summary(damage_record(new_report=False, report_state="stored"))
    none = format_summary(damage_record(new_report=False, report_state="none"))
    assert "  以下は第1報の内容です（ブックは前回から変わっていません）。" in stored.splitlines()
    assert (
        "  示せる報告の内容はありません（ブックは前回から変わっていません）。" in none.splitlines()
    )


def test_a_change_counts_every_moved_municipality_beyond_those_listed() -> None:
    """The record lists 100 moved municipalities at most; ほか counts from parts_total."""
    parts = [{"text": f"地区{n} 1 → 2（+1、危機管理課）"} for n in range(100)]
    change = {"label": "死者", "unit": "人", "status": None, "before": 150, "after": 300}
    record = damage_record(changes=[change | {"parts": parts, "parts_total": 150}])
    lines = format_summary(record).splitlines()
    assert "      ほか 145市町村" in lines
