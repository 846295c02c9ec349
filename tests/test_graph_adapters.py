"""Specs for the Graph port adapters that need no server: pacing and time zones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import httpx
import pytest

from automation.backends.graph.backend import Pacer, _jst, _utc_to_jst
from automation.backends.graph.gateway import GraphGateway, StaticToken
from automation.config.models import ChannelFile, DriveFile, FileRef
from automation.errors import TransientError, UncertainError
from automation.timeutil import JST
from tests.fake_graph import Call, FakeGraph
from tests.graph_tenant import CHANNEL, TEAM


class FakeClock:
    """A monotonic clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance time instead of waiting."""
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_pacer_spaces_calls_by_the_interval() -> None:
    """30 mails a minute means two seconds between sends; the first goes at once."""
    clock = FakeClock()
    pacer = Pacer(60 / 30, clock=clock, sleep=clock.sleep)

    async def three() -> None:
        for _ in range(3):
            await pacer.wait()

    asyncio.run(three())
    assert clock.slept == [2.0, 2.0]


def test_pacer_spaces_calls_that_wait_at_once() -> None:
    """Sends waiting together go out one interval apart each, not together after one interval."""
    # (feedback and the mail attaching the workbook)
    clock = FakeClock()

    async def yielding_sleep(seconds: float) -> None:
        clock.slept.append(round(seconds, 6))
        await asyncio.sleep(0)  # the others wait meanwhile, as they would in a real sleep

    pacer = Pacer(60 / 30, clock=clock, sleep=yielding_sleep)

    async def together() -> None:
        await asyncio.gather(pacer.wait(), pacer.wait(), pacer.wait())

    asyncio.run(together())
    assert sorted(clock.slept) == [2.0, 4.0]


def test_pacer_does_not_wait_after_a_pause() -> None:
    """A call that comes later than the interval goes at once."""
    clock = FakeClock()
    pacer = Pacer(0.25, clock=clock, sleep=clock.sleep)
    asyncio.run(pacer.wait())
    clock.now += 5
    asyncio.run(pacer.wait())
    assert clock.slept == []


def test_date_columns_arrive_in_utc_and_are_read_in_jst() -> None:
    """A date-only 10月15日 arrives as 2026-10-14T15:00:00Z and is the 15th in Japan."""
    value = _jst("2026-10-14T15:00:00Z")
    assert isinstance(value, datetime)
    assert (value.date().isoformat(), value.utcoffset()) == ("2026-10-15", JST.utcoffset(value))


def test_plain_text_is_left_alone() -> None:
    """Only ISO UTC timestamps are converted; other text (2026上期) is kept."""
    assert _jst("2026上期") == "2026上期"
    assert _jst(12) == 12


def test_modified_time_converts_to_jst() -> None:
    """lastModifiedDateTime is UTC; items carry it in JST."""
    modified = _utc_to_jst("2026-10-01T01:00:00Z")
    assert modified is not None and modified.hour == 10


def gateway_over(handler: Callable[[httpx.Request], httpx.Response]) -> GraphGateway:
    """A gateway whose HTTP goes to ``handler``, with retry waits made instant."""

    async def no_wait(_: float) -> None:
        return None

    gateway = GraphGateway(
        "https://graph.microsoft.com/v1.0", StaticToken("t"), transport=httpx.MockTransport(handler)
    )
    gateway.retry_policy = replace(gateway.retry_policy, sleep=no_wait)
    return gateway


def test_reads_are_retried_after_a_connection_error() -> None:
    """A GET whose connection failed is sent again (the SDK's handler does not do this)."""
    failures = [httpx.ConnectError("reset"), httpx.ConnectError("reset")]

    def handler(request: httpx.Request) -> httpx.Response:
        if failures:
            raise failures.pop()
        return httpx.Response(200, json={"value": [{"name": "Title", "displayName": "タイトル"}]})

    gateway = gateway_over(handler)
    assert asyncio.run(gateway.list_columns("site", "list")) == [("Title", "タイトル")]
    assert gateway.requests == 3


def test_a_send_whose_answer_was_lost_is_uncertain_and_not_retried() -> None:
    """A mail whose connection broke after it was sent is uncertain: the outbox looks, then decides."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset after the request was sent")

    gateway = gateway_over(handler)
    with pytest.raises(UncertainError, match="may have arrived"):
        asyncio.run(gateway.send_mail("m@example.jp", {"subject": "x"}))
    assert gateway.requests == 1


def test_a_send_that_never_connected_is_a_plain_failure() -> None:
    """A refused connection means nothing left this process: failed, not uncertain."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    gateway = gateway_over(handler)
    with pytest.raises(TransientError) as raised:
        asyncio.run(gateway.send_mail("m@example.jp", {"subject": "x"}))
    assert not isinstance(raised.value, UncertainError)


def test_a_send_answered_504_is_uncertain() -> None:
    """A gateway timeout does not say whether the post took effect: uncertain."""
    gateway = gateway_over(lambda request: httpx.Response(504))
    with pytest.raises(UncertainError, match="HTTP 504"):
        asyncio.run(gateway.post_channel_message("team", "channel", {"body": {}}))


def test_webhook_url_is_looked_up_from_the_configuration() -> None:
    """The outbox stores only a reference; the deliverer posts to the configured URL."""
    from automation.backends.graph.backend import GraphDeliverer  # noqa: PLC0415
    from automation.config.models import AccessTokenAuth, GraphBackend, webhook_ref  # noqa: PLC0415
    from automation.state import OutboxEntry  # noqa: PLC0415

    url = "https://prod-00.japaneast.logic.azure.com/workflows/abc/invoke?sig=secret"
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(str(request.url))
        assert "authorization" not in request.headers  # the URL carries its own key
        return httpx.Response(202)

    config = GraphBackend(type="graph", auth=AccessTokenAuth(type="access_token", token="t"))
    deliverer = GraphDeliverer(gateway_over(handler), None, config, {webhook_ref(url): url})
    entry = OutboxEntry(
        key="k",
        flow="f",
        run_id=1,
        kind="report",
        audience="team",
        channel="teams_webhook",
        recipient=webhook_ref(url),
        recipient_label="班",
        subject="s",
        bodies={"card.json": '{"type": "AdaptiveCard"}'},
        attachments=(),
        digest="d",
    )
    assert asyncio.run(deliverer.deliver(entry, {})) == "teams webhook 班"
    assert posted == [url]


class MemoryLookups:
    """Lookups kept in a dict, standing in for the state database."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def lookup(self, key: str) -> str | None:
        """The remembered value."""
        return self.values.get(key)

    def remember(self, key: str, value: str, now: datetime) -> None:
        """Keep it."""
        self.values[key] = value

    def forget(self, key: str) -> None:
        """Drop it."""
        self.values.pop(key, None)


def test_a_workbook_folder_is_looked_up_once_per_installation() -> None:
    """Uploading next to a {drive_id, item_id} workbook asks for its parent only the first time."""
    fake = book_in_general()
    lookups = MemoryLookups()
    ref = DriveFile(drive_id="b!d", item_id="01BOOK")

    async def upload_twice() -> None:
        for _ in range(2):
            gateway = GraphGateway(
                "https://graph.microsoft.com/v1.0",
                StaticToken("t"),
                transport=httpx.ASGITransport(app=fake.app),
                lookups=lookups,
            )
            await gateway.upload_next_to(ref, "被害状況集計_第1報.xlsx", b"report")
            await gateway.aclose()

    asyncio.run(upload_twice())
    assert len(fake.requests_to(r"/items/01BOOK$", "GET")) == 1
    assert fake.file_at("b!d", "/General/被害状況集計_第1報.xlsx") is not None


REPORT_NAME = "被害状況集計_第1報.xlsx"
BOOK = DriveFile(drive_id="b!d", item_id="01BOOK")


class WithoutParentReference(httpx.AsyncBaseTransport):
    """A Graph whose answer to the download's item read lacks parentReference, as it asked."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """The inner answer; the download's item read's JSON without parentReference."""
        response = await self.inner.handle_async_request(request)
        if "eTag" not in request.url.params.get("select", "") or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        body.pop("parentReference", None)
        return httpx.Response(200, json=body)


def download_then_upload(
    fake: FakeGraph,
    lookups: MemoryLookups,
    transport: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] = lambda t: t,
    between: Callable[[], None] = lambda: None,
    ref: FileRef = BOOK,
) -> None:
    """A first report's Graph work: download the workbook, ``between()``, upload next to it."""

    async def report() -> None:
        gateway = GraphGateway(
            "https://graph.microsoft.com/v1.0",
            StaticToken("t"),
            transport=transport(httpx.ASGITransport(app=fake.app)),
            lookups=lookups,
        )
        await gateway.download_if_changed(ref, None)
        between()
        await gateway.upload_next_to(ref, REPORT_NAME, b"report")
        await gateway.aclose()

    asyncio.run(report())


