"""The one retry engine of the Graph gateway, against the fake Graph in process.

Each attempt is a fresh request through kiota's whole pipeline (so a download after a reset
still follows its redirect), and one engine decides: an idempotent request is sent at most
``max_retries + 1`` times, whatever mix of resets, 429s and 503s it meets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import httpx
import pytest

from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.config.models import GraphLimits, SiteFile
from automation.errors import TransientError
from tests.fake_graph import GRAPH_BASE_URL, FakeGraph

T = TypeVar("T")
SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-0000000000a1,00000000-0000-0000-0000-0000000000b1"
DRIVE = "b!retry-drive"
BOOK_PATH = "被害報告/被害報告.xlsx"
CONTENT = b"PK\x03\x04 workbook bytes"


@pytest.fixture
def fake() -> FakeGraph:
    """A site whose default drive holds the workbook."""
    fake = FakeGraph(token="t")
    fake.add_drive_item(DRIVE, "01BOOK", "被害報告.xlsx", CONTENT, parent_path="/被害報告")
    fake.set_site_drive(SITE, DRIVE)
    return fake


def gateway_on(fake: FakeGraph, max_retries: int = 3) -> GraphGateway:
    """A gateway talking to ``fake`` in process, whose retry waits take no time."""

    async def no_wait(_: float) -> None:
        return None

    gateway = GraphGateway(
        GRAPH_BASE_URL,
        StaticToken("t"),
        limits=GraphLimits(max_retries=max_retries),
        transport=httpx.ASGITransport(app=fake.app),
    )
    gateway.retry_policy = replace(gateway.retry_policy, sleep=no_wait)
    return gateway


def run(gateway: GraphGateway, call: Callable[[GraphGateway], Awaitable[T]]) -> T:
    """Run ``call`` on ``gateway``, closing it afterwards."""

    async def main() -> T:
        try:
            return await call(gateway)
        finally:
            await gateway.aclose()

    return asyncio.run(main())


def download(gateway: GraphGateway) -> Awaitable[object]:
    """Download the workbook by ``{site_id, path}``."""
    return gateway.download_if_changed(SiteFile(site_id=SITE, path=BOOK_PATH), None)


def test_a_download_after_a_reset_still_follows_its_redirect(fake: FakeGraph) -> None:
    """The retried request goes through the redirect handler again: the 302 is followed."""
    fake.reset_connection("GET", r"/content$")
    result = run(gateway_on(fake), download)
    assert getattr(result, "data", None) == CONTENT
    assert fake.authorization_leaks() == []


@pytest.mark.parametrize("status", [429, 503])
def test_a_reset_then_throttling_is_retried_within_one_budget(fake: FakeGraph, status: int) -> None:
    """A reset followed by 429/503 uses the same retry budget and succeeds on the next try."""
    fake.reset_connection("GET", r"/content$")
    fake.fail("GET", r"/content$", status, times=2, retry_after=1)
    result = run(gateway_on(fake), download)
    assert getattr(result, "data", None) == CONTENT
    assert len(fake.requests_to(r"/content$")) == 4


@pytest.mark.parametrize("max_retries", [0, 3, 5])
def test_a_read_under_persistent_503_is_sent_max_retries_plus_one_times(
    fake: FakeGraph, max_retries: int
) -> None:
    """One engine decides: total attempts are max_retries + 1, not retries of retries."""
    fake.fail("GET", r"/content$", 503, times=None, retry_after=1)
    with pytest.raises(TransientError, match="HTTP 503"):
        run(gateway_on(fake, max_retries), download)
    assert len(fake.requests_to(r"/content$")) == max_retries + 1


def test_resets_and_503s_together_stop_at_the_same_budget(fake: FakeGraph) -> None:
    """Resets count against the same budget as throttling: four attempts in all, then transient."""
    fake.reset_connection("GET", r"/content$", times=2)
    fake.fail("GET", r"/content$", 503, times=None)
    with pytest.raises(TransientError):
        run(gateway_on(fake), download)
    assert len(fake.requests_to(r"/content$")) == 4


def test_a_retry_after_too_long_for_a_run_is_not_waited_out(fake: FakeGraph) -> None:
    """A 429 asking for 300 s ends the call at once as transient, naming the wait."""
    fake.fail("GET", r"/content$", 429, times=None, retry_after=300)
    with pytest.raises(TransientError, match="Graph asked to wait 300 s"):
        run(gateway_on(fake), download)
    assert len(fake.requests_to(r"/content$")) == 1


def test_a_list_read_whose_reply_was_lost_is_read_again(fake: FakeGraph) -> None:
    """A read whose answer was lost after Graph served it is simply asked again."""
    fake.add_list(
        "site", "list", [{"name": "Title", "displayName": "タイトル", "type": "text"}], []
    )
    fake.lose_reply("GET", r"/columns$")
    columns = run(gateway_on(fake), lambda g: g.list_columns("site", "list"))
    assert columns == [("Title", "タイトル")]
    assert len(fake.requests_to(r"/columns$")) == 2
