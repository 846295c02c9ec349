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
BOOK_ITEM = r"\.xlsx$"  # the workbook's item: its eTag check and download URL
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


def test_a_download_after_a_reset_still_fetches_the_bytes_without_the_token(
    fake: FakeGraph,
) -> None:
    """The item's read is retried after a reset; its download URL is then asked without a token."""
    fake.reset_connection("GET", BOOK_ITEM)
    result = run(gateway_on(fake), download)
    assert getattr(result, "data", None) == CONTENT
    assert fake.authorization_leaks() == []


@pytest.mark.parametrize("status", [429, 503])
def test_a_reset_then_throttling_is_retried_within_one_budget(fake: FakeGraph, status: int) -> None:
    """A reset followed by 429/503 uses the same retry budget and succeeds on the next try."""
    fake.reset_connection("GET", BOOK_ITEM)
    fake.fail("GET", BOOK_ITEM, status, times=2, retry_after=1)
    result = run(gateway_on(fake), download)
    assert getattr(result, "data", None) == CONTENT
    assert len(fake.requests_to(BOOK_ITEM)) == 4


@pytest.mark.parametrize("max_retries", [0, 3, 5])
def test_a_read_under_persistent_503_is_sent_max_retries_plus_one_times(
    fake: FakeGraph, max_retries: int
) -> None:
    """One engine decides: total attempts are max_retries + 1, not retries of retries."""
    fake.fail("GET", BOOK_ITEM, 503, times=None, retry_after=1)
    with pytest.raises(TransientError, match="HTTP 503"):
        run(gateway_on(fake, max_retries), download)
    assert len(fake.requests_to(BOOK_ITEM)) == max_retries + 1


def test_resets_and_503s_together_stop_at_the_same_budget(fake: FakeGraph) -> None:
    """Resets count against the same budget as throttling: four attempts in all, then transient."""
    fake.reset_connection("GET", BOOK_ITEM, times=2)
    fake.fail("GET", BOOK_ITEM, 503, times=None)
    with pytest.raises(TransientError):
        run(gateway_on(fake), download)
    assert len(fake.requests_to(BOOK_ITEM)) == 4


def test_a_retry_after_too_long_for_a_run_is_not_waited_out(fake: FakeGraph) -> None:
    """A 429 asking for 300 s ends the call at once as transient, naming the wait."""
    fake.fail("GET", BOOK_ITEM, 429, times=None, retry_after=300)
    with pytest.raises(TransientError, match="Graph asked to wait 300 s"):
        run(gateway_on(fake), download)
    assert len(fake.requests_to(BOOK_ITEM)) == 1


def test_a_list_read_whose_reply_was_lost_is_read_again(fake: FakeGraph) -> None:
    """A read whose answer was lost after Graph served it is simply asked again."""
    fake.add_list(
        "site", "list", [{"name": "Title", "displayName": "タイトル", "type": "text"}], []
    )
    fake.lose_reply("GET", r"/columns$")
    columns = run(gateway_on(fake), lambda g: g.list_columns("site", "list"))
    assert columns == [("Title", "タイトル")]
    assert len(fake.requests_to(r"/columns$")) == 2


# uploads -------------------------------------------------------------------------------------

REPORT = "被害状況集計_第1報.xlsx"
DATA = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"  # 40 bytes: three 16-byte fragments


@pytest.fixture
def small_fragments(monkeypatch: pytest.MonkeyPatch, fake: FakeGraph) -> None:
    """Upload sessions for anything over 16 bytes, in 16-byte fragments (the fake's 320 KiB)."""
    from automation.backends.graph import gateway as gateway_module  # noqa: PLC0415

    monkeypatch.setattr(gateway_module, "SIMPLE_UPLOAD_LIMIT", 16)
    monkeypatch.setattr(gateway_module, "UPLOAD_CHUNK", 16)
    fake.upload_fragment_unit = 16


def upload(gateway: GraphGateway) -> Awaitable[str]:
    """Upload the report next to the workbook."""
    return gateway.upload_next_to(SiteFile(site_id=SITE, path=BOOK_PATH), REPORT, DATA)


def stored(fake: FakeGraph) -> bytes | None:
    """The report as stored next to the workbook."""
    item = fake.file_at(DRIVE, f"/被害報告/{REPORT}")
    return None if item is None else item.content


@pytest.mark.usefixtures("small_fragments")
def test_a_fragment_whose_reply_was_lost_resumes_from_next_expected_ranges(
    fake: FakeGraph,
) -> None:
    """The server kept the fragment; the resend gets 416, the session says where to go on."""
    fake.lose_reply("PUT", r"^/upload/", skip=1)
    run(gateway_on(fake), upload)
    assert stored(fake) == DATA
    ranges = [c.headers["content-range"] for c in fake.requests_to(r"^/upload/", "PUT")]
    assert ranges == ["bytes 0-15/40", "bytes 16-31/40", "bytes 16-31/40", "bytes 32-39/40"]


@pytest.mark.usefixtures("small_fragments")
def test_a_final_fragment_whose_reply_was_lost_is_found_in_place(fake: FakeGraph) -> None:
    """The session is gone (404) after the last fragment: the stored file is compared, not redone."""
    fake.lose_reply("PUT", r"^/upload/", skip=2)
    web_url = run(gateway_on(fake), upload)
    assert stored(fake) == DATA
    assert web_url  # the stored file's address, as the completed upload would have given
    assert len(fake.requests_to(r"/createUploadSession$")) == 1


@pytest.mark.usefixtures("small_fragments")
def test_a_session_lost_before_the_file_was_complete_is_started_over(fake: FakeGraph) -> None:
    """A 404 on a middle fragment (session expired) starts one new session from byte 0."""
    fake.fail("PUT", r"^/upload/", 404, skip=1)
    run(gateway_on(fake), upload)
    assert stored(fake) == DATA
    assert len(fake.requests_to(r"/createUploadSession$")) == 2


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_a_failed_simple_upload_is_retried_by_the_one_engine(fake: FakeGraph, fault: str) -> None:
    """A 503 or a reset on the merged workbook's PUT is tried again, not left to the run."""
    if fault == "503":
        fake.fail("PUT", r"/content$", 503, retry_after=1)
    else:
        fake.reset_connection("PUT", r"/content$")
    run(gateway_on(fake), upload)
    assert stored(fake) == DATA
    assert len(fake.requests_to(r"/content$", "PUT")) == 2