def book_in_general() -> FakeGraph:
    """A drive whose folder /General holds the workbook 01BOOK."""
    fake = FakeGraph(token="t")
    fake.add_drive_item("b!d", "01BOOK", "被害報告.xlsx", b"PK", parent_path="/General")
    return fake


def folder_lookups(fake: FakeGraph) -> list[Call]:
    """The requests that asked for the workbook's folder on its own."""
    return [
        c
        for c in fake.requests_to(r"/items/01BOOK$", "GET")
        if c.query == {"$select": "parentReference"}
    ]


def test_the_first_report_uploads_next_to_its_workbook_without_a_folder_request() -> None:
    """The download's answer names the workbook's folder: the upload asks Graph for no folder."""
    fake = book_in_general()
    lookups = MemoryLookups()
    download_then_upload(fake, lookups)
    assert folder_lookups(fake) == []
    assert fake.file_at("b!d", f"/General/{REPORT_NAME}") is not None


def test_the_folder_a_download_names_is_kept_for_later_runs() -> None:
    """The download alone puts the workbook's folder in the state, as a lookup would keep it."""
    fake = book_in_general()
    general = fake.file_at("b!d", "/General")
    assert general is not None
    lookups = MemoryLookups()
    kept: dict[str, str] = {}
    download_then_upload(fake, lookups, between=lambda: kept.update(lookups.values))
    assert json.loads(kept["graph:parent:b!d/01BOOK"]) == ["b!d", general.item_id]


