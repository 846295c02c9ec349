"""Specs for reading progress entries whatever the list's column types: SharePoint returns
rich text as HTML, several choices or lookups as arrays, a hyperlink as an object
(fieldValueSet), and people type statuses, departments and amounts in their own way."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from automation.config.models import (
    Budget,
    Contact,
    Department,
    Directory,
    ProgressCollectionParams,
    Round,
)
from automation.flows.progress_collection import ProgressReport, plan
from automation.ports import ListItem
from automation.timeutil import JST

RICH_EMPTY = '<div class="ExternalClass4F1A"><br></div>'
RICH_ISSUE = '<div class="ExternalClass4F1A"><p>入札不調&amp;再公告</p><p>&#160;</p></div>'


def mail(address: str) -> Contact:
    """A mail contact."""
    return Contact(channel="mail", address=address)


@pytest.fixture
def params() -> ProgressCollectionParams:
    """A 上期 round due 10/15 with a KPI, a stated issue and a budget amount (千円)."""
    return ProgressCollectionParams(
        programme="DX推進計画",
        list="list.csv",
        rounds=(Round(deadline=date(2026, 10, 15)),),
        required=("実績", "進捗状況", "次期予定"),
        numeric=("KPI",),
        issue_field="課題",
        budget=Budget(amount="予算要求額"),
        secretariat=(mail("secretariat@example.jp"),),
    )


@pytest.fixture
def directory() -> Directory:
    """Two departments."""
    return Directory(
        departments=tuple(
            Department(name=name, dx_leaders=(mail(f"{n}@example.jp"),))
            for n, name in enumerate(("総務部", "農政部"))
        )
    )


def entry(**fields: object) -> ListItem:
    """A complete 総務部 entry unless ``fields`` override it."""
    values: dict[str, object] = {
        "対象期間": "令和8年度上期",
        "部局": "総務部",
        "事業名": "電子申請",
        "実績": "実施",
        "進捗状況": "順調",
        "次期予定": "継続",
        "KPI": 10.0,
    }
    values.update(fields)
    return ListItem("7", "https://example.jp/items/7", None, values)


def report(
    params: ProgressCollectionParams, directory: Directory, **fields: object
) -> ProgressReport:
    """The round on 10/16 with one entry."""
    now = datetime(2026, 10, 16, 9, tzinfo=JST)
    return plan(params, directory, [entry(**fields)], now).report


def issues(result: ProgressReport) -> list[tuple[str, str]]:
    """(field, reason) of the one entry's issues."""
    (check,) = result.checks
    return [(i.field, i.reason) for i in check.issues]


