"""Specs for a progress list read filtered on its period (``params.list.period_indexed``):
listitem-list.md filters on ``fields/X eq 'v'``, an indexed column being required."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from types import SimpleNamespace

import httpx
import pytest

from automation.backends.graph.backend import GraphListSource
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.config.models import Contact, ProgressCollectionParams, Round, SiteList
from automation.jobs.progress import _items
from automation.ports import ListItem
from automation.timeutil import JST
from tests.fake_graph import FakeGraph

BASE_URL = "https://graph.microsoft.com/v1.0"
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-00000000b001,00000000-0000-0000-0000-00000000b002"
LIST = "00000000-0000-0000-0000-00000000c001"
PERIOD = "_x5bfe__x8c61__x671f__x9593_"
NOW = datetime(2026, 10, 6, 9, tzinfo=JST)


def _columns(indexed: bool) -> list[dict[str, object]]:
    return [
        {"name": "Title", "displayName": "事業名", "type": "text"},
        {"name": PERIOD, "displayName": "対象期間", "type": "choice", "indexed": indexed},
        {"name": "Dept", "displayName": "部局", "type": "text"},
    ]


def _item(number: int, period: str) -> dict[str, object]:
    return {"id": str(number), "Title": f"事業{number}", PERIOD: period, "Dept": "総務部"}


ITEMS = [_item(1, "令和8年度上期"), _item(2, "令和7年度下期"), _item(3, "令和8年度上期")]


def _fake(items: list[dict[str, object]] = ITEMS, *, indexed: bool = True) -> FakeGraph:
    fake = FakeGraph(token="t")
    fake.add_list(SITE, LIST, _columns(indexed), items)
    return fake


def _params(period_indexed: bool) -> ProgressCollectionParams:
    ref = SiteList(site_id=SITE, list_id=LIST, period_indexed=period_indexed)
    return ProgressCollectionParams(
        programme="DX推進計画",
        list=ref,
        rounds=(Round(deadline=date(2026, 10, 15)),),
        required=("事業名",),
        secretariat=(Contact(channel="mail", address="secretariat@example.jp"),),
    )


def _read(fake: FakeGraph, period_indexed: bool) -> list[ListItem]:
    """The list as the progress job reads it on 10/6, within the 2026H1 round."""

    async def run() -> list[ListItem]:
        gateway = GraphGateway(
            BASE_URL, StaticToken("t"), transport=httpx.ASGITransport(app=fake.app)
        )
        backend = SimpleNamespace(lists=GraphListSource(gateway))
        return await _items(backend, _params(period_indexed), ["対象期間", "部局", "事業名"], NOW)  # type: ignore[arg-type]  # only .lists is read

    return asyncio.run(run())


def _filters(fake: FakeGraph) -> list[str | None]:
    return [c.query.get("$filter") for c in fake.calls if c.path.endswith("/items")]


def test_an_indexed_period_is_filtered_on_by_graph() -> None:
    """With period_indexed the items are asked for with the round's period as provision spells it."""
    fake = _fake()
    items = _read(fake, period_indexed=True)
    assert [i.id for i in items] == ["1", "3"]
    assert _filters(fake) == [f"fields/{PERIOD} eq '令和8年度上期'"]


def test_without_period_indexed_every_item_is_read() -> None:
    """Without period_indexed the list is read whole, with no filter."""
    fake = _fake()
    assert [i.id for i in _read(fake, period_indexed=False)] == ["1", "2", "3"]
    assert _filters(fake) == [None]


def test_a_round_without_entries_reads_every_entry_for_the_alert() -> None:
    """When the filter finds nothing, every entry is read: the alert names the periods held."""
    fake = _fake([_item(2, "令和7年度下期")])
    assert [i.id for i in _read(fake, period_indexed=True)] == ["2"]
    assert _filters(fake) == [f"fields/{PERIOD} eq '令和8年度上期'", None]


def test_a_refused_filter_reads_every_item_and_says_how_to_fix_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A filter Graph refuses (the column not indexed) falls back to the whole list, warned."""
    fake = _fake(indexed=False)
    with caplog.at_level(logging.WARNING, logger="automation.graph"):
        items = _read(fake, period_indexed=True)
    assert [i.id for i in items] == ["1", "2", "3"]
    assert "Index the period column (list settings, Indexed columns)" in caplog.text
    assert "params.list.period_indexed: false" in caplog.text


def test_a_quote_in_the_value_is_doubled_in_the_filter() -> None:
    """An OData string literal doubles its single quotes (the filter stays one literal)."""
    from automation.backends.graph.backend import _filter  # noqa: PLC0415

    assert _filter(("対象期間", "O'Neil"), {"対象期間": "P"}) == "fields/P eq 'O''Neil'"
