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
    SummaryAfter,
)
from automation.flows.progress_collection import ProgressPlan, active_round, plan
from automation.plan import LIST_LIMIT
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


def test_deadline_day_reminds_leaders_with_gaps(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """On the deadline leaders with gaps are reminded once more; HQ waits for the close."""
    result = plan(params, directory, items, at(DEADLINE, 17))
    assert kinds(result) == [
        ("reminder", "nousei-dx@example.jp"),
        ("reminder", "shared-leader@example.jp"),
    ]


def test_summary_goes_out_when_the_round_closes(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """By default the round closes at the next business day's first run from 09:00."""
    result = plan(params, directory, items, at(date(2026, 10, 16), 9))
    assert ("summary", "hq@example.jp") in kinds(result)
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
    """Simulating every day from 10/1 to 10/31 gives reminders on 4 days, the summary, one escalation."""
    sent: set[str] = set()
    log: dict[str, list[str]] = {}
    for offset in range(31):
        day = date(2026, 10, 1) + timedelta(offset)
        result = plan(params, directory, items, at(day), sent=frozenset(sent))
        for message in result.messages:
            log.setdefault(message.kind, []).append(day.isoformat())
            sent.add(message.occasion)
    assert sorted(set(log["reminder"])) == ["2026-10-07", "2026-10-09", "2026-10-14", "2026-10-15"]
    assert log["summary"] == ["2026-10-16"]
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
        ("KPI", "「多数」は数値ではありません。数字で入力してください（80、1,200、80% など）"),
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


# --- the period a round collects ----------------------------------------------------------


def test_a_round_due_inside_the_half_collects_that_half(
    params: ProgressCollectionParams,
) -> None:
    """A 上期 round due 9/30 (no period given) collects 上期, not the 下期 before it."""
    september = params.model_copy(update={"rounds": (Round(deadline=date(2026, 9, 30)),)})
    _, period, _ = active_round(september, date(2026, 9, 24))
    assert period.key == "2026H1"


def admins() -> tuple[Contact, ...]:
    """The service's admin contacts."""
    return (mail("admin@example.jp"),)


def test_a_list_without_entries_of_the_period_alerts_the_admins(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """No entry of the period in any department alerts the admins, not each department."""
    # the secretariat is not told department by department that each has no entry
    old = [item(1, "総務部", "電子申請", period="2025下期")]
    result = plan(params, directory, old, at(date(2026, 10, 7)), admins=admins())
    assert result.empty_round
    assert kinds(result) == [("alert", "admin@example.jp")]
    assert not [
        p for p in result.report.problems if "この期間の項目が一覧にありません" in p.message
    ]


def test_the_empty_round_alert_says_what_was_looked_for_and_found(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """The alert names the period collected, the periods the list holds, and the fix."""
    old = [item(1, "総務部", "a", period="2025下期"), item(2, "農政部", "b", period="R7下期")]
    (message,) = plan(params, directory, old, at(date(2026, 10, 7)), admins=admins()).messages
    alert = message.context["alert"]
    assert (message.occasion, alert.title, alert.lines, alert.action) == (
        "empty_round:2026H1",
        "DX推進計画: 一覧に令和8年度上期（2026H1）の項目が1件もありません",
        (
            "締切 10月15日(木) の回は令和8年度上期の項目を集めますが、一覧の 2件 のうち該当するものは0件でした。",
            "一覧にある対象期間: 2025H2 2件",
            "各部局の「項目がありません」は事務局に通知していません。",
        ),
        "設定の rounds[].period が集める期間か確かめてください（例: period: 2026H1）。"
        "期間が正しければ、一覧に各部局の項目を作成してください。",
    )


def test_the_empty_round_alert_goes_to_the_secretariat_without_admins(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """With no service.alerts configured the secretariat gets the alert."""
    result = plan(params, directory, [], at(date(2026, 10, 7)))
    assert kinds(result) == [("alert", "secretariat@example.jp")]


def test_an_empty_round_holds_the_closing_summary(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """HQ gets no summary of a round the list has no entry for; the admins know why."""
    result = plan(params, directory, [], at(date(2026, 10, 16)), admins=admins())
    assert not result.summary_due


# --- budget requests ----------------------------------------------------------------------


def amount_only(params: ProgressCollectionParams) -> ProgressCollectionParams:
    """The same round on a list with an amount column and no content column."""
    return params.model_copy(update={"budget": Budget(amount="予算要求額")})


def test_budget_requests_are_counted_by_amount(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """Without a content column, entries with an amount are the requests; blank and 0 are not."""
    entries = [
        item(1, "総務部", "a", 予算要求額="1,500"),
        item(2, "総務部", "b", 予算要求額=None),
        item(3, "農政部", "c", 予算要求額=0),
        item(4, "農政部", "d", 予算要求額="２００"),
    ]
    report = plan(amount_only(params), directory, entries, at(date(2026, 10, 7))).report
    assert [(b.check.project, b.content, b.amount) for b in report.budget] == [
        ("a", "", 1500),
        ("d", "", 200),
    ]
    assert report.budget_total == 1700


def test_a_content_without_an_amount_is_not_a_budget_request(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A described request with no amount is not counted (nor summed)."""
    entries = [item(1, "総務部", "a", 予算要求内容="サーバ更新", 予算要求額=None)]
    assert plan(params, directory, entries, at(date(2026, 10, 7))).report.budget == []


def test_an_unreadable_amount_is_an_issue_without_a_content_column(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """An amount that is not an amount is named, whether or not the list describes it."""
    entry = item(1, "総務部", "a", 予算要求額="未定")
    (check,) = plan(amount_only(params), directory, [entry], at(date(2026, 10, 7))).report.checks
    assert [(i.field, i.reason) for i in check.issues] == [
        (
            "予算要求額",
            "「未定」は金額（千円）として読めません。千円単位の数字（1,200）か、"
            "単位をつけて（1,200千円・120万円・1,200,000円）入力してください",
        )
    ]


# --- reminders ----------------------------------------------------------------------------


def test_deadline_day_reminders_can_be_turned_off(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """remind_on_deadline: false leaves the deadline day to the leaders."""
    quiet = params.model_copy(update={"remind_on_deadline": False})
    assert plan(quiet, directory, items, at(DEADLINE)).messages == []
    assert kinds(plan(quiet, directory, items, at(date(2026, 10, 14))))[0][0] == "reminder"


def test_local_items_link_through_the_url_template(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """An item without a link gets link_template with its id; one with a link keeps it."""
    linked = params.model_copy(
        update={"link_template": "https://sp.example.jp/Lists/p/DispForm.aspx?ID={id}"}
    )
    bare = ListItem("7", None, None, item(7, "総務部", "a", 実績="").fields)
    own = item(8, "農政部", "b", 実績="")
    reminders = plan(linked, directory, [bare, own], at(date(2026, 10, 14))).messages
    links = {
        c.item.id: c.item.link
        for m in reminders
        if m.kind == "reminder"
        for c in m.context["items"]
    }
    assert links == {
        "7": "https://sp.example.jp/Lists/p/DispForm.aspx?ID=7",
        "8": "https://example.jp/items/8",
    }


# --- the HQ summary -----------------------------------------------------------------------


def closing(
    params: ProgressCollectionParams, business_days: int, at_: str
) -> ProgressCollectionParams:
    """The round closing ``business_days`` after the deadline at ``at_``."""
    return params.model_copy(
        update={"summary_after": SummaryAfter(business_days=business_days, at=at_)}
    )


def summaries(result: ProgressPlan) -> list[str]:
    """Occasions of the planned HQ summaries."""
    return [m.occasion for m in result.messages if m.kind == "summary"]


def test_the_closing_summary_waits_for_the_configured_time(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """summary_after {business_days: 2, at: 13:00}: nothing on 10/16, nor 10/19 at noon."""
    later = closing(params, 2, "13:00")
    assert summaries(plan(later, directory, items, at(date(2026, 10, 16), 17))) == []
    assert summaries(plan(later, directory, items, at(date(2026, 10, 19), 12))) == []
    assert summaries(plan(later, directory, items, at(date(2026, 10, 19), 13))) == [
        "summary:2026H1"
    ]


def test_the_closing_summary_is_planned_once_per_round(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """Once queued (sent or not yet), the closing summary is not planned again."""
    first = plan(params, directory, items, at(date(2026, 10, 16)))
    again = plan(params, directory, items, at(date(2026, 10, 16), 10), previous=first.memory)
    assert (summaries(first), summaries(again)) == (["summary:2026H1"], [])


def test_a_missed_close_is_caught_up_on_the_next_business_day(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """If no run came on 10/16, the summary waits for Monday 10/19, not the weekend."""
    assert summaries(plan(params, directory, items, at(date(2026, 10, 17)))) == []
    assert summaries(plan(params, directory, items, at(date(2026, 10, 19)))) == ["summary:2026H1"]


def test_the_summary_says_what_changed_since_the_previous_one(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """An on-demand summary on 10/14, then entries completed: the closing one names the moves."""
    early = plan(params, directory, items, at(date(2026, 10, 14)), summary_requested=True)
    assert early.changes is None
    later_items = [
        item(1, "総務部", "電子申請"),
        item(2, "農政部", "スマート農業", 次期予定="", 進捗状況="やや遅れ"),
        item(3, "農政部", "農地台帳", 進捗状況="遅れ", 課題="入札不調"),
        item(4, "企業局", "スマートメーター", 予算要求内容="機器更新", 予算要求額="1,500"),
    ]
    result = plan(params, directory, later_items, at(date(2026, 10, 16)), previous=early.memory)
    changes = result.changes
    assert changes is not None
    assert (changes.complete, changes.since_ja) == ((2, 3), "10月14日(水) 09:00")
    assert [(d.name, d.before_text, d.after_text) for d in changes.departments] == [
        ("総務部", "0/1", "1/1")
    ]
    assert changes.newly_delayed == ("農政部「スマート農業」",)
    assert (changes.budget_count, changes.budget_total) == ((1, 1), (1200, 1500))


def test_the_closing_summary_follows_an_earlier_one_on_demand(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """A summary asked for before the close does not replace the closing one."""
    early = plan(params, directory, items, at(date(2026, 10, 14)), summary_requested=True)
    result = plan(params, directory, items, at(date(2026, 10, 16)), previous=early.memory)
    assert summaries(result) == ["summary:2026H1"]
    assert result.changes is not None and result.changes.nothing


# --- notices about the list's content -----------------------------------------------------


def test_a_list_notice_goes_out_once_per_round(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """企業局 without an entry is told to the secretariat on the first day, then not again."""
    entries = [i for i in items if i.fields["部局"] != "企業局"]
    sent_days = []
    memory = None
    for offset in range(21):
        day = date(2026, 10, 1) + timedelta(offset)
        result = plan(params, directory, entries, at(day), previous=memory)
        memory = result.memory
        if any(m.kind == "input_problems" for m in result.messages):
            sent_days.append(day.isoformat())
    assert sent_days == ["2026-10-07"]  # the first reminder day: the round's window opens


def test_a_new_problem_is_told_with_the_count_of_open_ones(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """A duplicate entered later is notified alone; the earlier, still open one is counted."""
    entries = [i for i in items if i.fields["部局"] != "企業局"]
    first = plan(params, directory, entries, at(date(2026, 10, 7)))
    duplicate = item(9, "総務部", "電子申請")
    result = plan(
        params, directory, [*entries, duplicate], at(date(2026, 10, 8)), previous=first.memory
    )
    (notice,) = [m for m in result.messages if m.kind == "input_problems"]
    assert [p.item_id for p in notice.context["problems"]] == ["9"]
    assert notice.context["still_open"] == 1


def test_no_list_notice_on_a_holiday_or_outside_the_round(
    params: ProgressCollectionParams, directory: Directory, items: list[ListItem]
) -> None:
    """Even without memory: nothing on スポーツの日 10/12, on 9/30 or on 11/2."""
    entries = [i for i in items if i.fields["部局"] != "企業局"]
    for day in (date(2026, 10, 12), date(2026, 9, 30), date(2026, 11, 2)):
        planned = plan(params, directory, entries, at(day)).messages
        assert [m for m in planned if m.kind == "input_problems"] == [], day


def test_a_notice_lists_at_most_list_limit_problems_and_the_rest_come_next_time(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """150 unusable entries: 100 are listed and remembered; the next notice lists the other 50."""
    known = [item(1, "総務部", "電子申請"), item(2, "農政部", "農業"), item(3, "企業局", "水道")]
    entries = [*known, *(item(100 + n, f"架空部{n}", "事業") for n in range(150))]
    first = plan(params, directory, entries, at(date(2026, 10, 7)))
    (notice,) = [m for m in first.messages if m.kind == "input_problems"]
    assert len(notice.context["problems"]) == LIST_LIMIT
    assert notice.context["later"] == 50
    second = plan(params, directory, entries, at(date(2026, 10, 8)), previous=first.memory)
    (rest,) = [m for m in second.messages if m.kind == "input_problems"]
    listed = {p.item_id for p in notice.context["problems"]}
    assert {p.item_id for p in rest.context["problems"]}.isdisjoint(listed)
    assert (len(rest.context["problems"]), rest.context["later"]) == (50, 0)
