"""Specs for a progress round read from a SharePoint list whose columns have their own types
(resources/fieldvalueset.md): a department looked up from another list, a multi-choice
status, rich-text notes, numbers and currency as JSON numbers, empty fields left out."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import httpx

from automation.backends.graph.backend import GraphListSource
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.config.models import (
    Budget,
    Contact,
    Department,
    Directory,
    ProgressCollectionParams,
    Round,
    SiteList,
)
from automation.flows.progress_collection import ProgressReport, plan
from automation.ports import ListItem
from automation.timeutil import JST
from tests.fake_graph import FakeGraph

BASE_URL = "https://graph.microsoft.com/v1.0"
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,00000000-0000-0000-0000-00000000b002"
LIST = "00000000-0000-0000-0000-00000000c001"
PERIOD, STATUS, RESULT = (
    "_x5bfe__x8c61__x671f__x9593_",
    "_x9032__x6357__x72b6__x6cc1_",
    "_x5b9f__x7e3e_",
)
COLUMNS = [
    {"name": "Title", "displayName": "事業名", "type": "text"},
    {"name": PERIOD, "displayName": "対象期間", "type": "choice", "indexed": True},
    {"name": "Dept", "displayName": "部局", "type": "lookup"},
    {"name": STATUS, "displayName": "進捗状況", "type": "choice"},
    {"name": RESULT, "displayName": "実績", "type": "text"},
    {"name": "KPI", "displayName": "KPI実績", "type": "number"},
    {"name": "Budget", "displayName": "予算要求額", "type": "currency"},
]


def item(number: int, dept: str, **fields: object) -> dict[str, object]:
    """A complete entry as SharePoint stores it, unless ``fields`` override it."""
    values: dict[str, object] = {
        "id": str(number),
        "Title": f"事業{number}",
        PERIOD: "令和8年度上期",
        "Dept": dept,
        "DeptLookupId": "3" if dept == "総務部" else "5",
        f"{STATUS}@odata.type": "Collection(Edm.String)",
        STATUS: ["順調"],
        RESULT: '<div class="ExternalClass9A"><p>実施</p></div>',
        "KPI": 80.0,
    }
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


def mail(address: str) -> Contact:
    """A mail contact."""
    return Contact(channel="mail", address=address)


def read(
    items: list[dict[str, object]], columns: list[dict[str, object]] = COLUMNS
) -> ProgressReport:
    """The round on 10/16 over the fake list holding ``items``, read through the gateway."""
    fake = FakeGraph(token="t")
    fake.add_list(SITE, LIST, columns, items)
    params = ProgressCollectionParams(
        programme="DX推進計画",
        list=SiteList(site_id=SITE, list_id=LIST),
        rounds=(Round(deadline=date(2026, 10, 15)),),
        required=("実績", "進捗状況"),
        numeric=("KPI実績",),
        budget=Budget(amount="予算要求額"),
        secretariat=(mail("secretariat@example.jp"),),
    )
    directory = Directory(
        departments=(
            Department(name="総務部", dx_leaders=(mail("somu@example.jp"),)),
            Department(name="農政部", dx_leaders=(mail("nousei@example.jp"),)),
        )
    )
    wanted = ["対象期間", "部局", "事業名", "実績", "進捗状況", "KPI実績", "予算要求額"]

    async def fetch() -> list[ListItem]:
        transport = httpx.ASGITransport(app=fake.app)
        gateway = GraphGateway(BASE_URL, StaticToken("t"), transport=transport)
        source = GraphListSource(gateway)
        ref = SiteList(site_id=SITE, list_id=LIST)
        return await source.items(
            ref, wanted, id_column="ID", link_column=None, modified_column=None
        )

    now = datetime(2026, 10, 16, 9, tzinfo=JST)
    return plan(params, directory, asyncio.run(fetch()), now).report


def test_a_sharepoint_list_of_many_column_types_is_checked_like_a_typed_one() -> None:
    """Lookup department, multi-choice status and rich text read as the list shows them: only
    the entry whose rich text was emptied is incomplete."""
    report = read(
        [
            item(1, "総務部"),
            item(2, "農政部", **{RESULT: '<div class="ExternalClass9A"><br></div>'}),
            item(3, "農政部", **{STATUS: ["遅れ"]}),
        ]
    )
    assert [(c.item.id, c.department, c.status, c.complete) for c in report.checks] == [
        ("1", "総務部", "順調", True),
        ("2", "農政部", "順調", False),
        ("3", "農政部", "遅れ", True),
    ]


def test_a_currency_column_gives_the_budget_amount() -> None:
    """A currency value (a JSON number, 1200.0) is a budget request of 1,200 千円."""
    report = read([item(1, "総務部", Budget=1200.0), item(2, "農政部")])
    assert [(b.check.item.id, b.amount) for b in report.budget] == [("1", 1200)]


def test_fields_left_out_when_empty_are_unfilled() -> None:
    """A required field SharePoint leaves out of fields (never filled in) is not filled in."""
    report = read([item(1, "総務部", **{RESULT: None})])
    assert [(i.field, i.reason) for c in report.checks for i in c.issues] == [
        ("実績", "未記入です")
    ]


def test_a_renamed_title_is_read_from_the_title_column() -> None:
    """When computed columns share the Title column's display name (LinkTitle, LinkTitleNoMenu
    list after it), the project is read from the first column of that name, Title."""
    computed = [
        {"name": "LinkTitle", "displayName": "事業名", "type": "text"},
        {"name": "LinkTitleNoMenu", "displayName": "事業名", "type": "text"},
    ]
    report = read([item(1, "総務部")], columns=[*COLUMNS, *computed])
    assert [c.project for c in report.checks] == ["事業1"]