def test_an_answer_without_parent_reference_still_finds_the_folder() -> None:
    """A download answered without parentReference leaves the folder to one lookup."""
    fake = book_in_general()
    download_then_upload(fake, MemoryLookups(), WithoutParentReference)
    assert len(folder_lookups(fake)) == 1
    assert fake.file_at("b!d", f"/General/{REPORT_NAME}") is not None


def test_a_learned_folder_that_is_gone_is_looked_up_again_once() -> None:
    """An upload that finds the folder the download named gone looks the folder up once more."""
    fake = book_in_general()
    moved = fake.add_folder("b!d", "01MOVED", "/Moved")
    drive = fake.drives["b!d"]

    def move_the_workbook_and_drop_its_folder() -> None:
        drive.items["01BOOK"].parent_path = moved.path
        general = fake.file_at("b!d", "/General")
        assert general is not None
        drive.items.pop(general.item_id)

    download_then_upload(fake, MemoryLookups(), between=move_the_workbook_and_drop_its_folder)
    assert len(folder_lookups(fake)) == 1
    assert fake.file_at("b!d", f"/Moved/{REPORT_NAME}") is not None


def test_a_workbook_moved_to_another_folder_has_its_reports_follow_it() -> None:
    """A workbook moved while its old folder stays: the next report goes to the new folder."""
    fake = book_in_general()
    moved = fake.add_folder("b!d", "01MOVED", "/Moved")
    lookups = MemoryLookups()
    download_then_upload(fake, lookups)  # the first report, in /General

    fake.drives["b!d"].items["01BOOK"].parent_path = moved.path
    download_then_upload(fake, lookups)  # a later run (a new process: nothing in memory)

    assert fake.file_at("b!d", f"/Moved/{REPORT_NAME}") is not None
    assert json.loads(lookups.values["graph:parent:b!d/01BOOK"]) == ["b!d", "01MOVED"]
    assert folder_lookups(fake) == []


