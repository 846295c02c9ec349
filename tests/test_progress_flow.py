"""Specs for the pure progress_collection flow across a whole collection window."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from automation.config.models import (
    Budget,
    Contact,
    Department,
    Directory,
    ProgressCollectionParams,
    Round,
)
from automation.flows.progress_collection import ProgressPlan, active_round, plan
from automation.ports import ListItem
from automation.timeutil import JST

DEADLINE = date(2026, 10, 15)  # Thursday; 10-12 (Mon) is スポーツの日


def at(day: date, hour: int = 9) -> datetime:
    """A JST time on ``day``."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=JST)


def mail(address: str) -> Contact:
    """A mail contact."""
    return Contact(channel="mail", address=address)


@pytest.fixture
def directory() -> Directory:
    """Two departments with DX leaders and escalation contacts; one leader leads both."""
    return Directory(
        departments=(
            Department(
                name="総務部",
                dx_leaders=(mail("shared-leader@example.jp"),),
                escalation=(mail("somu-head@example.jp"),),
            ),
            Department(
                name="農政部",
                dx_leaders=(mail("shared-leader@example.jp"), mail("nousei-dx@example.jp")),
                escalation=(mail("nousei-head@example.jp"),),
            ),
            Department(
                name="企業局",
                dx_leaders=(mail("kigyou-dx@example.jp"),),
                escalation=(mail("kigyou-head@example.jp"),),
            ),
        )
    )


@pytest.fixture
def params() -> ProgressCollectionParams:
    """The half-year review: deadline 10/15, reminders 5/3/1 business days before, escalation 1 after."""
    return ProgressCollectionParams(
        programme="DX推進計画",
        list="list.csv",
        rounds=(Round(deadline=DEADLINE),),
        required=("実績", "進捗状況", "次期予定"),
        numeric=("KPI",),
        issue_field="課題",
        budget=Budget(content="予算要求内容", amount="予算要求額"),
        secretariat=(mail("secretariat@example.jp"),),
        summary_to=(mail("hq@example.jp"),),
    )


def item(
    item_id: int, department: str, project: str, period: str = "2026上期", **fields: object
) -> ListItem:
    """A complete entry unless fields override it."""
    values: dict[str, object] = {
        "対象期間": period,
        "部局": department,
        "事業名": project,
        "実績": "実施",
        "進捗状況": "順調",
        "次期予定": "継続",
        "KPI": 10,
        "課題": "",
        "予算要求内容": "",
        "予算要求額": None,
    }
    values.update(fields)
    return ListItem(str(item_id), f"https://example.jp/items/{item_id}", None, values)


@pytest.fixture
def items() -> list[ListItem]:
    """One incomplete entry in 総務部 and 農政部 each; 企業局 complete."""
    return [
        item(1, "総務部", "電子申請", 実績=""),
        item(2, "農政部", "スマート農業", 次期予定=""),
        item(3, "農政部", "農地台帳", 進捗状況="遅れ", 課題="入札不調"),
        item(4, "企業局", "スマートメーター", 予算要求内容="機器更新", 予算要求額="1,200"),
    ]


def kinds(result: ProgressPlan) -> list[tuple[str, str]]:
    """(kind, recipient) of every planned message, sorted."""
    return sorted((m.kind, m.contact.address) for m in result.messages)


def test_the_round_collects_the_half_before_its_deadline(params: ProgressCollectionParams) -> None:
    """A deadline in October collects 上期 (April-September) of the same fiscal year."""
    _, period, _ = active_round(params, date(2026, 10, 7))
    assert (period.key, period.label_ja) == ("2026H1", "令和8年度上期")


def test_reminder_days_are_business_days_before_the_deadline(
    params: ProgressCollectionParams,
) -> None:
    """5, 3 and 1 business days before 10/15 skip the weekend and スポーツの日: 10/7, 10/9, 10/14."""
    phases = {
        d: active_round(params, d)[2] for d in (date(2026, 10, 7) + timedelta(n) for n in range(10))
    }
    assert [d for d, phase in phases.items() if phase == "reminder"] == [
        date(2026, 10, 7),
        date(2026, 10, 9),
        date(2026, 10, 14),
    ]
    assert phases[date(2026, 10, 12)] == "idle"
    assert phases[date(2026, 10, 16)] == "escalation"