def test_an_emptied_rich_text_field_is_unfilled(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A rich-text field holding only the editor's empty markup counts as not filled in."""
    assert issues(report(params, directory, 実績=RICH_EMPTY)) == [("実績", "未記入です")]


def test_rich_text_is_read_as_its_text(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """HTML of a rich-text field reaches the summary as the text people typed."""
    result = report(params, directory, 進捗状況="遅れ", 課題=RICH_ISSUE)
    assert [c.item.fields["課題"] for c in result.delayed] == ["入札不調&再公告"]


def test_a_status_chosen_in_a_multi_choice_column_is_read(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A status from a multi-choice column (an array of one string) is that status."""
    result = report(params, directory, 進捗状況=["やや遅れ"])
    assert ([c.status for c in result.checks], issues(result)) == (["やや遅れ"], [])


def test_a_status_with_spaces_or_full_width_forms_is_the_configured_one(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A status typed with spaces around or inside it (「　やや 遅れ 」) counts as やや遅れ."""
    result = report(params, directory, 進捗状況="　やや 遅れ ")
    assert (result.status_counts["やや遅れ"], issues(result)) == (1, [])


def test_a_department_from_a_lookup_column_is_read_by_its_value(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A multi-value lookup ({LookupId, LookupValue}) names the department by its value."""
    result = report(params, directory, 部局=[{"LookupId": 3, "LookupValue": "農政部"}])
    assert [c.department for c in result.checks] == ["農政部"]


def test_a_department_with_a_stray_inner_space_is_the_directory_one(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """「総務 部」 is the directory's 総務部."""
    assert [c.department for c in report(params, directory, 部局="総務 部").checks] == ["総務部"]


def test_a_project_in_a_hyperlink_column_is_named_by_its_description(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A hyperlink value ({Description, Url}) names the project by its description."""
    link = {"Description": "オンライン申請", "Url": "https://example.jp/dx/1"}
    assert [c.project for c in report(params, directory, 事業名=link).checks] == ["オンライン申請"]


def test_a_period_in_a_multi_choice_column_is_read(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A period chosen in a multi-choice column (an array) is that period."""
    assert len(report(params, directory, 対象期間=["令和8年度上期"]).checks) == 1


@pytest.mark.parametrize(
    ("written", "thousands"),
    [("1,200,000円", 1200), ("120万円", 1200), ("1.2億円", 120000), ("１２０万円", 1200)],
)
def test_an_amount_written_in_yen_is_counted_in_thousands(
    params: ProgressCollectionParams, directory: Directory, written: str, thousands: int
) -> None:
    """An amount with 円, 万円 or 億円 written in the cell is converted to 千円."""
    result = report(params, directory, 予算要求額=written)
    assert ([b.amount for b in result.budget], issues(result)) == ([Decimal(thousands)], [])


def test_an_unreadable_amount_says_how_to_write_one(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """An amount that cannot be read names the value and the spellings that are understood."""
    assert issues(report(params, directory, 予算要求額="要相談")) == [
        (
            "予算要求額",
            "「要相談」は金額（千円）として読めません。"
            "千円単位の数字（1,200）か、単位をつけて（1,200千円・120万円・1,200,000円）入力してください",
        )
    ]


@pytest.mark.parametrize("written", ["80%", "８０％", "120件", "3校", "1,200人"])
def test_a_number_written_with_a_percent_sign_or_counter_is_a_number(
    params: ProgressCollectionParams, directory: Directory, written: str
) -> None:
    """A numeric field typed with % or a counter word (件, 人, 校...) counts as a number."""
    assert issues(report(params, directory, KPI=written)) == []


def test_an_approximate_number_is_still_not_a_number(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """「約80%」 is refused: an approximate figure cannot be summed."""
    assert issues(report(params, directory, KPI="約80%")) == [
        ("KPI", "「約80%」は数値ではありません。数字で入力してください（80、1,200、80% など）")
    ]


def test_text_with_markup_outside_a_rich_text_wrapper_stays_as_typed(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """Only SharePoint's rich text (one <div> around it) is read as HTML; 「<b>注意</b>」 typed
    in a text column is kept as typed."""
    result = report(params, directory, 進捗状況="遅れ", 課題="<b>注意</b>")
    assert [c.item.fields["課題"] for c in result.delayed] == ["<b>注意</b>"]


@pytest.mark.parametrize("empty", [None, "", "　", []])
def test_a_required_field_sent_empty_in_any_shape_is_unfilled(
    params: ProgressCollectionParams, directory: Directory, empty: object
) -> None:
    """null, "", a full-width space or an empty multi-choice array are all not filled in."""
    assert issues(report(params, directory, 次期予定=empty)) == [("次期予定", "未記入です")]


def test_a_period_given_as_a_date_says_to_write_the_period(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A date in the period column (a date column) is named as a date, with the fix."""
    when = datetime(2026, 9, 30, tzinfo=JST)
    problems = [p.message for p in report(params, directory, 対象期間=when).problems]
    assert problems[0] == (
        "対象期間が日付（2026/09/30）になっています。"
        "「2026H1」や「令和8年度上期」のように期間を書いてください"
        "（一覧の列が日付型なら、選択肢か1行テキストの列にしてください）。"
    )


def test_an_object_value_of_another_column_type_is_filled_in(
    params: ProgressCollectionParams, directory: Directory
) -> None:
    """A value of a type without a text part (a location) still counts as filled in."""
    location = {"Latitude": 36.39, "Longitude": 139.06}
    assert issues(report(params, directory, 次期予定=location)) == []