def test_a_channel_workbooks_own_folder_leaves_the_channels_alone() -> None:
    """A channel workbook in a sub-folder: its report goes there, under the channel's folder."""
    fake = FakeGraph(token="t")
    fake.add_team_channel(TEAM, CHANNEL, "General", "b!d", "01CHANNEL")
    fake.add_drive_item("b!d", "01BOOK", "被害報告.xlsx", b"PK", parent_path="/General/台風")
    lookups = MemoryLookups()
    ref = ChannelFile(team_id=TEAM, channel_id=CHANNEL, path="台風/被害報告.xlsx")
    download_then_upload(fake, lookups, ref=ref)
    assert fake.file_at("b!d", f"/General/台風/{REPORT_NAME}") is not None
    assert list(lookups.values) == [f"graph:filesFolder:{TEAM}/{CHANNEL}"]


BOOK_WEB_URL = (
    "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/General/被害報告.xlsx"
)


def test_every_request_carries_a_fresh_client_request_id() -> None:
    """Each Graph request has its own client-request-id; the download has neither it nor a token."""
    # Graph echoes client-request-id for support cases; the download URL is preauthenticated
    fake = FakeGraph(token="t")
    fake.add_drive_item("b!d", "01BOOK", "被害報告.xlsx", b"PK", web_url=BOOK_WEB_URL)
    ref = DriveFile(drive_id="b!d", item_id="01BOOK")

    async def download_twice() -> None:
        gateway = GraphGateway(
            "https://graph.microsoft.com/v1.0",
            StaticToken("t"),
            transport=httpx.ASGITransport(app=fake.app),
        )
        await gateway.download_if_changed(ref, None)
        await gateway.download_if_changed(ref, None)
        await gateway.aclose()

    asyncio.run(download_twice())
    to_graph = [c for c in fake.calls if c.path.startswith("/v1.0/")]
    ids = [c.headers.get("client-request-id") for c in to_graph]
    assert len(ids) == 2
    assert len(set(ids)) == 2
    assert all(i and len(i) == 36 for i in ids)
    assert [c.headers.get("authorization") for c in fake.downloads] == [None, None]


def test_a_new_version_is_announced_before_it_downloads_and_an_unchanged_one_never() -> None:
    """``arriving`` is called once the item's eTag shows a new version, before its download."""
    # the run loads what it will need meanwhile (automation.preload); a 304 costs nothing more
    fake = FakeGraph(token="t")
    fake.add_drive_item("b!d", "01BOOK", "被害報告.xlsx", b"PK", web_url=BOOK_WEB_URL)
    ref = DriveFile(drive_id="b!d", item_id="01BOOK")
    heard: list[tuple[int, int]] = []

    def arriving() -> None:
        heard.append((len(fake.requests_to(r"/items/01BOOK$", "GET")), len(fake.downloads)))

    async def download_then_poll() -> None:
        gateway = GraphGateway(
            "https://graph.microsoft.com/v1.0",
            StaticToken("t"),
            transport=httpx.ASGITransport(app=fake.app),
        )
        first = await gateway.download_if_changed(ref, None, arriving)
        await gateway.download_if_changed(ref, first.etag, arriving)
        await gateway.aclose()

    asyncio.run(download_then_poll())
    assert heard == [(1, 0)]
    assert len(fake.downloads) == 1


def test_a_downloaded_workbook_comes_with_its_web_address() -> None:
    """The webUrl comes with the eTag and download URL; an unchanged poll (304) keeps it."""
    fake = FakeGraph(token="t")
    fake.add_drive_item("b!d", "01BOOK", "被害報告.xlsx", b"PK", web_url=BOOK_WEB_URL)
    ref = DriveFile(drive_id="b!d", item_id="01BOOK")

    async def download_then_poll() -> tuple[str | None, str | None]:
        gateway = GraphGateway(
            "https://graph.microsoft.com/v1.0",
            StaticToken("t"),
            transport=httpx.ASGITransport(app=fake.app),
        )
        first = await gateway.download_if_changed(ref, None)
        again = await gateway.download_if_changed(ref, first.etag)
        await gateway.aclose()
        assert again.data is None
        return first.web_url, again.web_url

    assert asyncio.run(download_then_poll()) == (BOOK_WEB_URL, BOOK_WEB_URL)
    assert [c.status for c in fake.requests_to(r"/items/01BOOK$", "GET")] == [200, 304]
    assert (len(fake.downloads), len(fake.calls)) == (1, 3)