def test_reminder_lists_exactly_the_leaders_incomplete_items(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """A leader of two departments gets one message with the incomplete items of both."""
    result = plan(params, directory, items, at(date(2026, 10, 14)))
    reminders = {m.contact.address: m for m in result.messages if m.kind == "reminder"}
    assert sorted(reminders) == ["nousei-dx@example.jp", "shared-leader@example.jp"]
    shared = reminders["shared-leader@example.jp"]
    assert [c.item.id for c in shared.context["items"]] == ["1", "2"]
    assert shared.context["contact_departments"] == ["総務部", "農政部"]


def test_complete_departments_get_no_reminder(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """A leader whose items are all complete is not reminded."""
    result = plan(params, directory, items, at(date(2026, 10, 14)))
    assert "kigyou-dx@example.jp" not in [m.contact.address for m in result.messages]


def test_no_reminder_on_days_between_reminder_days(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """On 10/8 (not a reminder day) and on the holiday 10/12 nothing is sent."""
    assert plan(params, directory, items, at(date(2026, 10, 8))).messages == []
    assert plan(params, directory, items, at(date(2026, 10, 12))).messages == []


def test_reminder_occasion_is_per_day(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """Reminders of one day share one occasion, so reruns that day are deduplicated."""
    morning = plan(params, directory, items, at(date(2026, 10, 14), 9))
    evening = plan(params, directory, items, at(date(2026, 10, 14), 17))
    assert {m.occasion for m in morning.messages if m.kind == "reminder"} == {
        "reminder:2026H1:2026-10-14"
    }
    assert [m.key("f") for m in morning.messages] == [m.key("f") for m in evening.messages]


def test_deadline_day_reminds_and_summarises(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """On the deadline leaders with gaps are reminded once more and HQ gets the summary."""
    result = plan(params, directory, items, at(DEADLINE))
    assert kinds(result) == [
        ("reminder", "nousei-dx@example.jp"),
        ("reminder", "shared-leader@example.jp"),
        ("summary", "hq@example.jp"),
    ]
    assert result.artefact == "進捗一覧_2026H1.xlsx"


def test_summary_is_sent_once_per_round(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """After the summary went out, later runs do not plan it again."""
    result = plan(
        params, directory, items, at(date(2026, 10, 20)), sent=frozenset({"summary:2026H1"})
    )
    assert [m for m in result.messages if m.kind == "summary"] == []


def test_summary_on_demand_is_always_planned(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """An on-demand summary goes out even before the deadline, under its own occasion."""
    result = plan(params, directory, items, at(date(2026, 10, 1)), summary_requested=True)
    (summary,) = [m for m in result.messages if m.kind == "summary"]
    assert summary.occasion == "summary:2026H1:2026-10-01T09:00:00+09:00"


def test_escalation_goes_to_heads_and_secretariat(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """One business day after the deadline heads of departments with gaps and the secretariat are told."""
    result = plan(
        params, directory, items, at(date(2026, 10, 16)), sent=frozenset({"summary:2026H1"})
    )
    assert kinds(result) == [
        ("escalation", "nousei-head@example.jp"),
        ("escalation", "somu-head@example.jp"),
        ("non_submitters", "secretariat@example.jp"),
    ]


def test_whole_window_day_by_day(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """Simulating every day from 10/1 to 10/31 gives reminders on 3 days, the summary, one escalation."""
    sent: set[str] = set()
    log: dict[str, list[str]] = {}
    for offset in range(31):
        day = date(2026, 10, 1) + timedelta(offset)
        result = plan(params, directory, items, at(day), sent=frozenset(sent))
        for message in result.messages:
            log.setdefault(message.kind, []).append(day.isoformat())
            sent.add(message.occasion)
    assert sorted(set(log["reminder"])) == ["2026-10-07", "2026-10-09", "2026-10-14", "2026-10-15"]
    assert log["summary"] == ["2026-10-15"]
    assert sorted(set(log["escalation"])) == ["2026-10-16"]


def test_incomplete_reasons_are_given_per_field(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """Empty required fields, a status outside the set and a non-numeric KPI are each named."""
    entry = item(9, "総務部", "窓口DX", 実績="", 進捗状況="遅延", KPI="多数")
    (check,) = plan(params, directory, [entry], at(date(2026, 10, 14))).report.checks
    assert [(i.field, i.reason) for i in check.issues] == [
        ("実績", "未記入です"),
        ("進捗状況", "「遅延」は選択肢（順調・やや遅れ・遅れ・完了・未着手）にありません"),
        ("KPI", "「多数」は数値ではありません"),
    ]


@pytest.mark.parametrize(
    "written", ["2026上期", "R8上期", "2026H1", "令和8年度上期", "FY2026 H1", "２０２６上期"]
)
def test_period_spellings_are_understood(
    params: ProgressCollectionParams, directory: Directory, written: str
) -> None:
    """The period column may be written in any of the usual forms."""
    result = plan(
        params, directory, [item(1, "総務部", "x", period=written)], at(date(2026, 10, 14))
    )
    assert len(result.report.checks) == 1
    assert [p for p in result.report.problems if p.item_id == "1"] == []


def test_unreadable_period_is_reported_with_the_item_id(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A period nobody can read is a problem naming the item, not silently skipped."""
    result = plan(
        params, directory, [item(7, "総務部", "x", period="2026年上")], at(date(2026, 10, 14))
    )
    assert next((p.item_id, p.message) for p in result.report.problems) == (
        "7",
        "対象期間「2026年上」を読めません。「2026H1」や「令和8年度上期」のように書いてください。",
    )


def test_other_periods_are_ignored(params: ProgressCollectionParams, directory: Directory) -> None:
    """Entries of other periods are not part of this round."""
    result = plan(
        params, directory, [item(1, "総務部", "x", period="2025下期")], at(date(2026, 10, 14))
    )
    assert result.report.checks == []


def test_unknown_department_is_reported(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """An entry for a department not in the directory goes to the secretariat's problem list."""
    result = plan(params, directory, [item(5, "DX課", "x")], at(date(2026, 10, 14)))
    assert result.report.problems[0].item_id == "5"
    assert "部局「DX課」が部局一覧（ディレクトリ）にありません" in result.report.problems[0].message
    assert ("input_problems", "secretariat@example.jp") in kinds(result)


def test_duplicate_entry_is_reported_and_counted_once(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """Two entries for one project and period: the first is used, the second is a problem."""
    result = plan(
        params, directory, [item(1, "総務部", "x"), item(2, "総務部", "x")], at(date(2026, 10, 14))
    )
    assert [c.item.id for c in result.report.checks] == ["1"]
    assert "重複しています（ID 1 と ID 2）" in result.report.problems[0].message


def test_department_without_leader_is_reported(params: ProgressCollectionParams) -> None:
    """A directory entry with no DX leader cannot be reminded, and the secretariat is told."""
    bare = Directory(departments=(Department(name="総務部", escalation=(mail("h@example.jp"),)),))
    result = plan(params, bare, [item(1, "総務部", "x", 実績="")], at(date(2026, 10, 14)))
    assert any(
        "DX推進リーダーの連絡先がディレクトリにありません" in p.message
        for p in result.report.problems
    )


def test_summary_figures(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """Completion per department, status counts, delayed projects and the budget total."""
    report = plan(params, directory, items, at(DEADLINE)).report
    assert [(d.name, d.complete, d.total) for d in report.completion] == [
        ("総務部", 0, 1),
        ("農政部", 1, 2),
        ("企業局", 1, 1),
    ]
    assert report.status_counts == {"順調": 3, "やや遅れ": 0, "遅れ": 1, "完了": 0, "未着手": 0}
    assert [c.project for c in report.delayed] == ["農地台帳"]
    assert report.budget_total == 1200
